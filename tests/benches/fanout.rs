//! kvs-local fan-out: 20 streams fed live, 200 LIVE HLS clients (10 a stream) that behave like
//! players, and 20 GetMedia readers (one a stream), against a kvs-local in another process whose
//! CPU (`/proc/PID/stat`) and peak memory (`VmHWM`) are measured apart from this process (the
//! producers and the clients).
//!
//! Each HLS client calls GetHLSStreamingSessionURL once, fetches the master playlist, then polls
//! the media playlist about every target duration (half that when nothing new was listed),
//! fetches the init segment once and every new segment, from the newest listed at start on.
//! Per segment it times the first byte of the body and the last byte.
//!
//! Ten clients a stream is the most KVS (and kvs-local) allow: 10 active playback sessions a
//! stream. For more viewers, raise the number of streams.
//!
//! Run: `cargo build --release -p kvs-local-bin && cargo bench -p kvs-e2e --bench fanout`.
//! Environment: `KVS_BENCH_STREAMS` (20), `KVS_BENCH_CLIENTS` (HLS clients a stream, 10),
//! `KVS_BENCH_READERS` (GetMedia readers a stream, 1), `KVS_BENCH_SECONDS` (measured window, 60),
//! `KVS_BENCH_WARMUP` (seconds of clients before the window, 10), `KVS_BENCH_KBPS` (producer
//! bitrate, about 1600).

#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use kvs_archive::{ArchiveClient, HlsOptions};
use kvs_endpoint::KvsConfig;
use kvs_media::{MediaClient, Producer, ProducerConfig, StartSelector};
use kvs_mkv::Frame;
use kvs_testkit::local::{config_at, create_stream};
use kvs_testkit::process::{cpu_seconds, env_u64, kvs_local_binary, spawn_kvs_local, status_kib};
use kvs_testkit::video::SyntheticVideo;
use kvs_types::StreamRef;

const FPS: u64 = 30;
const KEY_EVERY: u64 = 60;

fn epoch_s() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// What the clients saw; latencies in milliseconds, recorded only while `measuring`.
#[derive(Default)]
struct Stats {
    segment_first_byte: Vec<f64>,
    segment_last_byte: Vec<f64>,
    segment_bytes: u64,
    playlist: Vec<f64>,
    init: Vec<f64>,
    getmedia_delay: Vec<f64>,
    getmedia_fragments: u64,
    getmedia_bytes: u64,
    errors: Vec<String>,
}

struct Shared {
    stats: Mutex<Stats>,
    measuring: AtomicBool,
    stop: AtomicBool,
    errors_total: AtomicU64,
}

impl Shared {
    fn measuring(&self) -> bool {
        self.measuring.load(Ordering::Relaxed)
    }

    fn error(&self, what: String) {
        self.errors_total.fetch_add(1, Ordering::Relaxed);
        if self.measuring() {
            self.stats.lock().unwrap().errors.push(what);
        }
    }
}

/// GET `url` to its end: (first byte of the body, last byte, bytes), or what went wrong.
async fn timed_get(http: &reqwest::Client, url: &str) -> Result<(f64, f64, usize), String> {
    let t = Instant::now();
    let mut resp = http.get(url).send().await.map_err(|e| e.to_string())?;
    if !resp.status().is_success() {
        let status = resp.status();
        let body = resp.text().await.unwrap_or_default();
        return Err(format!(
            "{status}: {}",
            body.chars().take(200).collect::<String>()
        ));
    }
    let mut first = None;
    let mut n = 0;
    while let Some(chunk) = resp.chunk().await.map_err(|e| e.to_string())? {
        if first.is_none() {
            first = Some(t.elapsed());
        }
        n += chunk.len();
    }
    let last = t.elapsed();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    Ok((ms(first.unwrap_or(last)), ms(last), n))
}

/// The URL `relative` names next to `base` (a playlist's URL).
fn resolve(base: &str, relative: &str) -> String {
    let path = base.split('?').next().unwrap();
    format!("{}/{relative}", &path[..path.rfind('/').unwrap()])
}

/// A media playlist: target duration (s), media sequence, init segment URI, segment URIs.
fn parse_playlist(text: &str) -> (u64, u64, Option<String>, Vec<String>) {
    let (mut target, mut sequence, mut init, mut segments) = (2, 0, None, Vec::new());
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("#EXT-X-TARGETDURATION:") {
            target = v.trim().parse().unwrap_or(2);
        } else if let Some(v) = line.strip_prefix("#EXT-X-MEDIA-SEQUENCE:") {
            sequence = v.trim().parse().unwrap_or(0);
        } else if let Some(v) = line.strip_prefix("#EXT-X-MAP:URI=\"") {
            init = v.split('"').next().map(str::to_owned);
        } else if !line.is_empty() && !line.starts_with('#') {
            segments.push(line.to_owned());
        }
    }
    (target, sequence, init, segments)
}

