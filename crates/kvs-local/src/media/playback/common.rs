//! What playlists, manifests and segments share: responses, codec strings, bandwidth, segment
//! lengths and wall-clock times.

use axum::body::Body;
use axum::response::Response;
use kvs_mkv::TrackInfo;

use crate::error::ApiError;
use crate::media::StoredFragment;

/// A 200 answer of `content_type`.
pub(super) fn response(
    body: impl Into<Body>,
    content_type: &'static str,
) -> Result<Response, ApiError> {
    Response::builder()
        .status(200)
        .header("content-type", content_type)
        .body(body.into())
        .map_err(ApiError::internal)
}

/// The RFC 6381 codec strings of the tracks, as HLS `CODECS` and DASH `codecs` want them.
pub(super) fn codecs(tracks: &[TrackInfo]) -> String {
    tracks
        .iter()
        .filter_map(|t| match t.codec_id.as_str() {
            TrackInfo::H264 if t.codec_private.len() >= 4 => Some(format!(
                "avc1.{:02x}{:02x}{:02x}",
                t.codec_private[1], t.codec_private[2], t.codec_private[3]
            )),
            TrackInfo::H265 => Some("hvc1.1.6.L93.B0".to_owned()),
            TrackInfo::AAC => Some("mp4a.40.2".to_owned()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// The highest bit rate of the fragments, in bits per second (at least 1).
pub(super) fn peak_bandwidth(fragments: &[StoredFragment]) -> u64 {
    let peak = fragments
        .iter()
        .map(|f| f.size as f64 * 8.0 / (f.duration_ms.max(1) as f64 / 1000.0))
        .fold(0.0, f64::max) as u64;
    peak.max(1)
}

/// How long each fragment plays, in ms (at least 1): until the next one starts, the last for
/// its own frames.
pub(super) fn segment_lengths(fragments: &[StoredFragment]) -> Vec<i64> {
    fragments
        .iter()
        .enumerate()
        .map(|(i, f)| {
            fragments
                .get(i + 1)
                .map_or(f.duration_ms, |n| {
                    (n.producer_ts_ms - f.producer_ts_ms).max(f.duration_ms)
                })
                .max(1)
        })
        .collect()
}

/// Epoch milliseconds as an RFC 3339 date and time.
pub(super) fn rfc3339_ms(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}
