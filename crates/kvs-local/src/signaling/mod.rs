//! WebRTC signaling: the channel WebSocket endpoint KVS serves on its WSS endpoint.
//!
//! A client opens `GET <wss endpoint>/?X-Amz-ChannelARN=...[&X-Amz-ClientId=...]` presigned with
//! SigV4; without a client id it is the channel's master, with one a viewer. Messages are relayed
//! by [`relay::Relay`]; each connection is one task that also enforces the idle timeout and the
//! maximum connection time (announced with `GO_AWAY` a grace period before the close).

pub(crate) mod ice;
mod relay;
pub(crate) mod turn;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::extract::FromRequestParts;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use http::StatusCode;
use http::request::Parts;
use serde::Deserialize;
use tokio::sync::mpsc;

use crate::App;
use crate::control::ChannelSelector;
use crate::error::ApiError;
use relay::{JoinError, Relay, Relayed, Role, ToClient};

/// The largest decoded message payload relayed.
const MAX_PAYLOAD_BYTES: usize = 10 * 1024;

/// Connection limits of the signaling endpoint (KVS: 10 min idle, 1 h, 1 min of `GO_AWAY`).
#[derive(Debug, Clone)]
pub struct SignalingLimits {
    /// A connection that sends nothing for this long is closed.
    pub idle_timeout: Duration,
    /// A connection is closed after this long.
    pub max_connection: Duration,
    /// `GO_AWAY` is sent this long before the close.
    pub go_away_grace: Duration,
}

impl Default for SignalingLimits {
    fn default() -> Self {
        Self {
            idle_timeout: Duration::from_secs(10 * 60),
            max_connection: Duration::from_secs(60 * 60),
            go_away_grace: Duration::from_secs(60),
        }
    }
}

/// The signaling state shared by all connections.
#[derive(Default)]
pub(crate) struct Signaling {
    relay: Mutex<Relay>,
    /// Ends every connection when the server stops (upgraded connections outlive the HTTP
    /// server's graceful shutdown otherwise).
    stop: tokio_util::sync::CancellationToken,
}

impl Signaling {
    fn relay(&self) -> MutexGuard<'_, Relay> {
        // The relay is left consistent by every method, so a poisoned lock is still usable.
        self.relay.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Closes every connection, for a server that stops.
    pub(crate) fn close_all(&self) {
        self.stop.cancel();
    }

    /// Closes the connections of a deleted channel.
    pub(crate) fn channel_deleted(&self, arn: &str) {
        self.relay().remove_channel(arn);
    }
}

/// Whether a request is a signaling connection (it names a channel in its query).
pub(crate) fn is_connect(query: &BTreeMap<String, String>) -> bool {
    query.contains_key("X-Amz-ChannelARN")
}

/// Answers a verified connection request: checks the channel and client id, then upgrades.
pub(crate) async fn connect(
    app: Arc<App>,
    mut parts: Parts,
    query: BTreeMap<String, String>,
) -> Result<Response, ApiError> {
    let arn = query.get("X-Amz-ChannelARN").cloned().unwrap_or_default();
    let channel = ChannelSelector::by_arn(arn).load(&app).await?;
    let role = match query.get("X-Amz-ClientId") {
        None => Role::Master,
        Some(id) if valid_client_id(id) => Role::Viewer(id.clone()),
        Some(id) => {
            return Err(ApiError::invalid_argument(format!(
                "X-Amz-ClientId {id:?} is not valid: use 1-256 characters of A-Z, a-z, 0-9, '_', '.', '-', not starting with AWS_"
            )));
        }
    };
    let upgrade = WebSocketUpgrade::from_request_parts(&mut parts, &())
        .await
        .map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "InvalidArgumentException",
                format!("the signaling endpoint takes WebSocket connections only: {e}"),
            )
        })?;
    let ttl = Duration::from_secs(u64::from(channel.message_ttl_seconds));
    let (tx, rx) = mpsc::unbounded_channel();
    let connection = app
        .signaling
        .relay()
        .join(&channel.arn, role.clone(), tx, ttl)
        .map_err(|JoinError::TooManyViewers| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "ClientLimitExceededException",
                format!(
                    "channel {} already has {} viewers connected",
                    channel.name,
                    relay::MAX_VIEWERS
                ),
            )
        })?;
    let limits = app.signaling_limits.clone();
    let session = Session {
        app: app.clone(),
        channel: channel.arn,
        role,
        connection,
        ttl,
    };
    Ok(upgrade
        .on_upgrade(move |socket| session.run(socket, rx, limits))
        .into_response())
}

fn valid_client_id(id: &str) -> bool {
    (1..=256).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
        && !id.starts_with("AWS_")
}

/// One connected client.
struct Session {
    app: Arc<App>,
    channel: String,
    role: Role,
    connection: u64,
    ttl: Duration,
}

