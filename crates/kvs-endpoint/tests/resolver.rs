//! The resolver, signer and configuration against a real kvs-local over loopback.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use kvs_endpoint::{ErrorKind, KvsConfig, Payload};
use kvs_testkit::LocalKvs;
use kvs_types::{ApiName, Arn, ChannelProtocol, ChannelRole, StreamName, StreamRef};

async fn local() -> (LocalKvs, KvsConfig) {
    let local = LocalKvs::start().await;
    let config = local.config().clone();
    (local, config)
}

#[tokio::test]
async fn concurrent_lookups_of_one_key_make_one_call() {
    let (local, config) = local().await;
    config
        .kinesis_video()
        .create_stream()
        .stream_name("cam")
        .send()
        .await
        .unwrap();
    let resolver = config.resolver().clone();
    let stream = StreamRef::Name(StreamName::new("cam").unwrap());

    let mut tasks = Vec::new();
    for _ in 0..20 {
        let (resolver, stream) = (resolver.clone(), stream.clone());
        tasks.push(tokio::spawn(async move {
            resolver.data_endpoint(&stream, ApiName::PutMedia).await
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap(), local.url());
    }
    assert_eq!(local.server().calls("GetDataEndpoint"), 1);

    // another API is another key; the same key again is served from the cache
    resolver
        .data_endpoint(&stream, ApiName::GetClip)
        .await
        .unwrap();
    resolver
        .data_endpoint(&stream, ApiName::PutMedia)
        .await
        .unwrap();
    assert_eq!(local.server().calls("GetDataEndpoint"), 2);

    resolver.invalidate_data_endpoint(&stream, ApiName::PutMedia);
    resolver
        .data_endpoint(&stream, ApiName::PutMedia)
        .await
        .unwrap();
    assert_eq!(local.server().calls("GetDataEndpoint"), 3);
}

#[tokio::test]
async fn clones_of_a_config_share_one_resolver() {
    let (local, config) = local().await;
    config
        .kinesis_video()
        .create_stream()
        .stream_name("cam")
        .send()
        .await
        .unwrap();
    let stream = StreamRef::parse("cam").unwrap();
    let copy = config.clone();
    assert!(Arc::ptr_eq(config.resolver(), copy.resolver()));
    for c in [&config, &copy] {
        c.resolver()
            .data_endpoint(&stream, ApiName::GetMedia)
            .await
            .unwrap();
    }
    assert_eq!(local.server().calls("GetDataEndpoint"), 1);
}

#[tokio::test]
async fn expired_entries_are_fetched_again() {
    let (local, config) = local().await;
    config
        .kinesis_video()
        .create_stream()
        .stream_name("cam")
        .send()
        .await
        .unwrap();
    let config = config.with_endpoint_ttl(Duration::from_millis(100));
    let resolver = config.resolver();
    let stream = StreamRef::parse("cam").unwrap();
    resolver
        .data_endpoint(&stream, ApiName::GetMedia)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    resolver
        .data_endpoint(&stream, ApiName::GetMedia)
        .await
        .unwrap();
    assert_eq!(local.server().calls("GetDataEndpoint"), 2);
}

#[tokio::test]
async fn missing_stream_is_a_not_found_error_and_is_not_cached() {
    let (local, config) = local().await;
    let resolver = config.resolver();
    let stream = StreamRef::parse("later").unwrap();
    let err = resolver
        .data_endpoint(&stream, ApiName::PutMedia)
        .await
        .unwrap_err();
    assert_eq!(err.service_error().kind(), ErrorKind::NotFound);
    assert!(err.to_string().contains("later"), "{err}");
    config
        .kinesis_video()
        .create_stream()
        .stream_name("later")
        .send()
        .await
        .unwrap();
    assert_eq!(
        resolver
            .data_endpoint(&stream, ApiName::PutMedia)
            .await
            .unwrap(),
        local.url()
    );
}

#[tokio::test]
async fn signaling_endpoints_per_role_and_protocol() {
    let (local, config) = local().await;
    let arn = config
        .kinesis_video()
        .create_signaling_channel()
        .channel_name("door")
        .send()
        .await
        .unwrap()
        .channel_arn
        .unwrap();
    let arn = Arn::parse(&arn).unwrap();
    let resolver = config.resolver();
    let wss = resolver
        .signaling_endpoint(&arn, ChannelRole::Master, ChannelProtocol::Wss)
        .await
        .unwrap();
    assert!(wss.starts_with("ws://"), "{wss}");
    let https = resolver
        .signaling_endpoint(&arn, ChannelRole::Viewer, ChannelProtocol::Https)
        .await
        .unwrap();
    assert_eq!(https, local.url());
    resolver
        .signaling_endpoint(&arn, ChannelRole::Master, ChannelProtocol::Wss)
        .await
        .unwrap();
    assert_eq!(local.server().calls("GetSignalingChannelEndpoint"), 2);
}

#[tokio::test]
async fn hand_signed_requests_are_accepted_and_a_wrong_key_is_not() {
    let (local, config) = local().await;
    let body = br#"{"MaxResults":5}"#;
    let mut req = http::Request::post(format!("{}/listStreams", local.url()))
        .header("content-type", "application/json")
        .body(())
        .unwrap();
    config
        .signer("kinesisvideo")
        .sign(&mut req, Payload::Bytes(body))
        .await
        .unwrap();
    let client = reqwest::Client::new();
    let send = |req: &http::Request<()>| {
        let mut r = client.post(req.uri().to_string()).body(body.to_vec());
        for (k, v) in req.headers() {
            r = r.header(k.as_str(), v.to_str().unwrap());
        }
        r.send()
    };
    let resp = send(&req).await.unwrap();
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());

    let wrong = local.config_with_secret("wrong").await;
    let mut req = http::Request::post(format!("{}/listStreams", local.url()))
        .body(())
        .unwrap();
    wrong
        .signer("kinesisvideo")
        .sign(&mut req, Payload::Bytes(body))
        .await
        .unwrap();
    assert_eq!(send(&req).await.unwrap().status(), 403);
}

// `cargo test --workspace` turns `embedded` on (the binaries need it).
#[cfg(feature = "embedded")]
#[tokio::test]
async fn unconfigured_load_starts_or_reuses_the_embedded_kvs_local() {
    use kvs_endpoint::{LoadOptions, Target};

    let dir = tempfile::tempdir().unwrap();
    let opts = LoadOptions::default().local_data_dir(dir.path());
    let first = KvsConfig::load(opts.clone()).await.unwrap();
    let Target::Local {
        url,
        started_here: true,
        ..
    } = first.target().clone()
    else {
        panic!("expected an embedded kvs-local, got {}", first.target());
    };
    first
        .kinesis_video()
        .create_stream()
        .stream_name("s")
        .send()
        .await
        .unwrap();

    // a second client on the same data dir uses the running server instead of starting one
    let second = KvsConfig::load(opts).await.unwrap();
    assert_eq!(
        second.target(),
        &Target::Local {
            url,
            data_dir: dir.path().to_path_buf(),
            started_here: false
        }
    );
    let names: Vec<_> = second
        .kinesis_video()
        .list_streams()
        .send()
        .await
        .unwrap()
        .stream_info_list()
        .iter()
        .map(|s| s.stream_name().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["s"]);

    let explicit = KvsConfig::load(LoadOptions::default().endpoint_url("http://127.0.0.1:9"))
        .await
        .unwrap();
    assert!(matches!(explicit.target(), Target::Endpoint { .. }));
}
