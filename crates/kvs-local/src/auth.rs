//! SigV4 verification of incoming requests.
//!
//! `aws-sigv4` only signs; a server must rebuild the canonical request from what it received and
//! compare signatures, which no maintained crate does for arbitrary services, so this is written
//! here (see docs/architecture.md). It accepts both signed-header and presigned-URL requests, and
//! the two ways clients sign `host` (the official C producer drops the port, aws-sigv4 keeps it).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use hmac::{Hmac, Mac};
use http::{HeaderMap, Method, Uri};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use time::macros::format_description;

use crate::error::ApiError;

/// How far a request's signing time may be from the server's clock.
const MAX_SKEW_SECONDS: i64 = 15 * 60;

/// The one access key pair kvs-local accepts.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The access key id clients must sign with.
    pub access_key_id: String,
    /// The matching secret.
    pub secret_access_key: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .finish()
    }
}

impl Credentials {
    /// The documented local defaults, used when none are configured.
    pub const DEFAULT_ACCESS_KEY_ID: &'static str = "AKIDKVSLOCAL";
    /// The documented local default secret.
    pub const DEFAULT_SECRET_ACCESS_KEY: &'static str = "kvs-local-secret";

    /// The documented local defaults.
    pub fn local_defaults() -> Self {
        Self {
            access_key_id: Self::DEFAULT_ACCESS_KEY_ID.into(),
            secret_access_key: Self::DEFAULT_SECRET_ACCESS_KEY.into(),
        }
    }
}

/// What the request's payload hash must be computed from.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Payload<'a> {
    /// The whole body, already read.
    Body(&'a [u8]),
    /// A body streamed after the headers (PutMedia): clients sign it as the empty string or
    /// declare `x-amz-content-sha256: UNSIGNED-PAYLOAD`.
    Streaming,
}

/// SHA-256 of the empty string.
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

struct SignatureParts {
    access_key: String,
    scope_date: String,
    region: String,
    service: String,
    signed_headers: Vec<String>,
    signature: String,
    amz_date: String,
    presigned_expires: Option<i64>,
}

const URI_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

fn denied(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::new(http::StatusCode::FORBIDDEN, code, message)
}

fn signature_mismatch() -> ApiError {
    denied(
        "InvalidSignatureException",
        "The request signature we calculated does not match the signature you provided. \
         Check your AWS Secret Access Key and signing method.",
    )
}

/// Verifies a request's SigV4 signature against `creds` at time `now`.
pub(crate) fn verify(
    creds: &Credentials,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    payload: Payload<'_>,
    now: OffsetDateTime,
) -> Result<(), ApiError> {
    let query = parse_query(uri.query().unwrap_or(""));
    let parts = if query.contains_key("X-Amz-Signature") {
        presigned_parts(&query)?
    } else {
        header_parts(headers)?
    };

    if parts.access_key != creds.access_key_id {
        return Err(denied(
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        ));
    }
    let signed_at = parse_amz_date(&parts.amz_date)?;
    let skew = (now - signed_at).whole_seconds();
    let expired = match parts.presigned_expires {
        Some(expires) => skew > expires || skew < -MAX_SKEW_SECONDS,
        None => skew.abs() > MAX_SKEW_SECONDS,
    };
    if expired {
        let message = match parts.presigned_expires {
            Some(_) => "Request has expired.".to_owned(),
            None => format!(
                "Signature expired: {} is now earlier or later than the server time by more than 15 minutes.",
                parts.amz_date
            ),
        };
        return Err(denied("InvalidSignatureException", message));
    }
    if !parts.amz_date.starts_with(&parts.scope_date) {
        return Err(denied(
            "InvalidSignatureException",
            "Date in Credential scope does not match the request date.",
        ));
    }

    let payload_hashes = payload_hashes(headers, payload, parts.presigned_expires.is_some())?;
    for host in &host_candidates(headers) {
        for payload_hash in &payload_hashes {
            let canonical =
                canonical_request(method, uri, headers, &query, &parts, host, payload_hash);
            let expected = signature(creds, &parts, &canonical);
            if constant_time_eq(expected.as_bytes(), parts.signature.as_bytes()) {
                return Ok(());
            }
        }
    }
    Err(signature_mismatch())
}

