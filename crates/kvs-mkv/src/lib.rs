#![doc = include_str!("../README.md")]

pub mod codec;
pub mod ebml;
mod output;
mod packager;
mod parser;
mod types;
mod writer;

pub use output::{Chunks, Output};
pub use packager::{FragmentSummary, PackError, Packager, PackagerConfig, Pushed};
pub use parser::{Event, Limits, ParseError, Parser};
pub use types::{Frame, SegmentInfo, SimpleTag, TrackInfo, TrackKind};
pub use writer::{MkvWriter, WriteError, WriterConfig, write_tags};
