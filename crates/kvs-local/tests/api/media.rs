use std::time::{Duration, SystemTime};

use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use bytes::Bytes;
use kvs_local::Server;
use kvs_mkv::{Event, Frame, MkvWriter, Packager, PackagerConfig, Parser, TrackInfo, WriterConfig};
use kvs_testkit::LocalKvs;
use serde_json::Value;

use crate::{start, with};

const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// A PutMedia request as the official producers make it: streamed body, payload not signed.
pub(crate) async fn put_media(
    server: &Server,
    stream: &str,
    body: Vec<u8>,
    timecode_type: &str,
) -> Vec<Value> {
    let url = format!("{}/putMedia", server.url());
    let host = server.addr().to_string();
    let start = format!(
        "{:.3}",
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64()
    );
    let headers = [
        ("host", host.as_str()),
        ("x-amzn-stream-name", stream),
        ("x-amzn-fragment-timecode-type", timecode_type),
        ("x-amzn-producer-start-timestamp", start.as_str()),
        ("x-amzn-fragment-acknowledgment-required", "1"),
    ];
    let identity = aws_credential_types::Credentials::new(
        kvs_local::Credentials::DEFAULT_ACCESS_KEY_ID,
        kvs_local::Credentials::DEFAULT_SECRET_ACCESS_KEY,
        None,
        None,
        "t",
    )
    .into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("kinesisvideo")
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let signable = SignableRequest::new(
        "POST",
        &url,
        headers.iter().copied(),
        SignableBody::Precomputed(EMPTY_SHA256.into()),
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    // stream the body in uneven chunks, as a live producer would
    let chunks: Vec<Result<Bytes, std::io::Error>> = body
        .chunks(7_777)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    let mut req = reqwest::Client::new()
        .post(&url)
        .body(reqwest::Body::wrap_stream(tokio_stream::iter(chunks)));
    for (k, v) in headers.iter().skip(1) {
        req = req.header(*k, *v);
    }
    for (k, v) in instructions.headers() {
        req = req.header(k, v);
    }
    let resp = req.send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn tracks() -> Vec<TrackInfo> {
    vec![
        TrackInfo::h264(1, 320, 240, vec![1, 0x42, 0, 0x1e, 0xff, 0xe1, 0, 0, 1, 0]),
        TrackInfo::aac(2, 48_000.0, 2, vec![0x11, 0x90]),
    ]
}

/// `fragments` fragments of 1 s video (10 fps, key frame first) plus audio, from `start_ms`.
fn upload(start_ms: u64, fragments: u64) -> (Vec<u8>, Vec<Frame>) {
    let writer = MkvWriter::new(WriterConfig::default(), tracks()).unwrap();
    let mut p = Packager::new(writer, PackagerConfig::default());
    let mut out = p.header();
    let mut frames = Vec::new();
    for i in 0..fragments * 10 {
        let ts = (start_ms + i * 100) * 1_000_000;
        let v = Frame {
            track: 1,
            timestamp_ns: ts,
            key: i % 10 == 0,
            data: Bytes::from(vec![(i % 251) as u8; 500 + i as usize]),
        };
        let a = Frame {
            track: 2,
            timestamp_ns: ts + 20_000_000,
            key: true,
            data: Bytes::from(vec![7u8; 64]),
        };
        for f in [v, a] {
            p.push(&f, &mut out).unwrap();
            frames.push(f);
        }
    }
    (out, frames)
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

pub(crate) fn parse_all(bytes: &[u8]) -> Vec<Event> {
    let mut p = Parser::new();
    p.feed(bytes);
    let mut out = Vec::new();
    while let Some(e) = p.next_event().unwrap() {
        out.push(e);
    }
    out.extend(p.finish().unwrap());
    out
}

pub(crate) fn frames_of(events: &[Event]) -> Vec<Frame> {
    events
        .iter()
        .filter_map(|e| {
            if let Event::Frame(f) = e {
                Some(f.clone())
            } else {
                None
            }
        })
        .collect()
}

fn tag(events: &[Event], name: &str) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| {
            if let Event::Tags(t) = e {
                Some(t)
            } else {
                None
            }
        })
        .flatten()
        .filter(|t| t.name == name)
        .map(|t| t.value.clone())
        .collect()
}

fn media_client(server: &Server) -> aws_sdk_kinesisvideomedia::Client {
    let creds = aws_credential_types::Credentials::new(
        server.credentials().access_key_id.clone(),
        server.credentials().secret_access_key.clone(),
        None,
        None,
        "t",
    );
    aws_sdk_kinesisvideomedia::Client::from_conf(
        aws_sdk_kinesisvideomedia::Config::builder()
            .behavior_version(aws_sdk_kinesisvideomedia::config::BehaviorVersion::latest())
            .region(aws_sdk_kinesisvideomedia::config::Region::new("us-east-1"))
            .credentials_provider(creds)
            .endpoint_url(server.url())
            .build(),
    )
}

pub(crate) fn archive_client(server: &Server) -> aws_sdk_kinesisvideoarchivedmedia::Client {
    let creds = aws_credential_types::Credentials::new(
        server.credentials().access_key_id.clone(),
        server.credentials().secret_access_key.clone(),
        None,
        None,
        "t",
    );
    aws_sdk_kinesisvideoarchivedmedia::Client::from_conf(
        aws_sdk_kinesisvideoarchivedmedia::Config::builder()
            .behavior_version(aws_sdk_kinesisvideoarchivedmedia::config::BehaviorVersion::latest())
            .region(aws_sdk_kinesisvideoarchivedmedia::config::Region::new(
                "us-east-1",
            ))
            .credentials_provider(creds)
            .endpoint_url(server.url())
            .build(),
    )
}

pub(crate) async fn get_media(
    server: &Server,
    stream: &str,
    selector: aws_sdk_kinesisvideomedia::types::StartSelector,
) -> Vec<Event> {
    let out = media_client(server)
        .get_media()
        .stream_name(stream)
        .start_selector(selector)
        .send()
        .await
        .unwrap();
    assert_eq!(out.content_type(), Some("video/webm"));
    let bytes = out.payload.collect().await.unwrap().into_bytes();
    parse_all(&bytes)
}

pub(crate) fn selector(
    kind: aws_sdk_kinesisvideomedia::types::StartSelectorType,
) -> aws_sdk_kinesisvideomedia::types::builders::StartSelectorBuilder {
    aws_sdk_kinesisvideomedia::types::StartSelector::builder().start_selector_type(kind)
}

#[tokio::test]
async fn put_media_acks_and_get_media_returns_every_frame() {
    use aws_sdk_kinesisvideomedia::types::StartSelectorType as S;
    let local = start().await;
    let server = local.server();
    local.kvs.create_stream("cam").await;

    let start = now_ms() - 10_000;
    let (body, sent) = upload(start, 3);
    let acks = put_media(server, "cam", body, "ABSOLUTE").await;
    let kinds: Vec<&str> = acks
        .iter()
        .map(|a| a["EventType"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["BUFFERING", "RECEIVED", "PERSISTED"].repeat(3),
        "{acks:?}"
    );
    let numbers: Vec<&str> = acks
        .iter()
        .step_by(3)
        .map(|a| a["FragmentNumber"].as_str().unwrap())
        .collect();
    assert!(numbers.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(acks[0]["FragmentTimecode"], start);
    assert_eq!(acks[2]["FragmentNumber"], numbers[0]);

    let events = get_media(server, "cam", selector(S::Earliest).build().unwrap()).await;
    assert_eq!(
        frames_of(&events),
        sent,
        "every frame of both tracks, same bytes and times"
    );
    assert_eq!(tag(&events, "AWS_KINESISVIDEO_FRAGMENT_NUMBER"), numbers);
    assert_eq!(tag(&events, "AWS_KINESISVIDEO_CONTINUATION_TOKEN"), numbers);
    assert_eq!(
        tag(&events, "AWS_KINESISVIDEO_PRODUCER_TIMESTAMP")[0],
        format!("{}.{:03}", start / 1000, start % 1000)
    );
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, Event::Tracks(_)))
            .count(),
        3,
        "one document per fragment"
    );

    // start selectors
    let from_second = get_media(
        server,
        "cam",
        selector(S::FragmentNumber)
            .after_fragment_number(numbers[1])
            .build()
            .unwrap(),
    )
    .await;
    assert_eq!(
        tag(&from_second, "AWS_KINESISVIDEO_FRAGMENT_NUMBER"),
        &numbers[1..]
    );
    let after_first = get_media(
        server,
        "cam",
        selector(S::ContinuationToken)
            .continuation_token(numbers[0])
            .build()
            .unwrap(),
    )
    .await;
    assert_eq!(
        tag(&after_first, "AWS_KINESISVIDEO_FRAGMENT_NUMBER"),
        &numbers[1..]
    );
    let by_time = get_media(
        server,
        "cam",
        selector(S::ProducerTimestamp)
            .start_timestamp(aws_smithy_types_secs((start + 2_500) as f64 / 1000.0))
            .build()
            .unwrap(),
    )
    .await;
    assert_eq!(
        tag(&by_time, "AWS_KINESISVIDEO_FRAGMENT_NUMBER"),
        &numbers[2..]
    );
    let now = get_media(server, "cam", selector(S::Now).build().unwrap()).await;
    assert!(frames_of(&now).is_empty());

    // ListFragments and GetMediaForFragmentList through the archived-media SDK
    let archive = archive_client(server);
    let list = archive
        .list_fragments()
        .stream_name("cam")
        .send()
        .await
        .unwrap();
    let mut listed: Vec<&str> = list
        .fragments()
        .iter()
        .map(|f| f.fragment_number().unwrap())
        .collect();
    listed.sort();
    assert_eq!(listed, numbers);
    let f0 = &list.fragments()[0];
    assert_eq!(f0.fragment_length_in_milliseconds(), 900 + 20);
    assert!(f0.fragment_size_in_bytes() > 5_000);
    let one = archive
        .get_media_for_fragment_list()
        .stream_name("cam")
        .fragments(numbers[1])
        .send()
        .await
        .unwrap();
    let one = parse_all(&one.payload.collect().await.unwrap().into_bytes());
    assert_eq!(frames_of(&one), sent[20..40].to_vec());

    let missing = archive
        .get_media_for_fragment_list()
        .stream_name("cam")
        .fragments("91343852333180000000000000000000000000099999")
        .send()
        .await
        .unwrap_err();
    assert!(
        missing
            .into_service_error()
            .is_resource_not_found_exception()
    );
}

