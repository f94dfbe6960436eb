//! Transport stream segments from a real GStreamer recording, read back by ffprobe.

#![allow(clippy::unwrap_used)]

use kvs_mkv::{Frame, TrackInfo};

fn recording(dir: &std::path::Path) -> (Vec<TrackInfo>, Vec<Frame>) {
    let path = dir.join("in.mkv");
    kvs_testkit::make_mkv(&path, 3);
    let (tracks, frames) = kvs_testkit::video::read_mkv(&path);
    let frames = frames
        .into_iter()
        .map(|f| Frame {
            timestamp_ns: f.timestamp_ns + 1_700_000_000_000_000_000,
            ..f
        })
        .collect();
    (tracks, frames)
}

#[test]
fn a_segment_decodes_with_every_frame() {
    let dir = tempfile::tempdir().unwrap();
    let (tracks, frames) = recording(dir.path());
    let ts = kvs_ts::segment(&tracks, &frames).unwrap();
    assert_eq!(ts.len() % 188, 0);
    assert!(ts.chunks(188).all(|p| p[0] == 0x47));
    let path = dir.path().join("seg.ts");
    std::fs::write(&path, &ts).unwrap();
    let probe = kvs_testkit::ffprobe(&path);
    let streams = probe["streams"].as_array().unwrap();
    let video = streams
        .iter()
        .find(|s| s["codec_name"] == "h264")
        .expect("h264");
    assert_eq!(video["nb_read_frames"], "90", "{probe}");
    let audio = streams
        .iter()
        .find(|s| s["codec_name"] == "aac")
        .expect("aac");
    let audio_in = frames.iter().filter(|f| f.track == 2).count().to_string();
    assert_eq!(audio["nb_read_frames"], audio_in.as_str());
    let ok = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(&path)
        .args(["-f", "null", "-"])
        .output()
        .unwrap();
    assert!(ok.status.success());
    assert!(
        ok.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
}

#[test]
fn bad_input_is_refused() {
    assert_eq!(kvs_ts::segment(&[], &[]), Err(kvs_ts::TsError::NoFrames));
    let bad = TrackInfo::h264(1, 320, 240, vec![9, 9]);
    let f = Frame {
        track: 1,
        timestamp_ns: 0,
        key: true,
        data: bytes_of(&[0, 0, 0, 1, 0x65]),
    };
    assert!(matches!(
        kvs_ts::segment(&[bad], &[f]),
        Err(kvs_ts::TsError::CodecPrivate { track: 1, .. })
    ));
}

fn bytes_of(b: &[u8]) -> bytes::Bytes {
    bytes::Bytes::copy_from_slice(b)
}
