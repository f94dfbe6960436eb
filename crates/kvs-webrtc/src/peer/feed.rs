//! The master's frame feed: one source, fanned out to every viewer through a broadcast channel,
//! with the current group of pictures (from the last key frame on) kept so that a viewer
//! joining mid-GOP can start at once instead of waiting up to a GOP for the next key frame.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use kvs_mkv::Frame;
use tokio::sync::{broadcast, watch};

use super::error::{PeerError, Result};
use super::h264::{ParameterSets, to_annexb};

/// Frames a viewer may fall behind by before it skips to the next key frame.
const BROADCAST_FRAMES: usize = 120;
/// Audio frames (20 ms each) a viewer may fall behind by before it skips some.
const AUDIO_FRAMES: usize = 50;
/// A longer GOP is not kept (a viewer then waits for the next key frame).
const GOP_MAX_FRAMES: usize = 600;
const GOP_MAX_BYTES: usize = 16 * 1024 * 1024;

/// A video frame ready for the RTP payloader.
#[derive(Debug)]
pub(crate) struct VideoFrame {
    /// Position in the feed, counting from 1.
    pub(crate) seq: u64,
    pub(crate) annexb: Bytes,
    pub(crate) key: bool,
    pub(crate) timestamp_ns: u64,
}

#[derive(Default)]
struct Gop {
    frames: Vec<Arc<VideoFrame>>,
    bytes: usize,
    /// Set when the GOP grew past the limits; nothing is kept until the next key frame.
    overflowed: bool,
}

pub(crate) struct Feed {
    video_track: u64,
    /// The Opus track and its frames, when the source has one.
    audio: Option<(u64, broadcast::Sender<Arc<Frame>>)>,
    sets: ParameterSets,
    tx: broadcast::Sender<Arc<VideoFrame>>,
    gop: Mutex<Gop>,
    pushed: AtomicU64,
    closed: AtomicBool,
    /// Counts viewers' key frame requests, for a source that can make key frames.
    key_requests: watch::Sender<u64>,
}

impl Feed {
    pub(crate) fn new(video_track: u64, sets: ParameterSets, audio_track: Option<u64>) -> Self {
        Self {
            video_track,
            audio: audio_track.map(|t| (t, broadcast::channel(AUDIO_FRAMES).0)),
            sets,
            tx: broadcast::channel(BROADCAST_FRAMES).0,
            gop: Mutex::new(Gop::default()),
            pushed: AtomicU64::new(0),
            closed: AtomicBool::new(false),
            key_requests: watch::channel(0).0,
        }
    }

    fn gop(&self) -> std::sync::MutexGuard<'_, Gop> {
        self.gop.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn push(&self, frame: Frame) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            return Err(PeerError::Closed);
        }
        if frame.track != self.video_track {
            if let Some((track, tx)) = &self.audio
                && frame.track == *track
            {
                let _ = tx.send(Arc::new(frame));
            }
            return Ok(());
        }
        let video = Arc::new(VideoFrame {
            seq: self.pushed.fetch_add(1, Ordering::Relaxed) + 1,
            annexb: to_annexb(&frame.data, frame.key, &self.sets),
            key: frame.key,
            timestamp_ns: frame.timestamp_ns,
        });
        let mut gop = self.gop();
        if video.key {
            *gop = Gop::default();
        }
        if !gop.overflowed && (video.key || !gop.frames.is_empty()) {
            gop.bytes += video.annexb.len();
            gop.frames.push(Arc::clone(&video));
            if gop.frames.len() > GOP_MAX_FRAMES || gop.bytes > GOP_MAX_BYTES {
                *gop = Gop {
                    overflowed: true,
                    ..Gop::default()
                };
            }
        }
        // No receivers is not an error: no viewer is connected yet.
        let _ = self.tx.send(video);
        Ok(())
    }

    /// The frames of the current GOP and a receiver of every frame after them, taken together
    /// so that none is missed or seen twice.
    pub(crate) fn subscribe(&self) -> (Vec<Arc<VideoFrame>>, broadcast::Receiver<Arc<VideoFrame>>) {
        let gop = self.gop();
        (gop.frames.clone(), self.tx.subscribe())
    }

    /// A receiver of the Opus frames, when the source has audio WebRTC can carry.
    pub(crate) fn subscribe_audio(&self) -> Option<broadcast::Receiver<Arc<Frame>>> {
        self.audio.as_ref().map(|(_, tx)| tx.subscribe())
    }

    /// The frames of the current GOP (empty when it is too long to keep).
    pub(crate) fn gop_frames(&self) -> Vec<Arc<VideoFrame>> {
        self.gop().frames.clone()
    }

    /// Passes a viewer's key frame request to the source; `false` when no source listens
    /// (one that cannot make key frames).
    pub(crate) fn request_key_frame(&self) -> bool {
        if self.key_requests.receiver_count() == 0 {
            return false;
        }
        self.key_requests.send_modify(|n| *n += 1);
        true
    }

    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
    }
}

