//! Errors as the AWS JSON protocols shape them, so SDKs return their typed errors.

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode};

/// An error answered to a client: an HTTP status, an AWS error code and a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    /// An error with an explicit status.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    /// The AWS error code, e.g. `ResourceNotFoundException`.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// 400 InvalidArgumentException.
    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "InvalidArgumentException", message)
    }

    /// 404 ResourceNotFoundException.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "ResourceNotFoundException", message)
    }

    /// 400 ResourceInUseException.
    pub fn in_use(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "ResourceInUseException", message)
    }

    /// 400 VersionMismatchException.
    pub fn version_mismatch(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "VersionMismatchException", message)
    }

    /// 400 TagsPerResourceExceededLimitException.
    pub fn too_many_tags() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "TagsPerResourceExceededLimitException",
            "A resource can have at most 50 tags.",
        )
    }

    /// 500 InternalFailure, for faults of the server itself (the cause is logged).
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(%cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalFailure",
            format!("kvs-local internal error: {cause}"),
        )
    }
}

impl From<kvs_types::InvalidValue> for ApiError {
    fn from(e: kvs_types::InvalidValue) -> Self {
        Self::invalid_argument(e.to_string())
    }
}

impl IntoResponse for ApiError {
    /// restJson1 clients read the code from the `x-amzn-ErrorType` header; awsJson1.x clients
    /// read that header too (the Rust SDK prefers it), but botocore (the AWS CLI) reads only the
    /// body's `__type`, so both carry it.
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "__type": self.code,
            "message": self.message,
            "Message": self.message,
        });
        let mut resp = (self.status, axum::Json(body)).into_response();
        resp.headers_mut()
            .insert("x-amzn-ErrorType", HeaderValue::from_static(self.code));
        resp
    }
}
