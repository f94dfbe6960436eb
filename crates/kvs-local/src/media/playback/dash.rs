//! The DASH manifest (`getDASHManifest.mpd`).

use axum::response::Response;
use kvs_mkv::TrackKind;

use super::common::{codecs, peak_bandwidth, response, rfc3339_ms, segment_lengths};
use super::session::{Mode, Session, first, session_fragments};
use crate::App;
use crate::error::ApiError;
use crate::media::fragment_media;

/// The DASH manifest: one adaptation set per track, each segment a KVS fragment listed
/// explicitly (fragment numbers are not a `$Number$` sequence).
pub(super) async fn manifest(
    app: &App,
    session: &Session,
    token: &str,
) -> Result<Response, ApiError> {
    let fragments = session_fragments(app, session).await?;
    let first = first(&fragments)?;
    let (tracks, _) = fragment_media(app, first).await?;
    let lengths = segment_lengths(&fragments);
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
    let bandwidth = peak_bandwidth(&fragments);
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
        xml.push_str(&format!(
            "<AdaptationSet mimeType=\"{mime}\" segmentAlignment=\"true\" startWithSAP=\"1\">\n<Representation id=\"{}\" codecs=\"{codec}\" bandwidth=\"{}\"{extra}>\n<SegmentList timescale=\"1000\" presentationTimeOffset=\"{}\">\n<Initialization sourceURL=\"getMP4InitFragment.mp4?{q}&amp;TrackNumber={}\"/>\n<SegmentTimeline>\n",
            t.number,
            bandwidth,
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
    response(xml, "application/dash+xml")
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
}

fn iso_duration(ms: i64) -> String {
    format!("PT{}.{:03}S", ms / 1000, ms % 1000)
}
