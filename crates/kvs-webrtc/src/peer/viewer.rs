//! The viewer: offers to receive video and audio and to open a data channel, and hands out what
//! the master sends as H.264 and Opus frames on one timeline.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kvs_mkv::{Frame, TrackInfo};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use webrtc::peer_connection::{
    PeerConnection, RTCIceCandidateInit, RTCPeerConnectionState, RTCSessionDescription,
};
use webrtc::rtp_transceiver::{RTCRtpTransceiverDirection, RTCRtpTransceiverInit};

use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;

use super::audio::{AudioReceiver, opus_track};
use super::clock::MediaClock;
use super::connection::{self, Link, Sending, is_over};
use super::data::{self, DataEvent, DataMessage, DataSlot, KVS_DATA_CHANNEL};
use super::error::{PeerError, Result};
use super::ice::IceConfig;
use super::outbound::{Outbound, from_signal};
use super::receiver::{KeyFrameRequester, VideoReceiver};
use super::sdp::answers_with_audio;
use super::stats::{MediaCounters, PeerStats, collect};
use crate::signaling::{Incoming, Outgoing, Signal, StatusResponse};

const EVENTS: usize = 256;

/// How a [`Viewer`] connects.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ViewerConfig {
    /// ICE servers, relay-only mode and local addresses.
    pub ice: IceConfig,
    /// Open a data channel with this label (`None`: no data channel).
    pub data_channel: Option<String>,
    /// Frames waiting for the reader before newer ones are dropped (up to the next key frame).
    pub frame_buffer: usize,
    /// How long a missing packet is waited for (while it is asked for again) before the
    /// frames behind it are given up on: the jitter buffer's maximum delay.
    pub jitter_buffer: Duration,
}

impl Default for ViewerConfig {
    fn default() -> Self {
        Self {
            ice: IceConfig::default(),
            data_channel: Some(KVS_DATA_CHANNEL.to_owned()),
            frame_buffer: 256,
            jitter_buffer: Duration::from_millis(500),
        }
    }
}

/// What happens to a viewer's connection.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ViewerEvent {
    /// The connection is up.
    Connected,
    /// The connection was lost; it may come back.
    Disconnected,
    /// The connection failed or was closed, for good.
    Ended,
    /// The data channel opened.
    DataChannelOpen,
    /// The data channel closed.
    DataChannelClosed,
    /// The master sent a data channel message.
    Data(DataMessage),
    /// The signaling service refused a message (`STATUS_RESPONSE`).
    SignalingError(StatusResponse),
}

/// What a viewer delivers.
#[derive(Debug)]
pub struct ViewerOutput {
    /// Video frames from the first key frame on: track 1, AVC (length-prefixed) H.264 with the
    /// SPS and PPS in key frames; and audio frames, when the master sends audio: track 2, one
    /// Opus packet each. Timestamps are nanoseconds on one timeline for both tracks (from the
    /// viewer's start), so that they play in sync; [`Viewer::tracks`] describes the tracks.
    pub frames: mpsc::Receiver<Frame>,
    /// Connection and data channel events.
    pub events: mpsc::Receiver<ViewerEvent>,
}

/// A KVS viewer: sends an `SDP_OFFER` for receive-only H.264 video and a data channel, trickles
/// candidates, and turns the master's video into [`Frame`]s.
///
/// It knows nothing of WebSockets: messages to send go to the `transport` sender given to
/// [`connect`](Self::connect), and what the signaling channel delivers (the master's answer and
/// candidates) is passed to [`handle`](Self::handle).
pub struct Viewer {
    pc: Arc<dyn PeerConnection>,
    state: watch::Receiver<RTCPeerConnectionState>,
    data: DataSlot,
    counters: Arc<MediaCounters>,
    track_info: Arc<Mutex<Option<TrackInfo>>>,
    /// Whether the master's answer sends audio.
    audio: AtomicBool,
    key_frames: KeyFrameRequester,
    /// Remote candidates that came before the answer; `None` once it is applied.
    pending: tokio::sync::Mutex<Option<Vec<RTCIceCandidateInit>>>,
    events: mpsc::Sender<ViewerEvent>,
    tasks: Vec<JoinHandle<()>>,
    closed: AtomicBool,
}

