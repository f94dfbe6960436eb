//! What every API family shares on the wire: request bodies, page sizes, page tokens and
//! timestamps.
//!
//! Kinesis Video Streams (control plane, media, archived media, signaling) speaks restJson1;
//! Kinesis Data Streams and Rekognition speak awsJson1.1. Both send JSON bodies and write
//! timestamps as epoch seconds with a fraction; they differ in the error a malformed body gets
//! and in the content type of a reply. SDKs and tests match these codes and messages, which is
//! why each is worded here once.

use std::fmt::Display;
use std::str::FromStr;

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

// ---- request bodies ------------------------------------------------------------------------

/// A restJson1 request body (Kinesis Video Streams): empty means `{}`; a malformed one is a 400
/// InvalidArgumentException.
pub(crate) fn rest_json_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    json_body(body).map_err(|e| ApiError::invalid_argument(malformed(&e)))
}

/// An awsJson1.1 request body (Kinesis Data Streams, Rekognition): empty means `{}`; a
/// malformed one is a 400 SerializationException.
pub(crate) fn aws_json_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    json_body(body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "SerializationException",
            malformed(&e),
        )
    })
}

/// An awsJson1.1 reply: the output as JSON, with the protocol's content type.
pub(crate) fn aws_json_reply<T: Serialize>(out: &T) -> Response {
    let mut resp = axum::Json(out).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-amz-json-1.1"),
    );
    resp
}

fn json_body<T: DeserializeOwned>(body: &[u8]) -> serde_json::Result<T> {
    serde_json::from_slice(if body.is_empty() { b"{}" } else { body })
}

fn malformed(e: &serde_json::Error) -> String {
    format!("malformed request body: {e}")
}

// ---- pages ---------------------------------------------------------------------------------

/// How many items one page of a list holds: a request's `MaxResults` (or `Limit`), 1 to a
/// maximum.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PageSize {
    member: &'static str,
    max: i64,
    default: i64,
    archived_media: bool,
    error: fn(String) -> ApiError,
}

impl PageSize {
    /// `MaxResults` from 1 to `max`, `max` when absent; out of range, a 400
    /// InvalidArgumentException "MaxResults {n} must be between 1 and {max}".
    pub(crate) fn max_results(max: i64) -> Self {
        Self {
            member: "MaxResults",
            max,
            default: max,
            archived_media: false,
            error: ApiError::invalid_argument,
        }
    }

    /// The member named in the error, e.g. `Limit`.
    pub(crate) fn member(self, member: &'static str) -> Self {
        Self { member, ..self }
    }

    /// The size when the member is absent (the maximum unless set).
    pub(crate) fn or(self, default: i64) -> Self {
        Self { default, ..self }
    }

    /// The archived media APIs' wording: "{member} {n} must be 1 to {max}".
    pub(crate) fn archived_media(self) -> Self {
        Self {
            archived_media: true,
            ..self
        }
    }

    /// Another error for a size out of range (Rekognition's InvalidParameterException).
    pub(crate) fn error(self, error: fn(String) -> ApiError) -> Self {
        Self { error, ..self }
    }

    /// The size asked for, or the default.
    pub(crate) fn of(self, asked: Option<i64>) -> Result<usize, ApiError> {
        match asked.unwrap_or(self.default) {
            n if (1..=self.max).contains(&n) => Ok(n as usize),
            n => {
                let (member, max) = (self.member, self.max);
                Err((self.error)(if self.archived_media {
                    format!("{member} {n} must be 1 to {max}")
                } else {
                    format!("{member} {n} must be between 1 and {max}")
                }))
            }
        }
    }
}

/// A `NextToken` that this server did not hand out.
pub(crate) fn invalid_next_token(token: &str) -> ApiError {
    ApiError::invalid_argument(format!("NextToken {token:?} is not valid"))
}

/// A `NextToken` holding a position (an index, a sequence number) after `prefix`.
pub(crate) fn position_token(prefix: &str, position: impl Display) -> String {
    format!("{prefix}{position}")
}

/// The position in a token from [`position_token`]; the default (0) without a token.
pub(crate) fn parse_position_token<T: FromStr + Default>(
    prefix: &str,
    token: Option<&str>,
) -> Result<T, ApiError> {
    let Some(token) = token else {
        return Ok(T::default());
    };
    token
        .strip_prefix(prefix)
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| invalid_next_token(token))
}

