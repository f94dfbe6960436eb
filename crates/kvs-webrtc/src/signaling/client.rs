//! A signaling connection that stays up: presign, connect, keep alive, reconnect.
//!
//! One background task owns the WebSocket. It reconnects with back-off after a drop, at once
//! after `GO_AWAY`, and on its own before the service's one-hour limit, so users see one
//! long-lived [`SignalingClient`]. Messages sent while reconnecting wait and go out in order.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use kvs_endpoint::{EndpointResolver, KvsConfig, RequestSigner};
use kvs_types::{Arn, ChannelProtocol, ChannelRole};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use super::message::{ClientId, Incoming, Outgoing};

/// How long a presigned connect URL is valid (as the KVS SDKs sign it).
const PRESIGN_EXPIRY: Duration = Duration::from_secs(299);
/// Messages kept while disconnected; older ones are dropped first.
const MAX_QUEUED: usize = 256;

/// Who the client is on the channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// The channel's one master.
    Master,
    /// A viewer with its client id.
    Viewer(ClientId),
}

impl Role {
    fn channel_role(&self) -> ChannelRole {
        match self {
            Self::Master => ChannelRole::Master,
            Self::Viewer(_) => ChannelRole::Viewer,
        }
    }
}

/// How the connection is kept up.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SignalingOptions {
    /// How often a WebSocket ping is sent, so idle connections stay open (default 30 s).
    pub ping_interval: Duration,
    /// The connection is renewed after this long (default 55 minutes; KVS closes connections
    /// after one hour).
    pub refresh_after: Duration,
    /// The first reconnect delay; it doubles up to `max_backoff` (default 100 ms).
    pub min_backoff: Duration,
    /// The longest reconnect delay (default 5 s).
    pub max_backoff: Duration,
}

impl Default for SignalingOptions {
    fn default() -> Self {
        Self {
            ping_interval: Duration::from_secs(30),
            refresh_after: Duration::from_secs(55 * 60),
            min_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
        }
    }
}

/// Why a signaling connection could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignalingError {
    /// The WSS endpoint of the channel could not be resolved.
    #[error("cannot find the signaling endpoint of {channel}: {source}")]
    Endpoint {
        /// The channel's ARN.
        channel: String,
        /// Why `GetSignalingChannelEndpoint` failed.
        source: kvs_endpoint::ResolveError,
    },
    /// The connect URL could not be signed.
    #[error("cannot sign the signaling URL: {0}")]
    Sign(#[from] kvs_endpoint::SignError),
    /// The service refused or failed the WebSocket handshake.
    #[error("signaling connection to {url} failed: {message}")]
    Connect {
        /// The endpoint (without signature).
        url: String,
        /// What went wrong, e.g. `HTTP 403: ...`.
        message: String,
    },
}

/// What the connection task reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignalingEvent {
    /// A message from the service or a peer.
    Message(Incoming),
    /// The connection was lost; the client is reconnecting.
    Disconnected {
        /// What ended the connection, for logs.
        reason: String,
    },
    /// The connection is (again) open.
    Reconnected,
}

/// A connection to a signaling channel as master or viewer.
#[derive(Debug)]
pub struct SignalingClient {
    outgoing: mpsc::UnboundedSender<Outgoing>,
    events: mpsc::UnboundedReceiver<SignalingEvent>,
    task: tokio::task::JoinHandle<()>,
}

struct Connector {
    resolver: Arc<EndpointResolver>,
    signer: RequestSigner,
    /// The configuration's CA bundle, if it replaces the default roots.
    tls: Option<Arc<rustls::ClientConfig>>,
    channel: Arn,
    role: Role,
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

impl Connector {
    async fn open(&self) -> Result<Socket, SignalingError> {
        let endpoint = self
            .resolver
            .signaling_endpoint(
                &self.channel,
                self.role.channel_role(),
                ChannelProtocol::Wss,
            )
            .await
            .map_err(|source| SignalingError::Endpoint {
                channel: self.channel.to_string(),
                source,
            })?;
        let mut url = format!(
            "{}/?X-Amz-ChannelARN={}",
            endpoint.trim_end_matches('/'),
            encode(self.channel.as_str())
        );
        if let Role::Viewer(id) = &self.role {
            url.push_str("&X-Amz-ClientId=");
            url.push_str(&encode(id.as_str()));
        }
        let signed = self.signer.presign_url(&url, PRESIGN_EXPIRY).await?;
        let failed = |message: String| SignalingError::Connect {
            url: endpoint.clone(),
            message,
        };
        let request = signed
            .into_client_request()
            .map_err(|e| failed(e.to_string()))?;
        let tls = self.tls.clone().map(tokio_tungstenite::Connector::Rustls);
        match tokio_tungstenite::connect_async_tls_with_config(request, None, false, tls).await {
            Ok((socket, _)) => Ok(socket),
            Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
                let body = resp
                    .body()
                    .as_ref()
                    .map(|b| String::from_utf8_lossy(b).into_owned())
                    .unwrap_or_default();
                Err(failed(format!("HTTP {}: {body}", resp.status())))
            }
            Err(e) => {
                // The endpoint may have moved; ask again next time.
                self.resolver.invalidate_signaling_endpoint(
                    &self.channel,
                    self.role.channel_role(),
                    ChannelProtocol::Wss,
                );
                Err(failed(e.to_string()))
            }
        }
    }
}

/// SigV4's URI encoding: RFC 3986 unreserved characters stay, everything else is %-encoded.
const URI_ENCODE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

fn encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, URI_ENCODE).to_string()
}

