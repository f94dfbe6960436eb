//! Ingest load: N concurrent producers (2 Mbps, 2 s fragments, real-time pace) against an
//! in-process kvs-local over loopback; reports aggregate throughput and p50/p99 time from a
//! fragment's last frame to its PERSISTED acknowledgement, next to the raw sequential disk
//! write speed measured in the same run.
//!
//! Run: `KVS_BENCH_STREAMS=100 KVS_BENCH_SECONDS=20 cargo bench -p kvs-media --bench ingest`.

#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use kvs_endpoint::KvsConfig;
use kvs_media::{Producer, ProducerConfig, ProducerEvent};
use kvs_mkv::{Frame, TrackInfo};
use kvs_testkit::local::create_stream;
use kvs_types::StreamRef;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn disk_write_speed(dir: &std::path::Path) -> f64 {
    let path = dir.join("disk-speed.bin");
    let chunk = vec![0x5au8; 1 << 20];
    let t = Instant::now();
    let mut f = std::fs::File::create(&path).unwrap();
    for _ in 0..256 {
        f.write_all(&chunk).unwrap();
    }
    f.sync_all().unwrap();
    let secs = t.elapsed().as_secs_f64();
    let _ = std::fs::remove_file(path);
    256.0 * 1.048_576 / secs
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let streams = env("KVS_BENCH_STREAMS", 50);
    let seconds = env("KVS_BENCH_SECONDS", 20);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run(streams, seconds));
}

async fn run(streams: u64, seconds: u64) {
    let dir = tempfile::tempdir().unwrap();
    let disk_mbps = disk_write_speed(dir.path());
    let server = kvs_local::Server::start(kvs_local::Config::new(dir.path()))
        .await
        .unwrap();
    let creds = server.credentials().clone();
    let config = KvsConfig::for_endpoint(
        server.url(),
        "us-east-1",
        &creds.access_key_id,
        &creds.secret_access_key,
    )
    .await;
    for i in 0..streams {
        create_stream(&config, &format!("load-{i}")).await;
    }
    let latencies = Arc::new(std::sync::Mutex::new(Vec::new()));
    let frame_bytes = 2_000_000 / 8 / 30;
    let payload = Bytes::from(vec![0x42u8; frame_bytes]);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..streams {
        let producer = Producer::builder(&config, StreamRef::parse(&format!("load-{i}")).unwrap())
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
        let lat = latencies.clone();
        tokio::spawn(async move {
            while let Ok(e) = events.recv().await {
                if let ProducerEvent::Persisted { latency, .. } = e {
                    lat.lock().unwrap().push(latency);
                }
            }
        });
        let payload = payload.clone();
        tasks.push(tokio::spawn(async move {
            // stagger stream starts across one frame interval
            tokio::time::sleep(Duration::from_micros(i * 33_333 / streams.max(1))).await;
            let t0 = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64;
            let mut tick = tokio::time::interval(Duration::from_nanos(33_333_333));
            for n in 0..seconds * 30 {
                tick.tick().await;
                let f = Frame {
                    track: 1,
                    timestamp_ns: t0 + n * 33_333_333,
                    key: n % 60 == 0,
                    data: payload.clone(),
                };
                producer.push(f).await.unwrap();
            }
            producer.finish(Duration::from_secs(120)).await.unwrap()
        }));
    }
    let mut bytes = 0u64;
    let mut persisted = 0u64;
    for t in tasks {
        let stats = t.await.unwrap();
        bytes += stats.bytes_sent;
        persisted += stats.persisted;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let mut lat = latencies.lock().unwrap().clone();
    lat.sort();
    let ingest_mbps = bytes as f64 / 1e6 / elapsed;
    println!("streams: {streams}, {seconds} s of media each, wall {elapsed:.1} s");
    println!("fragments persisted: {persisted} ({} latencies)", lat.len());
    println!(
        "fragment end -> PERSISTED: p50 {:?}, p99 {:?}, max {:?}",
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
        lat.last().copied().unwrap_or_default()
    );
    println!(
        "aggregate ingest: {ingest_mbps:.1} MB/s; raw sequential disk write: {disk_mbps:.1} MB/s; ratio {:.2}",
        ingest_mbps / disk_mbps
    );
    server.shutdown().await;
}
