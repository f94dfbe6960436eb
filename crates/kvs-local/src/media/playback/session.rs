//! Playback sessions: GetHLSStreamingSessionURL / GetDASHStreamingSessionURL, the signed
//! session token, and the fragments a session covers.

use std::collections::BTreeMap;

use http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::App;
use crate::auth;
use crate::error::ApiError;
use crate::media::request::{FragmentSelector, load_stream, timestamp_column};
use crate::media::{StoredFragment, fragment_number, fragment_seq, now_ms};
use crate::origin::Origin;
use crate::protocol::{PageSize, epoch_ms_ceil, epoch_ms_floor, rest_json_body};

/// LIVE answers 404 when nothing arrived for this long.
const LIVE_WINDOW_MS: i64 = 30_000;

/// At most this many unexpired HLS and DASH sessions per stream, as KVS limits active sessions.
const MAX_SESSIONS_PER_STREAM: usize = 10;

/// A session's `PlaybackMode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(super) enum Mode {
    Live,
    LiveReplay,
    OnDemand,
}

/// What a session token grants.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Session {
    /// Stream ARN.
    s: String,
    pub(super) m: Mode,
    /// Timestamp column the range is on.
    k: String,
    /// Range start and end, epoch ms (end `i64::MAX` when open).
    a: i64,
    pub(super) b: i64,
    /// Expiry, epoch ms.
    x: i64,
    /// MaxMediaPlaylistFragmentResults.
    n: usize,
    /// DisplayFragmentTimestamp ALWAYS.
    pub(super) t: bool,
    /// DiscontinuityMode ALWAYS.
    pub(super) d: bool,
    /// ContainerFormat MPEG_TS (else fragmented MP4).
    #[serde(default)]
    pub(super) c: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SessionInput {
    stream_name: Option<String>,
    #[serde(rename = "StreamARN")]
    stream_arn: Option<String>,
    playback_mode: Option<String>,
    #[serde(rename = "HLSFragmentSelector", alias = "DASHFragmentSelector")]
    fragment_selector: Option<FragmentSelector>,
    container_format: Option<String>,
    discontinuity_mode: Option<String>,
    display_fragment_timestamp: Option<String>,
    expires: Option<i64>,
    #[serde(alias = "MaxManifestFragmentResults")]
    max_media_playlist_fragment_results: Option<i64>,
}

/// Which session URL is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Protocol {
    Hls,
    Dash,
}

fn sign(key: &[u8], payload: &[u8]) -> String {
    hex::encode(auth::hmac(key, payload))
}

fn forbidden(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, "NotAuthorizedException", message)
}

fn token_for(key: &[u8], session: &Session) -> Result<String, ApiError> {
    let payload = serde_json::to_vec(session).map_err(ApiError::internal)?;
    Ok(format!("{}.{}", hex::encode(&payload), sign(key, &payload)))
}

fn session_of(key: &[u8], token: &str) -> Result<Session, ApiError> {
    let bad = || forbidden("the SessionToken is not valid");
    let (payload, mac) = token.split_once('.').ok_or_else(bad)?;
    let payload = hex::decode(payload).map_err(|_| bad())?;
    let same = auth::constant_time_eq(sign(key, &payload).as_bytes(), mac.as_bytes());
    if !same {
        return Err(bad());
    }
    let session: Session = serde_json::from_slice(&payload).map_err(|_| bad())?;
    if now_ms() > session.x {
        return Err(forbidden(
            "the SessionToken has expired; request a new session URL",
        ));
    }
    Ok(session)
}

/// The session a playback request's `SessionToken` grants, and the token.
pub(super) fn authorize<'q>(
    key: &[u8],
    query: &'q BTreeMap<String, String>,
) -> Result<(Session, &'q str), ApiError> {
    let token = query
        .get("SessionToken")
        .ok_or_else(|| forbidden("the SessionToken query parameter is missing"))?;
    Ok((session_of(key, token)?, token))
}