impl Viewer {
    /// Creates the connection and sends the offer through `transport`. Time to first frame
    /// is measured from this call.
    pub async fn connect(
        config: ViewerConfig,
        transport: mpsc::Sender<Outgoing>,
    ) -> Result<(Self, ViewerOutput)> {
        let started = Instant::now();
        let outbound = Outbound::start(transport, None);
        let Link {
            pc,
            state,
            mut data_channels,
            mut tracks,
        } = connection::build(&config.ice, Arc::clone(&outbound), None, Sending::NOTHING).await?;
        let (events, events_rx) = mpsc::channel(EVENTS);
        let (frames, frames_rx) = mpsc::channel(config.frame_buffer.max(1));
        let counters = Arc::new(MediaCounters::new(started));
        let track_info = Arc::new(Mutex::new(None));
        let key_frames = KeyFrameRequester::default();
        let data = DataSlot::default();

        let offer = async {
            pc.add_transceiver_from_kind(
                RtpCodecKind::Video,
                Some(RTCRtpTransceiverInit {
                    direction: RTCRtpTransceiverDirection::Recvonly,
                    ..Default::default()
                }),
            )
            .await
            .map_err(PeerError::webrtc("add a receive-only video transceiver"))?;
            pc.add_transceiver_from_kind(
                RtpCodecKind::Audio,
                Some(RTCRtpTransceiverInit {
                    direction: RTCRtpTransceiverDirection::Recvonly,
                    ..Default::default()
                }),
            )
            .await
            .map_err(PeerError::webrtc("add a receive-only audio transceiver"))?;
            if let Some(label) = &config.data_channel {
                let channel = pc
                    .create_data_channel(label, None)
                    .await
                    .map_err(PeerError::webrtc("create the data channel"))?;
                data::read(channel, data.clone(), events.clone(), viewer_event);
            }
            let offer = pc
                .create_offer(None)
                .await
                .map_err(PeerError::webrtc("create the offer"))?;
            pc.set_local_description(offer.clone())
                .await
                .map_err(PeerError::webrtc("apply the offer"))?;
            Ok::<_, PeerError>(offer)
        };
        let offer = match offer.await {
            Ok(offer) => offer,
            Err(e) => {
                let _ = pc.close().await;
                return Err(e);
            }
        };
        outbound.description(Signal::Offer(super::sdp::with_trickle(&offer.sdp)));

        let mut tasks = Vec::new();
        let (slot, events_tx) = (data.clone(), events.clone());
        tasks.push(tokio::spawn(async move {
            while let Some(channel) = data_channels.recv().await {
                data::read(channel, slot.clone(), events_tx.clone(), viewer_event);
            }
        }));
        let jitter_buffer = config.jitter_buffer;
        let clock = MediaClock::new(started);
        let receiver = (
            Arc::clone(&counters),
            Arc::clone(&track_info),
            key_frames.clone(),
        );
        tasks.push(tokio::spawn(async move {
            while let Some(track) = tracks.recv().await {
                if track.kind().await == RtpCodecKind::Video {
                    let video = VideoReceiver {
                        track,
                        frames: frames.clone(),
                        counters: Arc::clone(&receiver.0),
                        track_info: Arc::clone(&receiver.1),
                        key_frames: receiver.2.clone(),
                        jitter_buffer,
                        clock,
                    };
                    tokio::spawn(video.run());
                } else {
                    // Opus is the only audio codec offered.
                    let audio = AudioReceiver {
                        track,
                        frames: frames.clone(),
                        clock,
                    };
                    tokio::spawn(audio.run());
                }
            }
        }));
        tasks.push(tokio::spawn(report_state(state.clone(), events.clone())));

        let viewer = Self {
            pc,
            state,
            data,
            counters,
            track_info,
            audio: AtomicBool::new(false),
            key_frames,
            pending: tokio::sync::Mutex::new(Some(Vec::new())),
            events,
            tasks,
            closed: AtomicBool::new(false),
        };
        Ok((
            viewer,
            ViewerOutput {
                frames: frames_rx,
                events: events_rx,
            },
        ))
    }

    /// Acts on a message from the signaling channel: the master's answer or candidate, or a
    /// refusal. `GO_AWAY` and `RECONNECT_ICE_SERVER` concern the signaling client, not the
    /// connection already up, and are ignored here.
    pub async fn handle(&self, message: Incoming) -> Result<()> {
        match message {
            Incoming::Signal { signal, .. } => match signal {
                Signal::Answer(sdp) => {
                    let audio = answers_with_audio(&sdp);
                    let answer = RTCSessionDescription::answer(sdp)
                        .map_err(PeerError::webrtc("parse the master's answer"))?;
                    let mut pending = self.pending.lock().await;
                    self.pc
                        .set_remote_description(answer)
                        .await
                        .map_err(PeerError::webrtc("apply the master's answer"))?;
                    self.audio.store(audio, Ordering::Release);
                    for candidate in pending.take().unwrap_or_default() {
                        self.add_candidate(candidate).await;
                    }
                    Ok(())
                }
                Signal::IceCandidate(c) => {
                    let Some(candidate) = from_signal(c) else {
                        return Ok(());
                    };
                    let mut pending = self.pending.lock().await;
                    match pending.as_mut() {
                        Some(early) => early.push(candidate),
                        None => self.add_candidate(candidate).await,
                    }
                    Ok(())
                }
                Signal::Offer(_) => {
                    tracing::warn!("a viewer takes answers, not offers; offer ignored");
                    Ok(())
                }
            },
            Incoming::Status(status) => {
                let _ = self.events.try_send(ViewerEvent::SignalingError(status));
                Ok(())
            }
            Incoming::GoAway | Incoming::ReconnectIceServer => Ok(()),
        }
    }

