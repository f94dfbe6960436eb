//! HLS playlists: the master playlist (`getHLSMasterPlaylist.m3u8`) and the media playlist
//! (`getHLSMediaPlaylist.m3u8`).

use axum::response::Response;
use kvs_mkv::TrackKind;

use super::common::{codecs, peak_bandwidth, response, rfc3339_ms, segment_lengths};
use super::session::{Mode, Session, first, session_fragments};
use crate::App;
use crate::error::ApiError;
use crate::media::{fragment_media, now_ms};

const CONTENT_TYPE: &str = "application/vnd.apple.mpegurl";

/// The master playlist: one variant, the media playlist, with its bandwidth, codecs and
/// resolution.
pub(super) async fn master_playlist(
    app: &App,
    session: &Session,
    token: &str,
) -> Result<Response, ApiError> {
    let fragments = session_fragments(app, session).await?;
    let (tracks, _) = fragment_media(app, first(&fragments)?).await?;
    let resolution = tracks
        .iter()
        .find_map(|t| match t.kind {
            TrackKind::Video { width, height } => Some(format!(",RESOLUTION={width}x{height}")),
            TrackKind::Audio { .. } => None,
        })
        .unwrap_or_default();
    response(
        format!(
            "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-STREAM-INF:BANDWIDTH={},CODECS=\"{}\"{resolution}\ngetHLSMediaPlaylist.m3u8?SessionToken={token}\n",
            peak_bandwidth(&fragments),
            codecs(&tracks),
        ),
        CONTENT_TYPE,
    )
}

/// The media playlist: the session's fragments as segments (fMP4 with an init segment, or
/// MPEG-TS), ended once the session's range is over.
pub(super) async fn media_playlist(
    app: &App,
    session: &Session,
    token: &str,
) -> Result<Response, ApiError> {
    let fragments = session_fragments(app, session).await?;
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
            "#EXT-X-MAP:URI=\"getMP4InitFragment.mp4?SessionToken={token}\"\n"
        ));
    }
    let segment_file = if session.c {
        "getTSFragment.ts"
    } else {
        "getMP4MediaFragment.mp4"
    };
    let lengths = segment_lengths(&fragments);
    for (i, (f, length_ms)) in fragments.iter().zip(lengths).enumerate() {
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
            "#EXTINF:{:.3},\n{segment_file}?FragmentNumber={}&SessionToken={token}\n",
            length_ms as f64 / 1000.0,
            f.number(),
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
    response(text, CONTENT_TYPE)
}
