use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use kvs_e2e::{ServerProcess, free_addr};
use kvs_media::{
    AckEventType, MediaClient, Producer, ProducerConfig, ProducerEvent, StartSelector, Storage,
};
use kvs_testkit::SyntheticVideo;
use kvs_testkit::local::{config_at, create_stream};
use kvs_testkit::video::epoch_ns;

/// kvs-local is killed with SIGKILL in the middle of an upload and started again: every
/// fragment it acknowledged PERSISTED is still there, and the producer's disk store fills in the
/// rest so the stream holds every frame exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_upload_loses_nothing_acknowledged_and_duplicates_nothing() {
    let scratch = tempfile::tempdir().unwrap();
    let data = scratch.path().join("data");
    let addr = free_addr();
    let server = ServerProcess::start_on(&data, scratch.path(), &addr);
    let url = format!("http://{addr}");
    let cfg = config_at(&url).await;
    let stream = create_stream(&cfg, "cam").await;
    let mut producer_config = ProducerConfig::default();
    producer_config.storage = Storage::Disk {
        dir: scratch.path().join("store"),
        max_bytes: 256 << 20,
    };
    producer_config.min_backoff = Duration::from_millis(50);
    producer_config.max_backoff = Duration::from_millis(400);
    producer_config.connection_staleness = Duration::from_secs(5);
    // 12 fragments of 1 s at 20 fps, from a minute ago in whole milliseconds (as KVS stores
    // timecodes); the server dies after about a third of them
    let start_ms = epoch_ns(SystemTime::now()) / 1_000_000 - 60_000;
    let video = SyntheticVideo {
        fps: 20,
        key_every: 20,
        min_frame_bytes: 2_000,
        ..SyntheticVideo::starting_at(start_ms * 1_000_000)
    };
    let producer = Producer::builder(&cfg, stream.clone())
        .tracks(vec![video.track_info()])
        .options(producer_config)
        .start()
        .unwrap();
    let mut events = producer.events();
    let acked = Arc::new(std::sync::Mutex::new(HashSet::new()));
    let acked_log = acked.clone();
    tokio::spawn(async move {
        while let Ok(e) = events.recv().await {
            if let ProducerEvent::Ack(a) = e
                && a.event == AckEventType::Persisted
                && let Some(n) = a.fragment_number
            {
                acked_log.lock().unwrap().insert(n.to_string());
            }
        }
    });

    let mut sent = Vec::new();
    let mut server = Some(server);
    for i in 0..240u64 {
        let f = video.frame(i);
        producer.push(f.clone()).await.unwrap();
        sent.push(f);
        tokio::time::sleep(Duration::from_millis(5)).await;
        if i == 90 {
            // wait for at least two acknowledgements, then pull the plug
            for _ in 0..200 {
                if acked.lock().unwrap().len() >= 2 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            server.take().unwrap().kill9();
        }
        if i == 150 {
            server = Some(ServerProcess::start_on(&data, scratch.path(), &addr));
        }
    }
    let acked_before: HashSet<String> = acked.lock().unwrap().clone();
    assert!(acked_before.len() >= 2);
    let stats = producer.finish(Duration::from_secs(60)).await.unwrap();
    assert!(stats.reconnects >= 1, "{stats:?}");

    let media = MediaClient::new(&cfg);
    let listed: HashSet<String> = media
        .list_fragments(&stream, None)
        .await
        .unwrap()
        .into_iter()
        .map(|f| f.number.to_string())
        .collect();
    for n in &acked_before {
        assert!(
            listed.contains(n),
            "fragment {n} was acknowledged PERSISTED but is gone"
        );
    }
    let mut reader = media
        .get_media(&stream, &StartSelector::Earliest)
        .await
        .unwrap();
    let mut got = Vec::new();
    while let Some(f) = reader.next_fragment().await.unwrap() {
        got.extend(f.frames);
    }
    let got_ts: Vec<u64> = got.iter().map(|f| f.timestamp_ns).collect();
    let sent_ts: Vec<u64> = sent.iter().map(|f| f.timestamp_ns).collect();
    assert_eq!(got_ts, sent_ts, "every frame exactly once, in order");
    assert!(got == sent, "payloads identical");
    drop(server);
}
