use aws_sdk_kinesisvideoarchivedmedia::primitives::DateTime;
use aws_sdk_kinesisvideoarchivedmedia::types::{
    ClipFragmentSelector, ClipFragmentSelectorType, ClipTimestampRange,
};
use kvs_mkv::{Frame, TrackInfo};

use crate::auth::signed_headers;
use crate::hls::upload;
use crate::media::{archive_client, now_ms};
use crate::start;

pub(crate) use kvs_testkit::ffprobe;

/// A real 3 s H.264 (30 fps, key frame every second) + AAC recording, made with GStreamer.
pub(crate) fn recording(dir: &std::path::Path) -> (Vec<TrackInfo>, Vec<Frame>) {
    let path = dir.join("in.mkv");
    kvs_testkit::make_mkv(&path, 3);
    kvs_testkit::video::read_mkv(&path)
}

fn selector(start_ms: u64, end_ms: u64) -> ClipFragmentSelector {
    ClipFragmentSelector::builder()
        .fragment_selector_type(ClipFragmentSelectorType::ProducerTimestamp)
        .timestamp_range(
            ClipTimestampRange::builder()
                .start_timestamp(DateTime::from_millis(start_ms as i64))
                .end_timestamp(DateTime::from_millis(end_ms as i64))
                .build()
                .unwrap(),
        )
        .build()
        .unwrap()
}

#[tokio::test]
async fn get_clip_returns_an_mp4_that_ffprobe_reads() {
    let local = start().await;
    let (server, c) = (local.server(), &local.client);
    let dir = local.kvs.scratch_dir();
    local.kvs.create_stream("cam").await;
    c.create_stream()
        .stream_name("live-only")
        .send()
        .await
        .unwrap();

    let (tracks, frames) = recording(dir);
    let base = now_ms() - 60_000;
    let acks = upload(server, "cam", &tracks, &frames, base).await;
    assert_eq!(
        acks.iter()
            .filter(|a| a["EventType"] == "PERSISTED")
            .count(),
        3,
        "{acks:?}"
    );

    let archive = archive_client(server);
    let clip = archive
        .get_clip()
        .stream_name("cam")
        .clip_fragment_selector(selector(base - 1_000, base + 10_000))
        .send()
        .await
        .unwrap();
    assert_eq!(clip.content_type(), Some("video/mp4"));
    let bytes = clip.payload.collect().await.unwrap().into_bytes();
    let path = dir.join("clip.mp4");
    std::fs::write(&path, &bytes).unwrap();
    let probe = ffprobe(&path);
    let streams = probe["streams"].as_array().unwrap();
    let video = streams.iter().find(|s| s["codec_type"] == "video").unwrap();
    let audio = streams
        .iter()
        .find(|s| s["codec_type"] == "audio")
        .expect("audio present");
    assert_eq!(video["codec_name"], "h264");
    assert_eq!(video["width"], 320);
    assert_eq!(video["nb_read_frames"], "90", "every uploaded frame");
    assert_eq!(audio["codec_name"], "aac");
    let duration: f64 = probe["format"]["duration"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    // within one frame (1/30 s) of the 90 frames uploaded
    assert!((duration - 3.0).abs() <= 1.0 / 30.0, "duration {duration}");

    // errors, typed by the official SDK
    let empty = archive
        .get_clip()
        .stream_name("cam")
        .clip_fragment_selector(selector(base + 600_000, base + 700_000))
        .send()
        .await
        .unwrap_err();
    assert!(empty.into_service_error().is_resource_not_found_exception());
    let backwards = archive
        .get_clip()
        .stream_name("cam")
        .clip_fragment_selector(selector(base + 5_000, base))
        .send()
        .await
        .unwrap_err();
    assert!(
        backwards
            .into_service_error()
            .is_invalid_argument_exception()
    );
    let no_retention = archive
        .get_clip()
        .stream_name("live-only")
        .clip_fragment_selector(selector(base, base + 5_000))
        .send()
        .await
        .unwrap_err();
    assert!(
        no_retention
            .into_service_error()
            .is_no_data_retention_exception()
    );
}

/// A SigV4-signed `POST /getClip` with `body`, for what the SDK hides (the response headers).
async fn raw_get_clip(server: &kvs_local::Server, body: String) -> reqwest::Response {
    let url = format!("{}/getClip", server.url());
    let headers = signed_headers(
        &url,
        &server.addr().to_string(),
        body.as_bytes(),
        &server.credentials().secret_access_key,
        std::time::SystemTime::now(),
    );
    let mut req = reqwest::Client::new().post(&url).body(body);
    // reqwest sets the host itself
    for (k, v) in headers.iter().filter(|(k, _)| k != "host") {
        req = req.header(k, v);
    }
    req.send().await.unwrap()
}

/// Top-level boxes of an MP4 as (type, payload range).
fn top_boxes(mp4: &[u8]) -> Vec<([u8; 4], std::ops::Range<usize>)> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos + 8 <= mp4.len() {
        let size = u32::from_be_bytes(mp4[pos..pos + 4].try_into().unwrap()) as usize;
        let kind: [u8; 4] = mp4[pos + 4..pos + 8].try_into().unwrap();
        assert!(size >= 8, "box {kind:?} at {pos} has size {size}");
        out.push((kind, pos + 8..pos + size));
        pos += size;
    }
    assert_eq!(pos, mp4.len(), "boxes do not tile the file");
    out
}

#[tokio::test]
async fn streamed_clip_has_its_content_length_and_every_frame() {
    let local = start().await;
    let server = local.server();
    let dir = local.kvs.scratch_dir();
    local.kvs.create_stream("cam").await;

    let (tracks, frames) = recording(dir);
    let base = now_ms() - 60_000;
    let acks = upload(server, "cam", &tracks, &frames, base).await;
    assert!(
        acks.iter()
            .filter(|a| a["EventType"] == "PERSISTED")
            .count()
            >= 3,
        "{acks:?}"
    );

    let request = serde_json::json!({
        "StreamName": "cam",
        "ClipFragmentSelector": {
            "FragmentSelectorType": "PRODUCER_TIMESTAMP",
            "TimestampRange": {
                "StartTimestamp": (base - 1_000) as f64 / 1000.0,
                "EndTimestamp": (base + 10_000) as f64 / 1000.0,
            },
        },
    });
    let resp = raw_get_clip(server, request.to_string()).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "video/mp4");
    let length: usize = resp.headers()["content-length"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let mp4 = resp.bytes().await.unwrap();
    assert_eq!(mp4.len(), length, "Content-Length and body differ");

    // mdat is every uploaded frame's bytes, in stream order.
    let boxes = top_boxes(&mp4);
    let kinds: Vec<&[u8; 4]> = boxes.iter().map(|(k, _)| k).collect();
    assert_eq!(kinds, [b"ftyp", b"moov", b"mdat"]);
    let expected: Vec<u8> = frames.iter().flat_map(|f| f.data.iter().copied()).collect();
    assert!(
        mp4[boxes[2].1.clone()] == expected[..],
        "mdat differs from the uploaded frames"
    );

    let path = dir.join("streamed.mp4");
    std::fs::write(&path, &mp4).unwrap();
    let probe = ffprobe(&path);
    let streams = probe["streams"].as_array().unwrap();
    let video = streams.iter().find(|s| s["codec_type"] == "video").unwrap();
    assert_eq!(video["nb_read_frames"], "90");
}
