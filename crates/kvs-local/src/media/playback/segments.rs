//! Segments: the fMP4 init segment (`getMP4InitFragment.mp4`), fMP4 media segments
//! (`getMP4MediaFragment.mp4`) and MPEG-TS segments (`getTSFragment.ts`), each remuxed from
//! one stored fragment on request.

use std::collections::BTreeMap;

use axum::response::Response;
use http::StatusCode;

use super::common::response;
use super::session::{Session, first, session_fragment, session_fragments};
use crate::App;
use crate::error::ApiError;
use crate::media::fragment_media;

/// The tracks of the session's first fragment (only `TrackNumber`'s, if given) as an fMP4 init
/// segment.
pub(super) async fn mp4_init(
    app: &App,
    session: &Session,
    query: &BTreeMap<String, String>,
) -> Result<Response, ApiError> {
    let fragments = session_fragments(app, session).await?;
    let (mut tracks, _) = fragment_media(app, first(&fragments)?).await?;
    if let Some(n) = query.get("TrackNumber").and_then(|t| t.parse::<u64>().ok()) {
        tracks.retain(|t| t.number == n);
    }
    let init = kvs_mp4::init_segment(&tracks).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "InvalidCodecPrivateDataException",
            e.to_string(),
        )
    })?;
    response(init, "video/mp4")
}

/// The fragment `FragmentNumber` as an MPEG-TS segment.
pub(super) async fn ts_fragment(
    app: &App,
    session: &Session,
    query: &BTreeMap<String, String>,
) -> Result<Response, ApiError> {
    let f = session_fragment(app, session, query).await?;
    let (tracks, frames) = fragment_media(app, &f).await?;
    let segment = kvs_ts::segment(&tracks, &frames).map_err(invalid_media)?;
    response(segment, "video/MP2T")
}

/// The fragment `FragmentNumber` (only `TrackNumber`'s frames, if given) as an fMP4 media
/// segment.
pub(super) async fn mp4_fragment(
    app: &App,
    session: &Session,
    query: &BTreeMap<String, String>,
) -> Result<Response, ApiError> {
    let f = session_fragment(app, session, query).await?;
    let seq = f.seq;
    let (tracks, frames) = fragment_media(app, &f).await?;
    let track_filter = query.get("TrackNumber").and_then(|t| t.parse().ok());
    let segment =
        kvs_mp4::media_segment(&tracks, &frames, (seq & 0xFFFF_FFFF) as u32, track_filter)
            .map_err(invalid_media)?;
    response(segment, "video/mp4")
}

fn invalid_media(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "InvalidMediaFrameException",
        e.to_string(),
    )
}
