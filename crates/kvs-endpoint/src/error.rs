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
    /// The endpoint's TLS certificate is not trusted (unknown CA, wrong host name, expired):
    /// retrying will not help, trusting its CA will (`AWS_CA_BUNDLE`).
    Certificate,
    /// Anything else the service said.
    Other,
}

/// An error from an AWS (or kvs-local) service call.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}", self.describe())]
pub struct ServiceError {
    kind: ErrorKind,
    // Boxed: this error sits inside most of the workspace's error enums, which clippy wants
    // small (result_large_err).
    code: Option<Box<str>>,
    message: String,
    detail: Option<Box<str>>,
}

impl ServiceError {
    /// An error made by hand (for responses that break the API's promises).
    pub fn new(kind: ErrorKind, code: Option<String>, message: impl Into<String>) -> Self {
        Self {
            kind,
            code: code.map(String::into_boxed_str),
            message: message.into(),
            detail: None,
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

    /// The service's message, or for a request that got no answer, why (DNS, refused, TLS,
    /// timeout).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The SDK's whole error chain, for logs and debugging: long, and not meant for people
    /// who only want to know what failed.
    pub fn detail(&self) -> Option<&str> {
        self.detail.as_deref()
    }

    fn describe(&self) -> String {
        let hint = match self.kind {
            ErrorKind::NotAuthorized => {
                " (check the credentials: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or --profile)"
            }
            ErrorKind::Transport => " (check the network and the endpoint or region)",
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
        let detail = Some(DisplayErrorContext(&err).to_string().into_boxed_str());
        match &err {
            SdkError::ServiceError(se) => {
                let e = se.err();
                let code = e.code().map(Box::from);
                let kind = code
                    .as_deref()
                    .map_or(ErrorKind::Other, Self::kind_for_code);
                Self {
                    kind,
                    message: e.message().map_or_else(
                        || format!("the service refused the request ({})", e),
                        str::to_owned,
                    ),
                    code,
                    detail,
                }
            }
            SdkError::TimeoutError(_) => Self {
                kind: ErrorKind::Transport,
                code: None,
                message: "no answer: the request timed out".to_owned(),
                detail,
            },
            SdkError::DispatchFailure(failure) => {
                let chain = detail.as_deref().unwrap_or_default();
                let (kind, message) = match certificate_problem(chain) {
                    Some(problem) => (ErrorKind::Certificate, untrusted(problem)),
                    None => (
                        ErrorKind::Transport,
                        unreachable_reason(
                            failure.as_connector_error().is_some_and(|c| c.is_timeout()),
                            chain,
                        ),
                    ),
                };
                Self {
                    kind,
                    code: None,
                    message,
                    detail,
                }
            }
            _ => Self {
                kind: ErrorKind::Other,
                code: err.code().map(Box::from),
                message: err.message().map_or_else(|| err.to_string(), str::to_owned),
                detail,
            },
        }
    }
}

/// What is wrong with the server's certificate, if that is why the connection failed (rustls'
/// words in the connector's error chain).
pub(crate) fn certificate_problem(chain: &str) -> Option<&'static str> {
    let chain = chain.to_ascii_lowercase();
    if !chain.contains("certificate") {
        return None;
    }
    Some(
        if chain.contains("unknownissuer") || chain.contains("unknown issuer") {
            "is signed by a certificate authority this client does not trust"
        } else if chain.contains("notvalidforname") || chain.contains("not valid for name") {
            "is not for this host name"
        } else if chain.contains("expired") {
            "has expired"
        } else {
            "was not accepted"
        },
    )
}

/// The message for an untrusted certificate: what is wrong and how to trust it.
pub(crate) fn untrusted(problem: &str) -> String {
    format!(
        "the endpoint's TLS certificate {problem}: give its CA certificate with AWS_CA_BUNDLE \
         or --ca-bundle (a kvs-local's is printed by `kvs-local ca`)"
    )
}

/// Why a request never got an answer, in a few words, from the connector's error chain.
fn unreachable_reason(timed_out: bool, chain: &str) -> String {
    let chain = chain.to_ascii_lowercase();
    let why = if timed_out || chain.contains("timed out") || chain.contains("timeout") {
        "the connection timed out"
    } else if chain.contains("dns error")
        || chain.contains("lookup address")
        || chain.contains("name or service not known")
        || chain.contains("name resolution")
    {
        "the host name did not resolve (DNS)"
    } else if chain.contains("connection refused") {
        "the connection was refused (nothing listens there)"
    } else if chain.contains("certificate") || chain.contains("tls") || chain.contains("handshake")
    {
        "the TLS handshake failed (certificate not trusted or not for this host)"
    } else if chain.contains("connection reset") || chain.contains("broken pipe") {
        "the connection was reset"
    } else {
        "the connection failed"
    };
    format!("cannot reach the endpoint: {why}")
}

#[cfg(test)]
mod tests {
    use super::unreachable_reason;

    #[test]
    fn unreachable_reasons_name_the_cause() {
        let dns = "dispatch failure: io error: client error (Connect): dns error: failed to lookup address information: Name or service not known";
        assert_eq!(
            unreachable_reason(false, dns),
            "cannot reach the endpoint: the host name did not resolve (DNS)"
        );
        assert!(
            unreachable_reason(
                false,
                "tcp connect error: Connection refused (os error 111)"
            )
            .contains("refused")
        );
        assert!(unreachable_reason(true, "").contains("timed out"));
        assert!(unreachable_reason(false, "tls handshake eof").contains("TLS"));
    }

    #[test]
    fn certificate_problems_say_how_to_trust_the_ca() {
        use super::{certificate_problem, untrusted};
        let chain = "dispatch failure: io error: client error (Connect): invalid peer certificate: UnknownIssuer";
        let problem = certificate_problem(chain).unwrap_or_default();
        assert!(problem.contains("does not trust"), "{problem}");
        assert!(untrusted(problem).contains("AWS_CA_BUNDLE"));
        assert!(
            certificate_problem("invalid peer certificate: NotValidForName")
                .is_some_and(|p| p.contains("host name"))
        );
        assert_eq!(certificate_problem("connection refused"), None);
    }
}
