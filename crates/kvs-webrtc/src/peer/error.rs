//! What can go wrong in a master or viewer.

use std::path::PathBuf;

use crate::signaling::ClientId;

/// Why a peer operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PeerError {
    /// The WebRTC stack refused an operation.
    #[error("WebRTC could not {action}: {source}")]
    WebRtc {
        /// What was being done, e.g. "apply the viewer's offer".
        action: &'static str,
        /// The webrtc crate's error.
        #[source]
        source: webrtc::error::Error,
    },
    /// The source's video is not H.264.
    #[error(
        "the video track's codec is {0:?}; the WebRTC master sends H.264 (V_MPEG4/ISO/AVC) only, so re-encode the source to H.264"
    )]
    UnsupportedCodec(String),
    /// The source has no video track.
    #[error("the source has no video track; the WebRTC master needs an H.264 video track")]
    NoVideoTrack,
    /// The H.264 codec private data could not be read.
    #[error("the H.264 codec private data is not a valid AVCDecoderConfigurationRecord: {0}")]
    BadCodecPrivate(String),
    /// The signaling transport's receiver is gone.
    #[error(
        "the signaling transport is closed, so offers, answers and candidates cannot be sent; reconnect the signaling client"
    )]
    SignalingClosed,
    /// A master was asked about a viewer it does not serve.
    #[error("no viewer {0} is connected to this master")]
    UnknownViewer(ClientId),
    /// A viewer was asked for something about video before the master's video track arrived.
    #[error(
        "no video has arrived from the master yet; wait for the first frame (or for the connection, if the master sends none)"
    )]
    NoVideoYet,
    /// A data channel message was sent before the channel opened.
    #[error("the data channel is not open yet; wait for the data-channel-open event")]
    DataChannelNotOpen,
    /// The master or viewer has been closed.
    #[error("the peer has been closed; create a new one")]
    Closed,
    /// A recording could not be written.
    #[error("recording to {}: {reason}", path.display())]
    Record {
        /// The file being written.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The GStreamer source failed.
    #[cfg(feature = "gst")]
    #[error(transparent)]
    Source(#[from] kvs_gst::SourceError),
    /// The thread reading the source stopped unexpectedly.
    #[error("the media source thread stopped unexpectedly: {0}")]
    SourceThread(String),
}

impl PeerError {
    pub(crate) fn webrtc(action: &'static str) -> impl FnOnce(webrtc::error::Error) -> Self {
        move |source| Self::WebRtc { action, source }
    }
}

/// The result of peer operations.
pub type Result<T, E = PeerError> = std::result::Result<T, E>;