fn aws_smithy_types_secs(s: f64) -> aws_sdk_kinesisvideomedia::primitives::DateTime {
    aws_sdk_kinesisvideomedia::primitives::DateTime::from_secs_f64(s)
}

#[tokio::test]
async fn malformed_uploads_get_error_acks_and_other_streams_keep_working() {
    let local = start().await;
    let server = local.server();
    for s in ["bad", "good"] {
        local.kvs.create_stream(s).await;
    }
    let error_id = |acks: &[Value]| {
        let last = acks.last().unwrap();
        assert_eq!(last["EventType"], "ERROR", "{acks:?}");
        last["ErrorId"].as_u64().unwrap()
    };

    let garbage = put_media(
        server,
        "bad",
        b"this is not matroska at all, not even close".to_vec(),
        "ABSOLUTE",
    )
    .await;
    assert_eq!(error_id(&garbage), 4006);

    let start = now_ms() - 60_000;
    let (body, _) = upload(start, 2);
    let truncated = put_media(server, "bad", body[..body.len() - 300].to_vec(), "ABSOLUTE").await;
    assert_eq!(error_id(&truncated), 4000);
    assert_eq!(truncated[0]["EventType"], "BUFFERING");
    assert!(
        truncated.iter().any(|a| a["EventType"] == "PERSISTED"),
        "the complete first fragment is kept"
    );

    let (later, _) = upload(start + 30_000, 1);
    put_media(server, "bad", later, "ABSOLUTE").await;
    let (earlier, _) = upload(start + 5_000, 1);
    let back = put_media(server, "bad", earlier, "ABSOLUTE").await;
    assert_eq!(error_id(&back), 4004);

    // a fragment over 10 s
    let writer = MkvWriter::new(WriterConfig::default(), tracks()).unwrap();
    let mut p = Packager::new(writer, PackagerConfig::default());
    let mut long = p.header();
    for i in 0..12u64 {
        let f = Frame {
            track: 1,
            timestamp_ns: (start + 40_000 + i * 1000) * 1_000_000,
            key: i == 0,
            data: Bytes::from_static(b"v"),
        };
        p.push(&f, &mut long).unwrap();
    }
    assert_eq!(
        error_id(&put_media(server, "bad", long, "ABSOLUTE").await),
        4002
    );

    // a fragment over 50 MB
    let mut p = Packager::new(
        MkvWriter::new(WriterConfig::default(), tracks()).unwrap(),
        PackagerConfig::default(),
    );
    let mut big = p.header();
    for i in 0..3u64 {
        let f = Frame {
            track: 1,
            timestamp_ns: (start + 55_000 + i * 10) * 1_000_000,
            key: i == 0,
            data: Bytes::from(vec![0u8; 20 << 20]),
        };
        p.push(&f, &mut big).unwrap();
    }
    assert_eq!(
        error_id(&put_media(server, "bad", big, "ABSOLUTE").await),
        4001
    );

    // the server keeps serving: a good upload to another stream is fully persisted
    let (good, _) = upload(now_ms() - 5_000, 2);
    let acks = put_media(server, "good", good, "ABSOLUTE").await;
    assert_eq!(
        acks.iter()
            .filter(|a| a["EventType"] == "PERSISTED")
            .count(),
        2,
        "{acks:?}"
    );
}

