//! Random sample sizes and timings: mp4-atom decodes the output back to the same samples.

use bytes::Bytes;
use kvs_mkv::{Frame, TrackInfo};
use kvs_mp4::{clip, media_segment};
use mp4_atom::{Any, Decode, Moov, StszSamples};
use proptest::prelude::*;

use crate::errors::{ASC, AVCC};

/// Top-level boxes as (type, start, end of box).
fn boxes(data: &[u8]) -> Vec<([u8; 4], usize, usize)> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos + 8 <= data.len() {
        let size = u32::from_be_bytes(data[pos..pos + 4].try_into().unwrap()) as usize;
        let kind: [u8; 4] = data[pos + 4..pos + 8].try_into().unwrap();
        let size = if size == 1 {
            u64::from_be_bytes(data[pos + 8..pos + 16].try_into().unwrap()) as usize
        } else {
            size
        };
        out.push((kind, pos, pos + size));
        pos += size;
    }
    assert_eq!(pos, data.len(), "boxes do not tile the file");
    out
}

fn units(ns: u64, timescale: u64) -> i64 {
    ((u128::from(ns) * u128::from(timescale) + 500_000_000) / 1_000_000_000) as i64
}

/// Video frames (track 1) with random sizes, gaps and adjacent swaps (B-frame-like reorder),
/// interleaved with audio frames (track 2) when `audio`.
fn stream() -> impl Strategy<Value = Vec<Frame>> {
    (
        prop::collection::vec(
            (
                0usize..400,
                1_000_000u64..80_000_000,
                any::<bool>(),
                any::<bool>(),
            ),
            1..40,
        ),
        prop::collection::vec((1usize..300, 15_000_000u64..30_000_000), 0..40),
        0u64..1_000_000_000,
    )
        .prop_map(|(video, audio, start)| {
            let base = 1_700_000_000_000_000_000 + start;
            let mut frames = Vec::new();
            let mut t = base;
            for (i, (size, gap, key, swap)) in video.iter().enumerate() {
                frames.push(Frame {
                    track: 1,
                    timestamp_ns: t,
                    key: i == 0 || *key,
                    data: Bytes::from(vec![(i % 251) as u8; *size]),
                });
                t += gap;
                // Swap with the previous frame (not the first): decode order differs.
                if *swap && i >= 2 {
                    let n = frames.len();
                    let (a, b) = (frames[n - 2].timestamp_ns, frames[n - 1].timestamp_ns);
                    frames[n - 2].timestamp_ns = b;
                    frames[n - 1].timestamp_ns = a;
                }
            }
            let mut t = base + 3_000_000;
            for (i, (size, gap)) in audio.iter().enumerate() {
                frames.push(Frame {
                    track: 2,
                    timestamp_ns: t,
                    key: true,
                    data: Bytes::from(vec![(200 + i % 50) as u8; *size]),
                });
                t += gap;
            }
            // Interleave by time, keeping each track's own order.
            let (v, a): (Vec<Frame>, Vec<Frame>) = frames.into_iter().partition(|f| f.track == 1);
            let mut out = Vec::new();
            let (mut vi, mut ai) = (0, 0);
            while vi < v.len() || ai < a.len() {
                if ai >= a.len() || (vi < v.len() && v[vi].timestamp_ns <= a[ai].timestamp_ns) {
                    out.push(v[vi].clone());
                    vi += 1;
                } else {
                    out.push(a[ai].clone());
                    ai += 1;
                }
            }
            out
        })
}

