//! One viewer of a master: its peer connection, negotiated from the viewer's offer, and the
//! tasks that send it video and read its data channel.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use webrtc::media_stream::MediaStreamTrack;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::peer_connection::{
    PeerConnection, RTCIceCandidateInit, RTCPeerConnectionState, RTCSessionDescription,
};

use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodec, RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind,
};

use super::MasterEvent;
use crate::peer::audio::{AudioSender, opus_codec};
use crate::peer::connection::{H264_MIME, Link};
use crate::peer::data::{self, DataEvent, DataSlot};
use crate::peer::error::{PeerError, Result};
use crate::peer::feed::Feed;
use crate::peer::outbound::Outbound;
use crate::peer::packetize::H264Packetizer;
use crate::peer::sdp::offers_audio;
use crate::peer::sender::VideoSender;
use crate::peer::stats::MediaCounters;
use crate::signaling::{ClientId, Signal};

/// A viewer's offer and what answering it needs.
pub(super) struct Offer {
    pub(super) viewer: ClientId,
    pub(super) sdp: String,
    /// Candidates the viewer sent before its offer arrived.
    pub(super) early_candidates: Vec<RTCIceCandidateInit>,
    pub(super) received: Instant,
    pub(super) feed: Arc<Feed>,
    pub(super) fast_start: bool,
    pub(super) events: mpsc::Sender<MasterEvent>,
}

pub(super) struct Session {
    pub(super) id: ClientId,
    pub(super) pc: Arc<dyn PeerConnection>,
    pub(super) state: watch::Receiver<RTCPeerConnectionState>,
    pub(super) data: DataSlot,
    pub(super) counters: Arc<MediaCounters>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    cancel: watch::Sender<bool>,
    ended: AtomicBool,
}

