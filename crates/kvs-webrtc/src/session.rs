//! A peer on a signaling channel: a [`Master`] or [`Viewer`] wired to a [`SignalingClient`].
//!
//! Starting a session resolves the channel, fetches its ICE servers (`GetIceServerConfig`),
//! connects to signaling and then moves messages both ways until the session is dropped. The
//! signaling client reconnects on its own; connections already up are not touched by that.

use std::sync::Arc;
use std::time::Duration;

use kvs_control::ControlPlane;
use kvs_endpoint::KvsConfig;
use kvs_mkv::TrackInfo;
use kvs_types::{Arn, ChannelRef};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::peer::{
    FrameSink, IceConfig, IceServer, Master, MasterConfig, MasterEvent, PeerError, Viewer,
    ViewerConfig, ViewerOutput,
};
use crate::signaling::{
    ClientId, IceServerError, Incoming, Outgoing, Role, SignalingClient, SignalingError,
    SignalingEvent, SignalingOptions, ice_servers,
};

/// Messages a peer may queue for signaling before it waits.
const OUTGOING: usize = 256;

/// How a session connects.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SessionOptions {
    /// Local addresses and extra ICE servers; the channel's TURN servers are added.
    pub ice: IceConfig,
    /// Only relayed (TURN) candidates.
    pub relay_only: bool,
    /// Keep-alive and reconnection of the signaling connection.
    pub signaling: SignalingOptions,
    /// How often a master renews the channel's TURN credentials for viewers yet to come (they
    /// are valid for 5 minutes); also renewed at once on `RECONNECT_ICE_SERVER`.
    pub ice_refresh: Duration,
}

impl Default for SessionOptions {
    fn default() -> Self {
        Self {
            ice: IceConfig::default(),
            relay_only: false,
            signaling: SignalingOptions::default(),
            ice_refresh: Duration::from_secs(4 * 60),
        }
    }
}

/// Why a session could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// The channel could not be described.
    #[error(transparent)]
    Channel(#[from] kvs_control::Error),
    /// The channel's ARN is not valid.
    #[error("channel ARN {0:?} is not valid")]
    ChannelArn(String),
    /// The ICE servers could not be fetched.
    #[error(transparent)]
    IceServers(#[from] IceServerError),
    /// Signaling could not connect.
    #[error(transparent)]
    Signaling(#[from] SignalingError),
    /// The peer connection could not be set up.
    #[error(transparent)]
    Peer(#[from] PeerError),
}

struct Connected {
    client: SignalingClient,
    ice: IceConfig,
    /// Fetches the channel's ICE servers again.
    refresh: IceRefresh,
}

#[derive(Clone)]
struct IceRefresh {
    config: KvsConfig,
    arn: Arn,
    role: Role,
    extra: Vec<IceServer>,
}

impl IceRefresh {
    async fn fetch(&self) -> Result<Vec<IceServer>, IceServerError> {
        let mut servers = self.extra.clone();
        servers.extend(ice_servers(&self.config, &self.arn, &self.role).await?);
        Ok(servers)
    }
}

async fn connect(
    config: &KvsConfig,
    channel: &ChannelRef,
    role: Role,
    options: &SessionOptions,
) -> Result<Connected, SessionError> {
    let info = ControlPlane::new(config).describe_channel(channel).await?;
    let arn = Arn::parse(&info.channel_arn)
        .map_err(|_| SessionError::ChannelArn(info.channel_arn.clone()))?;
    let refresh = IceRefresh {
        config: config.clone(),
        arn: arn.clone(),
        role: role.clone(),
        extra: options.ice.servers.clone(),
    };
    let mut ice = options.ice.clone();
    ice.servers = refresh.fetch().await?;
    ice.relay_only = options.relay_only;
    let client = SignalingClient::connect(config, arn, role, options.signaling.clone()).await?;
    Ok(Connected {
        client,
        ice,
        refresh,
    })
}

/// Moves the peer's messages to signaling and signaling's messages to the peer.
fn pump<F, Fut>(
    mut client: SignalingClient,
    mut outgoing: mpsc::Receiver<Outgoing>,
    deliver: F,
) -> JoinHandle<()>
where
    F: Fn(Incoming) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    tokio::spawn(async move {
        loop {
            tokio::select! {
                event = client.recv() => match event {
                    Some(SignalingEvent::Message(m)) => deliver(m).await,
                    Some(SignalingEvent::Disconnected { reason }) => {
                        tracing::info!(%reason, "signaling disconnected; reconnecting");
                    }
                    Some(SignalingEvent::Reconnected) => tracing::info!("signaling reconnected"),
                    None => break,
                },
                out = outgoing.recv() => match out {
                    Some(m) => client.send(m),
                    None => break,
                },
            }
        }
    })
}

/// A master serving the channel's viewers.
pub struct MasterSession {
    master: Arc<Master>,
    events: mpsc::Receiver<MasterEvent>,
    pump: JoinHandle<()>,
    renewer: JoinHandle<()>,
}

/// Renews the master's ICE servers every `every`, and when `now` is notified.
async fn renew_ice_servers(
    master: Arc<Master>,
    refresh: IceRefresh,
    every: Duration,
    now: Arc<tokio::sync::Notify>,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = now.notified() => {}
        }
        match refresh.fetch().await {
            Ok(servers) => master.set_ice_servers(servers),
            Err(e) => {
                tracing::warn!(error = %e, "cannot renew the ICE servers; keeping the old ones")
            }
        }
    }
}

