//! Producer overhead: CPU per 4 Mbit/s stream and memory, for producers in this process
//! streaming in real time to a kvs-local in another process (so its CPU is not counted).
//! Run: `cargo build -p kvs-local-bin && KVS_BENCH_STREAMS=10 KVS_BENCH_SECONDS=20 cargo bench -p kvs-media --bench producer_overhead`.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use kvs_media::{Producer, ProducerConfig};
use kvs_mkv::{Frame, TrackInfo};
use kvs_testkit::local::{config_at, create_stream};
use kvs_testkit::process::{cpu_seconds, env_u64, kvs_local_binary, spawn_kvs_local, status_kib};
use kvs_types::StreamRef;

fn main() {
    let streams = env_u64("KVS_BENCH_STREAMS", 10);
    let seconds = env_u64("KVS_BENCH_SECONDS", 20);
    let dir = tempfile::tempdir().unwrap();
    let (mut server, url) = spawn_kvs_local(&kvs_local_binary(), "127.0.0.1:0", dir.path(), &[]);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let (cpu, rss, persisted) = runtime.block_on(async {
        let config = config_at(&url).await;
        for i in 0..streams {
            create_stream(&config, &format!("o-{i}")).await;
        }
        let frame_bytes = 4_000_000 / 8 / 30;
        let payload = Bytes::from(vec![0x42u8; frame_bytes]);
        let cpu0 = cpu_seconds("self");
        let mut tasks = Vec::new();
        for i in 0..streams {
            let producer = Producer::builder(&config, StreamRef::parse(&format!("o-{i}")).unwrap())
                .tracks(vec![TrackInfo::h264(
                    1,
                    1280,
                    720,
                    vec![1, 0x64, 0, 0x1f, 0xff, 0xe1, 0, 0, 1, 0],
                )])
                .options(ProducerConfig::default())
                .start()
                .unwrap();
            let payload = payload.clone();
            tasks.push(tokio::spawn(async move {
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
                        key: n.is_multiple_of(60),
                        data: payload.clone(),
                    };
                    producer.push(f).await.unwrap();
                }
                producer
                    .finish(Duration::from_secs(60))
                    .await
                    .unwrap()
                    .persisted
            }));
        }
        let start = Instant::now();
        let mut persisted = 0;
        for t in tasks {
            persisted += t.await.unwrap();
        }
        let _ = start;
        (
            cpu_seconds("self") - cpu0,
            status_kib("self", "VmHWM:"),
            persisted,
        )
    });
    let _ = server.kill();
    let _ = server.wait();
    let per_stream = cpu / (streams as f64 * seconds as f64);
    println!("{streams} producers x {seconds} s at 4 Mbit/s: {persisted} fragments persisted");
    println!(
        "producer CPU: {cpu:.2} s, {:.2}% of a core per stream; peak RSS {} MiB",
        per_stream * 100.0,
        rss / 1024
    );
}
