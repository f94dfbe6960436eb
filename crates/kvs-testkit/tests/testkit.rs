//! The helpers themselves: synthetic video decodes and reads back from MKV, the kvs-local
//! fixture starts, restarts and cleans up and makes configurations for other keys and servers,
//! the proxy rewrites endpoints and cuts bodies.

#![allow(clippy::unwrap_used)]

use kvs_mkv::{MkvWriter, Packager, PackagerConfig, WriterConfig};
use kvs_testkit::local::config_at;
use kvs_testkit::net::{CutAfter, CutProxy, free_addr};
use kvs_testkit::video::read_mkv;
use kvs_testkit::{LocalKvs, SyntheticVideo, probe_video};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[test]
fn synthetic_h264_decodes_frame_for_frame() {
    let dir = tempfile::tempdir().unwrap();
    let video = SyntheticVideo {
        width: 96,
        height: 64,
        fps: 25,
        key_every: 12,
        min_frame_bytes: 2_000,
        ..SyntheticVideo::default()
    };
    let frames = video.frames(0..50);
    let path = dir.path().join("synthetic.h264");
    std::fs::write(&path, video.annexb(&frames)).unwrap();
    let probe = probe_video(&path);
    assert_eq!(probe.codec, "h264", "{}", probe.json);
    assert_eq!((probe.width, probe.height), (96, 64));
    assert_eq!(probe.frames, 50, "{}", probe.json);
    assert_eq!(probe.json["streams"][0]["profile"], "Constrained Baseline");
    let decoded = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(&path)
        .args(["-f", "null", "-"])
        .output()
        .unwrap();
    assert!(decoded.status.success());
    assert_eq!(
        String::from_utf8_lossy(&decoded.stderr),
        "",
        "ffmpeg decodes without complaint"
    );
}

#[test]
fn read_mkv_gives_back_the_frames_written() {
    let dir = tempfile::tempdir().unwrap();
    let video = SyntheticVideo::starting_at(1_700_000_000_000_000_000);
    let frames = video.frames(0..25);
    let writer = MkvWriter::new(WriterConfig::default(), vec![video.track_info()]).unwrap();
    let mut packager = Packager::new(writer, PackagerConfig::default());
    let mut mkv = packager.header();
    for f in &frames {
        packager.push(f, &mut mkv).unwrap();
    }
    let path = dir.path().join("synthetic.mkv");
    std::fs::write(&path, &mkv).unwrap();
    let (tracks, read) = read_mkv(&path);
    assert_eq!(tracks, [video.track_info()]);
    assert_eq!(read, frames);
}

#[tokio::test]
async fn configs_for_other_keys_and_other_servers() {
    let local = LocalKvs::start().await;
    let wrong = local.config_with_secret("not-the-secret").await;
    let err = wrong
        .kinesis_video()
        .list_streams()
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.raw_response().unwrap().status().as_u16(), 403);
    // kvs-local's defaults are the fixture's
    let same = config_at(local.url()).await;
    same.kinesis_video().list_streams().send().await.unwrap();
    let nobody = config_at(&format!("http://{}", free_addr())).await;
    assert!(nobody.kinesis_video().list_streams().send().await.is_err());
}

#[tokio::test]
async fn the_fixture_serves_a_config_restarts_in_place_and_cleans_up() {
    let mut local = LocalKvs::start().await;
    assert!(local.url().starts_with("http://127.0.0.1:"));
    assert_eq!(local.url(), format!("http://{}", local.addr()));
    assert_eq!(local.region(), "us-east-1");
    assert!(local.data_dir().starts_with(local.scratch_dir()));
    local.create_stream("cam").await;
    let described = local
        .config()
        .kinesis_video()
        .describe_stream()
        .stream_name("cam")
        .send()
        .await
        .unwrap();
    assert_eq!(
        described.stream_info().unwrap().data_retention_in_hours(),
        Some(1)
    );
    assert_eq!(local.server().calls("DescribeStream"), 1);

    let url = local.url().to_owned();
    local.stop().await;
    assert!(
        local
            .config()
            .kinesis_video()
            .list_streams()
            .send()
            .await
            .is_err(),
        "a stopped server answers nothing"
    );
    local.restart().await;
    assert_eq!(local.url(), url);
    let listed = local
        .config()
        .kinesis_video()
        .list_streams()
        .send()
        .await
        .unwrap();
    assert_eq!(listed.stream_info_list().len(), 1, "the data survived");

    let scratch = local.scratch_dir().to_path_buf();
    drop(local);
    assert!(!scratch.exists(), "the temporary directory is gone");
}