    async fn add_candidate(&self, candidate: RTCIceCandidateInit) {
        if let Err(e) = self.pc.add_ice_candidate(candidate).await {
            tracing::debug!("master's candidate refused: {e}");
        }
    }

    /// The video track as an MKV track (AVCC codec private from the SPS and PPS, picture
    /// size), once the first key frame has arrived.
    pub fn track_info(&self) -> Option<TrackInfo> {
        self.track_info
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The tracks frames come on: the video track once its first key frame has arrived (see
    /// [`track_info`](Self::track_info)), then the Opus audio track when the master's answer
    /// sends audio. Complete once the first video frame has been handed out; what
    /// [`MkvRecorder::create`](super::MkvRecorder::create) takes.
    pub fn tracks(&self) -> Vec<TrackInfo> {
        let mut tracks: Vec<TrackInfo> = self.track_info().into_iter().collect();
        if self.audio.load(Ordering::Acquire) {
            tracks.push(opus_track());
        }
        tracks
    }

    /// Asks the master for a key frame (RTCP PLI), e.g. after a decoder error. A kvs-rs master
    /// answers with its current group of pictures; the viewer asks by itself whenever packet
    /// loss or a slow reader has made the stream undecodable.
    pub async fn request_key_frame(&self) -> Result<()> {
        if self.key_frames.request().await {
            Ok(())
        } else {
            Err(PeerError::NoVideoYet)
        }
    }

    /// The connection's statistics.
    pub async fn stats(&self) -> PeerStats {
        let connected = *self.state.borrow() == RTCPeerConnectionState::Connected;
        collect(&self.counters, self.pc.as_ref(), connected).await
    }

    /// Sends binary data on the data channel.
    pub async fn send_data(&self, data: &[u8]) -> Result<()> {
        self.data.send(data).await
    }

    /// Sends text on the data channel.
    pub async fn send_text(&self, text: &str) -> Result<()> {
        self.data.send_text(text).await
    }

    /// Closes the connection.
    pub async fn close(&self) {
        if self.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        for task in &self.tasks {
            task.abort();
        }
        if let Err(e) = self.pc.close().await {
            tracing::debug!("closing the viewer's connection: {e}");
        }
    }
}

impl Drop for Viewer {
    fn drop(&mut self) {
        if self.closed.load(Ordering::Acquire) {
            return;
        }
        for task in &self.tasks {
            task.abort();
        }
        // The connection's driver runs until it is closed, which needs the runtime.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let pc = Arc::clone(&self.pc);
            runtime.spawn(async move { pc.close().await });
        }
    }
}

impl std::fmt::Debug for Viewer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Viewer")
            .field("state", &*self.state.borrow())
            .finish_non_exhaustive()
    }
}

fn viewer_event(event: DataEvent) -> ViewerEvent {
    match event {
        DataEvent::Open => ViewerEvent::DataChannelOpen,
        DataEvent::Message(m) => ViewerEvent::Data(m),
        DataEvent::Closed => ViewerEvent::DataChannelClosed,
    }
}

async fn report_state(
    mut state: watch::Receiver<RTCPeerConnectionState>,
    events: mpsc::Sender<ViewerEvent>,
) {
    let mut last = None;
    loop {
        let current = *state.borrow_and_update();
        let event = match current {
            RTCPeerConnectionState::Connected => Some(ViewerEvent::Connected),
            RTCPeerConnectionState::Disconnected => Some(ViewerEvent::Disconnected),
            s if is_over(s) => Some(ViewerEvent::Ended),
            _ => None,
        };
        if event.is_some() && event != last {
            if let Some(e) = event.clone() {
                let _ = events.send(e).await;
            }
            last = event;
        }
        if is_over(current) || state.changed().await.is_err() {
            return;
        }
    }
}