// ---- timestamps ----------------------------------------------------------------------------

/// Epoch milliseconds as the protocols write a timestamp: epoch seconds with a fraction.
pub(crate) fn epoch_seconds(ms: i64) -> f64 {
    ms as f64 / 1000.0
}

/// A timestamp from a request (epoch seconds) in epoch milliseconds, rounded to the nearest.
pub(crate) fn epoch_ms(seconds: f64) -> i64 {
    (seconds * 1000.0).round() as i64
}

/// The epoch millisecond at or before a timestamp (where a range starts).
pub(crate) fn epoch_ms_floor(seconds: f64) -> i64 {
    (seconds * 1000.0).floor() as i64
}

/// The epoch millisecond at or after a timestamp (where a range ends).
pub(crate) fn epoch_ms_ceil(seconds: f64) -> i64 {
    (seconds * 1000.0).ceil() as i64
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn rekognition_error(message: String) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "InvalidParameterException",
            message,
        )
    }

    #[test]
    fn bodies_default_to_an_empty_object_and_name_the_protocols_error() {
        #[derive(serde::Deserialize)]
        struct Input {
            #[serde(rename = "A")]
            a: Option<i64>,
        }
        assert_eq!(rest_json_body::<Input>(b"").unwrap().a, None);
        assert_eq!(aws_json_body::<Input>(b"{\"A\":1}").unwrap().a, Some(1));
        let rest = rest_json_body::<Input>(b"{").err().unwrap();
        assert_eq!(rest.code(), "InvalidArgumentException");
        assert!(rest.to_string().contains("malformed request body: "));
        let aws = aws_json_body::<Input>(b"[").err().unwrap();
        assert_eq!(aws.code(), "SerializationException");
        assert!(aws.to_string().contains("malformed request body: "));
    }

    #[test]
    fn page_sizes_check_their_range_in_each_familys_words() {
        let control = PageSize::max_results(10_000);
        assert_eq!(control.of(None).unwrap(), 10_000);
        assert_eq!(control.of(Some(7)).unwrap(), 7);
        assert_eq!(
            control.of(Some(0)).err().unwrap(),
            ApiError::invalid_argument("MaxResults 0 must be between 1 and 10000")
        );
        let kinesis = PageSize::max_results(10_000).member("Limit").or(100);
        assert_eq!(kinesis.of(None).unwrap(), 100);
        assert_eq!(
            kinesis.of(Some(10_001)).err().unwrap(),
            ApiError::invalid_argument("Limit 10001 must be between 1 and 10000")
        );
        let media = PageSize::max_results(100).or(25).archived_media();
        assert_eq!(media.of(None).unwrap(), 25);
        assert_eq!(
            media.of(Some(101)).err().unwrap(),
            ApiError::invalid_argument("MaxResults 101 must be 1 to 100")
        );
        let rekognition = PageSize::max_results(1000).error(rekognition_error);
        assert_eq!(
            rekognition.of(Some(-1)).err().unwrap(),
            rekognition_error("MaxResults -1 must be between 1 and 1000".into())
        );
    }

    #[test]
    fn position_tokens_round_trip() {
        let token = position_token("kvslocalimg", 25);
        assert_eq!(token, "kvslocalimg25");
        assert_eq!(
            parse_position_token::<usize>("kvslocalimg", Some(&token)).unwrap(),
            25
        );
        assert_eq!(parse_position_token::<u64>("p", None).unwrap(), 0);
        assert_eq!(
            parse_position_token::<u64>("p", Some("q1")).err().unwrap(),
            ApiError::invalid_argument("NextToken \"q1\" is not valid")
        );
    }

    #[test]
    fn timestamps_are_epoch_seconds_with_milliseconds() {
        assert_eq!(epoch_seconds(1_700_000_000_123), 1_700_000_000.123);
        assert_eq!(epoch_ms(1.0006), 1001);
        assert_eq!(epoch_ms_floor(1.0006), 1000);
        assert_eq!(epoch_ms_ceil(1.0002), 1001);
    }
}
