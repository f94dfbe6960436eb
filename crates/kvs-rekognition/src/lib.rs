//! Rekognition face search over Kinesis Video Streams, the same against AWS and kvs-local:
//!
//! - [`Rekognition`]: face collections (create, describe, list, delete), indexing a folder of
//!   face photos (the external id is the file name, already indexed ids are skipped), and face
//!   search stream processors (create, describe, list, start, stop, delete);
//! - [`DataStreams`]: the Kinesis data stream the results go to, created when missing;
//! - [`RecordReader`]: the processor's output records from every shard of that stream, from
//!   the oldest, the newest or a saved [`Checkpoint`], with [`FaceMatch`]es flattened out;
//! - [`frame_image`] and [`clip_around`]: the video frame of a match (GetImages) or a clip
//!   around it (GetClip);
//! - [`FaceSearchPipeline`]: all of the above brought up (idempotently) and down in one call,
//!   from code or from a [`PipelineConfig`] file.
//!
//! Build everything from a [`kvs_endpoint::KvsConfig`]. What this crate is not: a face engine
//! (Rekognition, or kvs-local's engine, finds and compares the faces).

mod archive;
mod collections;
mod data_stream;
mod error;
pub mod names;
mod pipeline;
mod processors;
mod reader;
pub mod record;

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
