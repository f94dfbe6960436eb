//! The plain (progressive) MP4: `ftyp`, `moov` with full sample tables, `mdat`.

use bytes::Bytes;
use kvs_mkv::{Frame, TrackInfo};
use mp4_atom::{
    Co64, Ctts, CttsEntry, Edts, Elst, ElstEntry, Moov, Mvhd, Stco, Stsc, StscEntry, Stss, Stsz,
    StszSamples, Stts, SttsEntry,
};

use crate::error::{Mp4Error, Result, encode};
use crate::timing::{Timed, time_samples};
use crate::track::{TrackPlan, empty_stbl, plan_used, trak};
use crate::{ftyp, mdat_header};

/// Movie timescale (`mvhd`, `tkhd`, `elst`): milliseconds, as most muxers write.
const MOVIE_TIMESCALE: u32 = 1000;

/// One track's samples, in decode order.
struct TrackSamples<'a> {
    plan: TrackPlan<'a>,
    timed: Vec<Timed>,
    sizes: Vec<u32>,
    keys: Vec<bool>,
    /// (offset of the chunk in the mdat payload, samples in it)
    chunks: Vec<(u64, u32)>,
}

/// A plain (progressive) MP4 of `frames`: `ftyp`, `moov` (per track `stsd`, `stts`, `ctts` when
/// frames are reordered, `stss` for video, `stsz`, `stsc`, `stco` or `co64`), then `mdat` with
/// the frames in the order given.
///
/// Frames are in stream (decode) order with presentation timestamps; the timeline starts at
/// the earliest frame. Tracks without frames are left out; a track that starts later than the
/// earliest frame gets an empty edit so tracks stay in sync.
///
/// This is [`clip_parts`] joined into one buffer; use [`clip_parts`] to write or send the clip
/// without copying the frames.
///
/// # Errors
/// [`Mp4Error::NoFrames`] without frames, [`Mp4Error::UnknownTrack`] for a frame of an unlisted
/// track, [`Mp4Error::UnsupportedCodec`], [`Mp4Error::CodecPrivate`],
/// [`Mp4Error::InvalidTrack`], [`Mp4Error::Timing`] or [`Mp4Error::TooLarge`] for tracks or
/// frames that cannot be written, and [`Mp4Error::TooLarge`] for a clip that does not fit in
/// memory.
pub fn clip(tracks: &[TrackInfo], frames: &[Frame]) -> Result<Vec<u8>> {
    clip_parts(tracks, frames)?.to_vec()
}

/// The MP4 [`clip`] writes, laid out as its head (`ftyp`, `moov` and the `mdat` header) and
/// the frames' payloads in `mdat` order. The payloads are the frames' own [`Bytes`] (shared,
/// not copied), so the clip can be written with vectored writes or sent as a stream of
/// chunks while only the head is allocated.
///
/// ```
/// use kvs_mp4::{Frame, TrackInfo};
///
/// # fn main() -> Result<(), kvs_mp4::Mp4Error> {
/// // AAC-LC, 48 kHz stereo: AudioSpecificConfig 0x11 0x90.
/// let tracks = [TrackInfo::aac(1, 48_000.0, 2, vec![0x11, 0x90])];
/// let frames: Vec<Frame> = (0..3u64)
///     .map(|i| Frame {
///         track: 1,
///         timestamp_ns: i * 21_333_333,
///         key: true,
///         data: bytes::Bytes::from(vec![0x21; 200]),
///     })
///     .collect();
///
/// let clip = kvs_mp4::clip_parts(&tracks, &frames)?;
/// // The payloads are the frames' own memory.
/// assert_eq!(clip.payloads()[0].as_ptr(), frames[0].data.as_ptr());
/// let mut file = Vec::new();
/// for part in clip.parts() {
///     file.extend_from_slice(part);
/// }
/// assert_eq!(file.len() as u64, clip.len());
/// assert_eq!(file, kvs_mp4::clip(&tracks, &frames)?);
/// # Ok(())
/// # }
/// ```
///
/// # Errors
/// As [`clip`], except that the clip's size is not limited by memory.
pub fn clip_parts(tracks: &[TrackInfo], frames: &[Frame]) -> Result<ClipParts> {
    if frames.is_empty() {
        return Err(Mp4Error::NoFrames);
    }
    let plans = plan_used(tracks, frames, |_| true)?;
    let start_ns = frames.iter().map(|f| f.timestamp_ns).min().unwrap_or(0);

    let mut samples = Vec::with_capacity(plans.len());
    for plan in plans {
        let own: Vec<&Frame> = frames
            .iter()
            .filter(|f| f.track == plan.info.number)
            .collect();
        let pts: Vec<u64> = own.iter().map(|f| f.timestamp_ns - start_ns).collect();
        let timed = time_samples(&pts, plan.rules, plan.info.number)?;
        let sizes = own
            .iter()
            .map(|f| frame_size(f))
            .collect::<Result<Vec<u32>>>()?;
        let keys = own.iter().map(|f| f.key).collect();
        samples.push(TrackSamples {
            plan,
            timed,
            sizes,
            keys,
            chunks: Vec::new(),
        });
    }

    // Chunks: runs of consecutive frames of one track, so mdat keeps the stream's interleaving.
    let mut payloads = Vec::with_capacity(frames.len());
    let mut payload_len: u64 = 0;
    let mut last_track = None;
    for f in frames {
        let Some(ts) = samples.iter_mut().find(|s| s.plan.info.number == f.track) else {
            continue;
        };
        if last_track == Some(f.track)
            && let Some(chunk) = ts.chunks.last_mut()
        {
            chunk.1 += 1;
        } else {
            ts.chunks.push((payload_len, 1));
        }
        last_track = Some(f.track);
        payload_len += f.data.len() as u64;
        payloads.push(f.data.clone());
    }

    let mut head = Vec::new();
    encode("ftyp", &ftyp(false), &mut head)?;
    let mdat_head = mdat_header(payload_len);
    let fixed = (head.len() + mdat_head.len()) as u64;
    // Offsets are known once moov's size is; its size depends only on stco versus co64.
    let stco_len = moov_len(&build_moov(&samples, 0, false)?)?;
    let co64 = fixed + stco_len + payload_len > u64::from(u32::MAX);
    let sized = if co64 {
        moov_len(&build_moov(&samples, 0, true)?)?
    } else {
        stco_len
    };
    let base = fixed + sized;
    let ftyp_len = head.len();
    encode("moov", &build_moov(&samples, base, co64)?, &mut head)?;
    if (head.len() - ftyp_len) as u64 != sized {
        return Err(Mp4Error::Encode(
            "moov",
            "its size changed when chunk offsets were filled in".into(),
        ));
    }
    head.extend_from_slice(&mdat_head);
    Ok(ClipParts {
        head: Bytes::from(head),
        payloads,
        len: base + payload_len,
    })
}

