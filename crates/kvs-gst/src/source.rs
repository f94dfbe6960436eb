//! What to read: the source kinds and their settings.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::error::{Result, SourceError};

/// A media source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// An MKV or MP4 file with H.264 (or H.265) video and optional AAC audio, demultiplexed and
    /// parsed, never re-encoded (except the audio, when [`SourceOptions::audio`] asks for
    /// Opus).
    File(PathBuf),
    /// An RTSP camera or server (H.264 or H.265 video, optional AAC audio), depayloaded and
    /// parsed, never re-encoded (except the audio, as for files).
    Rtsp {
        /// `rtsp://[user:password@]host[:port]/path`.
        url: String,
        /// Interleave RTP in the RTSP TCP connection (works through NAT and firewalls);
        /// `false` lets GStreamer try UDP first.
        tcp: bool,
    },
    /// A generated, live, H.264-encoded test pattern with optional test tone (AAC or Opus).
    TestPattern(TestPattern),
    /// A V4L2 capture device (e.g. `/dev/video0`), encoded to H.264 with the
    /// [`TestPattern::default`] encoder settings.
    Device(PathBuf),
}

impl Source {
    /// An RTSP source over TCP.
    pub fn rtsp(url: impl Into<String>) -> Self {
        Self::Rtsp {
            url: url.into(),
            tcp: true,
        }
    }

    /// Whether the source produces media in real time on its own (camera, network, live
    /// test pattern), as opposed to a file that can be read faster than real time.
    pub fn is_live(&self) -> bool {
        !matches!(self, Self::File(_))
    }

    /// Whether the pipeline encodes the video itself (test pattern, capture device), and so
    /// can make a key frame when asked; files and RTSP cameras are passed through as they are.
    pub fn encodes(&self) -> bool {
        matches!(self, Self::TestPattern(_) | Self::Device(_))
    }
}

/// Shown in error messages; RTSP passwords are masked.
impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File(path) => write!(f, "file {}", path.display()),
            Self::Rtsp { url, .. } => write!(f, "RTSP stream {}", redact_url(url)),
            Self::TestPattern(t) => write!(f, "test pattern {}x{}@{}", t.width, t.height, t.fps),
            Self::Device(path) => write!(f, "video device {}", path.display()),
        }
    }
}

/// Settings of [`Source::TestPattern`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestPattern {
    /// Picture width in pixels.
    pub width: u32,
    /// Picture height in pixels.
    pub height: u32,
    /// Frames per second; a key frame comes every `2 * fps` frames.
    pub fps: u32,
    /// H.264 target bitrate in kbit/s.
    pub bitrate_kbps: u32,
    /// Add a 48 kHz stereo test tone as track 2, encoded in the codec of
    /// [`SourceOptions::audio`] (AAC unless asked otherwise).
    pub audio: bool,
    /// End the stream after this much media time; `None` runs until dropped.
    pub duration: Option<Duration>,
}

impl Default for TestPattern {
    fn default() -> Self {
        Self {
            width: 640,
            height: 480,
            fps: 30,
            bitrate_kbps: 1000,
            audio: false,
            duration: None,
        }
    }
}

impl TestPattern {
    /// Sample rate of the test tone.
    pub(crate) const AUDIO_RATE: u32 = 48_000;
    /// Samples per audio buffer of the test tone (one AAC frame).
    pub(crate) const AUDIO_SAMPLES_PER_BUFFER: u32 = 1024;

    pub(crate) fn validate(&self) -> Result<()> {
        let bad = |what: &str| Err(SourceError::InvalidSettings(format!("test pattern {what}")));
        if !(16..=8192).contains(&self.width) || !(16..=8192).contains(&self.height) {
            return bad("width and height must be 16..=8192 pixels");
        }
        if !(1..=240).contains(&self.fps) {
            return bad("fps must be 1..=240");
        }
        if !(1..=1_000_000).contains(&self.bitrate_kbps) {
            return bad("bitrate_kbps must be 1..=1000000");
        }
        if self.duration.is_some_and(|d| d.is_zero()) {
            return bad("duration must be more than 0 (or None to run until dropped)");
        }
        if self.video_buffers().is_some_and(|n| n < 0) {
            return bad("duration is too long; use None to run until dropped");
        }
        Ok(())
    }

    /// `num-buffers` of the video source: the duration in frames, or -1 (unlimited); negative
    /// other than -1 when the duration does not fit.
    pub(crate) fn video_buffers(&self) -> Option<i32> {
        self.duration.map(|d| {
            let n = (d.as_secs_f64() * f64::from(self.fps)).round();
            if n > f64::from(i32::MAX) {
                -2
            } else {
                n.max(1.0) as i32
            }
        })
    }

