//! Saturating ingest: N producers each push pre-built MKV fragments (synthetic H.264 from
//! `kvs_testkit::video::SyntheticVideo`, about 1 MB each) into a kvs-local in another process
//! over one PutMedia connection apiece, as fast as PERSISTED acknowledgements allow (at most
//! `KVS_BENCH_WINDOW` unacknowledged fragments per producer). Aggregate throughput counts only
//! bytes acknowledged PERSISTED. In the same run and on the same disk (the same temporary
//! directory as kvs-local's data dir), the same number of bytes is written raw twice: `dd`
//! style (1 MiB writes, one `fsync` at the end) and the way kvs-local persists (one append
//! file per producer, each fragment written then `fdatasync`ed, N writers at once).
//!
//! Run: `cargo build --release -p kvs-local-bin && KVS_BENCH_PRODUCERS=1,4,8 KVS_BENCH_MB=1024
//! cargo bench -p kvs-media --bench ingest_saturating`. `KVS_BENCH_SECONDS` caps each ingest
//! run's duration, `KVS_BENCH_FRAGMENT_KB` sets the fragment size (1024), `KVS_BENCH_WINDOW`
//! the unacknowledged fragments per producer (4), `KVS_BENCH_SERVER` another server binary.

#![allow(clippy::unwrap_used)]

use std::collections::VecDeque;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures_util::StreamExt;
use kvs_endpoint::{KvsConfig, Payload};
use kvs_media::{AckDecoder, AckEventType};
use kvs_mkv::ebml::{self, id};
use kvs_mkv::{MkvWriter, WriterConfig};
use kvs_testkit::local::{config_at, create_stream};
use kvs_testkit::process::{cpu_seconds, env_u64, kvs_local_binary, spawn_kvs_local};
use kvs_testkit::video::SyntheticVideo;
use kvs_types::{ApiName, StreamRef};
use tokio::sync::{Semaphore, mpsc};

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// A fragment's frames, written once: the SimpleBlocks of a cluster starting at timecode 0.
struct Template {
    header: Bytes,
    blocks: Bytes,
}

impl Template {
    fn new(fragment_bytes: usize) -> Self {
        let video = SyntheticVideo {
            fps: 30,
            key_every: 30,
            min_frame_bytes: fragment_bytes / 30,
            ..SyntheticVideo::default()
        };
        let mut writer = MkvWriter::new(WriterConfig::default(), vec![video.track_info()]).unwrap();
        let mut header = Vec::new();
        writer.write_header(&mut header);
        let mut out = Vec::new();
        writer.start_cluster(0, &mut out);
        let head = out.len();
        for frame in video.frames(0..30) {
            writer.write_frame(&frame, &mut out).unwrap();
        }
        Self {
            header: Bytes::from(header),
            blocks: Bytes::from(out).slice(head..),
        }
    }

    /// A known-size Cluster at `timecode_ms`: its head, then the shared blocks.
    fn cluster(&self, timecode_ms: u64) -> (Bytes, usize) {
        let mut tc = Vec::new();
        ebml::put_uint(&mut tc, id::TIMECODE, timecode_ms);
        let mut head = Vec::new();
        ebml::put_id(&mut head, id::CLUSTER);
        ebml::put_size(&mut head, (tc.len() + self.blocks.len()) as u64);
        head.extend_from_slice(&tc);
        let size = head.len() + self.blocks.len();
        (Bytes::from(head), size)
    }
}

struct ProducerResult {
    persisted_bytes: u64,
    persisted: u64,
    last_ack: Instant,
}