fn header_parts(headers: &HeaderMap) -> Result<SignatureParts, ApiError> {
    let auth = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            denied(
                "MissingAuthenticationTokenException",
                "Missing Authentication Token",
            )
        })?;
    let rest = auth.strip_prefix("AWS4-HMAC-SHA256 ").ok_or_else(|| {
        denied(
            "IncompleteSignatureException",
            "Only the AWS4-HMAC-SHA256 algorithm is supported.",
        )
    })?;
    let mut credential = None;
    let mut signed_headers = None;
    let mut signature = None;
    for field in rest.split(',') {
        let field = field.trim();
        if let Some(v) = field.strip_prefix("Credential=") {
            credential = Some(v);
        } else if let Some(v) = field.strip_prefix("SignedHeaders=") {
            signed_headers = Some(v);
        } else if let Some(v) = field.strip_prefix("Signature=") {
            signature = Some(v);
        }
    }
    let (Some(credential), Some(signed_headers), Some(signature)) =
        (credential, signed_headers, signature)
    else {
        return Err(denied(
            "IncompleteSignatureException",
            "Authorization header requires Credential, SignedHeaders and Signature.",
        ));
    };
    let amz_date = headers
        .get("x-amz-date")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            denied(
                "IncompleteSignatureException",
                "Authorization header requires existence of the X-Amz-Date header.",
            )
        })?
        .to_owned();
    build_parts(credential, signed_headers, signature, amz_date, None)
}

fn presigned_parts(query: &BTreeMap<String, String>) -> Result<SignatureParts, ApiError> {
    let get = |k: &str| {
        query.get(k).ok_or_else(|| {
            denied(
                "IncompleteSignatureException",
                format!("Presigned URL is missing {k}."),
            )
        })
    };
    if get("X-Amz-Algorithm")? != "AWS4-HMAC-SHA256" {
        return Err(denied(
            "IncompleteSignatureException",
            "Only the AWS4-HMAC-SHA256 algorithm is supported.",
        ));
    }
    let expires: i64 = get("X-Amz-Expires")?.parse().map_err(|_| {
        denied(
            "IncompleteSignatureException",
            "X-Amz-Expires must be a number of seconds.",
        )
    })?;
    if !(1..=604_800).contains(&expires) {
        return Err(denied(
            "IncompleteSignatureException",
            "X-Amz-Expires must be between 1 and 604800 seconds.",
        ));
    }
    build_parts(
        get("X-Amz-Credential")?,
        get("X-Amz-SignedHeaders")?,
        get("X-Amz-Signature")?,
        get("X-Amz-Date")?.clone(),
        Some(expires),
    )
}

fn build_parts(
    credential: &str,
    signed_headers: &str,
    signature: &str,
    amz_date: String,
    presigned_expires: Option<i64>,
) -> Result<SignatureParts, ApiError> {
    let scope: Vec<&str> = credential.split('/').collect();
    let [access_key, date, region, service, "aws4_request"] = scope[..] else {
        return Err(denied(
            "IncompleteSignatureException",
            format!("Credential {credential:?} is not KEY/DATE/REGION/SERVICE/aws4_request."),
        ));
    };
    let signed_headers: Vec<String> = signed_headers
        .split(';')
        .map(|h| h.trim().to_ascii_lowercase())
        .filter(|h| !h.is_empty())
        .collect();
    if !signed_headers.iter().any(|h| h == "host") {
        return Err(denied(
            "IncompleteSignatureException",
            "The host header must be signed.",
        ));
    }
    Ok(SignatureParts {
        access_key: access_key.to_owned(),
        scope_date: date.to_owned(),
        region: region.to_owned(),
        service: service.to_owned(),
        signed_headers,
        signature: signature.to_ascii_lowercase(),
        amz_date,
        presigned_expires,
    })
}

fn parse_amz_date(s: &str) -> Result<OffsetDateTime, ApiError> {
    let fmt = format_description!("[year][month][day]T[hour][minute][second]Z");
    time::PrimitiveDateTime::parse(s, fmt)
        .map(|t| t.assume_utc())
        .map_err(|_| {
            denied(
                "IncompleteSignatureException",
                format!("X-Amz-Date {s:?} is not of the form YYYYMMDDTHHMMSSZ."),
            )
        })
}

/// The payload hashes the client may have signed: presigned URLs are signed with
/// `UNSIGNED-PAYLOAD` by aws-sigv4 and with the empty string's hash by the KVS WebRTC SDKs.
fn payload_hashes(
    headers: &HeaderMap,
    payload: Payload<'_>,
    presigned: bool,
) -> Result<Vec<String>, ApiError> {
    if presigned && headers.get("x-amz-content-sha256").is_none() {
        return Ok(vec!["UNSIGNED-PAYLOAD".to_owned(), EMPTY_SHA256.to_owned()]);
    }
    payload_hash(headers, payload).map(|h| vec![h])
}

