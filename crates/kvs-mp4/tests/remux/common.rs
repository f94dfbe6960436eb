//! Test media made by real encoders, and real players to check the output.

use std::path::{Path, PathBuf};
use std::process::Command;

use kvs_mkv::{Event, Frame, Parser, TrackInfo};
use serde_json::Value;

/// KVS timestamps are absolute epoch times; the test media is shifted to look like them.
pub(crate) const EPOCH_SHIFT_NS: u64 = 1_700_000_000_000_000_000;

/// The video encoder of a test stream.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Video {
    /// H.264 without B-frames, as KVS cameras send.
    H264,
    /// H.264 with up to 2 B-frames (frames reordered).
    H264BFrames,
    /// H.265.
    H265,
}

/// A test stream read back from MKV.
pub(crate) struct Media {
    pub(crate) tracks: Vec<TrackInfo>,
    pub(crate) frames: Vec<Frame>,
}

impl Media {
    pub(crate) fn count(&self, track: u64) -> usize {
        self.frames.iter().filter(|f| f.track == track).count()
    }
}

fn aac_encoder() -> &'static str {
    let ok = Command::new("gst-inspect-1.0")
        .arg("avenc_aac")
        .output()
        .is_ok_and(|o| o.status.success());
    if ok { "avenc_aac" } else { "voaacenc" }
}

/// Encodes 90 frames (3 s at 30 fps, key frame every 30) of 320x240 video, and with `audio`
/// 140 AAC frames of 48 kHz stereo, into `dir/name.mkv`.
pub(crate) fn encode_mkv(dir: &Path, name: &str, video: Video, audio: bool) -> PathBuf {
    let out = dir.join(format!("{name}.mkv"));
    let enc = match video {
        Video::H264 => {
            "x264enc key-int-max=30 tune=zerolatency ! h264parse ! video/x-h264,stream-format=avc,alignment=au"
        }
        Video::H264BFrames => {
            "x264enc bframes=2 key-int-max=30 ! h264parse ! video/x-h264,stream-format=avc,alignment=au"
        }
        Video::H265 => {
            "x265enc key-int-max=30 speed-preset=ultrafast ! h265parse ! video/x-h265,stream-format=hvc1,alignment=au"
        }
    };
    let mut pipeline = format!(
        "videotestsrc num-buffers=90 ! video/x-raw,format=I420,width=320,height=240,framerate=30/1 ! {enc} ! queue ! matroskamux name=m ! filesink location={}",
        out.display()
    );
    if audio {
        pipeline.push_str(&format!(
            " audiotestsrc num-buffers=140 ! audio/x-raw,rate=48000,channels=2 ! audioconvert ! {} ! aacparse ! queue ! m.",
            aac_encoder()
        ));
    }
    let status = Command::new("gst-launch-1.0")
        .arg("-q")
        .args(pipeline.split_whitespace())
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "gst-launch-1.0 failed: {}",
        String::from_utf8_lossy(&status.stderr)
    );
    out
}

/// Reads an MKV with kvs-mkv's parser and shifts its timestamps to KVS-like epoch times.
pub(crate) fn read_mkv(path: &Path) -> Media {
    let data = std::fs::read(path).unwrap();
    let mut parser = Parser::new();
    parser.feed(&data);
    let mut tracks = Vec::new();
    let mut frames = Vec::new();
    let mut take = |e: Event| match e {
        Event::Tracks(t) => tracks = t,
        Event::Frame(mut f) => {
            f.timestamp_ns += EPOCH_SHIFT_NS;
            frames.push(f);
        }
        _ => {}
    };
    while let Some(e) = parser.next_event().unwrap() {
        take(e);
    }
    for e in parser.finish().unwrap() {
        take(e);
    }
    assert!(
        !tracks.is_empty() && !frames.is_empty(),
        "{} has no media",
        path.display()
    );
    Media { tracks, frames }
}

/// Makes and reads a test stream.
pub(crate) fn media(dir: &Path, name: &str, video: Video, audio: bool) -> Media {
    read_mkv(&encode_mkv(dir, name, video, audio))
}

/// The video track's number.
pub(crate) fn video_track(m: &Media) -> u64 {
    m.tracks.iter().find(|t| t.is_video()).unwrap().number
}

/// The audio track's number.
pub(crate) fn audio_track(m: &Media) -> u64 {
    m.tracks.iter().find(|t| !t.is_video()).unwrap().number
}

/// `ffprobe -v error <args> -of json <file>`, parsed.
pub(crate) fn ffprobe(file: &Path, args: &[&str]) -> Value {
    let out = Command::new("ffprobe")
        .args(["-v", "error"])
        .args(args)
        .args(["-of", "json"])
        .arg(file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ffprobe failed on {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The streams with decoded frame counts (`-show_streams -count_frames`).
pub(crate) fn streams(file: &Path) -> Vec<Value> {
    let v = ffprobe(file, &["-show_streams", "-count_frames"]);
    v["streams"].as_array().unwrap().clone()
}

/// The first stream of `codec_type` ("video"/"audio").
pub(crate) fn stream<'a>(streams: &'a [Value], codec_type: &str) -> &'a Value {
    streams
        .iter()
        .find(|s| s["codec_type"] == codec_type)
        .unwrap_or_else(|| panic!("no {codec_type} stream in {streams:?}"))
}

/// A JSON field ffprobe writes as a string, as a number.
pub(crate) fn num(v: &Value, key: &str) -> f64 {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("no {key} in {v}"))
        .parse()
        .unwrap()
}

/// Decodes every stream with ffmpeg; asserts it succeeds with nothing on stderr.
pub(crate) fn decodes_cleanly(file: &Path) {
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(file)
        .args(["-f", "null", "-"])
        .output()
        .unwrap();
    assert!(out.status.success(), "ffmpeg failed on {}", file.display());
    assert!(
        out.stderr.is_empty(),
        "ffmpeg complained about {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Writes `parts` concatenated to `dir/name`.
pub(crate) fn write(dir: &Path, name: &str, parts: &[&[u8]]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, parts.concat()).unwrap();
    path
}