/// One PutMedia connection: fragments sent while fewer than `window` await PERSISTED.
async fn produce(
    config: KvsConfig,
    name: String,
    template: Arc<Template>,
    fragments: u64,
    window: usize,
    deadline: Instant,
) -> ProducerResult {
    let stream = StreamRef::parse(&name).unwrap();
    let endpoint = config
        .resolver()
        .data_endpoint(&stream, ApiName::PutMedia)
        .await
        .unwrap();
    let url = format!("{}/putMedia", endpoint.trim_end_matches('/'));
    let start = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let mut request = http::Request::post(&url)
        .header("x-amzn-fragment-timecode-type", "ABSOLUTE")
        .header(
            "x-amzn-producer-start-timestamp",
            format!("{:.3}", start.as_secs_f64()),
        )
        .header("x-amzn-fragment-acknowledgment-required", "1")
        .header("x-amzn-stream-name", name.as_str())
        .body(())
        .unwrap();
    config
        .signer("kinesisvideo")
        .sign(&mut request, Payload::Streaming)
        .await
        .unwrap();

    let (body_tx, body_rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(8);
    let permits = Arc::new(Semaphore::new(window));
    let sent = Arc::new(std::sync::Mutex::new(VecDeque::<(u64, usize)>::new()));
    let base_ms = start.as_millis() as u64;
    let feeder = {
        let permits = permits.clone();
        let sent = sent.clone();
        tokio::spawn(async move {
            body_tx.send(Ok(template.header.clone())).await.unwrap();
            for k in 0..fragments {
                permits.acquire().await.unwrap().forget();
                if Instant::now() >= deadline {
                    break;
                }
                let timecode = base_ms + k * 1000;
                let (head, size) = template.cluster(timecode);
                sent.lock().unwrap().push_back((timecode, size));
                body_tx.send(Ok(head)).await.unwrap();
                body_tx.send(Ok(template.blocks.clone())).await.unwrap();
            }
        })
    };
    let mut req = reqwest::Client::new()
        .post(&url)
        .body(reqwest::Body::wrap_stream(
            tokio_stream::wrappers::ReceiverStream::new(body_rx),
        ));
    for (k, v) in request.headers() {
        req = req.header(k, v);
    }
    let response = req.send().await.unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    let mut acks = response.bytes_stream();
    let mut decoder = AckDecoder::default();
    let mut result = ProducerResult {
        persisted_bytes: 0,
        persisted: 0,
        last_ack: Instant::now(),
    };
    while let Some(chunk) = acks.next().await {
        for ack in decoder.feed(&chunk.unwrap()) {
            let ack = ack.unwrap();
            match ack.event {
                AckEventType::Persisted => {
                    let (timecode, size) = sent.lock().unwrap().pop_front().unwrap();
                    assert_eq!(ack.fragment_timecode, Some(timecode));
                    result.persisted_bytes += size as u64;
                    result.persisted += 1;
                    result.last_ack = Instant::now();
                    permits.add_permits(1);
                }
                AckEventType::Error => panic!("kvs-local refused a fragment: {ack:?}"),
                _ => {}
            }
        }
    }
    feeder.await.unwrap();
    assert!(sent.lock().unwrap().is_empty(), "fragments never PERSISTED");
    result
}

/// `dd if=/dev/zero of=F bs=1M count=N conv=fdatasync`: 1 MiB writes, one sync at the end.
fn raw_dd(dir: &Path, bytes: u64) -> f64 {
    let path = dir.join("raw-dd.bin");
    let chunk = vec![0x5au8; 1 << 20];
    let t = Instant::now();
    let mut f = std::fs::File::create(&path).unwrap();
    let mut left = bytes;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        f.write_all(&chunk[..n]).unwrap();
        left -= n as u64;
    }
    f.sync_all().unwrap();
    let secs = t.elapsed().as_secs_f64();
    std::fs::remove_file(path).unwrap();
    bytes as f64 / 1e6 / secs
}

/// kvs-local's way: per writer an append-only file, each fragment written then `fdatasync`ed;
/// `writers` threads at once, `fragments` fragments in all.
fn raw_fragments(dir: &Path, writers: u64, fragments: u64, fragment: &Bytes) -> f64 {
    let t = Instant::now();
    let paths: Vec<PathBuf> = (0..writers)
        .map(|i| dir.join(format!("raw-frag-{i}.bin")))
        .collect();
    std::thread::scope(|s| {
        for (i, path) in paths.iter().enumerate() {
            let count = fragments / writers + u64::from((i as u64) < fragments % writers);
            s.spawn(move || {
                let mut f = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .unwrap();
                for _ in 0..count {
                    f.write_all(fragment).unwrap();
                    f.sync_data().unwrap();
                }
            });
        }
    });
    let secs = t.elapsed().as_secs_f64();
    for p in paths {
        std::fs::remove_file(p).unwrap();
    }
    (fragments * fragment.len() as u64) as f64 / 1e6 / secs
}

