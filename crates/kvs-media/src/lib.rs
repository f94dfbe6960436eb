#![doc = include_str!("../README.md")]

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
    StartSelectorParseError, TimestampKind,
};
pub use mkvfile::{FileError, MkvFileWriter};
pub use producer::{
    Producer, ProducerBuilder, ProducerConfig, ProducerError, ProducerEvent, ProducerStats, TryPush,
};
pub use store::{Dropped, OverflowPolicy, Storage, StorageParseError, StoreError};
pub use upload::{UploadError, UploadOptions, UploadSummary, upload};
