//! Timestamp repair for sources whose clock jumps backwards (an RTSP camera restarting, a
//! looping file): later frames are shifted so the stream keeps moving forward, instead of KVS
//! refusing the fragment with error 4004.

use std::collections::HashMap;

use kvs_mkv::Frame;

/// Backward steps smaller than this are B-frame reordering, not a clock jump.
const JUMP_NS: u64 = 500_000_000;
/// Where a shifted frame lands after the last one.
const GAP_NS: u64 = 1_000_000;

/// Shifts timestamps forward after a backward jump.
#[derive(Debug, Default)]
pub(crate) struct TimestampRepair {
    shift_ns: u64,
    max_by_track: HashMap<u64, u64>,
}

impl TimestampRepair {
    /// The frame with its repaired timestamp, and `(track, added shift)` if it jumped back.
    pub(crate) fn apply(&mut self, mut frame: Frame) -> (Frame, Option<(u64, u64)>) {
        let mut repaired = None;
        let ts = frame.timestamp_ns.saturating_add(self.shift_ns);
        if let Some(&max) = self.max_by_track.get(&frame.track)
            && ts + JUMP_NS < max
        {
            // Land after the latest frame of any track: KVS wants a fragment to start after
            // everything in the one before it.
            let latest = self.max_by_track.values().copied().max().unwrap_or(max);
            let extra = latest - ts + GAP_NS;
            self.shift_ns += extra;
            repaired = Some((frame.track, extra));
        }
        frame.timestamp_ns = frame.timestamp_ns.saturating_add(self.shift_ns);
        let max = self.max_by_track.entry(frame.track).or_default();
        *max = (*max).max(frame.timestamp_ns);
        (frame, repaired)
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn f(track: u64, ms: u64) -> Frame {
        Frame {
            track,
            timestamp_ns: ms * 1_000_000,
            key: true,
            data: Bytes::new(),
        }
    }

    #[test]
    fn backward_jumps_are_shifted_reordering_is_not() {
        let mut r = TimestampRepair::default();
        let out: Vec<u64> = [10_000, 10_033, 10_020, 10_066]
            .iter()
            .map(|ms| r.apply(f(1, *ms)).0.timestamp_ns / 1_000_000)
            .collect();
        assert_eq!(
            out,
            [10_000, 10_033, 10_020, 10_066],
            "small reordering untouched"
        );
        let (frame, shift) = r.apply(f(1, 0));
        assert_eq!(frame.timestamp_ns / 1_000_000, 10_067);
        assert_eq!(shift, Some((1, 10_067_000_000)));
        assert_eq!(r.apply(f(1, 33)).0.timestamp_ns / 1_000_000, 10_100);
        assert_eq!(
            r.apply(f(2, 40)).0.timestamp_ns / 1_000_000,
            10_107,
            "every track shifts"
        );
        // audio ahead of video: the shift clears the audio too
        let mut r = TimestampRepair::default();
        r.apply(f(1, 5_000));
        r.apply(f(2, 5_010));
        assert_eq!(r.apply(f(1, 0)).0.timestamp_ns / 1_000_000, 5_011);
    }
}
