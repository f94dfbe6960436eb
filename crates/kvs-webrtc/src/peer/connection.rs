//! Building one peer connection whose events land in channels: its state in a watch, its
//! candidates in the [`Outbound`] queue, remote data channels and tracks in mpsc receivers.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use webrtc::data_channel::DataChannel;
use webrtc::media_stream::track_remote::TrackRemote;
use webrtc::peer_connection::{
    MediaEngine, PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler,
    RTCPeerConnectionIceEvent, RTCPeerConnectionState, Registry,
};

use rtc::interceptor::{NackGeneratorBuilder, NackResponderBuilder, Slot};
use rtc::peer_connection::configuration::interceptor_registry::{
    configure_rtcp_reports, configure_simulcast_extension_headers, configure_twcc_receiver_only,
};
use rtc::rtp_transceiver::rtp_sender::{
    RTCPFeedback, RTCRtpCodec, RTCRtpCodecParameters, RtpCodecKind,
};

use super::audio::opus_codec;
use super::error::{PeerError, Result};
use super::ice::IceConfig;
use super::keyframe::{self, KeyFrameRequests};
use super::outbound::Outbound;

pub(crate) const H264_MIME: &str = "video/H264";
const H264_CLOCK_RATE: u32 = 90_000;
/// H.264's payload types (one per profile) start here, each followed by its RTX one.
const FIRST_VIDEO_PAYLOAD_TYPE: u8 = 96;
const RTX_MIME: &str = "video/rtx";
/// Opus's payload type in browsers' offers.
const OPUS_PAYLOAD_TYPE: u8 = 111;

/// H.264 profiles offered and accepted, most compatible first; negotiation matches the
/// profile and constraint bytes, not the level.
const H264_PROFILES: [&str; 5] = ["42e01f", "42001f", "4d001f", "640032", "f4001f"];

/// How often the receiver asks again for packets still missing: about a round trip on the
/// networks cameras stream over, and several times within the viewer's jitter buffer.
const NACK_INTERVAL: Duration = Duration::from_millis(40);
/// How many times one missing packet is asked for (0.4 s at [`NACK_INTERVAL`]).
const NACKS_PER_PACKET: u16 = 10;
/// Packets the receiver keeps track of, for NACKs (a power of two; 4 s at 8 Mbit/s).
const RECEIVE_LOG: u16 = 4096;

/// A peer connection and the receiving ends of its events.
pub(crate) struct Link {
    pub(crate) pc: Arc<dyn PeerConnection>,
    pub(crate) state: watch::Receiver<RTCPeerConnectionState>,
    pub(crate) data_channels: mpsc::UnboundedReceiver<Arc<dyn DataChannel>>,
    pub(crate) tracks: mpsc::UnboundedReceiver<Arc<dyn TrackRemote>>,
}

struct Handler {
    outbound: Arc<Outbound>,
    state: watch::Sender<RTCPeerConnectionState>,
    data_channels: mpsc::UnboundedSender<Arc<dyn DataChannel>>,
    tracks: mpsc::UnboundedSender<Arc<dyn TrackRemote>>,
}

// Callbacks run on the connection's driver task: each one only hands its event on.
#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_candidate(&self, event: RTCPeerConnectionIceEvent) {
        match event.candidate.to_json() {
            Ok(init) => self.outbound.candidate(init),
            Err(e) => tracing::warn!("local ICE candidate cannot be encoded: {e}"),
        }
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        tracing::debug!("peer connection state: {state}");
        self.state.send_replace(state);
    }

    async fn on_data_channel(&self, data_channel: Arc<dyn DataChannel>) {
        let _ = self.data_channels.send(data_channel);
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        let _ = self.tracks.send(track);
    }
}

/// What a peer connection sends.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sending {
    /// Sent packets kept for retransmission when the receiver NACKs them (a power of two).
    pub(crate) retransmit_packets: u16,
}

impl Sending {
    /// A receive-only connection (a viewer) keeps almost nothing.
    pub(crate) const NOTHING: Self = Self {
        retransmit_packets: 64,
    };