impl Session {
    /// Applies the offer, adds this viewer's video track, sends the answer through
    /// `outbound`, and starts the tasks that serve the viewer. On error the caller closes the
    /// connection.
    pub(super) async fn answer(offer: Offer, link: Link, outbound: &Outbound) -> Result<Arc<Self>> {
        let Offer {
            viewer,
            sdp,
            early_candidates,
            received,
            feed,
            fast_start,
            events,
        } = offer;
        let Link {
            pc,
            state,
            mut data_channels,
            mut tracks,
        } = link;
        let sdp_text = sdp.clone();
        let offer = RTCSessionDescription::offer(sdp)
            .map_err(PeerError::webrtc("parse the viewer's offer"))?;
        pc.set_remote_description(offer)
            .await
            .map_err(PeerError::webrtc("apply the viewer's offer"))?;

        let ssrc: u32 = rand::random();
        // The codec binds the stream to the interceptors (NACK responder, sender reports);
        // without one webrtc sends the packets unbound and drops every NACK.
        let codec = RTCRtpCodec {
            mime_type: H264_MIME.to_owned(),
            clock_rate: 90_000,
            ..Default::default()
        };
        let track = Arc::new(TrackLocalStaticRTP::new(MediaStreamTrack::new(
            "kvs-master".to_owned(),
            format!("video-{viewer}"),
            "video".to_owned(),
            RtpCodecKind::Video,
            vec![RTCRtpEncodingParameters {
                rtp_coding_parameters: RTCRtpCodingParameters {
                    ssrc: Some(ssrc),
                    ..Default::default()
                },
                codec,
                ..Default::default()
            }],
        )));
        // After the offer, so the track takes the transceiver the offer's video m-line made.
        let sender = pc
            .add_track(Arc::clone(&track) as Arc<dyn TrackLocal>)
            .await
            .map_err(PeerError::webrtc("add the video track"))?;
        // Audio only to a viewer that offered to receive it.
        let audio = match feed.subscribe_audio() {
            Some(frames) if offers_audio(&sdp_text) => {
                let ssrc: u32 = rand::random();
                let track = Arc::new(TrackLocalStaticRTP::new(MediaStreamTrack::new(
                    "kvs-master".to_owned(),
                    format!("audio-{viewer}"),
                    "audio".to_owned(),
                    RtpCodecKind::Audio,
                    vec![RTCRtpEncodingParameters {
                        rtp_coding_parameters: RTCRtpCodingParameters {
                            ssrc: Some(ssrc),
                            ..Default::default()
                        },
                        codec: opus_codec(),
                        ..Default::default()
                    }],
                )));
                let sender = pc
                    .add_track(Arc::clone(&track) as Arc<dyn TrackLocal>)
                    .await
                    .map_err(PeerError::webrtc("add the audio track"))?;
                Some((frames, track, ssrc, sender))
            }
            _ => None,
        };
        let answer = pc
            .create_answer(None)
            .await
            .map_err(PeerError::webrtc("create the answer"))?;
        pc.set_local_description(answer.clone())
            .await
            .map_err(PeerError::webrtc("apply the answer"))?;
        outbound.description(Signal::Answer(crate::peer::sdp::with_trickle(&answer.sdp)));
        for candidate in early_candidates {
            if let Err(e) = pc.add_ice_candidate(candidate).await {
                tracing::debug!("viewer {viewer}: early candidate refused: {e}");
            }
        }

        // A viewer that offered no H.264 video (data channel only) negotiates no codec.
        let payload_type = match sender.get_parameters().await {
            Ok(p) => p.rtp_parameters.codecs.first().map(|c| c.payload_type),
            Err(e) => {
                tracing::warn!("viewer {viewer}: no video parameters: {e}");
                None
            }
        };
        let audio = match audio {
            Some((frames, track, ssrc, sender)) => match sender.get_parameters().await {
                Ok(p) => p.rtp_parameters.codecs.first().map(|c| AudioSender {
                    frames,
                    track,
                    ssrc,
                    payload_type: c.payload_type,
                    state: state.clone(),
                }),
                Err(e) => {
                    tracing::warn!("viewer {viewer}: no audio parameters: {e}");
                    None
                }
            },
            None => None,
        };
        let counters = Arc::new(MediaCounters::new(received));
        let session = Arc::new(Self {
            id: viewer.clone(),
            pc,
            state: state.clone(),
            data: DataSlot::default(),
            counters: Arc::clone(&counters),
            tasks: Mutex::new(Vec::new()),
            cancel: watch::channel(false).0,
            ended: AtomicBool::new(false),
        });

        let mut tasks = Vec::new();
        if let Some(payload_type) = payload_type {
            let video = VideoSender {
                feed,
                track,
                packetizer: H264Packetizer::new(ssrc, payload_type),
                state,
                counters,
                fast_start,
            };
            tasks.push(tokio::spawn(video.run()));
        } else {
            tracing::warn!("viewer {viewer} negotiated no H.264 video; serving data only");
        }
        if let Some(audio) = audio {
            tasks.push(tokio::spawn(audio.run()));
        }
        let slot = session.data.clone();
        tasks.push(tokio::spawn(async move {
            while let Some(channel) = data_channels.recv().await {
                let id = viewer.clone();
                data::read(channel, slot.clone(), events.clone(), move |e| match e {
                    DataEvent::Open => MasterEvent::DataChannelOpen(id.clone()),
                    DataEvent::Message(message) => MasterEvent::Data {
                        viewer: id.clone(),
                        message,
                    },
                    DataEvent::Closed => MasterEvent::DataChannelClosed(id.clone()),
                });
            }
        }));
        // Browsers often send their camera too; it is read and discarded so that it does not
        // fill the connection's queues.
        tasks.push(tokio::spawn(async move {
            while let Some(track) = tracks.recv().await {
                tokio::spawn(async move { while track.poll().await.is_some() {} });
            }
        }));
        *session.tasks.lock().unwrap_or_else(|p| p.into_inner()) = tasks;
        Ok(session)
    }

    /// Resolves when [`shutdown`](Self::shutdown) has begun.
    pub(super) async fn cancelled(&self) {
        let mut cancel = self.cancel.subscribe();
        let _ = cancel.wait_for(|c| *c).await;
    }

    /// Stops the viewer's tasks and closes its connection; `false` if that had already
    /// begun.
    pub(super) async fn shutdown(&self) -> bool {
        if self.ended.swap(true, Ordering::AcqRel) {
            return false;
        }
        self.cancel.send_replace(true);
        for task in self
            .tasks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
        {
            task.abort();
        }
        if let Err(e) = self.pc.close().await {
            tracing::debug!("viewer {}: closing the connection: {e}", self.id);
        }
        true
    }
}