#[tokio::test]
async fn config_tweaks_reach_the_server() {
    let local = LocalKvs::builder()
        .configure(|c| c.region = kvs_types::Region::new("eu-west-1").unwrap())
        .start()
        .await;
    assert_eq!(local.region(), "eu-west-1");
    let arn = local
        .config()
        .kinesis_video()
        .create_stream()
        .stream_name("cam")
        .send()
        .await
        .unwrap()
        .stream_arn
        .unwrap();
    assert!(arn.starts_with("arn:aws:kinesisvideo:eu-west-1:"), "{arn}");
}

#[test]
fn the_fixture_starts_without_a_runtime() {
    let local = LocalKvs::builder().start_blocking();
    let names = local.block_on(async {
        local.create_stream("cam").await;
        local
            .config()
            .kinesis_video()
            .list_streams()
            .send()
            .await
            .unwrap()
            .stream_info_list()
            .iter()
            .filter_map(|s| s.stream_name().map(str::to_owned))
            .collect::<Vec<_>>()
    });
    assert_eq!(names, ["cam"]);
}

#[tokio::test]
async fn the_proxy_hands_out_its_own_endpoint() {
    let local = LocalKvs::start().await;
    local.create_stream("cam").await;
    let proxy = CutProxy::start(local.addr(), CutAfter::close("/getClip", 0)).await;
    let via = local.config_via(proxy.url()).await;
    let endpoint = via
        .kinesis_video()
        .get_data_endpoint()
        .stream_name("cam")
        .api_name(aws_sdk_kinesisvideo::types::ApiName::GetClip)
        .send()
        .await
        .unwrap();
    assert_eq!(endpoint.data_endpoint(), Some(proxy.url()));
    let report = proxy.report();
    assert_eq!(report.requests, ["POST /getDataEndpoint HTTP/1.1"]);
    assert!(!report.cut);
}

/// A one-response HTTP server with a `len`-byte body.
async fn serve_once(len: usize) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut buf = vec![0; 4096];
        let mut head = Vec::new();
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = s.read(&mut buf).await.unwrap();
            head.extend_from_slice(&buf[..n]);
        }
        let reply =
            format!("HTTP/1.1 200 OK\r\ncontent-type: video/mp4\r\ncontent-length: {len}\r\n\r\n");
        s.write_all(reply.as_bytes()).await.unwrap();
        s.write_all(&vec![7u8; len]).await.unwrap();
        let _ = s.shutdown().await;
    });
    addr
}

async fn read_body(mut response: reqwest::Response) -> (usize, Option<reqwest::Error>) {
    let mut got = 0;
    loop {
        match response.chunk().await {
            Ok(Some(c)) => got += c.len(),
            Ok(None) => return (got, None),
            Err(e) => return (got, Some(e)),
        }
    }
}

#[tokio::test]
async fn the_proxy_closes_a_body_after_the_cut() {
    let upstream = serve_once(100_000).await;
    let proxy = CutProxy::start(upstream, CutAfter::close("/clip", 30_000)).await;
    let response = reqwest::get(format!("{}/clip.mp4", proxy.url()))
        .await
        .unwrap();
    assert_eq!(response.content_length(), Some(100_000));
    let (got, error) = read_body(response).await;
    assert_eq!(got, 30_000);
    assert!(error.is_some(), "a short body is an error");
    let report = proxy.cut().await;
    assert_eq!(report.cut_content_length, Some(100_000));
}

#[tokio::test]
async fn a_stalled_body_ends_when_the_proxy_goes() {
    let upstream = serve_once(100_000).await;
    let proxy = CutProxy::start(upstream, CutAfter::stall("/", 1_000)).await;
    let response = reqwest::get(format!("{}/clip.mp4", proxy.url()))
        .await
        .unwrap();
    let reader = tokio::spawn(read_body(response));
    proxy.cut().await;
    drop(proxy);
    let (got, error) = reader.await.unwrap();
    assert_eq!(got, 1_000);
    assert!(error.is_some());
}