#[tokio::test]
async fn resent_fragments_are_persisted_once_and_deletion_removes_media() {
    let local = with(
        LocalKvs::builder()
            .configure(|c| {
                c.retention_check = Duration::from_millis(100);
                c.zero_retention_keep = Duration::ZERO;
            })
            .start()
            .await,
    );
    let (server, c) = (local.server(), &local.client);
    c.create_stream()
        .stream_name("cam")
        .data_retention_in_hours(2)
        .send()
        .await
        .unwrap();
    let (body, _) = upload(now_ms() - 20_000, 2);
    let first = put_media(server, "cam", body.clone(), "ABSOLUTE").await;
    // a producer that lost its acks sends the same fragments again: acked, not stored twice
    let again = put_media(server, "cam", body, "ABSOLUTE").await;
    let persisted = |acks: &[Value]| -> Vec<String> {
        acks.iter()
            .filter(|a| a["EventType"] == "PERSISTED")
            .map(|a| a["FragmentNumber"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(persisted(&first), persisted(&again));
    let archive = archive_client(server);
    assert_eq!(
        archive
            .list_fragments()
            .stream_name("cam")
            .send()
            .await
            .unwrap()
            .fragments()
            .len(),
        2
    );

    let info = c
        .describe_stream()
        .stream_name("cam")
        .send()
        .await
        .unwrap()
        .stream_info
        .unwrap();
    c.delete_stream()
        .stream_arn(info.stream_arn().unwrap())
        .send()
        .await
        .unwrap();
    let media_dir = local.kvs.data_dir().join("media");
    assert_eq!(
        std::fs::read_dir(&media_dir).unwrap().count(),
        0,
        "stream directory removed"
    );
    c.create_stream().stream_name("cam").send().await.unwrap();
    assert!(
        archive
            .list_fragments()
            .stream_name("cam")
            .send()
            .await
            .unwrap()
            .fragments()
            .is_empty()
    );

    // zero retention: kept only for live readers, then swept
    let (body, _) = upload(now_ms() - 5_000, 1);
    put_media(server, "cam", body, "ABSOLUTE").await;
    let mut left = usize::MAX;
    for _ in 0..50 {
        left = archive
            .list_fragments()
            .stream_name("cam")
            .send()
            .await
            .unwrap()
            .fragments()
            .len();
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(left, 0, "expired fragments are deleted");
}

#[tokio::test]
async fn frames_overlapping_the_next_fragment_are_accepted() {
    // A live source can deliver an audio frame stamped just after the next key frame before
    // that key frame; KVS only requires fragment start times to increase.
    let local = start().await;
    let server = local.server();
    local.kvs.create_stream("cam").await;
    let base = now_ms() - 30_000;
    let writer = MkvWriter::new(WriterConfig::default(), tracks()).unwrap();
    let mut p = Packager::new(writer, PackagerConfig::default());
    let mut body = p.header();
    let f = |track: u64, ms: u64, key: bool| Frame {
        track,
        timestamp_ns: (base + ms) * 1_000_000,
        key,
        data: Bytes::from_static(b"x"),
    };
    for frame in [
        f(1, 0, true),
        f(2, 10, true),
        f(1, 500, false),
        f(2, 1_010, true),
        f(1, 1_000, true),
        f(2, 1_030, true),
    ] {
        p.push(&frame, &mut body).unwrap();
    }
    let acks = put_media(server, "cam", body, "ABSOLUTE").await;
    assert_eq!(
        acks.iter()
            .filter(|a| a["EventType"] == "PERSISTED")
            .count(),
        2,
        "{acks:?}"
    );
    assert!(acks.iter().all(|a| a["EventType"] != "ERROR"), "{acks:?}");
}
