//! Recovery time: a producer streaming in real time (1 s fragments) to a kvs-local in another
//! process that is killed (SIGKILL) and restarted on the same address and data directory,
//! again and again; measured from the restarted server printing that it listens to the
//! producer's first PERSISTED acknowledgement after that, with the producer's default
//! back-off (200 ms doubling to 10 s, at most 250 ms while nothing answers, reset by a
//! connection that made progress).
//! Run: `cargo build --release -p kvs-local-bin && KVS_BENCH_RESTARTS=10 KVS_BENCH_OUTAGE_MS=2000 cargo bench -p kvs-media --bench recovery`.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use kvs_media::{Producer, ProducerConfig, ProducerEvent};
use kvs_mkv::{Frame, TrackInfo};
use kvs_testkit::local::{config_at, create_stream};
use kvs_testkit::process::{env_u64, kvs_local_binary, spawn_kvs_local};

/// Starts `kvs-local serve` at `addr` on `data`; returns it once it says it listens.
fn serve(bin: &Path, addr: &str, data: &Path) -> (Child, Instant) {
    let (server, _) = spawn_kvs_local(bin, addr, data, &["--no-tls"]);
    (server, Instant::now())
}

fn main() {
    let restarts = env_u64("KVS_BENCH_RESTARTS", 10);
    let outage = Duration::from_millis(env_u64("KVS_BENCH_OUTAGE_MS", 2000));
    let bin = kvs_local_binary();
    let dir = tempfile::tempdir().unwrap();
    let addr = kvs_testkit::net::free_addr().to_string();
    let (mut server, _) = serve(&bin, &addr, dir.path());

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let waits = runtime.block_on(async {
        let config = config_at(&format!("http://{addr}")).await;
        let stream = create_stream(&config, "recovery").await;
        let producer = Producer::builder(&config, stream)
            .tracks(vec![TrackInfo::h264(
                1,
                1280,
                720,
                vec![1, 0x64, 0, 0x1f, 0xff, 0xe1, 0, 0, 1, 0],
            )])
            .options(ProducerConfig::default())
            .start()
            .unwrap();
        let mut events = producer.events();
        let feeding = tokio::spawn(async move {
            let payload = Bytes::from(vec![0x42u8; 4_000_000 / 8 / 30]);
            let t0 = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64;
            let mut tick = tokio::time::interval(Duration::from_nanos(33_333_333));
            for n in 0.. {
                tick.tick().await;
                let frame = Frame {
                    track: 1,
                    timestamp_ns: t0 + n * 33_333_333,
                    key: n % 30 == 0,
                    data: payload.clone(),
                };
                if producer.push(frame).await.is_err() {
                    break;
                }
            }
        });
        let mut waits = Vec::new();
        for _ in 0..restarts {
            tokio::time::sleep(Duration::from_secs(3)).await;
            let _ = server.kill();
            let _ = server.wait();
            tokio::time::sleep(outage).await;
            while events.try_recv().is_ok() {}
            let (next, up) = serve(&bin, &addr, dir.path());
            server = next;
            loop {
                match events.recv().await {
                    Ok(ProducerEvent::Persisted { .. }) => break,
                    Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(e) => panic!("{e}"),
                }
            }
            waits.push(up.elapsed());
        }
        feeding.abort();
        waits
    });
    let _ = server.kill();
    let _ = server.wait();
    let mut ms: Vec<f64> = waits.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
    println!(
        "{restarts} restarts after {} ms outages: restart to first PERSISTED (ms): {}",
        outage.as_millis(),
        ms.iter()
            .map(|m| format!("{m:.0}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    ms.sort_by(f64::total_cmp);
    println!(
        "p50 {:.0} ms, max {:.0} ms",
        ms[ms.len() / 2],
        ms[ms.len() - 1]
    );
}
