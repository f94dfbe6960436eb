//! Getting video into and out of Kinesis Video Streams:
//!
//! - [`Producer`]: frames in, PutMedia out. Fragments are held in a bounded content store
//!   ([`Storage::Memory`] or [`Storage::Disk`], which survives restarts) until KVS acknowledges
//!   them PERSISTED; the connection is re-established with back-off after a failure, an ERROR or
//!   staleness, and everything unacknowledged is resent in order. Acknowledgements are matched
//!   to fragments by timecode. Timestamps that jump backwards are repaired and reported.
//! - [`MediaClient`]: GetMedia with every start selector, GetMediaForFragmentList and
//!   ListFragments, parsed into [`MediaFragment`]s with their KVS tags.
//! - [`MkvFileWriter`]: fragments into one playable MKV file.
//!
//! Works against AWS and kvs-local alike.

mod ack;
mod get;
mod mkvfile;
mod producer;
mod repair;
mod store;
mod upload;

pub use ack::{Ack, AckDecoder, AckError, AckEventType};
pub use get::{
    FragmentInfo, FragmentReader, MediaClient, MediaError, MediaFragment, StartSelector,
    TimestampKind,
};
pub use mkvfile::{FileError, MkvFileWriter};
pub use producer::{Producer, ProducerConfig, ProducerError, ProducerEvent, ProducerStats};
pub use store::{Dropped, OverflowPolicy, Storage, StoreError};
pub use upload::{UploadError, UploadOptions, UploadSummary, upload};