/// One LIVE HLS player: session URL once, master playlist, then media playlist polls and the
/// segments they list.
async fn hls_client(config: KvsConfig, stream: StreamRef, shared: Arc<Shared>, phase: Duration) {
    tokio::time::sleep(phase).await;
    let http = reqwest::Client::new();
    let session = loop {
        match ArchiveClient::new(&config)
            .hls_url(&stream, &HlsOptions::default())
            .await
        {
            Ok(url) => break url,
            Err(e) => {
                shared.error(format!("GetHLSStreamingSessionURL: {e}"));
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
        if shared.stop.load(Ordering::Relaxed) {
            return;
        }
    };
    let media = loop {
        match http.get(&session).send().await {
            Ok(r) if r.status().is_success() => {
                let text = r.text().await.unwrap_or_default();
                match text.lines().rfind(|l| !l.is_empty() && !l.starts_with('#')) {
                    Some(line) => break resolve(&session, line),
                    None => shared.error(format!("master playlist without a variant: {text}")),
                }
            }
            Ok(r) => shared.error(format!("master playlist: {}", r.status())),
            Err(e) => shared.error(format!("master playlist: {e}")),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        if shared.stop.load(Ordering::Relaxed) {
            return;
        }
    };
    let mut init_done = false;
    let mut next_sequence: Option<u64> = None;
    while !shared.stop.load(Ordering::Relaxed) {
        let polled = Instant::now();
        let mut target = 2;
        let mut fetched = false;
        match fetch_playlist(&http, &media).await {
            Err(e) => shared.error(format!("media playlist: {e}")),
            Ok((ms, text)) => {
                if shared.measuring() {
                    shared.stats.lock().unwrap().playlist.push(ms);
                }
                let (t, sequence, init, segments) = parse_playlist(&text);
                target = t;
                if !init_done && let Some(init) = init {
                    match timed_get(&http, &resolve(&media, &init)).await {
                        Ok((_, last, _)) => {
                            init_done = true;
                            // most are fetched in the warm-up: kept whenever they come
                            shared.stats.lock().unwrap().init.push(last);
                        }
                        Err(e) => shared.error(format!("init segment: {e}")),
                    }
                }
                let end = sequence + segments.len() as u64;
                // a player joining a live stream starts at its newest segment
                let from = next_sequence.unwrap_or(end.saturating_sub(1)).max(sequence);
                for s in from..end {
                    let uri = &segments[(s - sequence) as usize];
                    match timed_get(&http, &resolve(&media, uri)).await {
                        Ok((first, last, n)) => {
                            if shared.measuring() {
                                let mut st = shared.stats.lock().unwrap();
                                st.segment_first_byte.push(first);
                                st.segment_last_byte.push(last);
                                st.segment_bytes += n as u64;
                            }
                        }
                        Err(e) => shared.error(format!("segment {uri}: {e}")),
                    }
                    fetched = true;
                }
                next_sequence = Some(end.max(next_sequence.unwrap_or(0)));
            }
        }
        let period = if fetched {
            Duration::from_secs(target)
        } else {
            Duration::from_millis(target * 500)
        };
        tokio::time::sleep(period.saturating_sub(polled.elapsed())).await;
    }
}

/// GET a playlist: (milliseconds to its last byte, text).
async fn fetch_playlist(http: &reqwest::Client, url: &str) -> Result<(f64, String), String> {
    let t = Instant::now();
    let resp = http.get(url).send().await.map_err(|e| e.to_string())?;
    let status = resp.status();
    let text = resp.text().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!(
            "{status}: {}",
            text.chars().take(200).collect::<String>()
        ));
    }
    Ok((t.elapsed().as_secs_f64() * 1000.0, text))
}

/// One GetMedia reader from now on; per fragment after the first, the delay from the end of
/// the fragment (its producer timestamp plus 2 s) to its arrival. kvs-local sends a fragment
/// once it is stored, and `FragmentReader` yields it when the next one begins (2 s later),
/// so those 2 s are taken off: what is left is ingest, storage and delivery.
async fn getmedia_reader(config: KvsConfig, stream: StreamRef, shared: Arc<Shared>) {
    let client = MediaClient::new(&config);
    while !shared.stop.load(Ordering::Relaxed) {
        let mut reader = match client.get_media(&stream, &StartSelector::Now).await {
            Ok(r) => r,
            Err(e) => {
                shared.error(format!("GetMedia: {e}"));
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let mut first = true;
        loop {
            match reader.next_fragment().await {
                Ok(Some(f)) => {
                    let arrived = epoch_s();
                    if !first && shared.measuring() {
                        let mut st = shared.stats.lock().unwrap();
                        st.getmedia_fragments += 1;
                        st.getmedia_bytes +=
                            f.frames.iter().map(|fr| fr.data.len() as u64).sum::<u64>();
                        // the reader yields a fragment when the next one starts, a fragment
                        // length after this one ended: not counted
                        if let Some(ts) = f.producer_timestamp {
                            let end = ts + 2.0 * (KEY_EVERY as f64 / FPS as f64);
                            st.getmedia_delay.push((arrived - end) * 1000.0);
                        }
                    }
                    first = false;
                }
                Ok(None) => {
                    if !shared.stop.load(Ordering::Relaxed) {
                        shared.error("GetMedia ended".into());
                    }
                    break;
                }
                Err(e) => {
                    if !shared.stop.load(Ordering::Relaxed) {
                        shared.error(format!("GetMedia: {e}"));
                    }
                    break;
                }
            }
            if shared.stop.load(Ordering::Relaxed) {
                return;
            }
        }
    }
}

fn pct(v: &mut [f64], q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * q).round() as usize]
}

fn main() {
    let streams = env_u64("KVS_BENCH_STREAMS", 20);
    let clients = env_u64("KVS_BENCH_CLIENTS", 10);
    let readers = env_u64("KVS_BENCH_READERS", 1);
    let seconds = env_u64("KVS_BENCH_SECONDS", 60);
    let warmup = env_u64("KVS_BENCH_WARMUP", 10);
    let kbps = env_u64("KVS_BENCH_KBPS", 1600);

    if clients > 10 {
        println!(
            "note: KVS (and kvs-local) allow 10 active HLS/DASH sessions a stream; \
             clients past the 10th of a stream get ClientLimitExceededException"
        );
    }
    let bin = kvs_local_binary();
    let dir = tempfile::tempdir().unwrap();
    let (mut server, url) = spawn_kvs_local(&bin, "127.0.0.1:0", dir.path(), &["--no-tls"]);
    let pid = server.id().to_string();
    println!("kvs-local {} (pid {pid}) at {url}", bin.display());

    // 320x240: an I_PCM key frame is about 115 KB; the other frames are padded so the stream
    // is about `kbps`.
    let key_bytes = 320 * 240 * 3 / 2;
    let per_gop = kbps * 1000 / 8 * KEY_EVERY / FPS;
    let video = SyntheticVideo {
        width: 320,
        height: 240,
        fps: FPS as u32,
        key_every: KEY_EVERY as u32,
        min_frame_bytes: (per_gop.saturating_sub(key_bytes) / (KEY_EVERY - 1)) as usize,
        ..SyntheticVideo::default()
    };
    let gop: Arc<Vec<Frame>> = Arc::new(video.frames(0..KEY_EVERY));
    let gop_bytes: usize = gop.iter().map(|f| f.data.len()).sum();
    println!(
        "{streams} streams at {:.2} Mbit/s (320x240, {FPS} fps, a key frame every 2 s), \
         {clients} LIVE HLS clients and {readers} GetMedia reader(s) a stream, \
         {warmup} s warm-up, {seconds} s measured",
        gop_bytes as f64 * 8.0 / (KEY_EVERY as f64 / FPS as f64) / 1e6
    );

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let shared = Arc::new(Shared {
        stats: Mutex::default(),
        measuring: AtomicBool::new(false),
        stop: AtomicBool::new(false),
        errors_total: AtomicU64::new(0),
    });
    let result = runtime.block_on(async {
        let config = config_at(&url).await;
        let names: Vec<StreamRef> = (0..streams)
            .map(|i| StreamRef::parse(&format!("fan-{i}")).unwrap())
            .collect();
        for i in 0..streams {
            create_stream(&config, &format!("fan-{i}")).await;
        }
        // Producers, their starts spread over 2 s (cameras' key frames are not aligned).
        let mut producers = Vec::new();
        for (i, name) in names.iter().enumerate() {
            let producer = Producer::builder(&config, name.clone())
                .tracks(vec![video.track_info()])
                .options(ProducerConfig::default())
                .start()
                .unwrap();
            let gop = gop.clone();
            let shared = shared.clone();
            let offset = Duration::from_millis(2000 * i as u64 / streams.max(1));
            producers.push(tokio::spawn(async move {
                tokio::time::sleep(offset).await;
                let t0 = (epoch_s() * 1e9) as u64;
                let mut tick = tokio::time::interval(Duration::from_nanos(1_000_000_000 / FPS));
                for n in 0u64.. {
                    tick.tick().await;
                    if shared.stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let mut f = gop[(n % KEY_EVERY) as usize].clone();
                    f.timestamp_ns = t0 + n * 1_000_000_000 / FPS;
                    if let Err(e) = producer.push(f).await {
                        shared.error(format!("producer: {e}"));
                        break;
                    }
                }
                let _ = producer.finish(Duration::from_secs(5)).await;
            }));
        }
        // Ingest alone first (after the first fragments), for a baseline of kvs-local's CPU.
        tokio::time::sleep(Duration::from_secs(5)).await;
        let ingest_window = 10.0;
        let c0 = cpu_seconds(&pid);
        tokio::time::sleep(Duration::from_secs_f64(ingest_window)).await;
        let ingest_cpu = (cpu_seconds(&pid) - c0) / ingest_window;

        let mut tasks = Vec::new();
        for (i, name) in names.iter().enumerate() {
            for c in 0..clients {
                // players join at different moments within a target duration
                let phase =
                    Duration::from_millis((2000 * (c * streams + i as u64)) / (clients * streams));
                tasks.push(tokio::spawn(hls_client(
                    config.clone(),
                    name.clone(),
                    shared.clone(),
                    phase,
                )));
            }
            for _ in 0..readers {
                tasks.push(tokio::spawn(getmedia_reader(
                    config.clone(),
                    name.clone(),
                    shared.clone(),
                )));
            }
        }
        tokio::time::sleep(Duration::from_secs(warmup)).await;
        let warmup_errors = shared.errors_total.load(Ordering::Relaxed);
        let (s0, b0, w0) = (cpu_seconds(&pid), cpu_seconds("self"), Instant::now());
        shared.measuring.store(true, Ordering::Relaxed);
        tokio::time::sleep(Duration::from_secs(seconds)).await;
        shared.measuring.store(false, Ordering::Relaxed);
        let wall = w0.elapsed().as_secs_f64();
        let server_cpu = (cpu_seconds(&pid) - s0) / wall;
        let bench_cpu = (cpu_seconds("self") - b0) / wall;
        let server_hwm = status_kib(&pid, "VmHWM:");
        shared.stop.store(true, Ordering::Relaxed);
        for t in tasks {
            t.abort();
        }
        for p in producers {
            let _ = tokio::time::timeout(Duration::from_secs(10), p).await;
        }
        (
            ingest_cpu,
            server_cpu,
            bench_cpu,
            server_hwm,
            wall,
            warmup_errors,
        )
    });
    let _ = server.kill();
    let _ = server.wait();
    let (ingest_cpu, server_cpu, bench_cpu, server_hwm, wall, warmup_errors) = result;
    let mut st = std::mem::take(&mut *shared.stats.lock().unwrap());

    let n = st.segment_last_byte.len();
    println!(
        "HLS segments: {n} in {wall:.0} s ({:.1}/s, {:.1} MB/s); init segments {} (p99 {:.1} ms)",
        n as f64 / wall,
        st.segment_bytes as f64 / wall / 1e6,
        st.init.len(),
        pct(&mut st.init, 0.99)
    );
    println!(
        "  segment first byte: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        pct(&mut st.segment_first_byte, 0.5),
        pct(&mut st.segment_first_byte, 0.99),
        pct(&mut st.segment_first_byte, 1.0)
    );
    println!(
        "  segment last byte:  p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        pct(&mut st.segment_last_byte, 0.5),
        pct(&mut st.segment_last_byte, 0.99),
        pct(&mut st.segment_last_byte, 1.0)
    );
    println!(
        "  media playlist ({}): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        st.playlist.len(),
        pct(&mut st.playlist, 0.5),
        pct(&mut st.playlist, 0.99),
        pct(&mut st.playlist, 1.0)
    );
    println!(
        "GetMedia: {} fragments ({:.1} MB/s); fragment end to arrival (less 2 s, see above) p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        st.getmedia_fragments,
        st.getmedia_bytes as f64 / wall / 1e6,
        pct(&mut st.getmedia_delay, 0.5),
        pct(&mut st.getmedia_delay, 0.99),
        pct(&mut st.getmedia_delay, 1.0)
    );
    println!(
        "errors: {} in the window, {warmup_errors} before it",
        st.errors.len()
    );
    for e in st.errors.iter().take(10) {
        println!("  {e}");
    }
    println!(
        "kvs-local CPU: {:.1}% of a core with the readers ({:.1}% ingest alone); peak RSS {} MiB",
        server_cpu * 100.0,
        ingest_cpu * 100.0,
        server_hwm / 1024
    );
    println!(
        "this process (producers and clients): {:.1}% of a core",
        bench_cpu * 100.0
    );
}
