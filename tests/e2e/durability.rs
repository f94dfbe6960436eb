use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use kvs_e2e::{ServerProcess, free_addr};
use kvs_endpoint::{EndpointResolver, KvsConfig};
use kvs_media::{
    AckEventType, MediaClient, Producer, ProducerConfig, ProducerEvent, StartSelector, Storage,
};
use kvs_mkv::{Frame, TrackInfo};
use kvs_types::StreamRef;

async fn config(url: &str) -> KvsConfig {
    KvsConfig::for_endpoint(url, "us-east-1", "AKIDKVSLOCAL", "kvs-local-secret").await
}

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
    let cfg = config(&url).await;
    cfg.kinesis_video()
        .create_stream()
        .stream_name("cam")
        .data_retention_in_hours(1)
        .send()
        .await
        .unwrap();

    let stream = StreamRef::parse("cam").unwrap();
    let producer_config = ProducerConfig {
        storage: Storage::Disk {
            dir: scratch.path().join("store"),
            max_bytes: 256 << 20,
        },
        min_backoff: Duration::from_millis(50),
        max_backoff: Duration::from_millis(400),
        connection_staleness: Duration::from_secs(5),
        ..ProducerConfig::default()
    };
    let producer = Producer::start(
        &cfg,
        Arc::new(EndpointResolver::new(&cfg)),
        stream.clone(),
        vec![TrackInfo::h264(
            1,
            320,
            240,
            vec![1, 0x42, 0, 0x1e, 0xff, 0xe1, 0, 0, 1, 0],
        )],
        producer_config,
    )
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

    // 12 fragments of 1 s at 20 fps; the server dies after about a third of them
    let base = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
        - 60_000;
    let mut sent = Vec::new();
    let mut server = Some(server);
    for i in 0..240u64 {
        let f = Frame {
            track: 1,
            timestamp_ns: (base + i * 50) * 1_000_000,
            key: i % 20 == 0,
            data: Bytes::from(vec![(i % 251) as u8; 2_000 + (i as usize % 100)]),
        };
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

    let media = MediaClient::new(&cfg, Arc::new(EndpointResolver::new(&cfg)));
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
