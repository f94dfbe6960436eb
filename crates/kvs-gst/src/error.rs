//! The one error type of the crate.

use std::path::PathBuf;

/// Why a media source could not be opened or read.
///
/// Messages name the bad input and say what to do about it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    /// The GStreamer library could not be initialised.
    #[error(
        "GStreamer failed to initialise: {0}; install the GStreamer 1.x runtime \
         (Debian: libgstreamer1.0-0 gstreamer1.0-plugins-base)"
    )]
    Init(String),

    /// A setting of the source is out of range.
    #[error("invalid source settings: {0}")]
    InvalidSettings(String),

    /// The media file does not exist.
    #[error("media file {} does not exist; check the path", path.display())]
    FileNotFound {
        /// The path as given.
        path: PathBuf,
    },

    /// The file exists but is not a container GStreamer can demultiplex.
    #[error(
        "{} is not a media file kvs-gst can read ({reason}); pass an MKV or MP4 file \
         with H.264 or H.265 video",
        path.display()
    )]
    NotMedia {
        /// The path as given.
        path: PathBuf,
        /// What GStreamer said.
        reason: String,
    },

    /// A GStreamer element the source needs is not installed.
    #[error(
        "GStreamer element `{element}` is not installed; install the Debian package \
         {package} (apt-get install {package})"
    )]
    MissingElement {
        /// The element factory name, e.g. `x264enc`.
        element: String,
        /// The Debian package that ships it.
        package: &'static str,
    },

    /// The input has no H.264 or H.265 video stream.
    #[error(
        "{input} has no H.264 or H.265 video stream (streams found: {found}); \
         KVS needs a video track: pass a source with H.264 or H.265 video"
    )]
    NoVideo {
        /// The input, e.g. `file /tmp/a.mkv`.
        input: String,
        /// The caps names of the streams it does have.
        found: String,
    },

    /// The video codec is not one kvs-gst passes through.
    #[error(
        "{input} has video in `{codec}`, which kvs-gst does not pass through (it does not \
         re-encode files or cameras); convert it to H.264 first, e.g. \
         `ffmpeg -i IN -c:v libx264 -c:a aac OUT.mkv`"
    )]
    UnsupportedCodec {
        /// The input.
        input: String,
        /// The caps name (and encoding) of the video stream.
        codec: String,
    },

    /// The RTSP source could not connect or failed while streaming.
    #[error(
        "RTSP source {url} failed: {reason}; check that the camera is reachable, that the \
         URL path and credentials are right, and try the other transport (tcp: true/false)"
    )]
    Rtsp {
        /// The URL, with any password masked.
        url: String,
        /// What GStreamer said.
        reason: String,
    },

    /// The capture device is missing or cannot be used.
    #[error(
        "video device {}: {reason}; check the path (ls /dev/video*) and that this user may \
         open it (group video)",
        path.display()
    )]
    Device {
        /// The device path as given.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },

    /// The source did not produce what was waited for in time.
    #[error(
        "timed out after {seconds} s waiting for {what} from {input}; check that the source is \
         reachable and sends H.264 or H.265 video"
    )]
    Timeout {
        /// The input.
        input: String,
        /// What was waited for, e.g. `the stream list`.
        what: String,
        /// How long was waited.
        seconds: u64,
    },

    /// A running source stopped producing frames without ending.
    #[error(
        "{input} produced no frame for {seconds} s; the source stalled (a camera that stopped \
         sending, or a file whose streams are badly interleaved)"
    )]
    Stalled {
        /// The input.
        input: String,
        /// How long was waited.
        seconds: u64,
    },

    /// The stream's codec data is missing and could not be rebuilt from a key frame.
    #[error("{input}: {reason}")]
    CodecData {
        /// The input.
        input: String,
        /// What is missing.
        reason: String,
    },

    /// A buffer had neither a presentation nor a decoding timestamp.
    #[error(
        "track {track} of {input} has a buffer with no timestamp; the source or its \
         depayloader does not timestamp its output"
    )]
    MissingTimestamp {
        /// The input.
        input: String,
        /// The track number.
        track: u64,
    },

    /// A GStreamer element reported an error.
    #[error(
        "GStreamer element `{element}` failed: {message}{}",
        debug.as_deref().map(|d| format!(" ({})", debug_detail(d))).unwrap_or_default()
    )]
    Pipeline {
        /// The element's name.
        element: String,
        /// The error message.
        message: String,
        /// GStreamer's debug string, if any (source location, element path and detail; the
        /// message shows only the detail).
        debug: Option<String>,
    },
}

/// The crate's result type.
pub type Result<T, E = SourceError> = std::result::Result<T, E>;

/// The detail of a GStreamer debug string: its last line, without the source location and
/// element path that precede it.
pub(crate) fn debug_detail(debug: &str) -> &str {
    debug.rsplit('\n').next().unwrap_or(debug).trim()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_strings_are_shortened() {
        let debug = "../gst/rtsp/gstrtspsrc.c(8336): gst_rtspsrc_retrieve_sdp (): \
                     /GstPipeline:p/GstRTSPSrc:rtspsrc:\nFailed to connect. (Generic error)";
        assert_eq!(debug_detail(debug), "Failed to connect. (Generic error)");
        assert_eq!(debug_detail("just this"), "just this");
        let e = SourceError::Pipeline {
            element: "x264enc0".into(),
            message: "Internal data stream error.".into(),
            debug: Some(debug.into()),
        };
        assert_eq!(
            e.to_string(),
            "GStreamer element `x264enc0` failed: Internal data stream error. \
             (Failed to connect. (Generic error))"
        );
    }
}
