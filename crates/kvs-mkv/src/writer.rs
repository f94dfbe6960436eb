//! The streaming MKV writer.

use crate::ebml::{self, id};
use crate::{Frame, Output, SimpleTag, TrackInfo, TrackKind};

/// How the stream's Segment is described.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct WriterConfig {
    /// Nanoseconds per timecode unit; KVS's default is 1 ms.
    pub timecode_scale_ns: u64,
    /// The 16-byte Segment UID.
    pub segment_uid: [u8; 16],
    /// Segment title.
    pub title: String,
    /// Muxing and writing application name.
    pub app: String,
}

impl Default for WriterConfig {
    fn default() -> Self {
        Self {
            timecode_scale_ns: 1_000_000,
            segment_uid: [0x6b; 16],
            title: "kinesis_video".into(),
            app: concat!("kvs-rs ", env!("CARGO_PKG_VERSION")).into(),
        }
    }
}

/// Why the writer refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    /// A stream needs 1 to 3 tracks (KVS's limit).
    #[error("a KVS stream has 1 to 3 tracks, got {0}")]
    TrackCount(usize),
    /// Two tracks share a number, or a number is 0.
    #[error("track numbers must be unique and at least 1 (track {0})")]
    TrackNumber(u64),
    /// A frame names a track that is not in the stream.
    #[error("frame for track {0}, which the stream does not have")]
    UnknownTrack(u64),
    /// A frame was written before any cluster.
    #[error("a frame was written before the first cluster")]
    NoCluster,
    /// The timecode scale is zero.
    #[error("the timecode scale must be at least 1 ns")]
    TimecodeScale,
    /// A frame is too far from its cluster's start for a 16-bit block offset.
    #[error(
        "frame at {timestamp_ns} ns is {offset} timecode units from its cluster start; blocks hold -32768..=32767"
    )]
    OffsetOutOfRange {
        /// The frame's timestamp.
        timestamp_ns: u64,
        /// Its distance from the cluster start, in timecode units.
        offset: i64,
    },
}

/// Writes one MKV stream as KVS expects it: a header once, then clusters of frames.
#[derive(Debug, Clone)]
pub struct MkvWriter {
    config: WriterConfig,
    tracks: Vec<TrackInfo>,
    cluster_timecode: Option<u64>,
}

impl MkvWriter {
    /// A writer for `tracks` (1 to 3, unique numbers).
    pub fn new(config: WriterConfig, tracks: Vec<TrackInfo>) -> Result<Self, WriteError> {
        if config.timecode_scale_ns == 0 {
            return Err(WriteError::TimecodeScale);
        }
        if tracks.is_empty() || tracks.len() > 3 {
            return Err(WriteError::TrackCount(tracks.len()));
        }
        for (i, t) in tracks.iter().enumerate() {
            if t.number == 0 || tracks[..i].iter().any(|o| o.number == t.number) {
                return Err(WriteError::TrackNumber(t.number));
            }
        }
        Ok(Self {
            config,
            tracks,
            cluster_timecode: None,
        })
    }

    /// The tracks written in the header, as given to [`MkvWriter::new`].
    pub fn tracks(&self) -> &[TrackInfo] {
        &self.tracks
    }

    /// The Segment description it writes with.
    pub fn config(&self) -> &WriterConfig {
        &self.config
    }

    /// Converts nanoseconds to timecode units (rounding down).
    pub fn to_timecode(&self, ns: u64) -> u64 {
        ns / self.config.timecode_scale_ns
    }

    /// Appends the stream start: EBML header, an unknown-size Segment, Info and Tracks.
    pub fn write_header(&self, out: &mut impl Output) {
        let mut o = Vec::with_capacity(256);
        ebml::put_master(&mut o, id::EBML, |o| {
            ebml::put_uint(o, id::EBML_VERSION, 1);
            ebml::put_uint(o, id::EBML_READ_VERSION, 1);
            ebml::put_uint(o, id::EBML_MAX_ID_LENGTH, 4);
            ebml::put_uint(o, id::EBML_MAX_SIZE_LENGTH, 8);
            ebml::put_str(o, id::DOC_TYPE, "matroska");
            ebml::put_uint(o, id::DOC_TYPE_VERSION, 2);
            ebml::put_uint(o, id::DOC_TYPE_READ_VERSION, 2);
        });
        ebml::put_id(&mut o, id::SEGMENT);
        o.extend_from_slice(&ebml::UNKNOWN_SIZE);
        ebml::put_master(&mut o, id::INFO, |o| {
            ebml::put_bytes(o, id::SEGMENT_UID, &self.config.segment_uid);
            ebml::put_uint(o, id::TIMECODE_SCALE, self.config.timecode_scale_ns);
            ebml::put_str(o, id::TITLE, &self.config.title);
            ebml::put_str(o, id::MUXING_APP, &self.config.app);
            ebml::put_str(o, id::WRITING_APP, &self.config.app);
        });
        ebml::put_master(&mut o, id::TRACKS, |o| {
            for t in &self.tracks {
                write_track(o, t);
            }
        });
        out.put(&o);
    }

    /// Appends a Tags element (segment level) holding `tags`.
    pub fn write_tags(&self, out: &mut impl Output, tags: &[SimpleTag]) {
        write_tags(out, tags);
    }