fn payload_hash(headers: &HeaderMap, payload: Payload<'_>) -> Result<String, ApiError> {
    let declared = headers
        .get("x-amz-content-sha256")
        .and_then(|v| v.to_str().ok());
    match (declared, payload) {
        (Some(d), Payload::Body(body))
            if !d.starts_with("UNSIGNED") && !d.starts_with("STREAMING") =>
        {
            let actual = hex::encode(Sha256::digest(body));
            if !d.eq_ignore_ascii_case(&actual) {
                return Err(denied(
                    "InvalidSignatureException",
                    "The provided x-amz-content-sha256 header does not match the request body.",
                ));
            }
            Ok(actual)
        }
        (Some(d), _) => Ok(d.to_owned()),
        (None, Payload::Body(body)) => Ok(hex::encode(Sha256::digest(body))),
        (None, Payload::Streaming) => Ok(EMPTY_SHA256.to_owned()),
    }
}

/// The host values a client may have signed: as sent, and without the port.
fn host_candidates(headers: &HeaderMap) -> Vec<String> {
    let host = headers
        .get(http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let mut out = vec![host.clone()];
    if let Some((name, port)) = host.rsplit_once(':')
        && !port.is_empty()
        && port.chars().all(|c| c.is_ascii_digit())
    {
        out.push(name.to_owned());
    }
    out
}

/// A query string's parameters, percent-decoded.
pub(crate) fn parse_query(q: &str) -> BTreeMap<String, String> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(s: &str) -> String {
    percent_decode_str(&s.replace('+', "%20"))
        .decode_utf8_lossy()
        .into_owned()
}

fn encode(s: &str) -> String {
    utf8_percent_encode(s, URI_ENCODE).to_string()
}

fn canonical_request(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    query: &BTreeMap<String, String>,
    parts: &SignatureParts,
    host: &str,
    payload_hash: &str,
) -> String {
    let path = uri.path();
    let canonical_uri = if path.is_empty() {
        "/".to_owned()
    } else {
        // Non-S3 services sign each already-encoded path segment encoded once more.
        path.split('/').map(encode).collect::<Vec<_>>().join("/")
    };
    let mut pairs: Vec<(String, String)> = query
        .iter()
        .filter(|(k, _)| k.as_str() != "X-Amz-Signature")
        .map(|(k, v)| (encode(k), encode(v)))
        .collect();
    pairs.sort();
    let canonical_query = pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");

    let mut canonical_headers = String::new();
    for name in &parts.signed_headers {
        let value = if name == "host" {
            host.to_owned()
        } else {
            headers
                .get_all(name.as_str())
                .iter()
                .map(|v| collapse_spaces(&String::from_utf8_lossy(v.as_bytes())))
                .collect::<Vec<_>>()
                .join(",")
        };
        let _ = writeln!(canonical_headers, "{name}:{value}");
    }
    format!(
        "{method}\n{canonical_uri}\n{canonical_query}\n{canonical_headers}\n{}\n{payload_hash}",
        parts.signed_headers.join(";")
    )
}

fn collapse_spaces(v: &str) -> String {
    v.split_whitespace().collect::<Vec<_>>().join(" ")
}

type HmacSha256 = Hmac<Sha256>;

/// HMAC-SHA256 of `data` under `key`.
pub(crate) fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

fn signature(creds: &Credentials, parts: &SignatureParts, canonical: &str) -> String {
    let scope = format!(
        "{}/{}/{}/aws4_request",
        parts.scope_date, parts.region, parts.service
    );
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{}\n{scope}\n{}",
        parts.amz_date,
        hex::encode(Sha256::digest(canonical.as_bytes()))
    );
    let k_date = hmac(
        format!("AWS4{}", creds.secret_access_key).as_bytes(),
        parts.scope_date.as_bytes(),
    );
    let k_region = hmac(&k_date, parts.region.as_bytes());
    let k_service = hmac(&k_region, parts.service.as_bytes());
    let k_signing = hmac(&k_service, b"aws4_request");
    hex::encode(hmac(&k_signing, string_to_sign.as_bytes()))
}

/// Compares secrets without leaking where they differ through timing.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
