//! The producer and media client against a real kvs-local over loopback.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use bytes::Bytes;
use kvs_endpoint::KvsConfig;
use kvs_media::{
    MediaClient, MediaFragment, OverflowPolicy, Producer, ProducerConfig, ProducerEvent,
    StartSelector, Storage, TryPush,
};
use kvs_mkv::{Frame, TrackInfo};
use kvs_testkit::LocalKvs;
use kvs_testkit::local::config_at;
use kvs_testkit::net::free_addr;
use kvs_types::StreamRef;

fn tracks() -> Vec<TrackInfo> {
    vec![
        TrackInfo::h264(1, 320, 240, vec![1, 0x42, 0, 0x1e, 0xff, 0xe1, 0, 0, 1, 0]),
        TrackInfo::aac(2, 48_000.0, 2, vec![0x11, 0x90]),
    ]
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// Frames `from..to` of a 10 fps video (key frame every 10) plus audio, from `base_ms`.
fn frames(base_ms: u64, from: u64, to: u64) -> Vec<Frame> {
    let mut out = Vec::new();
    for i in from..to {
        let ts = (base_ms + i * 100) * 1_000_000;
        out.push(Frame {
            track: 1,
            timestamp_ns: ts,
            key: i % 10 == 0,
            data: Bytes::from(vec![(i % 199) as u8; 300 + i as usize]),
        });
        out.push(Frame {
            track: 2,
            timestamp_ns: ts + 10_000_000,
            key: true,
            data: Bytes::from(vec![3u8; 40]),
        });
    }
    out
}

fn test_config(storage: Storage) -> ProducerConfig {
    let mut config = ProducerConfig::default();
    config.storage = storage;
    config.min_backoff = Duration::from_millis(50);
    config.max_backoff = Duration::from_millis(300);
    config.connection_staleness = Duration::from_secs(10);
    config
}

async fn read_all(config: &KvsConfig, stream: &StreamRef) -> Vec<MediaFragment> {
    let media = MediaClient::new(config);
    let mut reader = media
        .get_media(stream, &StartSelector::Earliest)
        .await
        .unwrap();
    let mut out = Vec::new();
    while let Some(f) = reader.next_fragment().await.unwrap() {
        out.push(f);
    }
    out
}

fn all_frames(fragments: &[MediaFragment]) -> Vec<Frame> {
    fragments.iter().flat_map(|f| f.frames.clone()).collect()
}

/// (track, ms, key, len, first byte): short enough to print when a comparison fails.
fn summary(frames: &[Frame]) -> Vec<(u64, u64, bool, usize, u8)> {
    frames
        .iter()
        .map(|f| {
            (
                f.track,
                f.timestamp_ns / 1_000_000 % 1_000_000,
                f.key,
                f.data.len(),
                f.data.first().copied().unwrap_or(0),
            )
        })
        .collect()
}

fn assert_frames(got: &[Frame], want: &[Frame], what: &str) {
    assert_eq!(summary(got), summary(want), "{what}");
    assert!(got == want, "{what}: payload bytes differ");
}

/// A fresh kvs-local with stream `cam`, and a producer of [`tracks`] for it, buffering in
/// memory.
async fn cam() -> (LocalKvs, StreamRef, Producer) {
    let local = LocalKvs::start().await;
    let stream = local.create_stream("cam").await;
    let producer = Producer::builder(local.config(), stream.clone())
        .tracks(tracks())
        .options(test_config(Storage::default()))
        .start()
        .unwrap();
    (local, stream, producer)
}

#[tokio::test]
async fn produced_frames_come_back_identical() {
    let (local, stream, producer) = cam().await;
    let config = local.config();
    let mut events = producer.events();
    let sent = frames(now_ms() - 30_000, 0, 40);
    // Both ways in: waiting, and at once (a store with room takes every frame).
    for (i, f) in sent.iter().enumerate() {
        if i % 2 == 0 {
            producer.push(f.clone()).await.unwrap();
        } else {
            assert!(matches!(
                producer.try_push(f.clone()).unwrap(),
                TryPush::Done
            ));
        }
    }
    let stats = producer.finish(Duration::from_secs(20)).await.unwrap();
    assert_eq!(stats.fragments, 4);
    assert_eq!(stats.persisted, 4);
    assert_eq!(stats.buffered_bytes, 0);
    let mut persisted = 0;
    while let Ok(e) = events.try_recv() {
        if let ProducerEvent::Ack(a) = e
            && a.event == kvs_media::AckEventType::Persisted
        {
            persisted += 1;
        }
    }
    assert_eq!(persisted, 4);

    let got = read_all(config, &stream).await;
    assert_eq!(got.len(), 4);
    assert_frames(&all_frames(&got), &sent, "frames come back");
    assert!(
        got.iter()
            .all(|f| f.number.is_some() && f.continuation_token.is_some())
    );

    let media = MediaClient::new(config);
    let listed = media.list_fragments(&stream, None).await.unwrap();
    assert_eq!(listed.len(), 4);
    assert_eq!(Some(&listed[1].number), got[1].number.as_ref());
    let one = media
        .get_media_for_fragment_list(&stream, &[listed[2].number.clone()])
        .await
        .unwrap();
    let mut one = one;
    let f = one.next_fragment().await.unwrap().unwrap();
    assert_frames(&f.frames, &sent[40..60], "GetMediaForFragmentList");
    assert!(one.next_fragment().await.unwrap().is_none());
}

#[tokio::test]
async fn try_push_hands_a_frame_back_when_a_blocking_store_is_full() {
    // No server: nothing is acknowledged, so the store only fills.
    let offline = config_at(&format!("http://{}", free_addr())).await;
    let mut cfg = test_config(Storage::Memory { max_bytes: 20_000 });
    cfg.overflow = OverflowPolicy::Block;
    let producer = Producer::builder(&offline, StreamRef::parse("cam").unwrap())
        .tracks(tracks())
        .options(cfg)
        .start()
        .unwrap();
    let mut taken = 0;
    let mut back = None;
    for f in frames(now_ms(), 0, 60) {
        match producer.try_push(f.clone()).unwrap() {
            TryPush::Done => taken += 1,
            TryPush::WouldWait(frame) => {
                assert_eq!(frame, f, "the frame comes back as it was given");
                back = Some(frame);
                break;
            }
        }
    }
    assert!(
        back.is_some(),
        "a full store under Block never made try_push wait"
    );
    let stats = producer.stats();
    assert_eq!(stats.frames, taken, "{stats:?}");
    assert_eq!(stats.dropped, 0, "Block drops nothing: {stats:?}");
    assert!(stats.buffered_bytes <= 20_000 + 2_000, "{stats:?}");
}

#[tokio::test]
async fn max_buffered_bounds_the_store_by_media_time() {
    // No server: nothing is acknowledged. 6 s of 1 s fragments, a store of 2.5 s.
    let offline = config_at(&format!("http://{}", free_addr())).await;
    let mut cfg = test_config(Storage::default());
    cfg.overflow = OverflowPolicy::DropOldest;
    cfg.max_buffered = Some(Duration::from_millis(2_500));
    let producer = Producer::builder(&offline, StreamRef::parse("cam").unwrap())
        .tracks(tracks())
        .options(cfg)
        .start()
        .unwrap();
    for f in frames(now_ms(), 0, 60) {
        producer.push(f).await.unwrap();
    }
    let stats = producer.stats();
    assert_eq!(stats.fragments, 6, "{stats:?}");
    // kept: at most 2.5 s from the first held fragment's start to the last's, so three
    assert_eq!(stats.buffered_fragments, 3, "{stats:?}");
    assert_eq!(stats.dropped, 3, "{stats:?}");
}

#[tokio::test]
async fn an_outage_loses_nothing_and_duplicates_nothing() {
    let (mut local, stream, producer) = cam().await;
    let config = local.config().clone();
    let base = now_ms() - 60_000;
    let sent = frames(base, 0, 60);
    for f in &sent[..40] {
        producer.push(f.clone()).await.unwrap();
    }
    // wait until something is persisted, then take the server away
    for _ in 0..100 {
        if producer.stats().persisted >= 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(producer.stats().persisted >= 1);
    local.stop().await;
    for f in &sent[40..] {
        producer.push(f.clone()).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(producer.stats().reconnects >= 1);
    local.restart().await;
    let stats = producer.finish(Duration::from_secs(30)).await.unwrap();
    assert_eq!(stats.buffered_fragments, 0);
    let got = read_all(&config, &stream).await;
    assert_frames(&all_frames(&got), &sent, "every frame exactly once");
}

#[tokio::test]
async fn a_disk_store_resumes_after_the_producer_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let store_dir = dir.path().join("store");
    let addr = free_addr();
    let base = now_ms() - 60_000;
    let sent = frames(base, 0, 50);
    let stream = StreamRef::parse("cam").unwrap();
    {
        // no server: nothing can be acknowledged
        let config = config_at(&format!("http://{addr}")).await;
        let storage = Storage::Disk {
            dir: store_dir.clone(),
            max_bytes: 64 << 20,
        };
        let producer = Producer::builder(&config, stream.clone())
            .tracks(tracks())
            .options(test_config(storage))
            .start()
            .unwrap();
        for f in &sent[..40] {
            producer.push(f.clone()).await.unwrap();
        }
        // the producer "dies" here: its second fragment (frames 10-19) is still open and is
        // lost with it; the first is complete and waits on disk
    }
    let local = LocalKvs::builder().addr(addr).start().await;
    let config = local.config();
    local.create_stream("cam").await;
    let storage = Storage::Disk {
        dir: store_dir.clone(),
        max_bytes: 64 << 20,
    };
    let producer = Producer::builder(config, stream.clone())
        .tracks(tracks())
        .options(test_config(storage))
        .start()
        .unwrap();
    for f in &sent[40..] {
        producer.push(f.clone()).await.unwrap();
    }
    producer.finish(Duration::from_secs(30)).await.unwrap();
    let got = read_all(config, &stream).await;
    let mut expected = sent[..20].to_vec();
    expected.extend_from_slice(&sent[40..]);
    assert_frames(
        &all_frames(&got),
        &expected,
        "the complete fragment from the first run, then the second run",
    );
    assert_eq!(
        std::fs::read_dir(&store_dir)
            .unwrap()
            .filter(|e| e
                .as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "frag"))
            .count(),
        0
    );
}

#[tokio::test]
async fn backward_timestamps_are_repaired_and_full_stores_drop_oldest() {
    let (local, stream, producer) = cam().await;
    let config = local.config();
    let mut events = producer.events();
    let base = now_ms() - 60_000;
    // a camera that restarts its clock 2 s in
    let mut input = frames(base, 0, 20);
    input.extend(frames(base - 10_000, 20, 40));
    for f in input {
        producer.push(f).await.unwrap();
    }
    let stats = producer.finish(Duration::from_secs(20)).await.unwrap();
    assert_eq!(stats.errors, 0, "no 4004 from KVS");
    assert_eq!(stats.persisted, 4);
    let mut repaired = false;
    while let Ok(e) = events.try_recv() {
        repaired |= matches!(e, ProducerEvent::TimestampsRepaired { .. });
    }
    assert!(repaired);
    let got = all_frames(&read_all(config, &stream).await);
    let video: Vec<u64> = got
        .iter()
        .filter(|f| f.track == 1)
        .map(|f| f.timestamp_ns)
        .collect();
    assert!(
        video.windows(2).all(|w| w[0] < w[1]),
        "video timestamps keep increasing"
    );

    // no server and a tiny store: whole fragments are dropped, oldest first
    let offline = config_at(&format!("http://{}", free_addr())).await;
    let mut cfg = test_config(Storage::Memory { max_bytes: 20_000 });
    cfg.overflow = OverflowPolicy::DropOldest;
    let producer = Producer::builder(&offline, stream)
        .tracks(tracks())
        .options(cfg)
        .start()
        .unwrap();
    for f in frames(base, 0, 60) {
        producer.push(f).await.unwrap();
    }
    let stats = producer.stats();
    assert!(stats.dropped >= 1, "{stats:?}");
    assert!(stats.buffered_bytes <= 20_000 + 2_000, "{stats:?}");
}

/// The next `Reconnecting` delay reported by `events`.
async fn next_reconnect_delay(
    events: &mut tokio::sync::broadcast::Receiver<kvs_media::ProducerEvent>,
) -> Duration {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), events.recv())
            .await
            .unwrap()
            .unwrap()
        {
            kvs_media::ProducerEvent::Reconnecting { delay, .. } => return delay,
            _ => continue,
        }
    }
}

