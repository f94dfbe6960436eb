//! The master: answers every viewer's offer with its own peer connection and sends each the
//! shared H.264 feed.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kvs_mkv::{TrackInfo, TrackKind};
use tokio::sync::mpsc;
use webrtc::peer_connection::{RTCIceCandidateInit, RTCPeerConnectionState};

use super::connection::{self, Sending, is_over};
use super::data::DataMessage;
use super::error::{PeerError, Result};
use super::feed::{Feed, FrameSink};
use super::h264::{ParameterSets, profile_level_id};
use super::ice::{IceConfig, IceServer};
use super::outbound::{Outbound, from_signal};
use super::stats::{PeerStats, collect};
use crate::signaling::{ClientId, Incoming, Outgoing, Signal, StatusResponse};
use session::{Offer, Session};

mod session;

/// Candidates kept for a viewer whose offer has not arrived yet, and viewers kept for.
const EARLY_CANDIDATES: usize = 32;
const EARLY_VIEWERS: usize = 32;
const EVENTS: usize = 256;

/// How a [`Master`] serves viewers.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MasterConfig {
    /// ICE servers, relay-only mode and local addresses.
    pub ice: IceConfig,
    /// Start a new viewer at the current group of pictures (sent at once) instead of waiting
    /// for the source's next key frame, which can be seconds away.
    pub fast_start: bool,
    /// How long a viewer's connection may stay disconnected before the master drops it. A
    /// viewer that closes its connection is only noticed this way (about 5 s after its last
    /// ICE consent), so this bounds how long a departed viewer holds resources; without it
    /// the ICE failure comes 25 s later.
    pub disconnected_timeout: Duration,
    /// The highest video bitrate expected from the source, in kbit/s: each viewer's
    /// connection keeps three seconds of it for retransmitting what the viewer reports lost.
    pub max_bitrate_kbps: u32,
}

impl Default for MasterConfig {
    fn default() -> Self {
        Self {
            ice: IceConfig::default(),
            fast_start: true,
            disconnected_timeout: Duration::from_secs(10),
            max_bitrate_kbps: 4000,
        }
    }
}

/// What happens to a master's viewers.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MasterEvent {
    /// A viewer's offer was answered.
    ViewerJoined(ClientId),
    /// A viewer's connection is up; its video starts now.
    ViewerConnected(ClientId),
    /// A viewer's data channel opened.
    DataChannelOpen(ClientId),
    /// A viewer's data channel closed.
    DataChannelClosed(ClientId),
    /// A viewer sent a data channel message.
    Data {
        /// Who sent it.
        viewer: ClientId,
        /// What it sent.
        message: DataMessage,
    },
    /// A viewer's connection closed or failed, or it was removed or replaced by a new offer.
    ViewerLeft(ClientId),
    /// The signaling service refused a message (`STATUS_RESPONSE`).
    SignalingError(StatusResponse),
}

/// A KVS master serving many viewers at once: each viewer's `SDP_OFFER` gets its own peer
/// connection and answer, candidates trickle both ways keyed by the viewer's client id, and
/// every viewer gets the frames sent to [`frame_sink`](Self::frame_sink), from a key frame on.
///
/// It knows nothing of WebSockets: messages to send go to the `transport` sender given to
/// [`new`](Self::new), and what the signaling channel delivers is passed to
/// [`handle`](Self::handle). Dropping it closes every viewer's connection.
pub struct Master {
    inner: Arc<Inner>,
}

struct Inner {
    config: MasterConfig,
    /// The ICE servers new viewers get; replaced when their credentials are renewed.
    ice_servers: Mutex<Vec<IceServer>>,
    feed: Arc<Feed>,
    profile: Option<[u8; 3]>,
    transport: mpsc::Sender<Outgoing>,
    events: mpsc::Sender<MasterEvent>,
    sessions: Mutex<HashMap<ClientId, Arc<Session>>>,
    early_candidates: Mutex<HashMap<ClientId, Vec<RTCIceCandidateInit>>>,
    // Offers are taken one at a time, so a viewer's candidates never overtake its offer.
    signaling: tokio::sync::Mutex<()>,
    closed: AtomicBool,
}

