//! Opus audio (RFC 7587): one Opus packet per RTP packet, 48 kHz RTP clock, both ways.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use kvs_mkv::{Frame, TrackInfo};
use rtc::rtp::header::Header;
use rtc::rtp::packet::Packet;
use rtc::rtp_transceiver::rtp_sender::RTCRtpCodec;
use tokio::sync::{broadcast, mpsc, watch};
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::RTCPeerConnectionState;

use super::clock::{MediaClock, RtpClock, RtpExtender};
use super::connection::{connected, is_over};

pub(crate) const OPUS_MIME: &str = "audio/opus";
pub(crate) const OPUS_CLOCK_RATE: u32 = 48_000;
/// WebRTC's Opus is always declared stereo (`opus/48000/2`), whatever is sent.
pub(crate) const OPUS_CHANNELS: u8 = 2;
/// The track number audio frames are given.
pub(crate) const AUDIO_TRACK: u64 = 2;

/// Opus as browsers offer it: in-band FEC, 10 ms frames at the least.
pub(crate) fn opus_codec() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: OPUS_MIME.to_owned(),
        clock_rate: OPUS_CLOCK_RATE,
        channels: u16::from(OPUS_CHANNELS),
        sdp_fmtp_line: "minptime=10;useinbandfec=1".to_owned(),
        rtcp_feedback: vec![],
    }
}

/// The MKV track a viewer records Opus audio in.
pub(crate) fn opus_track() -> TrackInfo {
    TrackInfo::opus(AUDIO_TRACK, OPUS_CHANNELS)
}

/// Sends the feed's Opus frames to one viewer once its connection is up.
pub(crate) struct AudioSender {
    pub(crate) frames: broadcast::Receiver<Arc<Frame>>,
    pub(crate) track: Arc<TrackLocalStaticRTP>,
    pub(crate) ssrc: u32,
    pub(crate) payload_type: u8,
    pub(crate) state: watch::Receiver<RTCPeerConnectionState>,
}

impl AudioSender {
    pub(crate) async fn run(mut self) {
        if !connected(&mut self.state).await {
            return;
        }
        // What queued while connecting is stale: start live.
        self.frames = self.frames.resubscribe();
        let mut clock = RtpClock::new(OPUS_CLOCK_RATE);
        let mut sequence: u16 = rand::random();
        loop {
            let frame = match self.frames.recv().await {
                Ok(frame) => frame,
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::debug!("a viewer's audio fell {n} frames behind");
                    continue;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            };
            let packet = Packet {
                header: Header {
                    version: 2,
                    payload_type: self.payload_type,
                    sequence_number: sequence,
                    timestamp: clock.rtp_time(frame.timestamp_ns),
                    ssrc: self.ssrc,
                    ..Default::default()
                },
                payload: frame.data.clone(),
            };
            sequence = sequence.wrapping_add(1);
            if let Err(e) = self.track.write_rtp(packet).await {
                if is_over(*self.state.borrow()) {
                    return;
                }
                tracing::debug!("audio RTP packet not sent: {e}");
            }
        }
    }
}

/// Receives a viewer's Opus track as [`Frame`]s of track [`AUDIO_TRACK`].
pub(crate) struct AudioReceiver {
    pub(crate) track: Arc<dyn TrackRemote>,
    pub(crate) frames: mpsc::Sender<Frame>,
    pub(crate) clock: MediaClock,
}

impl AudioReceiver {
    pub(crate) async fn run(self) {
        let mut extender = RtpExtender::default();
        let mut newest: Option<i64> = None;
        let mut origin: Option<(i64, u64)> = None;
        while let Some(event) = self.track.poll().await {
            let packet = match event {
                TrackRemoteEvent::OnRtpPacket(p) => p,
                TrackRemoteEvent::OnEnded => break,
                _ => continue,
            };
            let rtp = extender.extend(packet.header.timestamp);
            // Late and duplicate packets are dropped: audio is not waited for.
            if newest.is_some_and(|n| rtp <= n) || packet.payload.is_empty() {
                continue;
            }
            newest = Some(rtp);
            let (rtp0, ns0) =
                *origin.get_or_insert_with(|| (rtp, self.clock.now_ns(Instant::now())));
            let frame = Frame {
                track: AUDIO_TRACK,
                timestamp_ns: ns0 + ticks_to_ns(rtp - rtp0, OPUS_CLOCK_RATE),
                key: true,
                data: Bytes::clone(&packet.payload),
            };
            if let Err(mpsc::error::TrySendError::Closed(_)) = self.frames.try_send(frame) {
                return;
            }
        }
    }
}

pub(crate) fn ticks_to_ns(ticks: i64, rate: u32) -> u64 {
    u64::try_from(ticks.max(0)).unwrap_or(0) * 1_000_000_000 / u64::from(rate)
}
