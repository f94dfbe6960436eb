//! `init_segment()` + `media_segment()`: fMP4 that decodes concatenated and per segment.

use kvs_mkv::Frame;
use kvs_mp4::{init_segment, media_segment};
use mp4_atom::{Any, Decode, Moof};

use crate::common::{
    EPOCH_SHIFT_NS, Media, Video, audio_track, decodes_cleanly, media, num, stream, streams,
    video_track, write,
};

/// Splits frames in stream order at each video key frame, as KVS fragments are cut.
fn split_at_key_frames(m: &Media) -> Vec<Vec<Frame>> {
    let v = video_track(m);
    let mut segments: Vec<Vec<Frame>> = Vec::new();
    for f in &m.frames {
        if segments.is_empty()
            || (f.track == v && f.key && segments.last().unwrap().iter().any(|g| g.track == v))
        {
            segments.push(Vec::new());
        }
        segments.last_mut().unwrap().push(f.clone());
    }
    segments
}

fn moof(segment: &[u8]) -> Moof {
    match Any::decode(&mut &segment[..]).unwrap() {
        Any::Moof(m) => m,
        other => panic!("segment starts with {other:?}"),
    }
}

#[test]
fn segments_decode_concatenated_and_alone() {
    let dir = tempfile::tempdir().unwrap();
    let m = media(dir.path(), "in", Video::H264, true);
    let (v, a) = (video_track(&m), audio_track(&m));
    let parts = split_at_key_frames(&m);
    assert_eq!(parts.len(), 3, "expected three 1 s fragments");

    let init = init_segment(&m.tracks).unwrap();
    let segments: Vec<Vec<u8>> = parts
        .iter()
        .zip(1u32..)
        .map(|(p, seq)| media_segment(&m.tracks, p, seq, None).unwrap())
        .collect();

    // Sequence numbers and decode times: tfdt is the first frame's epoch time at 90 kHz.
    for ((seg, part), seq) in segments.iter().zip(&parts).zip(1u32..) {
        let moof = moof(seg);
        assert_eq!(moof.mfhd.sequence_number, seq);
        assert_eq!(moof.traf.len(), 2);
        let first_video = part.iter().find(|f| f.track == v).unwrap();
        let traf = moof
            .traf
            .iter()
            .find(|t| u64::from(t.tfhd.track_id) == v)
            .unwrap();
        assert_eq!(
            traf.tfdt.as_ref().unwrap().base_media_decode_time,
            first_video.timestamp_ns / 1_000_000 * 90
        );
    }

    let mut all: Vec<&[u8]> = vec![&init];
    all.extend(segments.iter().map(|s| s.as_slice()));
    let path = write(dir.path(), "all.mp4", &all);
    let s = streams(&path);
    let vs = stream(&s, "video");
    assert_eq!(vs["codec_name"], "h264");
    assert_eq!(num(vs, "nb_read_frames"), 90.0);
    let start = num(vs, "start_time");
    assert!(
        (start - EPOCH_SHIFT_NS as f64 / 1e9).abs() < 1.0,
        "start_time {start}"
    );
    let au = stream(&s, "audio");
    assert_eq!(au["codec_name"], "aac");
    assert_eq!(num(au, "nb_read_frames") as usize, m.count(a));
    decodes_cleanly(&path);

    for (i, (seg, part)) in segments.iter().zip(&parts).enumerate() {
        let path = write(dir.path(), &format!("seg{i}.mp4"), &[&init, seg]);
        let s = streams(&path);
        let want = part.iter().filter(|f| f.track == v).count();
        assert_eq!(
            num(stream(&s, "video"), "nb_read_frames") as usize,
            want,
            "segment {i}"
        );
        decodes_cleanly(&path);
    }
}

#[test]
fn track_filter_writes_one_traf() {
    let dir = tempfile::tempdir().unwrap();
    let m = media(dir.path(), "in", Video::H264, true);
    let (v, a) = (video_track(&m), audio_track(&m));
    let init = init_segment(&m.tracks).unwrap();
    let parts = split_at_key_frames(&m);

    let video_only: Vec<Vec<u8>> = parts
        .iter()
        .zip(1u32..)
        .map(|(p, seq)| media_segment(&m.tracks, p, seq, Some(v)).unwrap())
        .collect();
    for seg in &video_only {
        let moof = moof(seg);
        assert_eq!(moof.traf.len(), 1);
        assert_eq!(u64::from(moof.traf[0].tfhd.track_id), v);
    }
    let audio_only = media_segment(&m.tracks, &parts[0], 1, Some(a)).unwrap();
    let moof_a = moof(&audio_only);
    assert_eq!(moof_a.traf.len(), 1);
    assert_eq!(u64::from(moof_a.traf[0].tfhd.track_id), a);

    let mut all: Vec<&[u8]> = vec![&init];
    all.extend(video_only.iter().map(|s| s.as_slice()));
    let path = write(dir.path(), "video.mp4", &all);
    let s = streams(&path);
    assert_eq!(num(stream(&s, "video"), "nb_read_frames"), 90.0);
    decodes_cleanly(&path);
}

#[test]
fn b_frame_segments_decode() {
    let dir = tempfile::tempdir().unwrap();
    let m = media(dir.path(), "bframes", Video::H264BFrames, false);
    let init = init_segment(&m.tracks).unwrap();
    let parts = split_at_key_frames(&m);
    let mut all: Vec<Vec<u8>> = vec![init];
    for (p, seq) in parts.iter().zip(1u32..) {
        all.push(media_segment(&m.tracks, p, seq, None).unwrap());
    }
    let refs: Vec<&[u8]> = all.iter().map(|s| s.as_slice()).collect();
    let path = write(dir.path(), "all.mp4", &refs);
    let s = streams(&path);
    assert_eq!(num(stream(&s, "video"), "nb_read_frames"), 90.0);
    decodes_cleanly(&path);
}