fn tracks() -> Vec<TrackInfo> {
    vec![
        TrackInfo::h264(1, 320, 240, AVCC.to_vec()),
        TrackInfo::aac(2, 48000.0, 2, ASC.to_vec()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn clip_samples_round_trip(frames in stream()) {
        let mp4 = clip(&tracks(), &frames).unwrap();
        let top = boxes(&mp4);
        let kinds: Vec<&[u8; 4]> = top.iter().map(|b| &b.0).collect();
        prop_assert_eq!(kinds, vec![b"ftyp", b"moov", b"mdat"]);
        let moov = Moov::decode(&mut &mp4[top[1].1..top[1].2]).unwrap();
        let start = frames.iter().map(|f| f.timestamp_ns).min().unwrap();
        for trak in &moov.trak {
            let id = u64::from(trak.tkhd.track_id);
            let own: Vec<&Frame> = frames.iter().filter(|f| f.track == id).collect();
            let stbl = &trak.mdia.minf.stbl;
            let StszSamples::Different { sizes } = &stbl.stsz.samples else { panic!("stsz") };
            let want: Vec<u32> = own.iter().map(|f| f.data.len() as u32).collect();
            prop_assert_eq!(sizes, &want);
            let stts: u32 = stbl.stts.entries.iter().map(|e| e.sample_count).sum();
            prop_assert_eq!(stts as usize, own.len());

            // Sample offsets from stsc + stco point at each frame's bytes.
            let chunks = &stbl.stco.as_ref().unwrap().entries;
            let mut per_chunk = Vec::new();
            for (i, e) in stbl.stsc.entries.iter().enumerate() {
                let end = stbl.stsc.entries.get(i + 1).map_or(chunks.len() as u32 + 1, |n| n.first_chunk);
                for _ in e.first_chunk..end { per_chunk.push(e.samples_per_chunk); }
            }
            let mut n = 0;
            for (&off, &count) in chunks.iter().zip(&per_chunk) {
                let mut pos = off as usize;
                for _ in 0..count {
                    let f = own[n];
                    prop_assert_eq!(&mp4[pos..pos + f.data.len()], &f.data[..]);
                    pos += f.data.len();
                    n += 1;
                }
            }
            prop_assert_eq!(n, own.len());

            if id == 1 {
                // Presentation times come back exactly: dts (from stts) + ctts offset.
                let mut dts = Vec::new();
                let mut t = 0i64;
                for e in &stbl.stts.entries {
                    for _ in 0..e.sample_count { dts.push(t); t += i64::from(e.sample_delta); }
                }
                let mut cts = Vec::new();
                match &stbl.ctts {
                    Some(c) => for e in &c.entries { for _ in 0..e.sample_count { cts.push(e.sample_offset); } },
                    None => cts.resize(own.len(), 0),
                }
                let pts: Vec<i64> = own.iter().map(|f| units(f.timestamp_ns - start, 90_000)).collect();
                let first = *pts.iter().min().unwrap();
                for i in 0..own.len() {
                    prop_assert_eq!(dts[i] + cts[i], pts[i] - first, "sample {}", i);
                }
                let keys: Vec<u32> = (1u32..).zip(&own).filter(|(_, f)| f.key).map(|(i, _)| i).collect();
                prop_assert_eq!(&stbl.stss.as_ref().unwrap().entries, &keys);
            }
        }
    }

    #[test]
    fn segment_samples_round_trip(frames in stream()) {
        let seg = media_segment(&tracks(), &frames, 7, None).unwrap();
        let top = boxes(&seg);
        let Any::Moof(moof) = Any::decode(&mut &seg[top[0].1..top[0].2]).unwrap() else { panic!("moof") };
        prop_assert_eq!(moof.mfhd.sequence_number, 7);
        for traf in &moof.traf {
            let id = u64::from(traf.tfhd.track_id);
            let own: Vec<&Frame> = frames.iter().filter(|f| f.track == id).collect();
            let trun = &traf.trun[0];
            prop_assert_eq!(trun.samples.len(), own.len());
            let mut pos = trun.data_offset.unwrap() as usize;
            let mut dts = traf.tfdt.as_ref().unwrap().base_media_decode_time as i64;
            for (s, f) in trun.samples.iter().zip(&own) {
                prop_assert_eq!(s.size, Some(f.data.len() as u32));
                prop_assert_eq!(&seg[pos..pos + f.data.len()], &f.data[..]);
                pos += f.data.len();
                if id == 1 {
                    prop_assert_eq!(dts + s.cts.unwrap_or(0), units(f.timestamp_ns, 90_000));
                    let sync = s.flags.unwrap() & 0x0001_0000 == 0;
                    prop_assert_eq!(sync, f.key);
                }
                dts += i64::from(s.duration.unwrap());
            }
        }
    }
}