/// A plain MP4 clip as [`clip_parts`] lays it out: the head (`ftyp`, `moov`, the `mdat`
/// header), then the frame payloads that fill `mdat`. Concatenated, [`parts`](Self::parts)
/// are exactly the bytes [`clip`] returns.
#[derive(Debug, Clone)]
pub struct ClipParts {
    head: Bytes,
    payloads: Vec<Bytes>,
    len: u64,
}

impl ClipParts {
    /// `ftyp`, `moov` and the `mdat` header: the bytes before the first payload.
    pub fn head(&self) -> &Bytes {
        &self.head
    }

    /// The frame payloads in `mdat` order, sharing the frames' memory.
    pub fn payloads(&self) -> &[Bytes] {
        &self.payloads
    }

    /// The size of the whole MP4 in bytes (for a `Content-Length`).
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the MP4 has no bytes; never true, since a clip has at least its head.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The head then every payload, in file order.
    pub fn parts(&self) -> impl Iterator<Item = &Bytes> {
        std::iter::once(&self.head).chain(&self.payloads)
    }

    /// The whole MP4 in one buffer (a copy of every payload).
    ///
    /// # Errors
    /// [`Mp4Error::TooLarge`] if the MP4 does not fit in memory.
    pub fn to_vec(&self) -> Result<Vec<u8>> {
        let total = usize::try_from(self.len).map_err(|_| {
            Mp4Error::TooLarge(format!("a {}-byte MP4 does not fit in memory", self.len))
        })?;
        let mut out = Vec::new();
        out.try_reserve_exact(total).map_err(|_| {
            Mp4Error::TooLarge(format!("a {}-byte MP4 does not fit in memory", self.len))
        })?;
        for part in self.parts() {
            out.extend_from_slice(part);
        }
        Ok(out)
    }
}

impl IntoIterator for ClipParts {
    type Item = Bytes;
    type IntoIter = std::iter::Chain<std::iter::Once<Bytes>, std::vec::IntoIter<Bytes>>;

    /// The head then every payload, in file order, for a streamed response body.
    fn into_iter(self) -> Self::IntoIter {
        std::iter::once(self.head).chain(self.payloads)
    }
}

pub(crate) fn frame_size(f: &Frame) -> Result<u32> {
    u32::try_from(f.data.len()).map_err(|_| {
        Mp4Error::TooLarge(format!(
            "a frame of {} bytes on track {} exceeds the 32-bit MP4 sample size",
            f.data.len(),
            f.track
        ))
    })
}

fn moov_len(moov: &Moov) -> Result<u64> {
    let mut buf = Vec::new();
    encode("moov", moov, &mut buf)?;
    Ok(buf.len() as u64)
}

