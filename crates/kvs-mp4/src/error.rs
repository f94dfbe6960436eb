/// Why an MP4 could not be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Mp4Error {
    /// No frame to write: none were given, or none belong to the selected track.
    #[error(
        "no frames to write (none given, or none on the selected track); pass at least one frame of a listed track"
    )]
    NoFrames,
    /// No track was given to an init segment.
    #[error("no tracks given; pass the stream's TrackInfo list (the MKV Tracks element)")]
    NoTracks,
    /// The codec id is not one this crate remuxes.
    #[error(
        "codec id {0:?} is not supported; kvs-mp4 remuxes V_MPEG4/ISO/AVC (H.264), V_MPEGH/ISO/HEVC (H.265) and A_AAC only: leave that track out"
    )]
    UnsupportedCodec(String),
    /// The codec private data of a track is missing or malformed.
    #[error(
        "track {track} ({codec_id}) has unusable codec private data: {reason}; the producer must send the decoder configuration record (avcC, hvcC or AudioSpecificConfig) as CodecPrivate"
    )]
    CodecPrivate {
        /// The track number.
        track: u64,
        /// The track's codec id.
        codec_id: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A track's parameters cannot be written to MP4.
    #[error("track {track} cannot be written to MP4: {reason}")]
    InvalidTrack {
        /// The track number.
        track: u64,
        /// What is wrong with it.
        reason: String,
    },
    /// A frame or the track filter names a track that is not in the track list.
    #[error(
        "a frame or the track filter refers to track {0}, which is not in the track list; pass the TrackInfo of every track the frames use"
    )]
    UnknownTrack(u64),
    /// A track's timestamps do not fit MP4 sample timing.
    #[error("track {track} timestamps cannot be written: {reason}; split the input at that point")]
    Timing {
        /// The track number.
        track: u64,
        /// What does not fit.
        reason: String,
    },
    /// The output or one frame is too large for the MP4 fields that address it.
    #[error("{0}; split the input into smaller clips or segments")]
    TooLarge(String),
    /// mp4-atom refused to encode a box this crate built (a bug in kvs-mp4).
    #[error("encoding the {0} box failed: {1}; this is a bug in kvs-mp4, please report it")]
    Encode(&'static str, String),
}

/// Results of this crate.
pub type Result<T> = std::result::Result<T, Mp4Error>;

/// Encodes one box into `out`, mapping mp4-atom's error.
pub(crate) fn encode<T: mp4_atom::Encode>(
    what: &'static str,
    atom: &T,
    out: &mut Vec<u8>,
) -> Result<()> {
    atom.encode(out)
        .map_err(|e| Mp4Error::Encode(what, e.to_string()))
}
