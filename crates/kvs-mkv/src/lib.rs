//! Matroska (MKV) as Kinesis Video Streams wants it, with no GStreamer and no async runtime, so
//! it builds for embedded and Android targets:
//!
//! - [`MkvWriter`]: a streaming writer (EBML header, unknown-size Segment, Info, Tracks,
//!   unknown-size Clusters, SimpleBlocks, Tags);
//! - [`Packager`]: cuts frames into KVS fragments (one Cluster each, starting on a key frame);
//! - [`Parser`]: an incremental parser fed byte chunks of any size, yielding typed [`Event`]s,
//!   with frame payloads shared (not copied) from its buffer, memory bounded by [`Limits`], and
//!   every malformed input a [`ParseError`];
//! - [`codec`]: H.264 and AAC codec-private data.

pub mod codec;
pub mod ebml;
mod packager;
mod parser;
mod types;
mod writer;

pub use packager::{FragmentSummary, PackError, Packager, PackagerConfig, Pushed};
pub use parser::{Event, Limits, ParseError, Parser};
pub use types::{Frame, SegmentInfo, SimpleTag, TrackInfo, TrackKind};
pub use writer::{MkvWriter, WriteError, WriterConfig, write_tags};
