use kvs_endpoint::{ErrorKind, ServiceError};
use kvs_types::InvalidValue;

/// A control-plane failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A name, ARN or value was invalid; nothing was sent.
    #[error(transparent)]
    Invalid(#[from] InvalidValue),
    /// The stream does not exist.
    #[error("stream {0} not found (create it with `kvs stream create {0}`)")]
    StreamNotFound(String),
    /// A stream with this name already exists.
    #[error("stream {0} already exists")]
    StreamExists(String),
    /// The signaling channel does not exist.
    #[error("signaling channel {0} not found (create it with `kvs channel create {0}`)")]
    ChannelNotFound(String),
    /// A signaling channel with this name already exists.
    #[error("signaling channel {0} already exists")]
    ChannelExists(String),
    /// The service refused or failed the call.
    #[error("{operation} failed: {source}")]
    Service {
        /// The API operation that failed, e.g. `CreateStream`.
        operation: &'static str,
        /// What the service said.
        source: ServiceError,
    },
}

/// A control-plane result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What a failed call was about, to turn "not found"/"in use" into the typed variants.
#[derive(Clone, Copy)]
pub(crate) enum Subject<'a> {
    Stream(&'a str),
    Channel(&'a str),
    Other,
}

pub(crate) fn service(
    operation: &'static str,
    subject: Subject<'_>,
) -> impl FnOnce(ServiceError) -> Error {
    move |source| match (source.kind(), subject) {
        (ErrorKind::NotFound, Subject::Stream(s)) => Error::StreamNotFound(s.to_owned()),
        (ErrorKind::NotFound, Subject::Channel(c)) => Error::ChannelNotFound(c.to_owned()),
        (ErrorKind::InUse, Subject::Stream(s)) if operation == "CreateStream" => {
            Error::StreamExists(s.to_owned())
        }
        (ErrorKind::InUse, Subject::Channel(c)) if operation == "CreateSignalingChannel" => {
            Error::ChannelExists(c.to_owned())
        }
        _ => Error::Service { operation, source },
    }
}