impl MasterSession {
    /// Connects to `channel` as its master, for a source with `tracks` (H.264 video first).
    /// Feed the source's frames to [`frame_sink`](Self::frame_sink).
    pub async fn start(
        config: &KvsConfig,
        channel: &ChannelRef,
        tracks: &[TrackInfo],
        options: SessionOptions,
    ) -> Result<Self, SessionError> {
        let Connected {
            client,
            ice,
            refresh,
        } = connect(config, channel, Role::Master, &options).await?;
        let (transport, outgoing) = mpsc::channel(OUTGOING);
        let master_config = MasterConfig {
            ice,
            ..MasterConfig::default()
        };
        let (master, events) = Master::new(master_config, tracks, transport)?;
        let master = Arc::new(master);
        let renew = Arc::new(tokio::sync::Notify::new());
        let renewer = tokio::spawn(renew_ice_servers(
            Arc::clone(&master),
            refresh,
            options.ice_refresh,
            Arc::clone(&renew),
        ));
        let peer = Arc::clone(&master);
        let pump = pump(client, outgoing, move |m| {
            let peer = Arc::clone(&peer);
            let renew = Arc::clone(&renew);
            async move {
                if m == Incoming::ReconnectIceServer {
                    renew.notify_one();
                }
                if let Err(e) = peer.handle(m).await {
                    tracing::warn!(error = %e, "master could not act on a signaling message");
                }
            }
        });
        Ok(Self {
            master,
            events,
            pump,
            renewer,
        })
    }

    /// Where the source's frames go.
    pub fn frame_sink(&self) -> FrameSink {
        self.master.frame_sink()
    }

    /// The master, for viewers' statistics and data channels.
    pub fn master(&self) -> &Master {
        &self.master
    }

    /// The next event of the master's viewers.
    pub async fn next_event(&mut self) -> Option<MasterEvent> {
        self.events.recv().await
    }

    /// Closes every viewer and the signaling connection.
    pub async fn close(self) {
        self.master.close().await;
        self.pump.abort();
        self.renewer.abort();
    }
}

impl Drop for MasterSession {
    fn drop(&mut self) {
        self.pump.abort();
        self.renewer.abort();
    }
}

/// A viewer of the channel's master.
pub struct ViewerSession {
    viewer: Arc<Viewer>,
    client_id: ClientId,
    pump: JoinHandle<()>,
}

impl ViewerSession {
    /// Connects to `channel` as viewer `client_id` and sends its offer; frames and events
    /// arrive on the returned [`ViewerOutput`].
    pub async fn start(
        config: &KvsConfig,
        channel: &ChannelRef,
        client_id: ClientId,
        options: SessionOptions,
    ) -> Result<(Self, ViewerOutput), SessionError> {
        let role = Role::Viewer(client_id.clone());
        let Connected { client, ice, .. } = connect(config, channel, role, &options).await?;
        let (transport, outgoing) = mpsc::channel(OUTGOING);
        let viewer_config = ViewerConfig {
            ice,
            ..ViewerConfig::default()
        };
        let (viewer, output) = Viewer::connect(viewer_config, transport).await?;
        let viewer = Arc::new(viewer);
        let peer = Arc::clone(&viewer);
        let pump = pump(client, outgoing, move |m| {
            let peer = Arc::clone(&peer);
            async move {
                if let Err(e) = peer.handle(m).await {
                    tracing::warn!(error = %e, "viewer could not act on a signaling message");
                }
            }
        });
        Ok((
            Self {
                viewer,
                client_id,
                pump,
            },
            output,
        ))
    }

    /// The viewer, for statistics, key frame requests and its data channel.
    pub fn viewer(&self) -> &Viewer {
        &self.viewer
    }

    /// This viewer's client id.
    pub fn client_id(&self) -> &ClientId {
        &self.client_id
    }

    /// Closes the connection and leaves the channel.
    pub async fn close(self) {
        self.viewer.close().await;
        self.pump.abort();
    }
}

impl Drop for ViewerSession {
    fn drop(&mut self) {
        self.pump.abort();
    }
}