    /// Three seconds of packets at `max_bitrate_kbps`, as AWS's C SDK keeps (1200-byte RTP
    /// packets), rounded up to a power of two, 512 to 32768.
    pub(crate) fn video_up_to(max_bitrate_kbps: u32) -> Self {
        let packets = u64::from(max_bitrate_kbps) * 1000 / 8 * 3 / 1200;
        let packets = packets.clamp(512, 32768).next_power_of_two();
        Self {
            retransmit_packets: u16::try_from(packets).unwrap_or(32768),
        }
    }
}

/// Builds a peer connection that negotiates H.264 video and Opus audio, video with loss repair (NACK and
/// retransmission, PLI and FIR), RTCP sender and receiver reports and transport-wide
/// congestion control feedback. `preferred_profile` (an SPS's profile-level-id) is offered
/// first when given.
pub(crate) async fn build(
    ice: &IceConfig,
    outbound: Arc<Outbound>,
    preferred_profile: Option<[u8; 3]>,
    sending: Sending,
) -> Result<Link> {
    let mut media_engine = MediaEngine::default();
    for codec in video_codecs(preferred_profile) {
        media_engine
            .register_codec(codec, RtpCodecKind::Video)
            .map_err(PeerError::webrtc("register a video codec"))?;
    }
    media_engine
        .register_codec(
            RTCRtpCodecParameters {
                rtp_codec: opus_codec(),
                payload_type: OPUS_PAYLOAD_TYPE,
            },
            RtpCodecKind::Audio,
        )
        .map_err(PeerError::webrtc("register the Opus codec"))?;
    let registry = interceptors(&mut media_engine, sending)
        .map_err(PeerError::webrtc(
            "set up NACK, RTCP report and congestion control interceptors",
        ))?
        .with(Slot::from(keyframe::SLOT), KeyFrameRequests::default());

    let (state_tx, state) = watch::channel(RTCPeerConnectionState::New);
    let (dc_tx, data_channels) = mpsc::unbounded_channel();
    let (track_tx, tracks) = mpsc::unbounded_channel();
    let handler = Arc::new(Handler {
        outbound,
        state: state_tx,
        data_channels: dc_tx,
        tracks: track_tx,
    });
    let pc = PeerConnectionBuilder::new()
        .with_configuration(ice.rtc_configuration())
        .with_setting_engine(ice.setting_engine())
        .with_media_engine(media_engine)
        .with_interceptor_registry(registry)
        .with_handler(handler)
        .with_udp_addrs(ice.udp_addrs())
        .build()
        .await
        .map_err(PeerError::webrtc("create a peer connection"))?;
    Ok(Link {
        pc: Arc::new(pc),
        state,
        data_channels,
        tracks,
    })
}

/// webrtc's default interceptors, with NACKs sent sooner and more often and a send history
/// sized for the bitrate.
fn interceptors(
    media_engine: &mut MediaEngine,
    sending: Sending,
) -> std::result::Result<Registry, webrtc::error::Error> {
    for (typ, parameter) in [("nack", ""), ("nack", "pli"), ("ccm", "fir")] {
        media_engine.register_feedback(
            RTCPFeedback {
                typ: typ.to_owned(),
                parameter: parameter.to_owned(),
            },
            RtpCodecKind::Video,
        );
    }
    configure_simulcast_extension_headers(media_engine)?;
    let registry = Registry::new()
        .with(
            Slot::NackResponder,
            NackResponderBuilder::new()
                .with_size(sending.retransmit_packets)
                .build(),
        )
        .with(
            Slot::NackGenerator,
            NackGeneratorBuilder::new()
                .with_size(RECEIVE_LOG)
                .with_interval(NACK_INTERVAL)
                .with_max_nacks_per_packet(NACKS_PER_PACKET)
                .build(),
        );
    let registry = configure_twcc_receiver_only(registry, media_engine)?;
    Ok(configure_rtcp_reports(registry))
}