impl Master {
    /// A master for a source with `tracks` (its first video track must be H.264; the AVCC
    /// codec private gives the SPS and PPS put before each key frame; an Opus audio track is
    /// sent to viewers that offer to receive audio, other audio is not). Returns the events of
    /// its viewers as well; read them, or they are dropped once 256 are waiting.
    pub fn new(
        config: MasterConfig,
        tracks: &[TrackInfo],
        transport: mpsc::Sender<Outgoing>,
    ) -> Result<(Self, mpsc::Receiver<MasterEvent>)> {
        let video = tracks
            .iter()
            .find(|t| matches!(t.kind, TrackKind::Video { .. }))
            .ok_or(PeerError::NoVideoTrack)?;
        if video.codec_id != TrackInfo::H264 {
            return Err(PeerError::UnsupportedCodec(video.codec_id.clone()));
        }
        let sets = ParameterSets::from_avcc(&video.codec_private)?;
        let audio = tracks.iter().find(|t| !t.is_video());
        let opus = audio
            .filter(|t| t.codec_id == TrackInfo::OPUS)
            .map(|t| t.number);
        if let Some(other) = audio.filter(|_| opus.is_none()) {
            tracing::warn!(
                "the source's {} audio is not sent: WebRTC carries Opus (open the source with \
                 Opus audio)",
                other.codec_id
            );
        }
        let profile = sets.sps.first().and_then(|s| profile_level_id(s));
        let (events, events_rx) = mpsc::channel(EVENTS);
        let inner = Arc::new(Inner {
            ice_servers: Mutex::new(config.ice.servers.clone()),
            config,
            feed: Arc::new(Feed::new(video.number, sets, opus)),
            profile,
            transport,
            events,
            sessions: Mutex::new(HashMap::new()),
            early_candidates: Mutex::new(HashMap::new()),
            signaling: tokio::sync::Mutex::new(()),
            closed: AtomicBool::new(false),
        });
        Ok((Self { inner }, events_rx))
    }

    /// Where the source's frames go.
    pub fn frame_sink(&self) -> FrameSink {
        FrameSink::new(Arc::clone(&self.inner.feed))
    }

    /// Acts on a message from the signaling channel: a viewer's offer or candidate, or a
    /// refusal. `GO_AWAY` and `RECONNECT_ICE_SERVER` concern the signaling client, not the
    /// connections already up, and are ignored here.
    pub async fn handle(&self, message: Incoming) -> Result<()> {
        match message {
            Incoming::Signal {
                sender: Some(viewer),
                signal,
            } => match signal {
                Signal::Offer(sdp) => self.inner.accept_offer(viewer, sdp).await,
                Signal::IceCandidate(c) => {
                    if let Some(candidate) = from_signal(c) {
                        self.inner.add_candidate(viewer, candidate).await;
                    }
                    Ok(())
                }
                Signal::Answer(_) => {
                    tracing::warn!("viewer {viewer} sent an answer; a master only takes offers");
                    Ok(())
                }
            },
            Incoming::Signal { sender: None, .. } => {
                tracing::warn!("a signaling message without a sender client id was ignored");
                Ok(())
            }
            Incoming::Status(status) => {
                self.inner.emit(MasterEvent::SignalingError(status));
                Ok(())
            }
            Incoming::GoAway | Incoming::ReconnectIceServer => Ok(()),
        }
    }

    /// Replaces the ICE (STUN/TURN) servers given to viewers that connect from now on, e.g.
    /// with renewed TURN credentials; connections already up keep theirs.
    pub fn set_ice_servers(&self, servers: Vec<IceServer>) {
        *self
            .inner
            .ice_servers
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = servers;
    }

    /// The viewers being served.
    pub fn viewers(&self) -> Vec<ClientId> {
        let mut ids: Vec<ClientId> = self.inner.sessions().keys().cloned().collect();
        ids.sort();
        ids
    }

    /// One viewer's statistics.
    pub async fn stats(&self, viewer: &ClientId) -> Result<PeerStats> {
        let session = self.inner.session(viewer)?;
        let connected = *session.state.borrow() == RTCPeerConnectionState::Connected;
        Ok(collect(&session.counters, session.pc.as_ref(), connected).await)
    }

    /// Sends binary data on a viewer's data channel.
    pub async fn send_data(&self, viewer: &ClientId, data: &[u8]) -> Result<()> {
        self.inner.session(viewer)?.data.send(data).await
    }

    /// Sends text on a viewer's data channel.
    pub async fn send_text(&self, viewer: &ClientId, text: &str) -> Result<()> {
        self.inner.session(viewer)?.data.send_text(text).await
    }

    /// Closes a viewer's connection; the others are not touched.
    pub async fn remove_viewer(&self, viewer: &ClientId) -> Result<()> {
        let session = self.inner.session(viewer)?;
        self.inner.end_session(&session).await;
        Ok(())
    }

    /// Closes every viewer's connection and refuses further frames and offers.
    pub async fn close(&self) {
        self.inner.close().await;
    }
}

impl Drop for Master {
    fn drop(&mut self) {
        if self.inner.closed.load(Ordering::Acquire) {
            return;
        }
        self.inner.feed.close();
        // Connections are closed asynchronously; without a runtime there is nothing to close
        // them on, and their drivers end with the runtime anyway.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let inner = Arc::clone(&self.inner);
            runtime.spawn(async move { inner.close().await });
        }
    }
}

