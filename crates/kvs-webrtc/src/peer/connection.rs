//! Building one peer connection whose events land in channels: its state in a watch, its
//! candidates in the [`Outbound`] queue, remote data channels and tracks in mpsc receivers.

use std::sync::Arc;

use tokio::sync::{mpsc, watch};
use webrtc::data_channel::DataChannel;
use webrtc::media_stream::track_remote::TrackRemote;
use webrtc::peer_connection::{
    MediaEngine, PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler,
    RTCPeerConnectionIceEvent, RTCPeerConnectionState, Registry, register_default_interceptors,
};

use rtc::interceptor::Slot;
use rtc::rtp_transceiver::rtp_sender::{RTCRtpCodec, RTCRtpCodecParameters, RtpCodecKind};

use super::error::{PeerError, Result};
use super::ice::IceConfig;
use super::keyframe::{self, KeyFrameRequests};
use super::outbound::Outbound;

pub(crate) const H264_MIME: &str = "video/H264";
const H264_CLOCK_RATE: u32 = 90_000;

/// H.264 profiles offered and accepted, most compatible first; negotiation matches the
/// profile and constraint bytes, not the level.
const H264_PROFILES: [&str; 5] = ["42e01f", "42001f", "4d001f", "640032", "f4001f"];

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

/// Builds a peer connection that negotiates H.264 video (with NACK and RTCP reports).
/// `preferred_profile` (an SPS's profile-level-id) is offered first when given.
pub(crate) async fn build(
    ice: &IceConfig,
    outbound: Arc<Outbound>,
    preferred_profile: Option<[u8; 3]>,
) -> Result<Link> {
    let mut media_engine = MediaEngine::default();
    for (i, codec) in h264_codecs(preferred_profile).into_iter().enumerate() {
        let payload_type = 102 + u8::try_from(i).unwrap_or(0) * 2;
        media_engine
            .register_codec(
                RTCRtpCodecParameters {
                    rtp_codec: codec,
                    payload_type,
                },
                RtpCodecKind::Video,
            )
            .map_err(PeerError::webrtc("register the H.264 codec"))?;
    }
    let registry = register_default_interceptors(Registry::new(), &mut media_engine)
        .map_err(PeerError::webrtc(
            "set up NACK and RTCP report interceptors",
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
