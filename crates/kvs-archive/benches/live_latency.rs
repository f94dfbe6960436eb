//! LIVE HLS latency: from a fragment's PERSISTED acknowledgement to its appearance in the LIVE
//! media playlist, polled every millisecond, over loopback against an in-process kvs-local.
//! Run: `cargo bench -p kvs-archive --bench live_latency`.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use kvs_archive::{ArchiveClient, HlsOptions};
use kvs_media::{Producer, ProducerConfig, ProducerEvent};
use kvs_mkv::{Frame, TrackInfo};
use kvs_testkit::LocalKvs;

fn main() {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(run());
}

async fn run() {
    let local = LocalKvs::start().await;
    let config = local.config();
    let stream = local.create_stream("live").await;
    let producer = Producer::builder(config, stream.clone())
        .tracks(vec![TrackInfo::h264(
            1,
            640,
            480,
            vec![1, 0x42, 0, 0x1e, 0xff, 0xe1, 0, 0, 1, 0],
        )])
        .options(ProducerConfig::default())
        .start()
        .unwrap();
    let mut events = producer.events();
    let t0 = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    // a first fragment, so the LIVE session can be opened
    let payload = Bytes::from(vec![7u8; 8_000]);
    let frame = |n: u64| Frame {
        track: 1,
        timestamp_ns: t0 + n * 33_333_333,
        key: n.is_multiple_of(15),
        data: payload.clone(),
    };
    for n in 0..16 {
        producer.push(frame(n)).await.unwrap();
    }
    loop {
        if let Ok(ProducerEvent::Persisted { .. }) = events.recv().await {
            break;
        }
    }
    let url = ArchiveClient::new(config)
        .hls_url(&stream, &HlsOptions::default())
        .await
        .unwrap();
    let playlist = url.replace("getHLSMasterPlaylist", "getHLSMediaPlaylist");
    let http = reqwest::Client::new();

    let mut latencies = Vec::new();
    let mut n = 16;
    for _ in 0..100 {
        // one more fragment of 15 frames (0.5 s), closed by the next key frame
        for _ in 0..15 {
            producer.push(frame(n)).await.unwrap();
            n += 1;
        }
        let number = loop {
            match events.recv().await {
                Ok(ProducerEvent::Ack(a)) if a.event == kvs_media::AckEventType::Persisted => {
                    break a.fragment_number.unwrap().to_string();
                }
                Ok(_) => {}
                Err(e) => panic!("{e}"),
            }
        };
        let acked = Instant::now();
        loop {
            let text = http
                .get(&playlist)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            if text.contains(&number) {
                latencies.push(acked.elapsed());
                break;
            }
            assert!(
                acked.elapsed() < Duration::from_secs(5),
                "fragment {number} never listed"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    latencies.sort();
    let p = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
    println!(
        "PERSISTED -> in the LIVE playlist ({} fragments): p50 {:?}, p99 {:?}, max {:?}",
        latencies.len(),
        p(0.5),
        p(0.99),
        latencies.last().unwrap()
    );
}
