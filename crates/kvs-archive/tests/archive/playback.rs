use std::path::Path;
use std::time::Duration;

use kvs_archive::{HlsOptions, PlaybackMode};
use kvs_testkit::probe_video;
use reqwest::Url;

use crate::support::{FPS, Recording};

/// GETs `url`: its content type and body, after checking it is a 200.
async fn get(url: &Url) -> (String, Vec<u8>) {
    let response = reqwest::get(url.clone()).await.unwrap();
    assert_eq!(response.status(), 200, "GET {url}");
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (content_type, response.bytes().await.unwrap().to_vec())
}

async fn get_text(url: &Url) -> (String, String) {
    let (content_type, body) = get(url).await;
    (content_type, String::from_utf8(body).unwrap())
}

/// The URIs of a media playlist's segments (lines that are not tags).
fn segments(playlist: &str) -> Vec<&str> {
    playlist
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
}

/// The value of the first `attribute="..."` in `text`.
fn attribute<'a>(text: &'a str, attribute: &str) -> Option<&'a str> {
    let start = text.find(&format!("{attribute}=\""))? + attribute.len() + 2;
    text[start..].split('"').next()
}

/// Fetches `urls` in order into one file and reads it with ffprobe.
async fn probe_concatenation(urls: &[Url], dir: &Path, name: &str) -> kvs_testkit::VideoProbe {
    let mut media = Vec::new();
    for url in urls {
        media.extend(get(url).await.1);
    }
    let path = dir.join(name);
    std::fs::write(&path, media).unwrap();
    probe_video(&path)
}

fn on_demand(rec: &Recording, from: f64, to: f64) -> HlsOptions {
    let mut c = HlsOptions::default();
    c.mode = PlaybackMode::OnDemand;
    c.range = Some(rec.range(from, to));
    c.expires = Some(Duration::from_secs(600));
    c
}

#[tokio::test]
async fn hls_on_demand_plays_the_fragments_of_its_range() {
    let rec = Recording::new(8).await;
    let dir = tempfile::tempdir().unwrap();
    let url = rec
        .archive()
        .hls_url(&rec.stream, &on_demand(&rec, 2.5, 5.5))
        .await
        .unwrap();
    let prefix = format!(
        "{}/hls/v1/getHLSMasterPlaylist.m3u8?SessionToken=",
        rec.local.url()
    );
    assert!(url.starts_with(&prefix), "{url}");

    let master_url = Url::parse(&url).unwrap();
    let (content_type, master) = get_text(&master_url).await;
    assert_eq!(content_type, "application/vnd.apple.mpegurl");
    assert!(master.starts_with("#EXTM3U\n"), "{master}");
    let stream_inf = master
        .lines()
        .find(|l| l.starts_with("#EXT-X-STREAM-INF:"))
        .unwrap_or_else(|| panic!("no variant: {master}"));
    assert!(stream_inf.contains("RESOLUTION=64x48"), "{stream_inf}");
    assert!(
        stream_inf.contains("CODECS=\"avc1.42c01e\""),
        "{stream_inf}"
    );
    let variants = segments(&master);
    assert_eq!(variants.len(), 1, "{master}");

    let media_url = master_url.join(variants[0]).unwrap();
    let (_, media) = get_text(&media_url).await;
    assert!(media.contains("#EXT-X-PLAYLIST-TYPE:VOD\n"), "{media}");
    assert!(media.trim_end().ends_with("#EXT-X-ENDLIST"), "{media}");
    // Each fragment lasts until the next one starts; the last, until its last frame.
    let extinf: Vec<f64> = media
        .lines()
        .filter_map(|l| l.strip_prefix("#EXTINF:"))
        .map(|l| l.trim_end_matches(',').parse().unwrap())
        .collect();
    assert_eq!(extinf.len(), 4, "{media}");
    assert_eq!(extinf[..3], [1.0; 3], "{media}");
    assert!((0.9..=1.0).contains(&extinf[3]), "{media}");
    let map = media
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-MAP:"))
        .unwrap_or_else(|| panic!("no init segment: {media}"));
    let mut parts = vec![media_url.join(attribute(map, "URI").unwrap()).unwrap()];
    for s in segments(&media) {
        assert!(s.starts_with("getMP4MediaFragment.mp4?"), "{s}");
        parts.push(media_url.join(s).unwrap());
    }
    let probe = probe_concatenation(&parts, dir.path(), "hls.mp4").await;
    assert_eq!(probe.codec, "h264");
    assert_eq!(probe.frames, 4 * FPS, "{}", probe.json);
}

#[tokio::test]
async fn hls_mpeg_ts_segments_play() {
    let rec = Recording::new(4).await;
    let dir = tempfile::tempdir().unwrap();
    let mut options = on_demand(&rec, 0.0, 4.0);
    options.mpeg_ts = true;
    let master_url =
        Url::parse(&rec.archive().hls_url(&rec.stream, &options).await.unwrap()).unwrap();
    let (_, master) = get_text(&master_url).await;
    let media_url = master_url.join(segments(&master)[0]).unwrap();
    let (_, media) = get_text(&media_url).await;
    assert!(
        !media.contains("#EXT-X-MAP"),
        "no init segment for MPEG-TS: {media}"
    );
    let parts: Vec<Url> = segments(&media)
        .into_iter()
        .inspect(|s| assert!(s.starts_with("getTSFragment.ts?"), "{s}"))
        .map(|s| media_url.join(s).unwrap())
        .collect();
    assert_eq!(parts.len(), 4, "{media}");
    let probe = probe_concatenation(&parts, dir.path(), "hls.ts").await;
    assert_eq!(probe.frames, 4 * FPS, "{}", probe.json);
}