/// Where a source's frames go into a [`Master`](super::Master): cheap to clone, never blocks
/// (a viewer that falls behind skips to the next key frame), usable from any thread.
#[derive(Clone)]
pub struct FrameSink {
    feed: Arc<Feed>,
}

impl FrameSink {
    pub(crate) fn new(feed: Arc<Feed>) -> Self {
        Self { feed }
    }

    /// Sends a frame to every connected viewer. Frames of tracks other than the video track
    /// and the Opus audio track are ignored. Fails once the master is closed, which is the signal for a source loop to
    /// stop.
    pub fn send(&self, frame: Frame) -> Result<()> {
        self.feed.push(frame)
    }

    /// Viewers' requests for a key frame, for a source that encodes (a camera, a test
    /// pattern): it should make one as soon as it can, as a browser does when its peer
    /// reports picture loss. While nobody listens, a viewer that lost a key frame is sent the
    /// current group of pictures again instead (paced, at most every few seconds).
    pub fn key_frame_requests(&self) -> KeyFrameRequests {
        let mut rx = self.feed.key_requests.subscribe();
        rx.mark_unchanged();
        KeyFrameRequests(rx)
    }
}

/// A source's end of viewers' key frame requests: see [`FrameSink::key_frame_requests`].
#[derive(Debug)]
pub struct KeyFrameRequests(watch::Receiver<u64>);

impl KeyFrameRequests {
    /// Waits for the next request (requests made meanwhile count as one); `false` once the
    /// master has gone.
    pub async fn next(&mut self) -> bool {
        self.0.changed().await.is_ok()
    }
}

impl std::fmt::Debug for FrameSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameSink")
            .field("video_track", &self.feed.video_track)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn frame(track: u64, key: bool, t: u64) -> Frame {
        Frame {
            track,
            timestamp_ns: t,
            key,
            data: Bytes::from_static(&[0, 0, 0, 2, 0x41, 1]),
        }
    }

    #[test]
    fn a_new_subscriber_gets_the_gop_since_the_last_key_frame() {
        let feed = Feed::new(1, ParameterSets::default(), None);
        feed.push(frame(1, false, 0)).unwrap();
        let (cached, _) = feed.subscribe();
        assert!(cached.is_empty(), "nothing before the first key frame");
        for (key, t) in [(true, 1), (false, 2), (true, 3), (false, 4)] {
            feed.push(frame(1, key, t)).unwrap();
        }
        feed.push(frame(2, true, 5)).unwrap();
        let (cached, mut rx) = feed.subscribe();
        let times: Vec<u64> = cached.iter().map(|f| f.timestamp_ns).collect();
        assert_eq!(times, [3, 4]);
        let seqs: Vec<u64> = feed.gop_frames().iter().map(|f| f.seq).collect();
        assert_eq!(seqs, [4, 5], "the sixth frame is audio");
        feed.push(frame(1, false, 6)).unwrap();
        assert_eq!(rx.try_recv().unwrap().timestamp_ns, 6);
        assert!(!feed.request_key_frame(), "no source listens");
        let sink = FrameSink::new(Arc::new(Feed::new(1, ParameterSets::default(), None)));
        let mut requests = sink.key_frame_requests();
        assert!(sink.feed.request_key_frame());
        assert!(sink.feed.request_key_frame());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        runtime.block_on(async {
            assert!(requests.next().await);
            let again = tokio::time::timeout(std::time::Duration::from_millis(20), requests.next());
            assert!(again.await.is_err(), "two requests in a row count once");
        });
        feed.close();
        assert!(matches!(
            feed.push(frame(1, true, 7)),
            Err(PeerError::Closed)
        ));
    }
}
