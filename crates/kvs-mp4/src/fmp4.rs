//! Fragmented MP4 (ISO BMFF 8.8) as HLS and DASH serve it: an init segment and media segments.

use kvs_mkv::{Frame, TrackInfo};
use mp4_atom::{Mfhd, Moof, Moov, Mvex, Mvhd, Tfdt, Tfhd, Traf, Trex, Trun, TrunEntry};

use crate::clip::{frame_size, next_track_id};
use crate::error::{Mp4Error, Result, encode};
use crate::timing::time_samples;
use crate::track::{empty_stbl, plan_all, plan_used, trak};
use crate::{ftyp, mdat_header};

/// `sample_depends_on` = 2 (depends on no other sample): a sync sample.
const SYNC: u32 = 0x0200_0000;
/// `sample_depends_on` = 1 and `sample_is_non_sync_sample`.
const NON_SYNC: u32 = 0x0101_0000;

/// The fMP4 initialization segment for `tracks`: `ftyp`, then `moov` with one `trak` per track
/// (sample entry, empty sample tables) and `mvex` with a `trex` per track. Track ids are the
/// MKV track numbers, so media segments made by [`media_segment`] from the same tracks match.
///
/// # Errors
/// [`Mp4Error::NoTracks`] without tracks; [`Mp4Error::UnsupportedCodec`],
/// [`Mp4Error::CodecPrivate`] or [`Mp4Error::InvalidTrack`] for a track that cannot be written.
pub fn init_segment(tracks: &[TrackInfo]) -> Result<Vec<u8>> {
    if tracks.is_empty() {
        return Err(Mp4Error::NoTracks);
    }
    let plans = plan_all(tracks)?;
    let moov = Moov {
        mvhd: Mvhd {
            timescale: 1000,
            rate: 1.into(),
            volume: 1.into(),
            next_track_id: next_track_id(plans.iter().map(|p| p.id)),
            ..Default::default()
        },
        mvex: Some(Mvex {
            mehd: None,
            trex: plans
                .iter()
                .map(|p| Trex {
                    track_id: p.id,
                    default_sample_description_index: 1,
                    ..Default::default()
                })
                .collect(),
        }),
        trak: plans
            .iter()
            .map(|p| trak(p, empty_stbl(p), 0, 0, None))
            .collect(),
        ..Default::default()
    };
    let mut out = Vec::new();
    encode("ftyp", &ftyp(true), &mut out)?;
    encode("moov", &moov, &mut out)?;
    Ok(out)
}

/// One fMP4 media segment: `moof` (`mfhd` with `sequence`, then per track with frames a `traf`
/// with `tfhd`, `tfdt` and a `trun` giving each sample's duration, size, flags and, when frames
/// are reordered, its signed composition offset), then one `mdat` holding each track's frames
/// in turn.
///
/// `sequence` is the `mfhd` sequence number, 1 for the first segment. `track_filter` set to
/// `Some(n)` writes only track `n` (as HLS's `TrackNumber` does); `None` writes every track.
///
/// Decode times are the frames' timestamps in the track timescale (90 kHz for video, the sample
/// rate for audio), counted from the epoch like KVS's own, so segments made separately from
/// consecutive fragments continue each other. Start each segment on a key frame.
///
/// # Errors
/// [`Mp4Error::NoFrames`] without frames of the selected tracks; [`Mp4Error::UnknownTrack`]
/// for a frame or filter naming an unlisted track; the track errors of [`init_segment`];
/// [`Mp4Error::Timing`] or [`Mp4Error::TooLarge`] for frames that cannot be written.
pub fn media_segment(
    tracks: &[TrackInfo],
    frames: &[Frame],
    sequence: u32,
    track_filter: Option<u64>,
) -> Result<Vec<u8>> {
    if let Some(n) = track_filter
        && !tracks.iter().any(|t| t.number == n)
    {
        return Err(Mp4Error::UnknownTrack(n));
    }
    let plans = plan_used(tracks, frames, |n| track_filter.is_none_or(|f| f == n))?;

    let mut trafs = Vec::with_capacity(plans.len());
    // Offset of each traf's data in the mdat payload.
    let mut starts = Vec::with_capacity(plans.len());
    let mut payload: Vec<&Frame> = Vec::new();
    let mut payload_len: u64 = 0;
    for plan in &plans {
        let own: Vec<&Frame> = frames
            .iter()
            .filter(|f| f.track == plan.info.number)
            .collect();
        let pts: Vec<u64> = own.iter().map(|f| f.timestamp_ns).collect();
        let timed = time_samples(&pts, plan.rules, plan.info.number)?;
        let reordered = timed.iter().any(|t| t.cts != 0);
        let mut entries = Vec::with_capacity(own.len());
        for (f, t) in own.iter().zip(&timed) {
            let sync = f.key || !plan.is_video();
            entries.push(TrunEntry {
                duration: Some(t.duration),
                size: Some(frame_size(f)?),
                flags: Some(if sync { SYNC } else { NON_SYNC }),
                cts: reordered.then_some(i64::from(t.cts)),
            });
        }
        starts.push(payload_len);
        payload_len += own.iter().map(|f| f.data.len() as u64).sum::<u64>();
        payload.extend(own);
        trafs.push(Traf {
            tfhd: Tfhd {
                track_id: plan.id,
                default_base_is_moof: true,
                ..Default::default()
            },
            tfdt: Some(Tfdt {
                base_media_decode_time: timed.first().map_or(0, |t| t.dts),
            }),
            trun: vec![Trun {
                data_offset: Some(0),
                samples: entries.into(),
            }],
            ..Default::default()
        });
    }

    let mut moof = Moof {
        mfhd: Mfhd {
            sequence_number: sequence,
        },
        traf: trafs,
    };
    let mut sized = Vec::new();
    encode("moof", &moof, &mut sized)?;
    let mdat_head = mdat_header(payload_len);
    // data_offset counts from the start of moof (default-base-is-moof).
    let base = (sized.len() + mdat_head.len()) as u64;
    for (traf, start) in moof.traf.iter_mut().zip(&starts) {
        let offset = i32::try_from(base + start).map_err(|_| {
            Mp4Error::TooLarge(format!(
                "track {} data starts {} bytes after moof, beyond the 32-bit trun data offset",
                traf.tfhd.track_id,
                base + start
            ))
        })?;
        for trun in &mut traf.trun {
            trun.data_offset = Some(offset);
        }
    }
    let total = usize::try_from(base + payload_len).map_err(|_| {
        Mp4Error::TooLarge(format!(
            "a {}-byte segment does not fit in memory",
            base + payload_len
        ))
    })?;
    let mut out = Vec::with_capacity(total);
    encode("moof", &moof, &mut out)?;
    if out.len() != sized.len() {
        return Err(Mp4Error::Encode(
            "moof",
            "its size changed when data offsets were filled in".into(),
        ));
    }
    out.extend_from_slice(&mdat_head);
    for f in payload {
        out.extend_from_slice(&f.data);
    }
    Ok(out)
}
