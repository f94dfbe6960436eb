use std::process::Command;

use aws_sdk_kinesisvideoarchivedmedia::primitives::DateTime;
use aws_sdk_kinesisvideoarchivedmedia::types::{
    HlsFragmentSelector, HlsFragmentSelectorType, HlsPlaybackMode, HlsTimestampRange,
};
use hmac::Mac;
use kvs_local::Server;
use kvs_mkv::{Frame, MkvWriter, Packager, PackagerConfig, WriterConfig};

use crate::clip::{ffprobe, recording};
use crate::media::{archive_client, now_ms, put_media};
use crate::start;

/// Puts `frames` (relative timestamps) into `stream` from `base_ms` on; no ERROR ack allowed.
/// Returns the acks.
pub(crate) async fn upload(
    server: &Server,
    stream: &str,
    tracks: &[kvs_mkv::TrackInfo],
    frames: &[Frame],
    base_ms: u64,
) -> Vec<serde_json::Value> {
    let writer = MkvWriter::new(WriterConfig::default(), tracks.to_vec()).unwrap();
    let mut packager = Packager::new(writer, PackagerConfig::default());
    let mut body = packager.header();
    for f in frames {
        let f = Frame {
            timestamp_ns: f.timestamp_ns + base_ms * 1_000_000,
            ..f.clone()
        };
        packager.push(&f, &mut body).unwrap();
    }
    let acks = put_media(server, stream, body, "ABSOLUTE").await;
    assert!(acks.iter().all(|a| a["EventType"] != "ERROR"), "{acks:?}");
    acks
}

