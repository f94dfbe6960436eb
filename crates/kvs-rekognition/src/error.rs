use std::path::PathBuf;
use std::time::Duration;

use kvs_endpoint::{ErrorKind, ServiceError};

use crate::record::RecordError;

/// A face-search failure. Messages name the resource and say what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A name, id, threshold or other setting was invalid; nothing was sent.
    #[error("{field} {value:?} is not valid: {reason}")]
    Invalid {
        /// The setting.
        field: &'static str,
        /// The value given.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A setting the operation needs was not given: what is missing, and how to set it.
    #[error("{0} is not set; {1}")]
    Missing(&'static str, &'static str),
    /// The stream processor needs an IAM role on AWS.
    #[error(
        "stream processor {processor}: on AWS, Rekognition needs an IAM role ARN that lets it read \
         Kinesis video stream {video_stream} and write to Kinesis data stream {data_stream}; pass \
         --role-arn (or role_arn in the pipeline config, or .role_arn(...)). Only kvs-local accepts \
         the placeholder role"
    )]
    RoleArnRequired {
        /// The processor's name.
        processor: String,
        /// The video stream it reads (ARN).
        video_stream: String,
        /// The data stream it writes to (ARN).
        data_stream: String,
    },
    /// The face collection does not exist.
    #[error("face collection {0} not found (create it with `kvs faces collection create {0}`)")]
    CollectionNotFound(String),
    /// A face collection with this id already exists.
    #[error("face collection {0} already exists")]
    CollectionExists(String),
    /// Rekognition refused an image: not a JPEG or PNG, or too large.
    #[error("image {external_image_id}: {message} (use a JPEG or PNG of at most 5 MB)")]
    InvalidImage {
        /// The external id it was to be indexed under.
        external_image_id: String,
        /// What the service said.
        message: String,
    },
    /// The stream processor does not exist.
    #[error(
        "stream processor {0} not found (create it with `kvs faces processor create {0} ...` or \
         `kvs faces pipeline up`)"
    )]
    ProcessorNotFound(String),
    /// A stream processor with this name already exists.
    #[error(
        "stream processor {0} already exists (delete it with `kvs faces processor delete {0}`, \
         or let `kvs faces pipeline up` replace it)"
    )]
    ProcessorExists(String),
    /// The processor's state does not allow the operation.
    #[error("stream processor {name}: {operation} refused ({message}); {hint}")]
    ProcessorBusy {
        /// The processor.
        name: String,
        /// The refused operation.
        operation: &'static str,
        /// What the service said.
        message: String,
        /// What to do about it.
        hint: String,
    },
    /// The processor runs with other settings than asked for.
    #[error(
        "stream processor {name} is {status} with other settings ({differences}); stop it with \
         `kvs faces processor stop {name}` (or `kvs faces pipeline down`), then bring the pipeline \
         up again to replace it"
    )]
    ProcessorDiffers {
        /// The processor.
        name: String,
        /// Its status.
        status: String,
        /// What differs, e.g. `threshold 80 -> 90`.
        differences: String,
    },
    /// The processor stopped itself.
    #[error(
        "stream processor {name} FAILED: {message} (fix the cause, then start it again with \
         `kvs faces processor start {name}`)"
    )]
    ProcessorFailed {
        /// The processor.
        name: String,
        /// Its status message.
        message: String,
    },
    /// The Kinesis video stream does not exist.
    #[error(
        "Kinesis video stream {0} not found (create it with `kvs stream create {0} --retention 24h`)"
    )]
    VideoStreamNotFound(String),
    /// The Kinesis data stream does not exist.
    #[error(
        "Kinesis data stream {0} not found (create it with `kvs faces pipeline up` or \
         `aws kinesis create-stream --stream-name {0} --shard-count 1`)"
    )]
    DataStreamNotFound(String),
    /// A resource did not reach the wanted state in time.
    #[error("{what} did not become {wanted} within {waited:?} (it is {status})")]
    Timeout {
        /// The resource, e.g. `Kinesis data stream kvs-ml`.
        what: String,
        /// The state waited for.
        wanted: &'static str,
        /// The last state seen.
        status: String,
        /// How long was waited.
        waited: Duration,
    },
    /// A file or directory could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The pipeline config file is not valid.
    #[error("pipeline config {}: {reason}", path.display())]
    Config {
        /// The file (empty when parsed from a string).
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A record on the data stream is not a Rekognition output record. The reader has moved
    /// past it: the next call reads on.
    #[error("record {sequence_number} on shard {shard_id} is not a Rekognition record: {source}")]
    BadRecord {
        /// The shard.
        shard_id: String,
        /// The record's sequence number.
        sequence_number: String,
        /// Why it could not be read.
        source: RecordError,
    },
    /// The video stream has no picture at a match's frame.
    #[error(
        "no frame of {stream} at {at}: {reason} (GetImages needs the stream to keep media: \
         `kvs stream retention STREAM 24h`)"
    )]
    NoFrame {
        /// The video stream.
        stream: String,
        /// The frame's producer time (RFC 3339).
        at: String,
        /// What GetImages said.
        reason: String,
    },
    /// The frame or clip could not be fetched.
    #[error(transparent)]
    Archive(#[from] kvs_archive::ArchiveError),
    /// The video stream could not be described or created.
    #[error(transparent)]
    Control(#[from] kvs_control::Error),
    /// The service refused or failed the call.
    #[error("{operation} failed: {source}")]
    Service {
        /// The API operation that failed, e.g. `CreateStreamProcessor`.
        operation: &'static str,
        /// What the service said.
        source: ServiceError,
    },
}

impl Error {
    pub(crate) fn invalid(field: &'static str, value: &str, reason: impl Into<String>) -> Self {
        Self::Invalid {
            field,
            value: value.to_owned(),
            reason: reason.into(),
        }
    }

    /// Whether the failure concerns one record only, so that reading can go on.
    pub fn is_per_record(&self) -> bool {
        matches!(self, Self::BadRecord { .. })
    }
}

/// A face-search result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What a failed call was about, to turn "not found"/"in use" into the typed variants.
#[derive(Clone, Copy)]
pub(crate) enum Subject<'a> {
    Collection(&'a str),
    Processor(&'a str),
    DataStream(&'a str),
    Other,
}

/// Maps an SDK error of `operation` on `subject` to an [`Error`].
pub(crate) fn service<E>(operation: &'static str, subject: Subject<'_>) -> impl FnOnce(E) -> Error
where
    E: Into<ServiceError>,
{
    move |err| {
        let source: ServiceError = err.into();
        let creating = operation.starts_with("Create");
        match (source.kind(), subject) {
            (ErrorKind::NotFound, Subject::Collection(c)) => {
                Error::CollectionNotFound(c.to_owned())
            }
            (ErrorKind::NotFound, Subject::Processor(p)) => Error::ProcessorNotFound(p.to_owned()),
            (ErrorKind::NotFound, Subject::DataStream(s)) => {
                Error::DataStreamNotFound(s.to_owned())
            }
            (ErrorKind::InUse, Subject::Collection(c)) if creating => {
                Error::CollectionExists(c.to_owned())
            }
            (ErrorKind::InUse, Subject::Processor(p)) if creating => {
                Error::ProcessorExists(p.to_owned())
            }
            _ => Error::Service { operation, source },
        }
    }
}