fn parse_enum<'a>(
    value: Option<&'a str>,
    field: &str,
    allowed: &[&'a str],
    default: &'a str,
) -> Result<&'a str, ApiError> {
    let v = value.unwrap_or(default);
    if allowed.contains(&v) {
        Ok(v)
    } else {
        Err(ApiError::invalid_argument(format!(
            "{field} {v:?} must be one of {}",
            allowed.join(", ")
        )))
    }
}

/// `POST /getHLSStreamingSessionURL` and `POST /getDASHStreamingSessionURL`.
pub(crate) async fn session_url(
    app: &App,
    origin: &Origin,
    body: &[u8],
    protocol: Protocol,
) -> Result<serde_json::Value, ApiError> {
    let input: SessionInput = rest_json_body(body)?;
    let mode = match parse_enum(
        input.playback_mode.as_deref(),
        "PlaybackMode",
        &["LIVE", "LIVE_REPLAY", "ON_DEMAND"],
        "LIVE",
    )? {
        "LIVE" => Mode::Live,
        "LIVE_REPLAY" => Mode::LiveReplay,
        _ => Mode::OnDemand,
    };
    let container = parse_enum(
        input.container_format.as_deref(),
        "ContainerFormat",
        &["FRAGMENTED_MP4", "MPEG_TS"],
        "FRAGMENTED_MP4",
    )?;
    let discontinuity = parse_enum(
        input.discontinuity_mode.as_deref(),
        "DiscontinuityMode",
        &["ALWAYS", "NEVER", "ON_DISCONTINUITY"],
        "ALWAYS",
    )?;
    let display = parse_enum(
        input.display_fragment_timestamp.as_deref(),
        "DisplayFragmentTimestamp",
        &["ALWAYS", "NEVER"],
        "NEVER",
    )?;
    let expires = input.expires.unwrap_or(300);
    if !(300..=43_200).contains(&expires) {
        return Err(ApiError::invalid_argument(format!(
            "Expires {expires} must be 300 to 43200 seconds"
        )));
    }
    let max = PageSize::max_results(5000)
        .member("MaxMediaPlaylistFragmentResults")
        .or(if mode == Mode::Live { 5 } else { 1000 })
        .archived_media()
        .of(input.max_media_playlist_fragment_results)?;
    let (column, start, end) = match (mode, input.fragment_selector) {
        (Mode::Live, None) => ("producer_ts_ms", i64::MIN, i64::MAX),
        (Mode::Live, Some(_)) => {
            return Err(ApiError::invalid_argument(
                "HLSFragmentSelector is not used with PlaybackMode LIVE",
            ));
        }
        (_, None) => {
            return Err(ApiError::invalid_argument(
                "LIVE_REPLAY and ON_DEMAND need an HLSFragmentSelector with a TimestampRange",
            ));
        }
        (_, Some(sel)) => {
            let column = timestamp_column(
                "FragmentSelectorType",
                Some(
                    sel.fragment_selector_type
                        .as_deref()
                        .unwrap_or("SERVER_TIMESTAMP"),
                ),
            )?;
            let range = sel.timestamp_range.ok_or_else(|| {
                ApiError::invalid_argument("HLSFragmentSelector needs a TimestampRange")
            })?;
            let start = range
                .start()
                .ok_or_else(|| ApiError::invalid_argument("TimestampRange needs StartTimestamp"))?;
            let end = range.end();
            if mode == Mode::OnDemand && end.is_none() {
                return Err(ApiError::invalid_argument(
                    "ON_DEMAND needs an EndTimestamp",
                ));
            }
            if let Some(e) = end
                && e <= start
            {
                return Err(ApiError::invalid_argument(
                    "TimestampRange StartTimestamp must be before EndTimestamp",
                ));
            }
            (
                column,
                epoch_ms_floor(start),
                end.map_or(i64::MAX, epoch_ms_ceil),
            )
        }
    };
    let stream = load_stream(app, input.stream_name, input.stream_arn).await?;
    if stream.retention_hours == 0 && mode != Mode::Live {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "NoDataRetentionException",
            format!("stream {} keeps no media (retention 0)", stream.name),
        ));
    }
    if mode == Mode::Live {
        live_fragments(app, &stream.arn, 1).await?;
    }
    let session = Session {
        s: stream.arn.clone(),
        m: mode,
        k: column.to_owned(),
        a: start,
        b: end,
        x: now_ms() + expires * 1000,
        n: max,
        t: display == "ALWAYS",
        d: discontinuity == "ALWAYS",
        c: container == "MPEG_TS",
    };
    {
        let mut sessions = app.sessions.lock().unwrap_or_else(|p| p.into_inner());
        let active = sessions.entry(stream.arn.clone()).or_default();
        let now = now_ms();
        active.retain(|expiry| *expiry > now);
        if active.len() >= MAX_SESSIONS_PER_STREAM {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "ClientLimitExceededException",
                format!(
                    "stream {} has {MAX_SESSIONS_PER_STREAM} active playback sessions; wait for one to expire or ask for shorter Expires",
                    stream.name
                ),
            ));
        }
        active.push(session.x);
    }
    let token = token_for(&app.session_key, &session)?;
    let base = origin.http_url();
    Ok(match protocol {
        Protocol::Hls => json!({
            "HLSStreamingSessionURL": format!("{base}/hls/v1/getHLSMasterPlaylist.m3u8?SessionToken={token}")
        }),
        Protocol::Dash => json!({
            "DASHStreamingSessionURL": format!("{base}/dash/v1/getDASHManifest.mpd?SessionToken={token}")
        }),
    })
}