/// The H.264 codecs with their payload types, the `preferred` profile first.
fn video_codecs(preferred: Option<[u8; 3]>) -> Vec<RTCRtpCodecParameters> {
    let h264: Vec<RTCRtpCodecParameters> = h264_codecs(preferred)
        .into_iter()
        .zip((FIRST_VIDEO_PAYLOAD_TYPE..).step_by(2))
        .map(|(rtp_codec, payload_type)| RTCRtpCodecParameters {
            rtp_codec,
            payload_type,
        })
        .collect();
    // RFC 4588 retransmission for each, on the next payload type: where the peer takes it,
    // NACKed packets are resent on their own SSRC, which keeps the stream's statistics (and
    // a browser's jitter estimate) clean of repeats.
    let rtx = h264.iter().map(|c| RTCRtpCodecParameters {
        rtp_codec: RTCRtpCodec {
            mime_type: RTX_MIME.to_owned(),
            clock_rate: H264_CLOCK_RATE,
            sdp_fmtp_line: format!("apt={}", c.payload_type),
            ..Default::default()
        },
        payload_type: c.payload_type + 1,
    });
    let rtx: Vec<_> = rtx.collect();
    h264.into_iter().chain(rtx).collect()
}

fn h264_codecs(preferred: Option<[u8; 3]>) -> Vec<RTCRtpCodec> {
    let preferred = preferred.map(|p| format!("{:02x}{:02x}{:02x}", p[0], p[1], p[2]));
    let mut profiles: Vec<String> = preferred.into_iter().collect();
    for p in H264_PROFILES {
        if !profiles.iter().any(|q| q[..4] == p[..4]) {
            profiles.push(p.to_owned());
        }
    }
    profiles
        .into_iter()
        .map(|profile| RTCRtpCodec {
            mime_type: H264_MIME.to_owned(),
            clock_rate: H264_CLOCK_RATE,
            channels: 0,
            sdp_fmtp_line: format!(
                "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id={profile}"
            ),
            rtcp_feedback: vec![],
        })
        .collect()
}

/// Whether the connection has ended for good (a disconnected one may still recover).
pub(crate) fn is_over(state: RTCPeerConnectionState) -> bool {
    matches!(
        state,
        RTCPeerConnectionState::Failed | RTCPeerConnectionState::Closed
    )
}

/// Waits until the connection is connected; `false` if it ended first.
pub(crate) async fn connected(state: &mut watch::Receiver<RTCPeerConnectionState>) -> bool {
    let result = state
        .wait_for(|s| *s == RTCPeerConnectionState::Connected || is_over(*s))
        .await
        .map(|s| *s == RTCPeerConnectionState::Connected);
    result.unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_h264_payload_type_has_a_retransmission_one() {
        let codecs = video_codecs(None);
        let h264: Vec<u8> = codecs
            .iter()
            .filter(|c| c.rtp_codec.mime_type == H264_MIME)
            .map(|c| c.payload_type)
            .collect();
        assert_eq!(h264, [96, 98, 100, 102, 104]);
        for pt in h264 {
            assert!(
                codecs.iter().any(|c| c.rtp_codec.mime_type == RTX_MIME
                    && c.payload_type == pt + 1
                    && c.rtp_codec.sdp_fmtp_line == format!("apt={pt}")),
                "{codecs:?}"
            );
        }
        assert!(codecs.iter().all(|c| c.payload_type != OPUS_PAYLOAD_TYPE));
        assert_eq!(
            codecs[0].rtp_codec.mime_type, H264_MIME,
            "H.264 comes first"
        );
    }

    #[test]
    fn the_send_history_holds_three_seconds_at_the_bitrate() {
        assert_eq!(Sending::video_up_to(1000).retransmit_packets, 512);
        // 4 Mbit/s for 3 s is 1250 packets of 1200 bytes.
        assert_eq!(Sending::video_up_to(4000).retransmit_packets, 2048);
        assert_eq!(Sending::video_up_to(u32::MAX).retransmit_packets, 32768);
    }

    #[test]
    fn the_stream_profile_comes_first_without_duplicates() {
        let codecs = h264_codecs(Some([0x64, 0x00, 0x1e]));
        let fmtps: Vec<&str> = codecs.iter().map(|c| c.sdp_fmtp_line.as_str()).collect();
        assert!(fmtps[0].ends_with("profile-level-id=64001e"));
        assert_eq!(
            fmtps.len(),
            5,
            "640032 is the same profile as 64001e: {fmtps:?}"
        );
        assert!(fmtps.iter().all(|f| f.contains("packetization-mode=1")));
        assert_eq!(h264_codecs(None).len(), 5);
    }
}
