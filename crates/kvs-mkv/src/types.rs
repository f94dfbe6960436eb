use bytes::Bytes;

/// What a track carries.
#[derive(Debug, Clone, PartialEq)]
pub enum TrackKind {
    /// Video with its picture size.
    Video {
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
    },
    /// Audio with its sample rate and channel count.
    Audio {
        /// Samples per second.
        sampling_frequency: f64,
        /// Channels.
        channels: u8,
    },
}

/// A track as written in (or read from) the Tracks element.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackInfo {
    /// Track number (1-based), as blocks refer to it.
    pub number: u64,
    /// Track UID.
    pub uid: u64,
    /// Video or audio, with its parameters.
    pub kind: TrackKind,
    /// Matroska codec id, e.g. `V_MPEG4/ISO/AVC`, `V_MPEGH/ISO/HEVC`, `A_AAC`.
    pub codec_id: String,
    /// Codec private data (AVCC / HVCC record, AudioSpecificConfig).
    pub codec_private: Vec<u8>,
    /// Track name.
    pub name: Option<String>,
    /// Nominal frame duration in nanoseconds.
    pub default_duration_ns: Option<u64>,
}

impl TrackInfo {
    /// The Matroska codec id of H.264.
    pub const H264: &'static str = "V_MPEG4/ISO/AVC";
    /// The Matroska codec id of H.265.
    pub const H265: &'static str = "V_MPEGH/ISO/HEVC";
    /// The Matroska codec id of AAC.
    pub const AAC: &'static str = "A_AAC";
    /// The Matroska codec id of G.711 A-law and mu-law (WAVEFORMATEX in codec private).
    pub const PCM_ACM: &'static str = "A_MS/ACM";
    /// The Matroska codec id of Opus (an `OpusHead` in codec private).
    pub const OPUS: &'static str = "A_OPUS";

    /// An H.264 video track with its AVCDecoderConfigurationRecord.
    pub fn h264(number: u64, width: u32, height: u32, avcc: Vec<u8>) -> Self {
        Self {
            number,
            uid: number,
            kind: TrackKind::Video { width, height },
            codec_id: Self::H264.into(),
            codec_private: avcc,
            name: Some("kinesis_video".into()),
            default_duration_ns: None,
        }
    }

    /// An H.265 video track with its HEVCDecoderConfigurationRecord.
    pub fn h265(number: u64, width: u32, height: u32, hvcc: Vec<u8>) -> Self {
        Self {
            codec_id: Self::H265.into(),
            ..Self::h264(number, width, height, hvcc)
        }
    }

    /// An AAC audio track with its AudioSpecificConfig.
    pub fn aac(number: u64, sampling_frequency: f64, channels: u8, asc: Vec<u8>) -> Self {
        Self {
            number,
            uid: number,
            kind: TrackKind::Audio {
                sampling_frequency,
                channels,
            },
            codec_id: Self::AAC.into(),
            codec_private: asc,
            name: Some("kinesis_audio".into()),
            default_duration_ns: None,
        }
    }

    /// An Opus audio track (always 48 kHz in Matroska) with `channels` channels: its codec
    /// private is the `OpusHead` that [`crate::codec::opus_head`] makes.
    pub fn opus(number: u64, channels: u8) -> Self {
        Self {
            codec_id: Self::OPUS.into(),
            ..Self::aac(
                number,
                48_000.0,
                channels,
                crate::codec::opus_head(channels, 0),
            )
        }
    }

    /// Whether this is a video track.
    pub fn is_video(&self) -> bool {
        matches!(self.kind, TrackKind::Video { .. })
    }
}

/// One encoded frame (access unit) of one track.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The number of the track it belongs to ([`TrackInfo::number`]).
    pub track: u64,
    /// Presentation time in nanoseconds (absolute or stream-relative, as the stream uses).
    pub timestamp_ns: u64,
    /// Whether it can be decoded on its own (IDR / key frame; every audio frame).
    pub key: bool,
    /// The encoded bytes (AVC length-prefixed NAL units for H.264).
    pub data: Bytes,
}

/// The segment's Info element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentInfo {
    /// Nanoseconds per timecode unit (KVS default: 1 ms).
    pub timecode_scale_ns: u64,
    /// The Segment UID (16 bytes), when the Info element has one.
    pub segment_uid: Option<Vec<u8>>,
    /// The Segment title, when present (KVS producers write `kinesis_video`).
    pub title: Option<String>,
    /// The library that muxed the file, when present.
    pub muxing_app: Option<String>,
    /// The application that wrote the file, when present.
    pub writing_app: Option<String>,
}

impl Default for SegmentInfo {
    fn default() -> Self {
        Self {
            timecode_scale_ns: 1_000_000,
            segment_uid: None,
            title: None,
            muxing_app: None,
            writing_app: None,
        }
    }
}

/// A Matroska SimpleTag (name and string value), as KVS uses for fragment metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimpleTag {
    /// Tag name, e.g. `AWS_KINESISVIDEO_FRAGMENT_NUMBER`.
    pub name: String,
    /// Tag value.
    pub value: String,
}

impl SimpleTag {
    /// A tag.
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            value: value.into(),
        }
    }
}