/// `moov` with chunk offsets relative to `base` (the first mdat payload byte).
fn build_moov(samples: &[TrackSamples<'_>], base: u64, co64: bool) -> Result<Moov> {
    let mut traks = Vec::with_capacity(samples.len());
    let mut movie_duration = 0;
    for s in samples {
        let ts = s.plan.timescale();
        let first_dts = s.timed.first().map_or(0, |t| t.dts);
        let media_duration: u64 = s.timed.iter().map(|t| u64::from(t.duration)).sum();
        let track_movie = units_to(media_duration, ts, MOVIE_TIMESCALE);
        // Media times start at 0 in every track; a track starting after the clip's first
        // frame waits behind an empty edit.
        let delay = (u128::from(first_dts) * u128::from(MOVIE_TIMESCALE) + u128::from(ts / 2))
            / u128::from(ts);
        let delay = u64::try_from(delay).unwrap_or(u64::MAX);
        let edts = (delay > 0).then(|| Edts {
            elst: Some(Elst {
                entries: vec![
                    ElstEntry {
                        segment_duration: delay,
                        media_time: None,
                        media_rate: 1.into(),
                    },
                    ElstEntry {
                        segment_duration: track_movie,
                        media_time: Some(0),
                        media_rate: 1.into(),
                    },
                ],
            }),
        });
        let total = delay + track_movie;
        movie_duration = movie_duration.max(total);

        let mut stbl = empty_stbl(&s.plan);
        stbl.stts = Stts {
            entries: run_lengths(s.timed.iter().map(|t| t.duration))
                .map(|(sample_count, sample_delta)| SttsEntry {
                    sample_count,
                    sample_delta,
                })
                .collect(),
        };
        if s.timed.iter().any(|t| t.cts != 0) {
            stbl.ctts = Some(Ctts {
                entries: run_lengths(s.timed.iter().map(|t| t.cts))
                    .map(|(sample_count, offset)| CttsEntry {
                        sample_count,
                        sample_offset: i64::from(offset),
                    })
                    .collect(),
            });
        }
        if s.plan.is_video() {
            stbl.stss = Some(Stss {
                entries: (1u32..)
                    .zip(&s.keys)
                    .filter(|(_, key)| **key)
                    .map(|(i, _)| i)
                    .collect(),
            });
        }
        stbl.stsz = Stsz {
            samples: StszSamples::Different {
                sizes: s.sizes.clone(),
            },
        };
        stbl.stsc = Stsc {
            entries: stsc_entries(&s.chunks),
        };
        let offsets = s.chunks.iter().map(|(off, _)| base + off);
        if co64 {
            stbl.stco = None;
            stbl.co64 = Some(Co64 {
                entries: offsets.collect(),
            });
        } else {
            stbl.stco = Some(Stco {
                entries: offsets
                    .map(|o| u32::try_from(o).unwrap_or(u32::MAX))
                    .collect(),
            });
        }
        traks.push(trak(&s.plan, stbl, media_duration, total, edts));
    }
    Ok(Moov {
        mvhd: Mvhd {
            timescale: MOVIE_TIMESCALE,
            duration: movie_duration,
            rate: 1.into(),
            volume: 1.into(),
            next_track_id: next_track_id(samples.iter().map(|s| s.plan.id)),
            ..Default::default()
        },
        trak: traks,
        ..Default::default()
    })
}

pub(crate) fn next_track_id(ids: impl Iterator<Item = u32>) -> u32 {
    ids.max().unwrap_or(0).saturating_add(1)
}

/// `value` in `from` units converted to `to` units, rounded up so durations are not cut short.
fn units_to(value: u64, from: u32, to: u32) -> u64 {
    let v = (u128::from(value) * u128::from(to)).div_ceil(u128::from(from));
    u64::try_from(v).unwrap_or(u64::MAX)
}

/// (count, value) runs of equal consecutive values.
fn run_lengths<T: PartialEq + Copy>(
    values: impl Iterator<Item = T>,
) -> impl Iterator<Item = (u32, T)> {
    let mut runs: Vec<(u32, T)> = Vec::new();
    for v in values {
        match runs.last_mut() {
            Some((n, last)) if *last == v => *n += 1,
            _ => runs.push((1, v)),
        }
    }
    runs.into_iter()
}

/// `stsc` entries: a new entry wherever the samples-per-chunk count changes.
fn stsc_entries(chunks: &[(u64, u32)]) -> Vec<StscEntry> {
    let mut entries: Vec<StscEntry> = Vec::new();
    for (chunk, &(_, n)) in (1u32..).zip(chunks) {
        if entries.last().is_some_and(|e| e.samples_per_chunk == n) {
            continue;
        }
        entries.push(StscEntry {
            first_chunk: chunk,
            samples_per_chunk: n,
            sample_description_index: 1,
        });
    }
    entries
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stsc_compresses_equal_chunks() {
        let e = stsc_entries(&[(0, 2), (10, 2), (20, 3), (30, 3), (40, 2)]);
        let got: Vec<(u32, u32)> = e
            .iter()
            .map(|e| (e.first_chunk, e.samples_per_chunk))
            .collect();
        assert_eq!(got, vec![(1, 2), (3, 3), (5, 2)]);
    }

    #[test]
    fn runs() {
        let r: Vec<(u32, u32)> = run_lengths([5u32, 5, 7, 5].into_iter()).collect();
        assert_eq!(r, vec![(2, 5), (1, 7), (1, 5)]);
    }
}