    /// Appends the start of an unknown-size Cluster at `timestamp_ns`.
    pub fn start_cluster(&mut self, timestamp_ns: u64, out: &mut impl Output) {
        out.put(&self.cluster_head(timestamp_ns));
    }

    /// Appends a SimpleBlock for `frame` to the current cluster.
    pub fn write_frame(&mut self, frame: &Frame, out: &mut impl Output) -> Result<(), WriteError> {
        let head = self.block_head(frame, frame.timestamp_ns)?;
        out.put(&head);
        out.put_payload(&frame.data);
        Ok(())
    }

    /// Opens a cluster at `timestamp_ns`: its header, to be followed by its blocks.
    pub(crate) fn cluster_head(&mut self, timestamp_ns: u64) -> Head {
        let timecode = self.to_timecode(timestamp_ns);
        let mut head = Head::default();
        head.id(id::CLUSTER);
        head.push(&ebml::UNKNOWN_SIZE);
        let (tc, skip) = ebml::encode_uint(timecode);
        head.id(id::TIMECODE);
        head.size((tc.len() - skip) as u64);
        head.push(&tc[skip..]);
        self.cluster_timecode = Some(timecode);
        head
    }

    /// The SimpleBlock header of `frame` at `timestamp_ns`: all of the block but the payload.
    pub(crate) fn block_head(&self, frame: &Frame, timestamp_ns: u64) -> Result<Head, WriteError> {
        let cluster = self.cluster_timecode.ok_or(WriteError::NoCluster)?;
        if !self.tracks.iter().any(|t| t.number == frame.track) {
            return Err(WriteError::UnknownTrack(frame.track));
        }
        let offset = self.to_timecode(timestamp_ns) as i64 - cluster as i64;
        let offset16 = i16::try_from(offset).map_err(|_| WriteError::OffsetOutOfRange {
            timestamp_ns,
            offset,
        })?;
        let (track, skip) = ebml::encode_size(frame.track);
        let prefix = track.len() - skip + 3;
        let mut head = Head::default();
        head.id(id::SIMPLE_BLOCK);
        head.size((prefix + frame.data.len()) as u64);
        head.push(&track[skip..]);
        head.push(&offset16.to_be_bytes());
        head.push(&[if frame.key { 0x80 } else { 0x00 }]);
        Ok(head)
    }
}

/// Element headers built on the stack: at most a Cluster start or a SimpleBlock header.
#[derive(Debug, Default)]
pub(crate) struct Head {
    buf: [u8; 24],
    len: usize,
}

impl Head {
    fn push(&mut self, bytes: &[u8]) {
        self.buf[self.len..self.len + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
    }

    fn id(&mut self, id: u32) {
        let (bytes, skip) = ebml::encode_id(id);
        self.push(&bytes[skip..]);
    }

    fn size(&mut self, size: u64) {
        let (bytes, skip) = ebml::encode_size(size);
        self.push(&bytes[skip..]);
    }
}

impl std::ops::Deref for Head {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

fn write_track(out: &mut Vec<u8>, t: &TrackInfo) {
    ebml::put_master(out, id::TRACK_ENTRY, |o| {
        ebml::put_uint(o, id::TRACK_NUMBER, t.number);
        ebml::put_uint(o, id::TRACK_UID, t.uid);
        if let Some(name) = &t.name {
            ebml::put_str(o, id::NAME, name);
        }
        ebml::put_str(o, id::CODEC_ID, &t.codec_id);
        if !t.codec_private.is_empty() {
            ebml::put_bytes(o, id::CODEC_PRIVATE, &t.codec_private);
        }
        if let Some(d) = t.default_duration_ns {
            ebml::put_uint(o, id::DEFAULT_DURATION, d);
        }
        match &t.kind {
            TrackKind::Video { width, height } => {
                ebml::put_uint(o, id::TRACK_TYPE, 1);
                ebml::put_master(o, id::VIDEO, |v| {
                    ebml::put_uint(v, id::PIXEL_WIDTH, u64::from(*width));
                    ebml::put_uint(v, id::PIXEL_HEIGHT, u64::from(*height));
                });
            }
            TrackKind::Audio {
                sampling_frequency,
                channels,
            } => {
                ebml::put_uint(o, id::TRACK_TYPE, 2);
                ebml::put_master(o, id::AUDIO, |a| {
                    ebml::put_float(a, id::SAMPLING_FREQUENCY, *sampling_frequency);
                    ebml::put_uint(a, id::CHANNELS, u64::from(*channels));
                });
            }
        }
    });
}

/// Appends a segment-level Tags element holding `tags` (how KVS carries fragment metadata).
pub fn write_tags(out: &mut impl Output, tags: &[SimpleTag]) {
    let mut o = Vec::new();
    ebml::put_master(&mut o, id::TAGS, |o| {
        ebml::put_master(o, id::TAG, |t| {
            ebml::put_master(t, id::TARGETS, |_| {});
            for tag in tags {
                ebml::put_master(t, id::SIMPLE_TAG, |s| {
                    ebml::put_str(s, id::TAG_NAME, &tag.name);
                    ebml::put_str(s, id::TAG_STRING, &tag.value);
                });
            }
        });
    });
    out.put(&o);
}
