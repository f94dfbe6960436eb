//! Sending the feed to one viewer: nothing until its connection is up, then from a key frame on.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{broadcast, watch};
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::peer_connection::RTCPeerConnectionState;

use super::connection::{connected, is_over};
use super::feed::{Feed, VideoFrame};
use super::packetize::H264Packetizer;
use super::stats::MediaCounters;

/// RTP ticks between the cached frames a joining viewer gets in one burst (1 ms at 90 kHz).
const BURST_TICKS: u32 = 90;
/// Pause between burst frames, so a GOP does not overflow the viewer's socket buffer.
const BURST_PACING: Duration = Duration::from_millis(1);

pub(crate) struct VideoSender {
    pub(crate) feed: Arc<Feed>,
    pub(crate) track: Arc<TrackLocalStaticRTP>,
    pub(crate) packetizer: H264Packetizer,
    pub(crate) state: watch::Receiver<RTCPeerConnectionState>,
    pub(crate) counters: Arc<MediaCounters>,
    pub(crate) fast_start: bool,
}

impl VideoSender {
    /// Runs until the connection ends or the feed closes.
    pub(crate) async fn run(mut self) {
        // Packets sent before DTLS is up are lost, and with them the key frame a viewer needs.
        if !connected(&mut self.state).await {
            return;
        }
        let (cached, mut rx) = self.feed.subscribe();
        let mut waiting_for_key = true;
        if self.fast_start && cached.first().is_some_and(|f| f.key) {
            if !self.send_burst(&cached).await {
                return;
            }
            waiting_for_key = false;
        }
        loop {
            match rx.recv().await {
                Ok(frame) => {
                    if waiting_for_key && !frame.key {
                        continue;
                    }
                    waiting_for_key = false;
                    let rtp_time = self.packetizer.rtp_time(frame.timestamp_ns);
                    if !self.send(&frame, rtp_time).await {
                        return;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!("a viewer fell {n} frames behind; resuming at a key frame");
                    waiting_for_key = true;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    }

    /// Sends the current GOP at once. Its frames are given RTP times a millisecond apart
    /// ending at the newest one, so the viewer shows the key frame now and plays live right
    /// after, rather than delaying everything by the GOP's age.
    async fn send_burst(&mut self, frames: &[Arc<VideoFrame>]) -> bool {
        let Some(newest) = frames.last() else {
            return true;
        };
        let anchor = self.packetizer.rtp_time(newest.timestamp_ns);
        let last = frames.len() - 1;
        for (i, frame) in frames.iter().enumerate() {
            let back = u32::try_from(last - i).unwrap_or(u32::MAX);
            let rtp_time = anchor.wrapping_sub(back.saturating_mul(BURST_TICKS));
            if !self.send(frame, rtp_time).await {
                return false;
            }
            if i < last {
                tokio::time::sleep(BURST_PACING).await;
            }
        }
        true
    }

    /// `false` once the connection has ended.
    async fn send(&mut self, frame: &VideoFrame, rtp_time: u32) -> bool {
        for packet in self.packetizer.packetize(&frame.annexb, rtp_time) {
            if let Err(e) = self.track.write_rtp(packet).await {
                if is_over(*self.state.borrow()) {
                    return false;
                }
                tracing::debug!("RTP packet not sent: {e}");
            }
        }
        self.counters.frame(frame.annexb.len(), frame.key);
        true
    }
}