#[tokio::test]
async fn hls_live_lists_the_newest_fragments_and_no_end() {
    let rec = Recording::new(6).await;
    let mut options = HlsOptions::default();
    options.mode = PlaybackMode::Live;
    options.max_fragments = Some(3);
    let master_url =
        Url::parse(&rec.archive().hls_url(&rec.stream, &options).await.unwrap()).unwrap();
    assert_eq!(
        master_url.origin(),
        Url::parse(rec.local.url()).unwrap().origin()
    );
    let (_, master) = get_text(&master_url).await;
    let media_url = master_url.join(segments(&master)[0]).unwrap();
    let (_, media) = get_text(&media_url).await;
    assert!(!media.contains("#EXT-X-ENDLIST"), "{media}");
    assert!(!media.contains("#EXT-X-PLAYLIST-TYPE"), "{media}");
    let listed = segments(&media);
    assert_eq!(listed.len(), 3, "{media}");

    // The newest of them is the recording's last second.
    let last = media_url.join(listed[2]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let init = media_url.join(attribute(&media, "URI").unwrap()).unwrap();
    let probe = probe_concatenation(&[init, last], dir.path(), "live.mp4").await;
    assert_eq!(probe.frames, FPS, "{}", probe.json);
    let start: f64 = probe.json["streams"][0]["start_time"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let expected = rec
        .at(5.0)
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(
        (start - expected).abs() < 0.01,
        "starts at {start}, not {expected}"
    );
}

/// Unescapes the XML attribute values kvs-local writes.
fn xml_unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&amp;", "&")
}

#[tokio::test]
async fn dash_on_demand_manifest_leads_to_every_fragment() {
    let rec = Recording::new(8).await;
    let dir = tempfile::tempdir().unwrap();
    let url = rec
        .archive()
        .dash_url(&rec.stream, &on_demand(&rec, 2.5, 5.5))
        .await
        .unwrap();
    let prefix = format!(
        "{}/dash/v1/getDASHManifest.mpd?SessionToken=",
        rec.local.url()
    );
    assert!(url.starts_with(&prefix), "{url}");
    let mpd_url = Url::parse(&url).unwrap();
    let (content_type, mpd) = get_text(&mpd_url).await;
    assert_eq!(content_type, "application/dash+xml");
    assert!(mpd.starts_with("<?xml"), "{mpd}");
    assert_eq!(attribute(&mpd, "type"), Some("static"), "{mpd}");
    let duration: f64 = attribute(&mpd, "mediaPresentationDuration")
        .and_then(|d| d.strip_prefix("PT")?.strip_suffix('S')?.parse().ok())
        .unwrap_or_else(|| panic!("no duration: {mpd}"));
    assert!((3.9..=4.0).contains(&duration), "{mpd}");
    assert_eq!(attribute(&mpd, "mimeType"), Some("video/mp4"));
    assert_eq!(attribute(&mpd, "codecs"), Some("avc1.42c01e"));
    assert_eq!(mpd.matches("<AdaptationSet").count(), 1, "{mpd}");
    assert_eq!(mpd.matches("<S t=").count(), 4, "{mpd}");

    let init = attribute(&mpd, "sourceURL").unwrap();
    let mut parts = vec![mpd_url.join(&xml_unescape(init)).unwrap()];
    let mut rest = mpd.as_str();
    while let Some(i) = rest.find("<SegmentURL ") {
        rest = &rest[i + 1..];
        parts.push(
            mpd_url
                .join(&xml_unescape(attribute(rest, "media").unwrap()))
                .unwrap(),
        );
    }
    assert_eq!(
        parts.len(),
        5,
        "an init segment and four media segments: {mpd}"
    );
    let probe = probe_concatenation(&parts, dir.path(), "dash.mp4").await;
    assert_eq!(probe.frames, 4 * FPS, "{}", probe.json);
}

#[tokio::test]
async fn dash_live_manifest_is_dynamic() {
    let rec = Recording::new(4).await;
    let mut options = HlsOptions::default();
    options.mode = PlaybackMode::Live;
    options.max_fragments = Some(2);
    let mpd_url =
        Url::parse(&rec.archive().dash_url(&rec.stream, &options).await.unwrap()).unwrap();
    let (_, mpd) = get_text(&mpd_url).await;
    assert_eq!(attribute(&mpd, "type"), Some("dynamic"), "{mpd}");
    assert!(attribute(&mpd, "minimumUpdatePeriod").is_some(), "{mpd}");
    assert!(
        attribute(&mpd, "mediaPresentationDuration").is_none(),
        "{mpd}"
    );
    assert_eq!(mpd.matches("<SegmentURL ").count(), 2, "{mpd}");
}
