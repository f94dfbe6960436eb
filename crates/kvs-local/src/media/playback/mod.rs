//! HLS and DASH: GetHLSStreamingSessionURL / GetDASHStreamingSessionURL and the playlists,
//! manifests and segments they point at:
//! [`session`] makes and checks session tokens, [`hls`] writes playlists, [`dash`] the
//! manifest, [`segments`] remuxes fragments.
//!
//! Players fetch these URLs without SigV4, as with KVS: the session token in the query is the
//! credential. It is an HMAC-signed, expiring description of the session (stream, playback mode,
//! range, limits), so it cannot be forged, altered or used for another stream, and it still
//! works after a kvs-local restart.

mod common;
mod dash;
mod hls;
mod segments;
mod session;

use std::collections::BTreeMap;

use axum::response::Response;

pub(crate) use session::{Protocol, session_url};

use crate::App;
use crate::error::ApiError;

/// The GET endpoints under `/hls/v1/` and `/dash/v1/`, authorised by the session token.
pub(crate) async fn serve(
    app: &App,
    file: &str,
    query: &BTreeMap<String, String>,
) -> Result<Response, ApiError> {
    let (session, token) = session::authorize(&app.session_key, query)?;
    match file {
        "getHLSMasterPlaylist.m3u8" => hls::master_playlist(app, &session, token).await,
        "getHLSMediaPlaylist.m3u8" => hls::media_playlist(app, &session, token).await,
        "getMP4InitFragment.mp4" => segments::mp4_init(app, &session, query).await,
        "getTSFragment.ts" => segments::ts_fragment(app, &session, query).await,
        "getMP4MediaFragment.mp4" => segments::mp4_fragment(app, &session, query).await,
        "getDASHManifest.mpd" => dash::manifest(app, &session, token).await,
        other => Err(ApiError::not_found(format!("no playback resource {other}"))),
    }
}