/// The newest fragments, oldest first; 404 when nothing arrived in the last 30 s.
async fn live_fragments(app: &App, arn: &str, n: usize) -> Result<Vec<StoredFragment>, ApiError> {
    let last = app.media.last_seq(arn).await?;
    let from = last.saturating_sub(n as u64);
    let fragments = app.media.fragments_after(arn, from, n).await?;
    match fragments.last() {
        Some(f) if now_ms() - f.server_ts_ms <= LIVE_WINDOW_MS => Ok(fragments),
        _ => Err(ApiError::not_found(
            "no fragments arrived in the last 30 seconds for this LIVE session",
        )),
    }
}

/// The fragments a session covers now, oldest first.
pub(super) async fn session_fragments(
    app: &App,
    session: &Session,
) -> Result<Vec<StoredFragment>, ApiError> {
    match session.m {
        Mode::Live => live_fragments(app, &session.s, session.n).await,
        Mode::LiveReplay | Mode::OnDemand => {
            let column = if session.k == "server_ts_ms" {
                "server_ts_ms"
            } else {
                "producer_ts_ms"
            };
            app.media
                .fragments_overlapping(&session.s, column, session.a, session.b, session.n)
                .await
        }
    }
}

/// The first of a session's fragments; 404 when it has none.
pub(super) fn first(fragments: &[StoredFragment]) -> Result<&StoredFragment, ApiError> {
    fragments
        .first()
        .ok_or_else(|| ApiError::not_found("no fragments in this session's range"))
}

/// The fragment a playback request names, if it belongs to the session's stream.
pub(super) async fn session_fragment(
    app: &App,
    session: &Session,
    query: &BTreeMap<String, String>,
) -> Result<StoredFragment, ApiError> {
    let number = query
        .get("FragmentNumber")
        .ok_or_else(|| ApiError::invalid_argument("FragmentNumber is required"))?;
    let seq = fragment_seq(number).ok_or_else(|| {
        ApiError::invalid_argument(format!("FragmentNumber {number:?} is not valid"))
    })?;
    // The token names the stream: a fragment of another stream is simply not found.
    app.media.fragment(&session.s, seq).await?.ok_or_else(|| {
        ApiError::not_found(format!(
            "fragment {} is not in this session's stream",
            fragment_number(seq)
        ))
    })
}
