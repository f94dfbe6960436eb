//! Sample timing: decode times, durations and composition offsets from presentation times.

use crate::error::{Mp4Error, Result};

/// One sample's timing in its track's timescale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Timed {
    /// Decode time.
    pub(crate) dts: u64,
    /// Time to the next sample's decode time.
    pub(crate) duration: u32,
    /// Presentation time minus decode time.
    pub(crate) cts: i32,
}

/// How a track's samples are timed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TimingRules {
    /// Units per second.
    pub(crate) timescale: u32,
    /// Video: frames may be reordered (B-frames), so decode times are the sorted presentation
    /// times. Audio: decode order is presentation order.
    pub(crate) reorder: bool,
    /// Samples per AAC frame, when decode times may be snapped to it.
    pub(crate) audio_frame: Option<u32>,
    /// Duration of a track's only sample.
    pub(crate) single_duration: u32,
}

/// Nanoseconds to `timescale` units, rounded to nearest. Cannot overflow for timescales up to
/// 1 MHz (the largest the track checks allow).
pub(crate) fn ns_to_units(ns: u64, timescale: u32) -> u64 {
    let units = (u128::from(ns) * u128::from(timescale) + 500_000_000) / 1_000_000_000;
    u64::try_from(units).unwrap_or(u64::MAX)
}

/// Times samples given their presentation times in nanoseconds, in decode (stream) order.
pub(crate) fn time_samples(pts_ns: &[u64], rules: TimingRules, track: u64) -> Result<Vec<Timed>> {
    let pts: Vec<u64> = pts_ns
        .iter()
        .map(|&ns| ns_to_units(ns, rules.timescale))
        .collect();
    let mut order = pts.clone();
    if rules.reorder {
        order.sort_unstable();
    }
    // KVS timecodes are whole milliseconds, so AAC frames (21.33 ms at 48 kHz) arrive with
    // jittered times; snapping to the frame length keeps the audio timeline exact. A jump
    // beyond the tolerance is a real gap (or clock drift) and is kept.
    let tolerance = u64::from(rules.timescale / 500).max(1);
    let mut dts: Vec<u64> = Vec::with_capacity(order.len());
    for &raw in &order {
        let next = match dts.last() {
            None => raw,
            Some(&prev) => {
                let mut d = raw;
                if let Some(frame) = rules.audio_frame {
                    let expected = prev.saturating_add(u64::from(frame));
                    if raw.abs_diff(expected) <= tolerance {
                        d = expected;
                    }
                }
                // Decode times must strictly increase, even for repeated timestamps.
                d.max(prev.saturating_add(1))
            }
        };
        dts.push(next);
    }

    let mut out: Vec<Timed> = Vec::with_capacity(dts.len());
    for (i, &d) in dts.iter().enumerate() {
        let duration = match dts.get(i + 1) {
            Some(&next) => u32::try_from(next - d).map_err(|_| Mp4Error::Timing {
                track,
                reason: format!(
                    "a gap of {} s between frames exceeds the 32-bit sample duration",
                    (next - d) / u64::from(rules.timescale)
                ),
            })?,
            None => match (rules.audio_frame, out.last()) {
                (Some(frame), _) => frame,
                (None, Some(prev)) => prev.duration,
                (None, None) => rules.single_duration,
            },
        };
        let cts = if rules.reorder {
            let offset = i128::from(pts[i]) - i128::from(d);
            i32::try_from(offset).map_err(|_| Mp4Error::Timing {
                track,
                reason: format!(
                    "frame {i} is presented {offset} units away from its decode time, beyond the 32-bit composition offset"
                ),
            })?
        } else {
            0
        };
        out.push(Timed {
            dts: d,
            duration,
            cts,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn video() -> TimingRules {
        TimingRules {
            timescale: 90_000,
            reorder: true,
            audio_frame: None,
            single_duration: 3000,
        }
    }

    #[test]
    fn b_frames_get_sorted_decode_times_and_signed_offsets() {
        let ms = |v: &[u64]| v.iter().map(|m| m * 1_000_000).collect::<Vec<_>>();
        // I0 P3 B1 B2 in decode order, frames 10 ms apart.
        let t = time_samples(&ms(&[0, 30, 10, 20]), video(), 1).unwrap_or_default();
        let dts: Vec<u64> = t.iter().map(|s| s.dts).collect();
        let cts: Vec<i32> = t.iter().map(|s| s.cts).collect();
        assert_eq!(dts, vec![0, 900, 1800, 2700]);
        assert_eq!(cts, vec![0, 1800, -900, -900]);
        assert!(t.iter().all(|s| s.duration == 900));
    }

    #[test]
    fn aac_jitter_is_snapped_but_gaps_kept() {
        let rules = TimingRules {
            timescale: 48_000,
            reorder: false,
            audio_frame: Some(1024),
            single_duration: 1024,
        };
        // 21.33 ms frames rounded to whole ms, then a 100 ms gap.
        let ms = [0u64, 21, 43, 64, 185];
        let ns: Vec<u64> = ms.iter().map(|m| m * 1_000_000).collect();
        let t = time_samples(&ns, rules, 2).unwrap_or_default();
        let dts: Vec<u64> = t.iter().map(|s| s.dts).collect();
        assert_eq!(dts, vec![0, 1024, 2048, 3072, 185 * 48]);
        assert_eq!(t.last().map(|s| s.duration), Some(1024));
    }

    #[test]
    fn repeated_timestamps_still_increase() {
        let t = time_samples(&[5, 5, 5], video(), 1).unwrap_or_default();
        assert!(t.windows(2).all(|w| w[0].dts < w[1].dts));
        assert!(t.iter().all(|s| s.duration >= 1));
    }

    #[test]
    fn huge_gap_is_an_error() {
        let r = time_samples(&[0, 100_000_000_000_000], video(), 7);
        assert!(matches!(r, Err(Mp4Error::Timing { track: 7, .. })));
    }
}
