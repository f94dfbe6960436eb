//! Media time on both ends: frame times to RTP times when sending, RTP times to a timeline
//! shared by a viewer's tracks when receiving.

use std::time::Instant;

/// Maps frame times (ns) to one stream's RTP times: the first frame gets a random RTP time,
/// the others follow at the stream's clock rate.
#[derive(Debug)]
pub(crate) struct RtpClock {
    rate: i128,
    anchor: Option<(u64, u32)>,
}

impl RtpClock {
    pub(crate) fn new(rate: u32) -> Self {
        Self {
            rate: i128::from(rate),
            anchor: None,
        }
    }

    /// The RTP timestamp of a frame at `timestamp_ns`; the first frame asked about sets the
    /// origin.
    pub(crate) fn rtp_time(&mut self, timestamp_ns: u64) -> u32 {
        let (anchor_ns, anchor_rtp) = *self
            .anchor
            .get_or_insert_with(|| (timestamp_ns, rand::random()));
        let ticks = (i128::from(timestamp_ns) - i128::from(anchor_ns)) * self.rate;
        // Rounded, so that 33 333 333 ns is 3000 ticks and not 2999.
        let half = if ticks < 0 { -500_000_000 } else { 500_000_000 };
        let delta = (ticks + half) / 1_000_000_000;
        anchor_rtp.wrapping_add(delta as u32)
    }

    /// Maps frame time `timestamp_ns` to `rtp_time` from now on.
    pub(crate) fn reanchor(&mut self, timestamp_ns: u64, rtp_time: u32) {
        self.anchor = Some((timestamp_ns, rtp_time));
    }
}

/// 32-bit RTP timestamps extended to 64 bits across wrap-arounds.
#[derive(Debug, Default)]
pub(crate) struct RtpExtender {
    last: Option<i64>,
}

impl RtpExtender {
    pub(crate) fn extend(&mut self, rtp: u32) -> i64 {
        let ext = match self.last {
            None => i64::from(rtp),
            Some(last) => last + i64::from(rtp.wrapping_sub(last as u32) as i32),
        };
        self.last = Some(self.last.map_or(ext, |l| l.max(ext)));
        ext
    }
}

/// A viewer's timeline: each track's first frame is placed at the time it arrived, measured
/// from the viewer's start, and its later frames by their RTP times, so that tracks with
/// unrelated RTP clocks line up as they were sent.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MediaClock {
    started: Instant,
}

impl MediaClock {
    pub(crate) fn new(started: Instant) -> Self {
        Self { started }
    }

    /// `at` on the timeline, in nanoseconds.
    pub(crate) fn now_ns(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.started).as_nanos()).unwrap_or(u64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtp_times_follow_the_frame_times_at_the_clock_rate() {
        let mut clock = RtpClock::new(48_000);
        let first = clock.rtp_time(1_000_000_000);
        assert_eq!(clock.rtp_time(1_020_000_000).wrapping_sub(first), 960);
        let mut video = RtpClock::new(90_000);
        let first = video.rtp_time(0);
        assert_eq!(video.rtp_time(33_333_333).wrapping_sub(first), 3000);
        video.reanchor(0, 7);
        assert_eq!(video.rtp_time(1_000_000_000), 90_007);
    }

    #[test]
    fn extended_rtp_times_survive_wrap_around() {
        let mut e = RtpExtender::default();
        assert_eq!(e.extend(u32::MAX - 10), i64::from(u32::MAX - 10));
        assert_eq!(e.extend(20), i64::from(u32::MAX) + 21);
        assert_eq!(
            e.extend(u32::MAX - 5),
            i64::from(u32::MAX - 5),
            "late, before the wrap"
        );
    }
}