impl std::fmt::Debug for Master {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Master")
            .field("viewers", &self.viewers())
            .finish_non_exhaustive()
    }
}

impl Inner {
    fn sessions(&self) -> std::sync::MutexGuard<'_, HashMap<ClientId, Arc<Session>>> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn session(&self, viewer: &ClientId) -> Result<Arc<Session>> {
        self.sessions()
            .get(viewer)
            .cloned()
            .ok_or_else(|| PeerError::UnknownViewer(viewer.clone()))
    }

    fn emit(&self, event: MasterEvent) {
        if let Err(mpsc::error::TrySendError::Full(event)) = self.events.try_send(event) {
            tracing::warn!("master event dropped, nobody reads them: {event:?}");
        }
    }

    async fn accept_offer(self: &Arc<Self>, viewer: ClientId, sdp: String) -> Result<()> {
        let _one_at_a_time = self.signaling.lock().await;
        if self.closed.load(Ordering::Acquire) {
            return Err(PeerError::Closed);
        }
        let replaced = self.sessions().get(&viewer).cloned();
        if let Some(old) = replaced {
            self.end_session(&old).await;
        }
        let received = Instant::now();
        let outbound = Outbound::start(self.transport.clone(), Some(viewer.clone()));
        let ice = IceConfig {
            servers: self
                .ice_servers
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
            ..self.config.ice.clone()
        };
        let link = connection::build(
            &ice,
            Arc::clone(&outbound),
            self.profile,
            Sending::video_up_to(self.config.max_bitrate_kbps),
        )
        .await?;
        let pc = Arc::clone(&link.pc);
        let early_candidates = self
            .early_candidates
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&viewer)
            .unwrap_or_default();
        let offer = Offer {
            viewer: viewer.clone(),
            sdp,
            early_candidates,
            received,
            feed: Arc::clone(&self.feed),
            fast_start: self.config.fast_start,
            events: self.events.clone(),
        };
        match Session::answer(offer, link, &outbound).await {
            Ok(session) => {
                self.sessions().insert(viewer.clone(), Arc::clone(&session));
                tokio::spawn(Arc::clone(self).supervise(session));
                self.emit(MasterEvent::ViewerJoined(viewer));
                Ok(())
            }
            Err(e) => {
                let _ = pc.close().await;
                Err(e)
            }
        }
    }

    async fn add_candidate(&self, viewer: ClientId, candidate: RTCIceCandidateInit) {
        let _in_order = self.signaling.lock().await;
        let session = self.sessions().get(&viewer).cloned();
        match session {
            Some(s) => {
                if let Err(e) = s.pc.add_ice_candidate(candidate).await {
                    tracing::debug!("viewer {viewer}: candidate refused: {e}");
                }
            }
            None => {
                let mut early = self
                    .early_candidates
                    .lock()
                    .unwrap_or_else(|p| p.into_inner());
                if early.len() >= EARLY_VIEWERS && !early.contains_key(&viewer) {
                    return;
                }
                let list = early.entry(viewer).or_default();
                if list.len() < EARLY_CANDIDATES {
                    list.push(candidate);
                }
            }
        }
    }

    /// Watches one viewer's connection: reports it connected, and ends the session when it
    /// fails or closes.
    async fn supervise(self: Arc<Self>, session: Arc<Session>) {
        let mut state = session.state.clone();
        let mut reported = false;
        loop {
            let current = *state.borrow_and_update();
            if current == RTCPeerConnectionState::Connected && !reported {
                reported = true;
                self.emit(MasterEvent::ViewerConnected(session.id.clone()));
            }
            if is_over(current) {
                break;
            }
            let grace = async {
                if current == RTCPeerConnectionState::Disconnected {
                    tokio::time::sleep(self.config.disconnected_timeout).await;
                } else {
                    std::future::pending::<()>().await;
                }
            };
            tokio::select! {
                changed = state.changed() => if changed.is_err() { break },
                () = session.cancelled() => return,
                () = grace => {
                    tracing::info!("viewer {} stayed disconnected; dropping it", session.id);
                    break;
                }
            }
        }
        self.end_session(&session).await;
    }

    async fn end_session(&self, session: &Arc<Session>) {
        {
            let mut sessions = self.sessions();
            if sessions
                .get(&session.id)
                .is_some_and(|s| Arc::ptr_eq(s, session))
            {
                sessions.remove(&session.id);
            }
        }
        if session.shutdown().await {
            self.emit(MasterEvent::ViewerLeft(session.id.clone()));
        }
    }

    async fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.feed.close();
        let sessions: Vec<Arc<Session>> = self.sessions().values().cloned().collect();
        for session in sessions {
            self.end_session(&session).await;
        }
    }
}
