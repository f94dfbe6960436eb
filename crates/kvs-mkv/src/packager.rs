//! Cutting frames into KVS fragments: one Cluster per fragment, each starting on a key frame.

use std::time::Duration;

use crate::{Frame, MkvWriter, Output, WriteError};

/// How fragments are cut.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PackagerConfig {
    /// Target fragment length (KVS default 2 s).
    pub fragment_duration: Duration,
    /// Start a fragment on every key frame (true, the KVS default) or only when the fragment
    /// duration has passed.
    pub key_frame_fragmentation: bool,
    /// Cluster timecodes absolute (true) or relative to the stream's first frame.
    pub absolute_fragment_times: bool,
}

impl Default for PackagerConfig {
    fn default() -> Self {
        Self {
            fragment_duration: Duration::from_secs(2),
            key_frame_fragmentation: true,
            absolute_fragment_times: true,
        }
    }
}

/// Why a frame was not packaged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PackError {
    /// Frames before the stream's first key frame cannot start a fragment; drop them.
    #[error("frame on track {track} at {timestamp_ns} ns precedes the first key frame")]
    BeforeFirstKeyFrame {
        /// The frame's track.
        track: u64,
        /// The frame's timestamp in nanoseconds.
        timestamp_ns: u64,
    },
    /// The frame is earlier than the previous fragment's start (timestamps went backwards).
    #[error(
        "frame at {timestamp_ns} ns is earlier than the current fragment's start at {fragment_start_ns} ns"
    )]
    TimestampWentBack {
        /// The frame's timestamp in nanoseconds.
        timestamp_ns: u64,
        /// The timestamp of the current fragment's first frame, in nanoseconds.
        fragment_start_ns: u64,
    },
    /// The writer refused the frame.
    #[error(transparent)]
    Write(#[from] WriteError),
}

/// A fragment that has been completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FragmentSummary {
    /// The cluster timecode (in timecode units) KVS reports in acks as `FragmentTimecode`.
    pub timecode: u64,
    /// Its first frame's timestamp in nanoseconds.
    pub start_ns: u64,
    /// Its latest frame timestamp in nanoseconds.
    pub last_ns: u64,
    /// How many frames it holds.
    pub frames: u32,
}

/// What [`Packager::push`] did with a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pushed {
    /// The fragment the frame closed by starting a new one.
    pub completed: Option<FragmentSummary>,
    /// Set when the frame started a new fragment: its cluster timecode.
    pub started: Option<u64>,
}

#[derive(Debug, Clone, Copy)]
struct Open {
    summary: FragmentSummary,
}

/// Packages frames into KVS fragments.
#[derive(Debug, Clone)]
pub struct Packager {
    writer: MkvWriter,
    config: PackagerConfig,
    video_track: Option<u64>,
    open: Option<Open>,
    stream_start_ns: Option<u64>,
}

impl Packager {
    /// A packager writing with `writer`.
    pub fn new(writer: MkvWriter, config: PackagerConfig) -> Self {
        let video_track = writer
            .tracks()
            .iter()
            .find(|t| t.is_video())
            .map(|t| t.number);
        Self {
            writer,
            config,
            video_track,
            open: None,
            stream_start_ns: None,
        }
    }

    /// The stream header (EBML, Segment, Info, Tracks) sent at the start of every connection.
    pub fn header(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.writer.write_header(&mut out);
        out
    }

    /// The writer it packages with (its tracks and timecode scale).
    pub fn writer(&self) -> &MkvWriter {
        &self.writer
    }

    fn is_fragment_start(&self, frame: &Frame) -> bool {
        let keyable = match self.video_track {
            Some(v) => frame.track == v && frame.key,
            None => frame.key,
        };
        if !keyable {
            return false;
        }
        match &self.open {
            None => true,
            Some(open) => {
                let elapsed = frame.timestamp_ns.saturating_sub(open.summary.start_ns);
                self.config.key_frame_fragmentation && self.video_track.is_some()
                    || elapsed >= self.config.fragment_duration.as_nanos() as u64
            }
        }
    }

    /// Appends `frame` to `out`, starting a new fragment first when it should. Into
    /// [`Chunks`](crate::Chunks), the frame's payload is shared, not copied.
    pub fn push(&mut self, frame: &Frame, out: &mut impl Output) -> Result<Pushed, PackError> {
        let stream_ts = |s: &Self, ts: u64| {
            if s.config.absolute_fragment_times {
                ts
            } else {
                ts.saturating_sub(s.stream_start_ns.unwrap_or(ts))
            }
        };
        let mut pushed = Pushed {
            completed: None,
            started: None,
        };
        if self.is_fragment_start(frame) {
            if let Some(open) = &self.open
                && frame.timestamp_ns < open.summary.start_ns
            {
                return Err(PackError::TimestampWentBack {
                    timestamp_ns: frame.timestamp_ns,
                    fragment_start_ns: open.summary.start_ns,
                });
            }
            self.stream_start_ns.get_or_insert(frame.timestamp_ns);
            let ts = stream_ts(self, frame.timestamp_ns);
            let cluster = self.writer.cluster_head(ts);
            let block = self.writer.block_head(frame, ts)?;
            out.put(&cluster);
            out.put(&block);
            out.put_payload(&frame.data);
            pushed.completed = self.open.take().map(|o| o.summary);
            let timecode = self.writer.to_timecode(ts);
            pushed.started = Some(timecode);
            self.open = Some(Open {
                summary: FragmentSummary {
                    timecode,
                    start_ns: frame.timestamp_ns,
                    last_ns: frame.timestamp_ns,
                    frames: 1,
                },
            });
            return Ok(pushed);
        }
        let Some(open) = self.open else {
            return Err(PackError::BeforeFirstKeyFrame {
                track: frame.track,
                timestamp_ns: frame.timestamp_ns,
            });
        };
        let ts = stream_ts(self, frame.timestamp_ns);
        let block = self.writer.block_head(frame, ts)?;
        out.put(&block);
        out.put_payload(&frame.data);
        let mut summary = open.summary;
        summary.last_ns = summary.last_ns.max(frame.timestamp_ns);
        summary.frames += 1;
        self.open = Some(Open { summary });
        Ok(pushed)
    }

    /// Closes the open fragment at the end of the stream.
    pub fn finish(&mut self) -> Option<FragmentSummary> {
        self.open.take().map(|o| o.summary)
    }
}