async fn get(url: &str) -> (u16, String) {
    let resp = reqwest::get(url).await.unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

#[tokio::test]
async fn hls_on_demand_and_live_play_in_ffmpeg_and_tokens_are_guarded() {
    let local = start().await;
    let server = local.server();
    let dir = local.kvs.scratch_dir();
    for s in ["cam", "other"] {
        local.kvs.create_stream(s).await;
    }
    let (tracks, frames) = recording(dir);
    let base = now_ms() - 20_000;
    upload(server, "cam", &tracks, &frames, base).await;
    upload(server, "other", &tracks, &frames, base).await;
    let archive = archive_client(server);

    let url = archive
        .get_hls_streaming_session_url()
        .stream_name("cam")
        .playback_mode(HlsPlaybackMode::OnDemand)
        .hls_fragment_selector(
            HlsFragmentSelector::builder()
                .fragment_selector_type(HlsFragmentSelectorType::ProducerTimestamp)
                .timestamp_range(
                    HlsTimestampRange::builder()
                        .start_timestamp(DateTime::from_millis(base as i64 - 1_000))
                        .end_timestamp(DateTime::from_millis(base as i64 + 10_000))
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap()
        .hls_streaming_session_url
        .unwrap();
    assert!(
        url.contains("/hls/v1/getHLSMasterPlaylist.m3u8?SessionToken="),
        "{url}"
    );

    // ffmpeg copies the whole on-demand session; every frame decodes
    let out = dir.join("hls.mp4");
    let status = {
        let (url, out) = (url.clone(), out.clone());
        tokio::task::spawn_blocking(move || {
            Command::new("ffmpeg")
                .args(["-v", "error", "-y", "-i", &url, "-c", "copy"])
                .arg(&out)
                .status()
                .unwrap()
        })
        .await
        .unwrap()
    };
    assert!(status.success());
    let probe = ffprobe(&out);
    let streams = probe["streams"].as_array().unwrap();
    assert!(
        streams
            .iter()
            .any(|s| s["codec_name"] == "h264" && s["nb_read_frames"] == "90"),
        "{probe}"
    );
    assert!(streams.iter().any(|s| s["codec_name"] == "aac"), "{probe}");
    let (_, media) = get(&url.replace("getHLSMasterPlaylist", "getHLSMediaPlaylist")).await;
    assert!(media.contains("#EXT-X-ENDLIST"), "{media}");
    assert_eq!(media.matches("#EXTINF").count(), 3);

    // LIVE: the playlist grows while the producer runs
    let live = archive
        .get_hls_streaming_session_url()
        .stream_name("cam")
        .playback_mode(HlsPlaybackMode::Live)
        .send()
        .await
        .unwrap()
        .hls_streaming_session_url
        .unwrap();
    let media_url = live.replace("getHLSMasterPlaylist", "getHLSMediaPlaylist");
    let (status, before) = get(&media_url).await;
    assert_eq!(status, 200);
    assert!(!before.contains("#EXT-X-ENDLIST"));
    upload(server, "cam", &tracks, &frames, base + 5_000).await;
    let (_, after) = get(&media_url).await;
    let last = |p: &str| {
        p.lines()
            .rfind(|l| l.starts_with("getMP4MediaFragment"))
            .unwrap()
            .to_owned()
    };
    assert_ne!(
        last(&before),
        last(&after),
        "a newer fragment shows up:\n{before}\n{after}"
    );

    // a tampered token, an expired token, and another stream's fragment
    let token = url.split("SessionToken=").nth(1).unwrap().to_owned();
    let mut tampered = token.clone().into_bytes();
    tampered[10] = if tampered[10] == b'0' { b'1' } else { b'0' };
    let tampered = String::from_utf8(tampered).unwrap();
    let (status, _) = get(&url.replace(&token, &tampered)).await;
    assert_eq!(status, 403);

    let key = std::fs::read(local.kvs.data_dir().join("session.key")).unwrap();
    let (payload_hex, _) = token.split_once('.').unwrap();
    let mut payload: serde_json::Value = serde_json::from_slice(&hex_decode(payload_hex)).unwrap();
    payload["x"] = serde_json::json!(now_ms() as i64 - 1);
    let payload = serde_json::to_vec(&payload).unwrap();
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
    mac.update(&payload);
    let expired = format!(
        "{}.{}",
        hex_encode(&payload),
        hex_encode(&mac.finalize().into_bytes())
    );
    let (status, body) = get(&url.replace(&token, &expired)).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("expired"), "{body}");

    let other = archive
        .list_fragments()
        .stream_name("other")
        .send()
        .await
        .unwrap();
    let other_fragment = other.fragments()[0].fragment_number().unwrap().to_owned();
    let (status, _) = get(&format!(
        "{}/hls/v1/getMP4MediaFragment.mp4?FragmentNumber={other_fragment}&SessionToken={token}",
        server.url()
    ))
    .await;
    assert_eq!(status, 404, "a cam token cannot read other's fragments");

    // HLS with MPEG-TS segments
    let ts_url = archive
        .get_hls_streaming_session_url()
        .stream_name("cam")
        .playback_mode(HlsPlaybackMode::OnDemand)
        .container_format(aws_sdk_kinesisvideoarchivedmedia::types::ContainerFormat::MpegTs)
        .hls_fragment_selector(
            HlsFragmentSelector::builder()
                .fragment_selector_type(HlsFragmentSelectorType::ProducerTimestamp)
                .timestamp_range(
                    HlsTimestampRange::builder()
                        .start_timestamp(DateTime::from_millis(base as i64 - 1_000))
                        .end_timestamp(DateTime::from_millis(base as i64 + 4_000))
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap()
        .hls_streaming_session_url
        .unwrap();
    let (_, ts_media) = get(&ts_url.replace("getHLSMasterPlaylist", "getHLSMediaPlaylist")).await;
    assert!(
        ts_media.contains("getTSFragment.ts?FragmentNumber="),
        "{ts_media}"
    );
    assert!(!ts_media.contains("EXT-X-MAP"));
    let ts_out = dir.join("hls-ts.mp4");
    let status = {
        let (url, out) = (ts_url.clone(), ts_out.clone());
        tokio::task::spawn_blocking(move || {
            Command::new("ffmpeg")
                .args(["-v", "error", "-y", "-i", &url, "-c", "copy"])
                .arg(&out)
                .status()
                .unwrap()
        })
        .await
        .unwrap()
    };
    assert!(status.success());
    let probe = ffprobe(&ts_out);
    assert!(
        probe["streams"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["codec_name"] == "h264" && s["nb_read_frames"] == "90"),
        "{probe}"
    );

    // DASH over the same fragments: ffmpeg reads the manifest
    let dash = archive
        .get_dash_streaming_session_url()
        .stream_name("cam")
        .playback_mode(aws_sdk_kinesisvideoarchivedmedia::types::DashPlaybackMode::OnDemand)
        .dash_fragment_selector(
            aws_sdk_kinesisvideoarchivedmedia::types::DashFragmentSelector::builder()
                .fragment_selector_type(aws_sdk_kinesisvideoarchivedmedia::types::DashFragmentSelectorType::ProducerTimestamp)
                .timestamp_range(
                    aws_sdk_kinesisvideoarchivedmedia::types::DashTimestampRange::builder()
                        .start_timestamp(DateTime::from_millis(base as i64 - 1_000))
                        .end_timestamp(DateTime::from_millis(base as i64 + 4_000))
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap()
        .dash_streaming_session_url
        .unwrap();
    assert!(
        dash.contains("/dash/v1/getDASHManifest.mpd?SessionToken="),
        "{dash}"
    );
    let dash_out = dir.join("dash.mp4");
    let status = {
        let (url, out) = (dash.clone(), dash_out.clone());
        tokio::task::spawn_blocking(move || {
            Command::new("ffmpeg")
                .args(["-v", "error", "-y", "-i", &url, "-c", "copy"])
                .arg(&out)
                .status()
                .unwrap()
        })
        .await
        .unwrap()
    };
    assert!(status.success());
    let probe = ffprobe(&dash_out);
    assert!(
        probe["streams"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["codec_name"] == "h264" && s["nb_read_frames"] == "90"),
        "{probe}"
    );

    // typed errors from the SDK
    let bad = archive
        .get_hls_streaming_session_url()
        .stream_name("cam")
        .playback_mode(HlsPlaybackMode::OnDemand)
        .send()
        .await
        .unwrap_err();
    assert!(bad.into_service_error().is_invalid_argument_exception());
}

fn hex_decode(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn hex_encode(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[tokio::test]
async fn active_playback_sessions_per_stream_are_limited() {
    let local = start().await;
    let server = local.server();
    local.kvs.create_stream("busy").await;
    let archive = archive_client(server);
    let ask = || {
        archive
            .get_hls_streaming_session_url()
            .stream_name("busy")
            .playback_mode(HlsPlaybackMode::OnDemand)
            .hls_fragment_selector(
                HlsFragmentSelector::builder()
                    .fragment_selector_type(HlsFragmentSelectorType::ServerTimestamp)
                    .timestamp_range(
                        HlsTimestampRange::builder()
                            .start_timestamp(DateTime::from_secs(1_700_000_000))
                            .end_timestamp(DateTime::from_secs(1_700_000_060))
                            .build(),
                    )
                    .build(),
            )
            .send()
    };
    for i in 0..10 {
        ask().await.unwrap_or_else(|e| panic!("session {i}: {e:?}"));
    }
    let err = ask().await.unwrap_err().into_service_error();
    assert!(err.is_client_limit_exceeded_exception(), "{err:?}");
}
