//! `clip()`: plain MP4s that ffprobe/ffmpeg decode fully.

use kvs_mp4::clip;

use crate::common::{
    Video, audio_track, decodes_cleanly, ffprobe, media, num, stream, streams, video_track, write,
};

#[test]
fn h264_aac_clip_decodes_with_its_duration() {
    let dir = tempfile::tempdir().unwrap();
    let m = media(dir.path(), "in", Video::H264, true);
    let audio_frames = m.count(audio_track(&m));
    assert_eq!(m.count(video_track(&m)), 90);

    let mp4 = clip(&m.tracks, &m.frames).unwrap();
    let path = write(dir.path(), "clip.mp4", &[&mp4]);

    let s = streams(&path);
    let v = stream(&s, "video");
    assert_eq!(v["codec_name"], "h264");
    assert_eq!(v["width"], 320);
    assert_eq!(v["height"], 240);
    assert_eq!(num(v, "nb_read_frames"), 90.0);
    let duration = num(v, "duration");
    assert!((duration - 3.0).abs() <= 0.034, "video duration {duration}");
    assert!(
        num(v, "start_time").abs() < 0.001,
        "video starts at {}",
        v["start_time"]
    );

    let a = stream(&s, "audio");
    assert_eq!(a["codec_name"], "aac");
    assert_eq!(a["sample_rate"], "48000");
    assert_eq!(a["channels"], 2);
    assert_eq!(num(a, "nb_read_frames") as usize, audio_frames);

    decodes_cleanly(&path);
}

#[test]
fn b_frames_decode_in_presentation_order() {
    let dir = tempfile::tempdir().unwrap();
    let m = media(dir.path(), "bframes", Video::H264BFrames, false);
    let v = video_track(&m);
    // The encoder really reordered frames: some frame is presented before its predecessor.
    let pts: Vec<u64> = m
        .frames
        .iter()
        .filter(|f| f.track == v)
        .map(|f| f.timestamp_ns)
        .collect();
    assert!(
        pts.windows(2).any(|w| w[1] < w[0]),
        "no B-frames in the test stream"
    );

    let mp4 = clip(&m.tracks, &m.frames).unwrap();
    let path = write(dir.path(), "clip.mp4", &[&mp4]);

    let s = streams(&path);
    let vs = stream(&s, "video");
    assert_eq!(num(vs, "nb_read_frames"), 90.0);
    assert!(vs["has_b_frames"].as_u64().unwrap() > 0);

    let frames = ffprobe(
        &path,
        &[
            "-show_frames",
            "-select_streams",
            "v",
            "-show_entries",
            "frame=pts_time",
        ],
    );
    let times: Vec<f64> = frames["frames"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| num(f, "pts_time"))
        .collect();
    assert_eq!(times.len(), 90);
    assert!(times[0].abs() < 0.001, "first frame shown at {}", times[0]);
    assert!(
        times.windows(2).all(|w| w[1] > w[0]),
        "presentation times not strictly increasing: {times:?}"
    );
    decodes_cleanly(&path);
}

#[test]
fn h265_clip_decodes() {
    let dir = tempfile::tempdir().unwrap();
    let m = media(dir.path(), "hevc", Video::H265, false);
    let mp4 = clip(&m.tracks, &m.frames).unwrap();
    let path = write(dir.path(), "clip.mp4", &[&mp4]);
    let s = streams(&path);
    let v = stream(&s, "video");
    assert_eq!(v["codec_name"], "hevc");
    assert_eq!(v["codec_tag_string"], "hvc1");
    assert_eq!(num(v, "nb_read_frames"), 90.0);
    decodes_cleanly(&path);
}

#[test]
fn a_track_that_starts_late_keeps_its_offset() {
    let dir = tempfile::tempdir().unwrap();
    let mut m = media(dir.path(), "late", Video::H264, true);
    let a = audio_track(&m);
    // Drop the first 500 ms of audio, as when a microphone starts after the camera.
    let first = m.frames.iter().map(|f| f.timestamp_ns).min().unwrap();
    m.frames
        .retain(|f| f.track != a || f.timestamp_ns >= first + 500_000_000);
    let audio_start = m
        .frames
        .iter()
        .filter(|f| f.track == a)
        .map(|f| f.timestamp_ns)
        .min()
        .unwrap();
    let expected = (audio_start - first) as f64 / 1e9;

    let mp4 = clip(&m.tracks, &m.frames).unwrap();
    let path = write(dir.path(), "clip.mp4", &[&mp4]);
    let packets = ffprobe(
        &path,
        &[
            "-show_packets",
            "-select_streams",
            "a",
            "-show_entries",
            "packet=pts_time",
        ],
    );
    let first_audio = num(&packets["packets"][0], "pts_time");
    assert!(
        (first_audio - expected).abs() < 0.002,
        "audio starts at {first_audio}, expected {expected}"
    );
    decodes_cleanly(&path);
}