/// A message from a client. KVS accepts both key spellings: the JS SDK and ours send
/// `recipientClientId`, AWS's C SDK sends `RecipientClientId`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ClientMessage {
    #[serde(alias = "Action")]
    action: Option<String>,
    #[serde(alias = "RecipientClientId")]
    recipient_client_id: Option<String>,
    #[serde(alias = "MessagePayload")]
    message_payload: Option<String>,
    #[serde(alias = "CorrelationId")]
    correlation_id: Option<String>,
}

impl Session {
    async fn run(
        self,
        mut socket: WebSocket,
        mut rx: mpsc::UnboundedReceiver<ToClient>,
        limits: SignalingLimits,
    ) {
        let started = tokio::time::Instant::now();
        let go_away_at = started + limits.max_connection.saturating_sub(limits.go_away_grace);
        let close_at = started + limits.max_connection;
        let mut went_away = false;
        let mut idle_deadline = started + limits.idle_timeout;
        let stop = self.app.signaling.stop.clone();
        let reason = loop {
            tokio::select! {
                msg = socket.recv() => match msg {
                    Some(Ok(Message::Text(text))) => {
                        idle_deadline = tokio::time::Instant::now() + limits.idle_timeout;
                        if let Some(status) = self.handle(text.as_str())
                            && socket.send(Message::Text(status.into())).await.is_err()
                        {
                            break "send failed";
                        }
                    }
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break "client closed",
                    Some(Ok(_)) => {
                        idle_deadline = tokio::time::Instant::now() + limits.idle_timeout;
                    }
                },
                out = rx.recv() => match out {
                    Some(ToClient::Text(text)) => {
                        if socket.send(Message::Text(text.into())).await.is_err() {
                            break "send failed";
                        }
                    }
                    Some(ToClient::Replaced) | None => break "replaced by a newer connection",
                },
                _ = tokio::time::sleep_until(go_away_at), if !went_away => {
                    went_away = true;
                    let text = serde_json::json!({ "messageType": "GO_AWAY" }).to_string();
                    if socket.send(Message::Text(text.into())).await.is_err() {
                        break "send failed";
                    }
                }
                _ = tokio::time::sleep_until(close_at) => break "maximum connection time",
                _ = tokio::time::sleep_until(idle_deadline) => break "idle timeout",
                _ = stop.cancelled() => break "server shutting down",
            }
        };
        tracing::debug!(channel = %self.channel, role = ?self.role, reason, "signaling connection closed");
        self.app
            .signaling
            .relay()
            .leave(&self.channel, &self.role, self.connection);
        let _ = socket
            .send(Message::Close(Some(CloseFrame {
                code: axum::extract::ws::close_code::NORMAL,
                reason: reason.into(),
            })))
            .await;
    }

    /// Routes one client message; returns the `STATUS_RESPONSE` to send back if it is refused.
    fn handle(&self, text: &str) -> Option<String> {
        let msg: ClientMessage = match serde_json::from_str(text) {
            Ok(m) => m,
            Err(e) => return Some(status(None, format!("malformed message: {e}"))),
        };
        let correlation = msg.correlation_id.clone();
        match self.relayed(msg) {
            Ok((to, relayed)) => {
                self.app
                    .signaling
                    .relay()
                    .route(&self.channel, to, relayed, self.ttl);
                None
            }
            Err(description) => Some(status(correlation, description)),
        }
    }

    fn relayed(&self, msg: ClientMessage) -> Result<(Role, Relayed), String> {
        let action = msg.action.unwrap_or_default();
        if !matches!(
            action.as_str(),
            "SDP_OFFER" | "SDP_ANSWER" | "ICE_CANDIDATE"
        ) {
            return Err(format!(
                "action {action:?} is not valid; use SDP_OFFER, SDP_ANSWER or ICE_CANDIDATE"
            ));
        }
        let payload = msg
            .message_payload
            .ok_or_else(|| "messagePayload is required".to_owned())?;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(payload.trim())
            .map_err(|e| format!("messagePayload is not base64: {e}"))?;
        if decoded.len() > MAX_PAYLOAD_BYTES {
            return Err(format!(
                "messagePayload of {} bytes is over the {MAX_PAYLOAD_BYTES}-byte limit",
                decoded.len()
            ));
        }
        let (to, sender) = match &self.role {
            Role::Viewer(id) => (Role::Master, Some(id.clone())),
            Role::Master => match msg.recipient_client_id {
                Some(r) if valid_client_id(&r) => (Role::Viewer(r), None),
                Some(r) => return Err(format!("recipientClientId {r:?} is not valid")),
                None => return Err("recipientClientId is required for the master".into()),
            },
        };
        Ok((
            to,
            Relayed {
                action,
                sender,
                payload,
            },
        ))
    }
}

fn status(correlation_id: Option<String>, description: String) -> String {
    serde_json::json!({
        "messageType": "STATUS_RESPONSE",
        "statusResponse": {
            "correlationId": correlation_id,
            "errorType": "InvalidArgumentException",
            "statusCode": "400",
            "description": description,
        }
    })
    .to_string()
}