#[tokio::test]
async fn after_a_connection_that_made_progress_the_back_off_starts_again() {
    let (mut local, stream, producer) = cam().await;
    let config = local.config().clone();
    let mut events = producer.events();
    let base = now_ms() - 60_000;
    let sent = frames(base, 0, 90);
    let persisted_at_least = |n: u64, producer: &Producer| producer.stats().persisted >= n;

    for f in &sent[..20] {
        producer.push(f.clone()).await.unwrap();
    }
    local.stop().await;
    for f in &sent[20..40] {
        producer.push(f.clone()).await.unwrap();
    }
    // a long outage: the delay grows (50, 100, 200 ms), but nothing listens, so it stops at
    // 250 ms, short of max_backoff (300 ms): the first ack after the restart comes soon
    while next_reconnect_delay(&mut events).await < Duration::from_millis(200) {}
    for _ in 0..2 {
        assert_eq!(
            next_reconnect_delay(&mut events).await,
            Duration::from_millis(250)
        );
    }

    // (the first fragment could not be PERSISTED before the outage: it was still open)
    local.restart().await;
    for _ in 0..200 {
        if persisted_at_least(1, &producer) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(persisted_at_least(1, &producer), "{:?}", producer.stats());

    // the connection worked: the next outage is retried after the shortest delay again
    while let Ok(e) = events.try_recv() {
        drop(e);
    }
    local.stop().await;
    for f in &sent[40..] {
        producer.push(f.clone()).await.unwrap();
    }
    assert_eq!(
        next_reconnect_delay(&mut events).await,
        Duration::from_millis(50)
    );
    local.restart().await;
    let stats = producer.finish(Duration::from_secs(30)).await.unwrap();

    assert_eq!(stats.buffered_fragments, 0);
    let got = read_all(&config, &stream).await;
    assert_frames(&all_frames(&got), &sent, "every frame exactly once");
}