    /// `num-buffers` of the audio source, as for video.
    pub(crate) fn audio_buffers(&self) -> Option<i32> {
        self.duration.map(|d| {
            let per_second =
                f64::from(Self::AUDIO_RATE) / f64::from(Self::AUDIO_SAMPLES_PER_BUFFER);
            let n = (d.as_secs_f64() * per_second).ceil();
            if n > f64::from(i32::MAX) {
                -2
            } else {
                n.max(1.0) as i32
            }
        })
    }

    /// Key frame interval in frames.
    pub(crate) fn key_int_max(&self) -> u32 {
        self.fps.saturating_mul(2)
    }
}

/// How to read a source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct SourceOptions {
    /// Files only: deliver frames at the speed their timestamps say (as a camera would).
    /// When `false`, frames come as fast as [`next_frame`](crate::MediaSource::next_frame) is
    /// called, with bounded buffering in between. Live sources are real time either way.
    pub realtime: bool,
    /// The codec of the audio track (track 2), for sources that have audio.
    pub audio: AudioCodec,
}

impl SourceOptions {
    /// Files at the speed their timestamps say (`true`) or as fast as they are read; AAC
    /// audio.
    pub const fn realtime(realtime: bool) -> Self {
        Self {
            realtime,
            audio: AudioCodec::Aac,
        }
    }

    /// These options with the audio track in `audio`, e.g.
    /// `SourceOptions::realtime(true).with_audio(AudioCodec::Opus)` for WebRTC.
    pub const fn with_audio(self, audio: AudioCodec) -> Self {
        Self { audio, ..self }
    }
}

/// The codec a [`MediaSource`](crate::MediaSource) delivers audio in.
///
/// KVS streams (PutMedia, HLS) take AAC, which files and cameras usually carry, so AAC is
/// passed through untouched. WebRTC takes Opus, not AAC: [`Opus`](Self::Opus) encodes the test
/// tone in Opus and transcodes the AAC audio of files and cameras (video is still passed
/// through).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum AudioCodec {
    /// AAC: raw frames with an AudioSpecificConfig codec private, passed through from files
    /// and cameras.
    #[default]
    Aac,
    /// Opus: 48 kHz, mono or stereo as the source (more channels are downmixed to stereo),
    /// one 20 ms packet per frame, with an `OpusHead` codec private.
    Opus,
}

/// `url` with the password of any `user:password@` part replaced by `***`.
pub(crate) fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_owned();
    };
    let rest = &url[scheme_end..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let Some(at) = authority.rfind('@') else {
        return url.to_owned();
    };
    let userinfo = &authority[..at];
    let Some(colon) = userinfo.find(':') else {
        return url.to_owned();
    };
    format!(
        "{}{}:***{}",
        &url[..scheme_end],
        &userinfo[..colon],
        &rest[at..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_masked() {
        assert_eq!(
            redact_url("rtsp://admin:s3cret@10.0.0.5:554/live"),
            "rtsp://admin:***@10.0.0.5:554/live"
        );
        assert_eq!(redact_url("rtsp://admin@cam/live"), "rtsp://admin@cam/live");
        assert_eq!(redact_url("rtsp://cam/a@b"), "rtsp://cam/a@b");
        assert_eq!(redact_url("not a url"), "not a url");
    }

    #[test]
    fn buffer_counts_follow_the_duration() {
        let t = TestPattern {
            duration: Some(Duration::from_secs(3)),
            ..TestPattern::default()
        };
        assert_eq!(t.video_buffers(), Some(90));
        assert_eq!(t.audio_buffers(), Some(141));
        assert_eq!(t.key_int_max(), 60);
        assert!(t.validate().is_ok());
        assert!(TestPattern::default().validate().is_ok());
        assert_eq!(TestPattern::default().video_buffers(), None);
    }

    #[test]
    fn options_default_to_aac() {
        const OPUS: SourceOptions = SourceOptions::realtime(true).with_audio(AudioCodec::Opus);
        assert_eq!(SourceOptions::default().audio, AudioCodec::Aac);
        assert_eq!(SourceOptions::realtime(true).audio, AudioCodec::Aac);
        // Usable in a const; keeps the other settings.
        assert_eq!(
            OPUS,
            SourceOptions {
                realtime: true,
                audio: AudioCodec::Opus
            }
        );
    }

    #[test]
    fn bad_settings_are_refused() {
        for t in [
            TestPattern {
                width: 0,
                ..TestPattern::default()
            },
            TestPattern {
                fps: 0,
                ..TestPattern::default()
            },
            TestPattern {
                bitrate_kbps: 0,
                ..TestPattern::default()
            },
            TestPattern {
                duration: Some(Duration::ZERO),
                ..TestPattern::default()
            },
            TestPattern {
                duration: Some(Duration::from_secs(u64::MAX / 4)),
                ..TestPattern::default()
            },
        ] {
            assert!(
                matches!(t.validate(), Err(SourceError::InvalidSettings(_))),
                "{t:?}"
            );
        }
    }
}
