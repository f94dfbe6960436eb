//! Per-peer statistics: what we count ourselves (frames, bytes, time to first frame, rates over
//! the last seconds) joined with what the WebRTC stack measures (packet loss, round-trip time).

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use webrtc::peer_connection::{PeerConnection, RTCStatsReportEntry, StatsSelector};

/// The window fps and bitrate are measured over.
const RATE_WINDOW: Duration = Duration::from_secs(2);

/// A snapshot of one peer connection's media statistics.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct PeerStats {
    /// Whether the connection is up.
    pub connected: bool,
    /// Viewer: from [`Viewer::connect`](super::Viewer::connect) to the first complete key
    /// frame received. Master: from the viewer's offer to its first key frame sent.
    pub time_to_first_frame: Option<Duration>,
    /// Video frames (access units) received or sent.
    pub frames: u64,
    /// Key frames among them.
    pub key_frames: u64,
    /// Bytes of video payload received or sent.
    pub bytes: u64,
    /// Frames per second over the last two seconds.
    pub frames_per_second: f64,
    /// Video payload bits per second over the last two seconds.
    pub bitrate_bps: f64,
    /// Frames a viewer dropped: incomplete after packet loss, or not read from its frame
    /// channel in time (decoding resumes at the next key frame).
    pub frames_dropped: u64,
    /// RTP packets lost: as the viewer counts them, or as the viewer's RTCP receiver reports
    /// tell the master.
    pub packets_lost: i64,
    /// The ICE candidate pair's current round-trip time (STUN), or the RTCP one.
    pub round_trip_time: Option<Duration>,
    /// The type of our side of the connection's candidate pair: `host`, `srflx`, `prflx`
    /// or `relay` (through TURN).
    pub local_candidate_type: Option<String>,
}

/// Counters one media task updates and [`PeerStats`] are read from.
pub(crate) struct MediaCounters {
    start: Instant,
    inner: Mutex<Counters>,
}

#[derive(Default)]
struct Counters {
    first_frame: Option<Duration>,
    frames: u64,
    key_frames: u64,
    bytes: u64,
    dropped: u64,
    lost: u64,
    recent: VecDeque<(Instant, usize)>,
}

impl MediaCounters {
    /// Counters whose time to first frame runs from `start`.
    pub(crate) fn new(start: Instant) -> Self {
        Self {
            start,
            inner: Mutex::new(Counters::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Counters> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn frame(&self, bytes: usize, key: bool) {
        let now = Instant::now();
        let mut c = self.lock();
        if c.first_frame.is_none() && key {
            c.first_frame = Some(now.duration_since(self.start));
        }
        c.frames += 1;
        c.key_frames += u64::from(key);
        c.bytes += bytes as u64;
        c.recent.push_back((now, bytes));
        while c
            .recent
            .front()
            .is_some_and(|(t, _)| now.duration_since(*t) > RATE_WINDOW)
        {
            c.recent.pop_front();
        }
    }

    pub(crate) fn dropped(&self) {
        self.lock().dropped += 1;
    }

    pub(crate) fn lost(&self, packets: u64) {
        self.lock().lost += packets;
    }

    fn snapshot(&self) -> PeerStats {
        let now = Instant::now();
        let c = self.lock();
        let recent: Vec<&(Instant, usize)> = c
            .recent
            .iter()
            .filter(|(t, _)| now.duration_since(*t) <= RATE_WINDOW)
            .collect();
        // Over the span the window has actually seen, so a young stream is not under-counted.
        let span = recent
            .first()
            .map(|(t, _)| now.duration_since(*t).max(Duration::from_millis(100)))
            .unwrap_or(RATE_WINDOW)
            .min(RATE_WINDOW)
            .as_secs_f64();
        let bytes: usize = recent.iter().map(|(_, b)| b).sum();
        PeerStats {
            time_to_first_frame: c.first_frame,
            frames: c.frames,
            key_frames: c.key_frames,
            bytes: c.bytes,
            frames_per_second: recent.len() as f64 / span,
            bitrate_bps: bytes as f64 * 8.0 / span,
            frames_dropped: c.dropped,
            packets_lost: i64::try_from(c.lost).unwrap_or(i64::MAX),
            ..PeerStats::default()
        }
    }
}

/// Our counters joined with the stack's loss and round-trip figures.
pub(crate) async fn collect(
    counters: &MediaCounters,
    pc: &dyn PeerConnection,
    connected: bool,
) -> PeerStats {
    let mut stats = counters.snapshot();
    stats.connected = connected;
    let report = pc.get_stats(Instant::now(), StatsSelector::None).await;
    let mut rtcp_rtt = None;
    let mut reported_lost = None;
    for entry in report.iter() {
        match entry {
            RTCStatsReportEntry::RemoteInboundRtp(s) => {
                reported_lost = Some(s.received_rtp_stream_stats.packets_lost);
                if s.round_trip_time_measurements > 0 {
                    rtcp_rtt = Some(s.round_trip_time);
                }
            }
            RTCStatsReportEntry::InboundRtp(s) => {
                let lost = s.received_rtp_stream_stats.packets_lost;
                stats.packets_lost = stats.packets_lost.max(lost);
            }
            _ => {}
        }
    }
    if let Some(lost) = reported_lost {
        stats.packets_lost = stats.packets_lost.max(lost);
    }
    let pair = report.candidate_pairs().find(|p| p.nominated);
    let pair_rtt = pair
        .map(|p| p.current_round_trip_time)
        .filter(|rtt| *rtt > 0.0);
    stats.round_trip_time = pair_rtt
        .or(rtcp_rtt)
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64);
    // The pair names its candidate `candidate:<id>` while the candidate's own stats id is
    // `RTCLocalIceCandidate_candidate:<id>`, so the name is matched as a suffix.
    stats.local_candidate_type = pair.and_then(|p| {
        report.iter().find_map(|e| match e {
            RTCStatsReportEntry::LocalCandidate(c)
                if c.stats.id.ends_with(&p.local_candidate_id) =>
            {
                Some(c.candidate_type.to_string())
            }
            _ => None,
        })
    });
    stats
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_report_rates_and_the_first_key_frame() {
        let counters = MediaCounters::new(Instant::now());
        counters.frame(1000, false);
        assert_eq!(
            counters.snapshot().time_to_first_frame,
            None,
            "not a key frame"
        );
        counters.frame(5000, true);
        counters.dropped();
        counters.lost(3);
        let s = counters.snapshot();
        assert!(s.time_to_first_frame.is_some());
        assert_eq!((s.frames, s.key_frames, s.bytes), (2, 1, 6000));
        assert_eq!((s.frames_dropped, s.packets_lost), (1, 3));
        assert!(s.frames_per_second > 0.0 && s.bitrate_bps > 0.0);
    }
}
