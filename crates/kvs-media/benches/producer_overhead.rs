//! Producer overhead: CPU per 4 Mbit/s stream and memory, for producers in this process
//! streaming in real time to a kvs-local in another process (so its CPU is not counted).
//! Run: `cargo build -p kvs-local-bin && KVS_BENCH_STREAMS=10 KVS_BENCH_SECONDS=20 cargo bench -p kvs-media --bench producer_overhead`.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use kvs_media::{Producer, ProducerConfig};
use kvs_mkv::{Frame, TrackInfo};
use kvs_testkit::local::config_at;
use kvs_types::StreamRef;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// This process's user+system CPU seconds (Linux /proc; USER_HZ is 100 on Linux).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    (f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap()) / 100.0
}

/// Peak resident memory of this process, in KiB.
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn main() {
    let streams = env("KVS_BENCH_STREAMS", 10);
    let seconds = env("KVS_BENCH_SECONDS", 20);
    let exe = std::env::current_exe().unwrap();
    let target = exe
        .parent()
        .and_then(|p| p.parent())
        .and_then(|p| p.parent())
        .unwrap();
    let server_bin = ["release", "debug"]
        .iter()
        .map(|p| target.join(p).join("kvs-local"))
        .find(|p| p.exists())
        .expect("build the server first: cargo build -p kvs-local-bin");
    let dir = tempfile::tempdir().unwrap();
    let mut server = Command::new(server_bin)
        .args(["serve", "--addr", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let url = first
        .trim()
        .strip_prefix("kvs-local listening on ")
        .unwrap()
        .to_owned();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let (cpu, rss, persisted) = runtime.block_on(async {
        let config = config_at(&url).await;
        for i in 0..streams {
            config
                .kinesis_video()
                .create_stream()
                .stream_name(format!("o-{i}"))
                .data_retention_in_hours(1)
                .send()
                .await
                .unwrap();
        }
        let frame_bytes = 4_000_000 / 8 / 30;
        let payload = Bytes::from(vec![0x42u8; frame_bytes]);
        let cpu0 = cpu_seconds();
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
        (cpu_seconds() - cpu0, peak_rss_kib(), persisted)
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