impl SignalingClient {
    /// Connects to `channel` (its ARN) as `role`; returns once the first connection is open,
    /// so a bad channel, credentials or client id fail here.
    pub async fn connect(
        config: &KvsConfig,
        channel: Arn,
        role: Role,
        options: SignalingOptions,
    ) -> Result<Self, SignalingError> {
        let connector = Connector {
            resolver: config.resolver().clone(),
            signer: config.signer("kinesisvideo"),
            tls: config.tls_client_config(),
            channel,
            role,
        };
        let socket = connector.open().await?;
        let (outgoing, outgoing_rx) = mpsc::unbounded_channel();
        let (events_tx, events) = mpsc::unbounded_channel();
        let task = tokio::spawn(run(connector, socket, outgoing_rx, events_tx, options));
        Ok(Self {
            outgoing,
            events,
            task,
        })
    }

    /// Queues a message; it is sent now, or after the reconnect if the connection is down.
    pub fn send(&self, message: Outgoing) {
        let _ = self.outgoing.send(message);
    }

    /// A sender for messages, for peers that send on their own.
    pub fn sender(&self) -> mpsc::UnboundedSender<Outgoing> {
        self.outgoing.clone()
    }

    /// The next event; `None` once the client is closed.
    pub async fn recv(&mut self) -> Option<SignalingEvent> {
        self.events.recv().await
    }

    /// Closes the connection.
    pub fn close(self) {
        self.task.abort();
    }
}

impl Drop for SignalingClient {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Why one connection ended.
enum Ended {
    /// The user dropped the client.
    Closed,
    /// Renew now (GO_AWAY or the refresh time).
    Renew(String),
    /// Lost; reconnect with back-off.
    Lost(String),
}

async fn run(
    connector: Connector,
    mut socket: Socket,
    mut outgoing: mpsc::UnboundedReceiver<Outgoing>,
    events: mpsc::UnboundedSender<SignalingEvent>,
    options: SignalingOptions,
) {
    let mut queued: VecDeque<Outgoing> = VecDeque::new();
    loop {
        let ended = serve(&mut socket, &mut outgoing, &mut queued, &events, &options).await;
        let _ = socket.close(None).await;
        let mut backoff = match ended {
            Ended::Closed => return,
            Ended::Renew(reason) => {
                tracing::debug!(%reason, "renewing the signaling connection");
                Duration::ZERO
            }
            Ended::Lost(reason) => {
                tracing::info!(%reason, "signaling connection lost; reconnecting");
                if events
                    .send(SignalingEvent::Disconnected { reason })
                    .is_err()
                {
                    return;
                }
                options.min_backoff
            }
        };
        socket = loop {
            tokio::time::sleep(backoff).await;
            match connector.open().await {
                Ok(s) => break s,
                Err(e) => {
                    tracing::info!(error = %e, "signaling reconnect failed");
                    backoff = (backoff * 2)
                        .max(options.min_backoff)
                        .min(options.max_backoff);
                }
            }
            // Keep what the user sends meanwhile, bounded.
            while let Ok(m) = outgoing.try_recv() {
                push_bounded(&mut queued, m);
            }
            if events.is_closed() {
                return;
            }
        };
        if events.send(SignalingEvent::Reconnected).is_err() {
            return;
        }
    }
}

fn push_bounded(queued: &mut VecDeque<Outgoing>, m: Outgoing) {
    if queued.len() >= MAX_QUEUED {
        queued.pop_front();
    }
    queued.push_back(m);
}

async fn serve(
    socket: &mut Socket,
    outgoing: &mut mpsc::UnboundedReceiver<Outgoing>,
    queued: &mut VecDeque<Outgoing>,
    events: &mpsc::UnboundedSender<SignalingEvent>,
    options: &SignalingOptions,
) -> Ended {
    while let Some(m) = queued.pop_front() {
        if let Err(e) = send(socket, &m).await {
            queued.push_front(m);
            return Ended::Lost(e);
        }
    }
    let refresh_at = Instant::now() + options.refresh_after;
    let mut ping = tokio::time::interval(options.ping_interval);
    ping.reset();
    loop {
        tokio::select! {
            frame = socket.next() => match frame {
                Some(Ok(Message::Text(text))) => match Incoming::from_json(text.as_str()) {
                    Ok(Incoming::GoAway) => {
                        let _ = events.send(SignalingEvent::Message(Incoming::GoAway));
                        return Ended::Renew("GO_AWAY".into());
                    }
                    Ok(m) => {
                        if events.send(SignalingEvent::Message(m)).is_err() {
                            return Ended::Closed;
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "ignoring a signaling message"),
                },
                Some(Ok(Message::Close(frame))) => {
                    let why = frame.map(|f| f.reason.to_string()).unwrap_or_default();
                    return Ended::Lost(format!("closed by the service: {why}"));
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Ended::Lost(e.to_string()),
                None => return Ended::Lost("connection ended".into()),
            },
            m = outgoing.recv() => match m {
                Some(m) => {
                    if let Err(e) = send(socket, &m).await {
                        queued.push_back(m);
                        return Ended::Lost(e);
                    }
                }
                None => return Ended::Closed,
            },
            _ = ping.tick() => {
                if let Err(e) = socket.send(Message::Ping(Default::default())).await {
                    return Ended::Lost(e.to_string());
                }
            }
            _ = tokio::time::sleep_until(refresh_at) => {
                return Ended::Renew("connection age".into());
            }
        }
    }
}

async fn send(socket: &mut Socket, m: &Outgoing) -> Result<(), String> {
    match m.to_json() {
        Ok(text) => socket
            .send(Message::Text(text.into()))
            .await
            .map_err(|e| e.to_string()),
        Err(e) => {
            tracing::warn!(error = %e, "not sending a signaling message");
            Ok(())
        }
    }
}
