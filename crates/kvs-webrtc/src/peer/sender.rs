//! Sending the feed to one viewer: nothing until its connection is up, then from a key frame
//! on. When the viewer asks for a key frame, the source makes one if it encodes; otherwise
//! the current group of pictures goes again, paced, at most every few seconds.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{broadcast, watch};
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};
use webrtc::peer_connection::RTCPeerConnectionState;

use super::connection::{connected, is_over};
use super::feed::{Feed, VideoFrame};
use super::keyframe::is_key_frame_request;
use super::packetize::H264Packetizer;
use super::stats::MediaCounters;

/// RTP ticks between the cached frames sent in one burst (1 ms at 90 kHz).
const BURST_TICKS: u32 = 90;
/// Pause between the frames of the GOP a new viewer starts with, so that it does not
/// overflow the viewer's socket buffer.
const START_PACING: Duration = Duration::from_millis(1);
/// Pause between the frames of a GOP sent again on request: a repeat adds to the live stream
/// on a link that has just lost packets.
const REPEAT_PACING: Duration = Duration::from_millis(5);
/// Key frame requests closer together than this are answered once when the source can make
/// key frames.
const REQUEST_INTERVAL: Duration = Duration::from_millis(500);
/// A GOP is sent again at most this often; requests in between wait for the source's next
/// key frame.
const REPEAT_INTERVAL: Duration = Duration::from_secs(3);

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
        // Frames up to this one went out in a burst and must not go again.
        let mut sent_through = 0;
        if self.fast_start && starts_with_key(&cached) {
            match self.burst(&cached, START_PACING).await {
                Some(seq) => sent_through = seq,
                None => return,
            }
            waiting_for_key = false;
        }
        let mut last_request: Option<Instant> = None;
        let mut last_repeat: Option<Instant> = None;
        let mut requests_open = true;
        loop {
            tokio::select! {
                received = rx.recv() => match received {
                    Ok(frame) => {
                        if frame.seq <= sent_through || (waiting_for_key && !frame.key) {
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
                },
                event = self.track.poll(), if requests_open => match event {
                    Some(TrackLocalEvent::OnRtcpPacket(packets)) => {
                        let asked = packets.iter().any(|p| is_key_frame_request(p.as_ref()));
                        if !asked || last_request.is_some_and(|t| t.elapsed() < REQUEST_INTERVAL) {
                            continue;
                        }
                        last_request = Some(Instant::now());
                        if self.feed.request_key_frame() {
                            tracing::debug!("key frame requested; passed to the encoder");
                            continue;
                        }
                        // A file or camera passed through cannot make a key frame: the current
                        // GOP goes again, or the viewer waits for the source's next key frame.
                        if last_repeat.is_some_and(|t| t.elapsed() < REPEAT_INTERVAL) {
                            continue;
                        }
                        last_repeat = Some(Instant::now());
                        tracing::debug!("key frame requested; sending the current GOP again");
                        let cached = self.feed.gop_frames();
                        if starts_with_key(&cached) {
                            match self.burst(&cached, REPEAT_PACING).await {
                                Some(seq) => sent_through = seq,
                                None => return,
                            }
                            waiting_for_key = false;
                        }
                    }
                    Some(_) => {}
                    None => requests_open = false,
                },
            }
        }
    }

    /// Sends a GOP at once, its frames a millisecond apart in RTP time, and continues the
    /// stream's RTP time from its newest frame: the viewer shows the key frame now and plays
    /// live right after, rather than behind live by the GOP's age. Returns the newest frame's
    /// position, or `None` once the connection has ended.
    async fn burst(&mut self, frames: &[Arc<VideoFrame>], pacing: Duration) -> Option<u64> {
        let newest = frames.last()?;
        let last = frames.len() - 1;
        let span = u32::try_from(last)
            .unwrap_or(u32::MAX)
            .saturating_mul(BURST_TICKS);
        let newest_rtp = match self.packetizer.last_rtp_time() {
            // Already streaming: the repeat follows what was sent, so RTP time never goes back.
            Some(previous) => previous.wrapping_add(span).wrapping_add(BURST_TICKS),
            None => self.packetizer.rtp_time(newest.timestamp_ns),
        };
        self.packetizer.reanchor(newest.timestamp_ns, newest_rtp);
        tracing::debug!("sending a GOP of {} frames at once", frames.len());
        for (i, frame) in frames.iter().enumerate() {
            let back = u32::try_from(last - i).unwrap_or(u32::MAX);
            let rtp_time = newest_rtp.wrapping_sub(back.saturating_mul(BURST_TICKS));
            if !self.send(frame, rtp_time).await {
                return None;
            }
            if i < last {
                tokio::time::sleep(pacing).await;
            }
        }
        Some(newest.seq)
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

fn starts_with_key(frames: &[Arc<VideoFrame>]) -> bool {
    frames.first().is_some_and(|f| f.key)
}