fn main() {
    let producers: Vec<u64> = std::env::var("KVS_BENCH_PRODUCERS")
        .unwrap_or_else(|_| "1,4,8".into())
        .split(',')
        .map(|s| s.trim().parse().unwrap())
        .collect();
    let total_mb = env_u64("KVS_BENCH_MB", 1024);
    let seconds = env_u64("KVS_BENCH_SECONDS", 600);
    let fragment_kb = env_u64("KVS_BENCH_FRAGMENT_KB", 1024);
    let window = env_u64("KVS_BENCH_WINDOW", 4) as usize;
    let server_bin = std::env::var_os("KVS_BENCH_SERVER")
        .map(PathBuf::from)
        .unwrap_or_else(kvs_local_binary);
    let template = Arc::new(Template::new(fragment_kb as usize * 1024));
    let fragment_size = template.cluster(0).1 as u64;
    let fragments_total = (total_mb * 1_000_000).div_ceil(fragment_size);
    let dir = tempfile::tempdir().unwrap();
    println!(
        "server {}; data and raw files under {}; fragments of {} bytes, window {window}; load {}",
        server_bin.display(),
        dir.path().display(),
        fragment_size,
        load()
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    println!(
        "| producers | PERSISTED | wall | ingest | CPU kvs-local / producers | raw dd-style | ratio | raw write+fdatasync per fragment, N files | ratio |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for &n in &producers {
        let data_dir = dir.path().join(format!("data-{n}"));
        std::fs::create_dir_all(&data_dir).unwrap();
        let (mut server, url) = spawn_kvs_local(&server_bin, "127.0.0.1:0", &data_dir, &[]);
        let server_pid = server.id().to_string();
        let (bytes, persisted, wall, cpu_server, cpu_self) = runtime.block_on(async {
            let config = config_at(&url).await;
            for i in 0..n {
                create_stream(&config, &format!("sat-{i}")).await;
            }
            let (server0, self0) = (cpu_seconds(&server_pid), cpu_seconds("self"));
            let t0 = Instant::now();
            let deadline = t0 + Duration::from_secs(seconds);
            let tasks: Vec<_> = (0..n)
                .map(|i| {
                    let count = fragments_total / n + u64::from(i < fragments_total % n);
                    tokio::spawn(produce(
                        config.clone(),
                        format!("sat-{i}"),
                        template.clone(),
                        count,
                        window,
                        deadline,
                    ))
                })
                .collect();
            let (mut bytes, mut persisted, mut last) = (0, 0, t0);
            for t in tasks {
                let r = t.await.unwrap();
                bytes += r.persisted_bytes;
                persisted += r.persisted;
                last = last.max(r.last_ack);
            }
            (
                bytes,
                persisted,
                (last - t0).as_secs_f64(),
                cpu_seconds(&server_pid) - server0,
                cpu_seconds("self") - self0,
            )
        });
        let _ = server.kill();
        let _ = server.wait();
        std::fs::remove_dir_all(&data_dir).unwrap();
        let ingest = bytes as f64 / 1e6 / wall;
        let dd = raw_dd(dir.path(), bytes);
        let (head, _) = template.cluster(0);
        let one = Bytes::from([&head[..], &template.blocks[..]].concat());
        let per_fragment = raw_fragments(dir.path(), n, persisted, &one);
        println!(
            "| {n} | {persisted} fragments, {:.0} MB | {wall:.1} s | {ingest:.0} MB/s | {cpu_server:.1} s / {cpu_self:.1} s | {dd:.0} MB/s | {:.2} | {per_fragment:.0} MB/s | {:.2} |",
            bytes as f64 / 1e6,
            ingest / dd,
            ingest / per_fragment
        );
    }
    println!("load {}", load());
}
