//! `ffprobe`, to check that what we wrote plays.

use std::path::Path;
use std::process::Command;

/// `ffprobe -count_frames -show_streams -show_format` as JSON.
pub fn ffprobe(path: &Path) -> serde_json::Value {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-count_frames",
            "-show_streams",
            "-show_format",
            "-of",
            "json",
        ])
        .arg(path)
        .output()
        .expect("ffprobe (ffmpeg) is installed; run scripts/install-deps");
    assert!(
        out.status.success(),
        "ffprobe refused {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The first video stream of a file as `ffprobe` sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoProbe {
    /// `codec_name`, e.g. `h264`.
    pub codec: String,
    /// Width in pixels.
    pub width: u64,
    /// Height in pixels.
    pub height: u64,
    /// Frames decoded (`nb_read_frames`).
    pub frames: u64,
    /// The stream's duration in seconds (the container's when the stream has none).
    pub duration: f64,
    /// The whole `ffprobe` answer.
    pub json: serde_json::Value,
}

/// [`ffprobe`] of `path`, summarised for its first video stream.
///
/// # Panics
/// When ffprobe refuses the file or finds no video stream.
pub fn probe_video(path: &Path) -> VideoProbe {
    let json = ffprobe(path);
    let stream = json["streams"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["codec_type"] == "video"))
        .unwrap_or_else(|| panic!("no video stream in {}: {json}", path.display()))
        .clone();
    let number = |v: &serde_json::Value| -> Option<f64> {
        v.as_f64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
    };
    VideoProbe {
        codec: stream["codec_name"].as_str().unwrap_or_default().to_owned(),
        width: stream["width"].as_u64().unwrap_or(0),
        height: stream["height"].as_u64().unwrap_or(0),
        frames: number(&stream["nb_read_frames"]).unwrap_or(0.0) as u64,
        duration: number(&stream["duration"])
            .or_else(|| number(&json["format"]["duration"]))
            .unwrap_or(0.0),
        json,
    }
}
