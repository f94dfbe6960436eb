#![doc = include_str!("../README.md")]

mod archive;
mod collections;
mod data_stream;
mod error;
pub mod names;
mod pipeline;
mod processors;
mod reader;
pub mod record;
mod watch;

pub use archive::{clip_around, frame_image};
pub use collections::{
    CollectionInfo, CollectionSummary, CreatedCollection, FaceInfo, IndexOutcome, IndexStatus,
};
pub use data_stream::{DataStreamInfo, DataStreams};
pub use error::{Error, Result};
pub use pipeline::{
    DownStatus, FaceSearchPipeline, PipelineConfig, PipelineStatus, ProcessorAction, Teardown,
};
pub use processors::{
    DEFAULT_THRESHOLD, LOCAL_ROLE_ARN, ProcessorInfo, ProcessorSpec, ProcessorStatus,
    ProcessorSummary, StartAt,
};
pub use reader::{Checkpoint, ReadRecord, RecordReader, StartPosition};
#[doc(inline)]
pub use record::{FaceMatch, OutputRecord, RecordError, parse_record};
pub use watch::{SkippedRecord, Watch, WatchBuilder, WatchEvent, WatchStats};

use kvs_endpoint::{KvsConfig, Target};

/// Rekognition face collections and stream processors.
#[derive(Debug, Clone)]
pub struct Rekognition {
    client: aws_sdk_rekognition::Client,
    on_aws: bool,
}

impl Rekognition {
    /// A client talking to wherever `config` points.
    pub fn new(config: &KvsConfig) -> Self {
        Self {
            client: aws_sdk_rekognition::Client::new(config.sdk_config()),
            on_aws: matches!(config.target(), Target::Aws { .. }),
        }
    }
}

fn rfc3339(t: Option<&aws_smithy_types::DateTime>) -> Option<String> {
    use aws_smithy_types::date_time::Format;
    t.and_then(|t| t.fmt(Format::DateTime).ok())
}
