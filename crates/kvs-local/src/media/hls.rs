//! HLS and DASH: GetHLSStreamingSessionURL / GetDASHStreamingSessionURL and the playlists,
//! manifests and fMP4 fragments they point at.
//!
//! Players fetch these URLs without SigV4, as with KVS: the session token in the query is the
//! credential. It is an HMAC-signed, expiring description of the session (stream, playback mode,
//! range, limits), so it cannot be forged, altered or used for another stream, and it still
//! works after a kvs-local restart.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::response::Response;
use http::StatusCode;
use kvs_mkv::{Event, Frame, Parser, TrackInfo, TrackKind};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::get::load_stream;
use super::{StoredFragment, fragment_number, fragment_seq, now_ms};
use crate::App;
use crate::auth;
use crate::error::ApiError;

/// LIVE answers 404 when nothing arrived for this long.
const LIVE_WINDOW_MS: i64 = 30_000;

/// At most this many unexpired HLS and DASH sessions per stream, as KVS limits active sessions.
const MAX_SESSIONS_PER_STREAM: usize = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
enum Mode {
    Live,
    LiveReplay,
    OnDemand,
}

/// What a session token grants.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Session {
    /// Stream ARN.
    s: String,
    m: Mode,
    /// Timestamp column the range is on.
    k: String,
    /// Range start and end, epoch ms (end `i64::MAX` when open).
    a: i64,
    b: i64,
    /// Expiry, epoch ms.
    x: i64,
    /// MaxMediaPlaylistFragmentResults.
    n: usize,
    /// DisplayFragmentTimestamp ALWAYS.
    t: bool,
    /// DiscontinuityMode ALWAYS.
    d: bool,
    /// ContainerFormat MPEG_TS (else fragmented MP4).
    #[serde(default)]
    c: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Range {
    start_timestamp: Option<f64>,
    end_timestamp: Option<f64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Selector {
    fragment_selector_type: Option<String>,
    timestamp_range: Option<Range>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SessionInput {
    stream_name: Option<String>,
    #[serde(rename = "StreamARN")]
    stream_arn: Option<String>,
    playback_mode: Option<String>,
    #[serde(rename = "HLSFragmentSelector", alias = "DASHFragmentSelector")]
    fragment_selector: Option<Selector>,
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
    body: &[u8],
    protocol: Protocol,
) -> Result<serde_json::Value, ApiError> {
    let input: SessionInput = serde_json::from_slice(if body.is_empty() { b"{}" } else { body })
        .map_err(|e| ApiError::invalid_argument(format!("malformed request body: {e}")))?;
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
    let max = match input.max_media_playlist_fragment_results {
        None if mode == Mode::Live => 5,
        None => 1000,
        Some(n) if (1..=5000).contains(&n) => n as usize,
        Some(n) => {
            return Err(ApiError::invalid_argument(format!(
                "MaxMediaPlaylistFragmentResults {n} must be 1 to 5000"
            )));
        }
    };
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
            let column = super::timestamp_column(
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
                .start_timestamp
                .filter(|t| t.is_finite())
                .ok_or_else(|| ApiError::invalid_argument("TimestampRange needs StartTimestamp"))?;
            let end = range.end_timestamp.filter(|t| t.is_finite());
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
                (start * 1000.0).floor() as i64,
                end.map_or(i64::MAX, |e| (e * 1000.0).ceil() as i64),
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
    let base = &app.config.public_url;
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

async fn session_fragments(app: &App, session: &Session) -> Result<Vec<StoredFragment>, ApiError> {
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

/// A stored fragment's tracks and frames.
pub(crate) async fn fragment_media(
    app: &App,
    f: &StoredFragment,
) -> Result<(Vec<TrackInfo>, Vec<Frame>), ApiError> {
    let header = app.media.header(f.header_id).await?;
    let cluster = app.media.read_cluster(f).await?;
    let mut parser = Parser::new();
    parser.feed(&header);
    parser.feed(&cluster);
    let (mut tracks, mut frames) = (Vec::new(), Vec::new());
    let mut events = Vec::new();
    loop {
        match parser.next_event() {
            Ok(Some(e)) => events.push(e),
            Ok(None) => break,
            Err(e) => {
                return Err(ApiError::internal(format!(
                    "stored fragment unreadable: {e}"
                )));
            }
        }
    }
    events.extend(
        parser
            .finish()
            .map_err(|e| ApiError::internal(format!("stored fragment unreadable: {e}")))?,
    );
    for e in events {
        match e {
            Event::Tracks(t) => tracks = t,
            Event::Frame(fr) => frames.push(fr),
            _ => {}
        }
    }
    Ok((tracks, frames))
}

fn codecs(tracks: &[TrackInfo]) -> String {
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

fn playlist_response(text: String) -> Result<Response, ApiError> {
    Response::builder()
        .status(200)
        .header("content-type", "application/vnd.apple.mpegurl")
        .body(Body::from(text))
        .map_err(ApiError::internal)
}

fn binary_response(bytes: Vec<u8>, content_type: &'static str) -> Result<Response, ApiError> {
    Response::builder()
        .status(200)
        .header("content-type", content_type)
        .body(Body::from(bytes))
        .map_err(ApiError::internal)
}

/// The GET endpoints under `/hls/v1/`, authorised by the session token.
pub(crate) async fn serve(
    app: &App,
    file: &str,
    query: &BTreeMap<String, String>,
) -> Result<Response, ApiError> {
    let token = query
        .get("SessionToken")
        .ok_or_else(|| forbidden("the SessionToken query parameter is missing"))?;
    let session = session_of(&app.session_key, token)?;
    let q = |s: &str| format!("SessionToken={token}{s}");
    match file {
        "getHLSMasterPlaylist.m3u8" => {
            let fragments = session_fragments(app, &session).await?;
            let first = fragments
                .first()
                .ok_or_else(|| ApiError::not_found("no fragments in this session's range"))?;
            let (tracks, _) = fragment_media(app, first).await?;
            let bandwidth = fragments
                .iter()
                .map(|f| f.size as f64 * 8.0 / (f.duration_ms.max(1) as f64 / 1000.0))
                .fold(0.0, f64::max) as u64;
            let resolution = tracks
                .iter()
                .find_map(|t| match t.kind {
                    TrackKind::Video { width, height } => {
                        Some(format!(",RESOLUTION={width}x{height}"))
                    }
                    TrackKind::Audio { .. } => None,
                })
                .unwrap_or_default();
            playlist_response(format!(
                "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-STREAM-INF:BANDWIDTH={},CODECS=\"{}\"{resolution}\ngetHLSMediaPlaylist.m3u8?{}\n",
                bandwidth.max(1),
                codecs(&tracks),
                q("")
            ))
        }
        "getHLSMediaPlaylist.m3u8" => {
            let fragments = session_fragments(app, &session).await?;
            let target = fragments
                .iter()
                .map(|f| (f.duration_ms as f64 / 1000.0).ceil() as u64)
                .max()
                .unwrap_or(1)
                .max(1);
            let mut text = format!(
                "#EXTM3U\n#EXT-X-VERSION:{}\n#EXT-X-TARGETDURATION:{target}\n#EXT-X-MEDIA-SEQUENCE:{}\n",
                if session.c { 3 } else { 7 },
                fragments.first().map_or(0, |f| f.seq)
            );
            if session.m == Mode::OnDemand {
                text.push_str("#EXT-X-PLAYLIST-TYPE:VOD\n");
            }
            if !session.c {
                text.push_str(&format!(
                    "#EXT-X-MAP:URI=\"getMP4InitFragment.mp4?{}\"\n",
                    q("")
                ));
            }
            let segment_file = if session.c {
                "getTSFragment.ts"
            } else {
                "getMP4MediaFragment.mp4"
            };
            for (i, f) in fragments.iter().enumerate() {
                // A fragment lasts until the next one starts (the last: its own frames).
                let length_ms = fragments.get(i + 1).map_or(f.duration_ms, |n| {
                    (n.producer_ts_ms - f.producer_ts_ms).max(f.duration_ms)
                });
                if session.d && i > 0 {
                    text.push_str("#EXT-X-DISCONTINUITY\n");
                }
                if session.t {
                    text.push_str(&format!(
                        "#EXT-X-PROGRAM-DATE-TIME:{}\n",
                        rfc3339_ms(f.producer_ts_ms)
                    ));
                }
                text.push_str(&format!(
                    "#EXTINF:{:.3},\n{segment_file}?FragmentNumber={}&{}\n",
                    length_ms.max(1) as f64 / 1000.0,
                    f.number(),
                    q("")
                ));
            }
            let finished = match session.m {
                Mode::OnDemand => true,
                Mode::LiveReplay => session.b != i64::MAX && session.b < now_ms(),
                Mode::Live => false,
            };
            if finished {
                text.push_str("#EXT-X-ENDLIST\n");
            }
            playlist_response(text)
        }
        "getMP4InitFragment.mp4" => {
            let fragments = session_fragments(app, &session).await?;
            let first = fragments
                .first()
                .ok_or_else(|| ApiError::not_found("no fragments in this session's range"))?;
            let (mut tracks, _) = fragment_media(app, first).await?;
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
            binary_response(init, "video/mp4")
        }
        "getTSFragment.ts" => {
            let f = session_fragment(app, &session, query).await?;
            let (tracks, frames) = fragment_media(app, &f).await?;
            let segment = kvs_ts::segment(&tracks, &frames).map_err(|e| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "InvalidMediaFrameException",
                    e.to_string(),
                )
            })?;
            binary_response(segment, "video/MP2T")
        }
        "getMP4MediaFragment.mp4" => {
            let f = session_fragment(app, &session, query).await?;
            let seq = f.seq;
            let (tracks, frames) = fragment_media(app, &f).await?;
            let track_filter = query.get("TrackNumber").and_then(|t| t.parse().ok());
            let segment =
                kvs_mp4::media_segment(&tracks, &frames, (seq & 0xFFFF_FFFF) as u32, track_filter)
                    .map_err(|e| {
                        ApiError::new(
                            StatusCode::BAD_REQUEST,
                            "InvalidMediaFrameException",
                            e.to_string(),
                        )
                    })?;
            binary_response(segment, "video/mp4")
        }
        "getDASHManifest.mpd" => dash_manifest(app, &session, token).await,
        other => Err(ApiError::not_found(format!("no playback resource {other}"))),
    }
}

/// The fragment a playback request names, if it belongs to the session's stream.
async fn session_fragment(
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

fn rfc3339_ms(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
}

fn iso_duration(ms: i64) -> String {
    format!("PT{}.{:03}S", ms / 1000, ms % 1000)
}

/// The DASH manifest: one adaptation set per track, each segment a KVS fragment listed
/// explicitly (fragment numbers are not a `$Number$` sequence).
async fn dash_manifest(app: &App, session: &Session, token: &str) -> Result<Response, ApiError> {
    let fragments = session_fragments(app, session).await?;
    let first = fragments
        .first()
        .ok_or_else(|| ApiError::not_found("no fragments in this session's range"))?;
    let (tracks, _) = fragment_media(app, first).await?;
    let lengths: Vec<i64> = fragments
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
        .collect();
    let total: i64 = lengths.iter().sum();
    let live = session.m == Mode::Live;
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    xml.push_str(&format!(
        "<MPD xmlns=\"urn:mpeg:dash:schema:mpd:2011\" profiles=\"urn:mpeg:dash:profile:isoff-live:2011\" type=\"{}\" minBufferTime=\"PT2S\" {}>\n<Period id=\"0\" start=\"PT0S\">\n",
        if live { "dynamic" } else { "static" },
        if live {
            format!("availabilityStartTime=\"{}\" minimumUpdatePeriod=\"PT2S\"", rfc3339_ms(first.producer_ts_ms))
        } else {
            format!("mediaPresentationDuration=\"{}\"", iso_duration(total))
        }
    ));
    let q = xml_escape(&format!("SessionToken={token}"));
    for t in &tracks {
        let (mime, extra, codec) = match t.kind {
            TrackKind::Video { width, height } => (
                "video/mp4",
                format!(" width=\"{width}\" height=\"{height}\""),
                codecs(std::slice::from_ref(t)),
            ),
            TrackKind::Audio {
                sampling_frequency, ..
            } => (
                "audio/mp4",
                format!(" audioSamplingRate=\"{}\"", sampling_frequency as u64),
                codecs(std::slice::from_ref(t)),
            ),
        };
        let bandwidth = fragments
            .iter()
            .map(|f| f.size as f64 * 8.0 / (f.duration_ms.max(1) as f64 / 1000.0))
            .fold(0.0, f64::max) as u64;
        xml.push_str(&format!(
            "<AdaptationSet mimeType=\"{mime}\" segmentAlignment=\"true\" startWithSAP=\"1\">\n<Representation id=\"{}\" codecs=\"{codec}\" bandwidth=\"{}\"{extra}>\n<SegmentList timescale=\"1000\" presentationTimeOffset=\"{}\">\n<Initialization sourceURL=\"getMP4InitFragment.mp4?{q}&amp;TrackNumber={}\"/>\n<SegmentTimeline>\n",
            t.number,
            bandwidth.max(1),
            first.producer_ts_ms,
            t.number
        ));
        for (f, len) in fragments.iter().zip(&lengths) {
            xml.push_str(&format!("<S t=\"{}\" d=\"{len}\"/>\n", f.producer_ts_ms));
        }
        xml.push_str("</SegmentTimeline>\n");
        for f in &fragments {
            xml.push_str(&format!(
                "<SegmentURL media=\"getMP4MediaFragment.mp4?FragmentNumber={}&amp;{q}&amp;TrackNumber={}\"/>\n",
                f.number(),
                t.number
            ));
        }
        xml.push_str("</SegmentList>\n</Representation>\n</AdaptationSet>\n");
    }
    xml.push_str("</Period>\n</MPD>\n");
    Response::builder()
        .status(200)
        .header("content-type", "application/dash+xml")
        .body(Body::from(xml))
        .map_err(ApiError::internal)
}
