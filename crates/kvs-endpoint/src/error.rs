//! SDK errors reduced to the few kinds callers branch on, with the service's words kept.

use aws_sdk_kinesisvideo::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

/// What went wrong, as far as a caller needs to know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The stream, channel or other resource does not exist.
    NotFound,
    /// The resource already exists or is busy.
    InUse,
    /// The request was invalid.
    InvalidArgument,
    /// The credentials were refused or lack permission.
    NotAuthorized,
    /// A rate or count limit was hit.
    LimitExceeded,
    /// The resource changed since its version was read.
    VersionMismatch,
    /// The request never got an answer (network, timeout, DNS).
    Transport,
    /// Anything else the service said.
    Other,
}

/// An error from an AWS (or kvs-local) service call.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}", self.describe())]
pub struct ServiceError {
    kind: ErrorKind,
    code: Option<String>,
    message: String,
}

impl ServiceError {
    /// An error made by hand (for responses that break the API's promises).
    pub fn new(kind: ErrorKind, code: Option<String>, message: impl Into<String>) -> Self {
        Self {
            kind,
            code,
            message: message.into(),
        }
    }

    /// The kind of failure.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The service's error code, e.g. `ResourceNotFoundException`.
    pub fn code(&self) -> Option<&str> {
        self.code.as_deref()
    }

    /// The service's message.
    pub fn message(&self) -> &str {
        &self.message
    }

    fn describe(&self) -> String {
        let hint = match self.kind {
            ErrorKind::NotAuthorized => {
                " (check the credentials: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or --profile)"
            }
            ErrorKind::Transport => " (is the endpoint reachable?)",
            _ => "",
        };
        match &self.code {
            Some(code) => format!("{code}: {}{hint}", self.message),
            None => format!("{}{hint}", self.message),
        }
    }

    fn kind_for_code(code: &str) -> ErrorKind {
        match code {
            "ResourceNotFoundException" | "NotFoundException" => ErrorKind::NotFound,
            "ResourceInUseException" | "ResourceAlreadyExistsException" => ErrorKind::InUse,
            "InvalidArgumentException"
            | "InvalidParameterException"
            | "ValidationException"
            | "InvalidResourceFormatException"
            | "SerializationException" => ErrorKind::InvalidArgument,
            "NotAuthorizedException"
            | "AccessDeniedException"
            | "InvalidSignatureException"
            | "UnrecognizedClientException"
            | "MissingAuthenticationTokenException"
            | "IncompleteSignatureException"
            | "ExpiredTokenException" => ErrorKind::NotAuthorized,
            "ClientLimitExceededException"
            | "AccountStreamLimitExceededException"
            | "AccountChannelLimitExceededException"
            | "TagsPerResourceExceededLimitException"
            | "LimitExceededException"
            | "ThrottlingException" => ErrorKind::LimitExceeded,
            "VersionMismatchException" => ErrorKind::VersionMismatch,
            _ => ErrorKind::Other,
        }
    }
}

impl<E, R> From<SdkError<E, R>> for ServiceError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    fn from(err: SdkError<E, R>) -> Self {
        match &err {
            SdkError::ServiceError(se) => {
                let e = se.err();
                let code = e.code().map(str::to_owned);
                let kind = code
                    .as_deref()
                    .map_or(ErrorKind::Other, Self::kind_for_code);
                Self {
                    kind,
                    message: e
                        .message()
                        .map_or_else(|| DisplayErrorContext(&err).to_string(), str::to_owned),
                    code,
                }
            }
            SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => Self {
                kind: ErrorKind::Transport,
                code: None,
                message: DisplayErrorContext(&err).to_string(),
            },
            _ => Self {
                kind: ErrorKind::Other,
                code: err.code().map(str::to_owned),
                message: DisplayErrorContext(&err).to_string(),
            },
        }
    }
}
