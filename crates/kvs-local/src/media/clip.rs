//! GetClip: the fragments in a time range remuxed (no re-encode) into one plain MP4, streamed
//! as its head and the stored frames' payloads.

use std::convert::Infallible;

use axum::body::Body;
use axum::response::Response;
use http::StatusCode;
use kvs_mkv::TrackInfo;
use serde::Deserialize;

use super::request::{FragmentSelector, load_stream, timestamp_column};
use crate::App;
use crate::error::ApiError;
use crate::protocol::{epoch_ms_ceil, epoch_ms_floor, rest_json_body};

/// KVS returns at most the first 200 fragments or 100 MB of a range.
const MAX_FRAGMENTS: usize = 200;
const MAX_BYTES: i64 = 100 * 1024 * 1024;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GetClipInput {
    stream_name: Option<String>,
    #[serde(rename = "StreamARN")]
    stream_arn: Option<String>,
    clip_fragment_selector: Option<FragmentSelector>,
}

fn error(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, code, message)
}

pub(crate) async fn get_clip(app: &App, body: &[u8]) -> Result<Response, ApiError> {
    let input: GetClipInput = rest_json_body(body)?;
    let selector = input
        .clip_fragment_selector
        .ok_or_else(|| ApiError::invalid_argument("ClipFragmentSelector is required"))?;
    let column = timestamp_column(
        "FragmentSelectorType",
        selector.fragment_selector_type.as_deref(),
    )?;
    let range = selector
        .timestamp_range
        .ok_or_else(|| ApiError::invalid_argument("ClipFragmentSelector needs TimestampRange"))?;
    let (start, end) = range.both()?;
    if start >= end {
        return Err(ApiError::invalid_argument(
            "TimestampRange StartTimestamp must be before EndTimestamp",
        ));
    }
    if end - start > 24.0 * 3600.0 {
        return Err(ApiError::invalid_argument(
            "a clip's TimestampRange may span at most 24 hours",
        ));
    }
    let stream = load_stream(app, input.stream_name, input.stream_arn).await?;
    if stream.retention_hours == 0 {
        return Err(error(
            "NoDataRetentionException",
            format!(
                "stream {} keeps no media (retention 0); set a retention to use GetClip",
                stream.name
            ),
        ));
    }
    let (start_ms, end_ms) = (epoch_ms_floor(start), epoch_ms_ceil(end));
    // Fragments that overlap the range: they may start up to their length before it.
    let fragments = app
        .media
        .fragments_overlapping(&stream.arn, column, start_ms, end_ms, MAX_FRAGMENTS)
        .await?;
    if fragments.is_empty() {
        return Err(ApiError::not_found(format!(
            "no fragments of stream {} in the requested time range",
            stream.name
        )));
    }
    let mut tracks: Option<Vec<TrackInfo>> = None;
    let mut frames = Vec::new();
    let mut bytes = 0i64;
    for f in &fragments {
        if bytes + f.size > MAX_BYTES && !frames.is_empty() {
            break;
        }
        bytes += f.size;
        let (t, fr) = super::fragment_media(app, f).await?;
        match &tracks {
            None => tracks = Some(t),
            // A clip holds one set of tracks: stop where the producer changed them.
            Some(existing) if *existing != t => break,
            Some(_) => {}
        }
        frames.extend(fr);
    }
    let tracks = tracks.unwrap_or_default();
    // Laid out before the first byte is sent, so every error still gets its API error code.
    let clip = kvs_mp4::clip_parts(&tracks, &frames).map_err(|e| match e {
        kvs_mp4::Mp4Error::CodecPrivate { .. } => {
            error("InvalidCodecPrivateDataException", e.to_string())
        }
        kvs_mp4::Mp4Error::UnsupportedCodec(_) => {
            error("UnsupportedStreamMediaTypeException", e.to_string())
        }
        kvs_mp4::Mp4Error::NoFrames => ApiError::not_found(e.to_string()),
        other => error("InvalidMediaFrameException", other.to_string()),
    })?;
    // The body is the MP4 head and then the frames' payloads, which are slices of the
    // fragments as read from storage: the MP4 is never assembled in memory.
    let len = clip.len();
    Response::builder()
        .status(200)
        .header("content-type", "video/mp4")
        .header("content-length", len)
        .body(Body::from_stream(tokio_stream::iter(
            clip.into_iter().map(Ok::<_, Infallible>),
        )))
        .map_err(ApiError::internal)
}
