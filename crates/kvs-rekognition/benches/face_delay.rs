//! Delay from a fragment's PERSISTED acknowledgement to the stream processor's output records
//! of its frames, on an in-process kvs-local with its face engine.
//!
//! obama.jpg is indexed into a collection, a processor is started on a video stream, and a
//! 1280x720, 30 fps H.264 video of obama2.jpg (a key frame a second, 2 s fragments) is sent
//! with the kvs-media Producer:
//!
//! 1. at real-time pace for `KVS_BENCH_SECONDS` (60): each fragment's PERSISTED time is noted
//!    when the producer reports it, and each record's delay is its Kinesis arrival time minus
//!    the PERSISTED time of the fragment it names; p50, p99, max, and the analysed frames per
//!    second and CPU per analysed frame of the whole process;
//! 2. as fast as it goes, `KVS_BENCH_BACKLOG_SECONDS` (30) of the same video into a second
//!    stream and processor: analysed frames per second with a backlog, the most one processor
//!    does on this machine.
//!
//! Needs the face models and test photos: `scripts/fetch-models`.
//! Run: `cargo bench -p kvs-rekognition --bench face_delay`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use kvs_endpoint::KvsConfig;
use kvs_local::{Config, Server};
use kvs_media::{AckEventType, Producer, ProducerConfig, ProducerEvent};
use kvs_mkv::{Event, Frame, Parser, TrackInfo};
use kvs_rekognition::{FaceSearchPipeline, ReadRecord, RecordReader, StartPosition};
use kvs_testkit::process::cpu_seconds;
use kvs_types::StreamRef;

const DATA_STREAM: &str = "kvs-ml";
const FPS: u64 = 30;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn photos() -> PathBuf {
    let dir = kvs_faces::FaceEngine::default_models_dir().join("test-images");
    assert!(
        dir.join("obama.jpg").exists(),
        "{} has no test photos: run scripts/fetch-models",
        dir.display()
    );
    dir
}

/// `seconds` of 1280x720, 30 fps H.264 showing `photo` (letterboxed), a key frame a second.
fn video_of(photo: &Path, seconds: u64, dir: &Path) -> (Vec<TrackInfo>, Vec<Frame>) {
    let path = dir.join("video.mkv");
    kvs_testkit::gst_launch(&format!(
        "filesrc location={} ! jpegdec ! videoconvert ! videoscale add-borders=true \
         ! video/x-raw,width=1280,height=720,pixel-aspect-ratio=1/1 ! imagefreeze num-buffers={} \
         ! video/x-raw,framerate=30/1 ! videoconvert ! video/x-raw,format=I420 \
         ! x264enc key-int-max=30 tune=zerolatency bitrate=2000 ! h264parse ! matroskamux \
         ! filesink location={}",
        photo.display(),
        seconds * FPS,
        path.display()
    ));
    let mut p = Parser::new();
    p.feed(&std::fs::read(&path).unwrap());
    let mut events = Vec::new();
    while let Some(e) = p.next_event().unwrap() {
        events.push(e);
    }
    events.extend(p.finish().unwrap());
    let (mut tracks, mut frames) = (Vec::new(), Vec::new());
    for e in events {
        match e {
            Event::Tracks(t) => tracks = t,
            Event::Frame(f) => frames.push(f),
            _ => {}
        }
    }
    (tracks, frames)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Sends `frames` to `stream`, paced at their timestamps when `real_time` (else as fast as
/// the producer takes them); returns when every fragment is PERSISTED, with each fragment's
/// PERSISTED time by fragment number.
async fn produce(
    config: &KvsConfig,
    stream: &str,
    tracks: Vec<TrackInfo>,
    frames: &[Frame],
    real_time: bool,
) -> HashMap<String, SystemTime> {
    let producer = Producer::builder(config, StreamRef::parse(stream).unwrap())
        .tracks(tracks)
        .options(ProducerConfig::default())
        .start()
        .unwrap();
    let persisted = Arc::new(Mutex::new(HashMap::new()));
    let mut events = producer.events();
    let noted = Arc::clone(&persisted);
    let listener = tokio::spawn(async move {
        while let Ok(event) = events.recv().await {
            if let ProducerEvent::Ack(ack) = event
                && ack.event == AckEventType::Persisted
                && let Some(number) = ack.fragment_number
            {
                let now = SystemTime::now();
                noted
                    .lock()
                    .unwrap()
                    .insert(number.as_str().to_owned(), now);
            }
        }
    });
    let duration = Duration::from_nanos(frames.last().unwrap().timestamp_ns);
    // Timestamps end now when sending as fast as possible, so none is in the future.
    let base = if real_time {
        SystemTime::now()
    } else {
        SystemTime::now() - duration
    };
    let base_ns = base.duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64;
    let started = tokio::time::Instant::now();
    for frame in frames {
        if real_time {
            tokio::time::sleep_until(started + Duration::from_nanos(frame.timestamp_ns)).await;
        }
        producer
            .push(Frame {
                timestamp_ns: base_ns + frame.timestamp_ns,
                ..frame.clone()
            })
            .await
            .unwrap();
    }
    let stats = producer.finish(Duration::from_secs(60)).await.unwrap();
    assert_eq!(stats.persisted, stats.fragments, "{stats:?}");
    // The last acknowledgements are broadcast as `finish` returns.
    tokio::time::sleep(Duration::from_millis(100)).await;
    listener.abort();
    let persisted = persisted.lock().unwrap().clone();
    assert_eq!(persisted.len() as u64, stats.fragments);
    persisted
}

/// Reads `processor`'s records until `want` have come or nothing came for `quiet`.
async fn read_records(
    reader: &mut RecordReader,
    processor: &str,
    want: usize,
    quiet: Duration,
) -> Vec<(ReadRecord, SystemTime)> {
    let mut records = Vec::new();
    while records.len() < want {
        match tokio::time::timeout(quiet, reader.next()).await {
            Ok(r) => {
                let r = r.unwrap();
                if r.partition_key == processor {
                    records.push((r, SystemTime::now()));
                }
            }
            Err(_) => break,
        }
    }
    records
}

fn fragment_of(r: &ReadRecord) -> String {
    r.record
        .input_information
        .kinesis_video
        .as_ref()
        .unwrap()
        .fragment_number
        .clone()
}

fn secs_between(later: SystemTime, earlier: SystemTime) -> f64 {
    match later.duration_since(earlier) {
        Ok(d) => d.as_secs_f64(),
        Err(e) => -e.duration().as_secs_f64(),
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let seconds = env("KVS_BENCH_SECONDS", 60);
    let backlog_seconds = env("KVS_BENCH_BACKLOG_SECONDS", 30);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let faces = d.join("faces");
    std::fs::create_dir(&faces).unwrap();
    std::fs::copy(photos().join("obama.jpg"), faces.join("obama.jpg")).unwrap();
    let server = Server::start(Config::new(d.join("data"))).await.unwrap();
    let c = server.credentials().clone();
    let config = KvsConfig::for_endpoint(
        server.url(),
        "us-east-1",
        &c.access_key_id,
        &c.secret_access_key,
    )
    .await;
    let pipeline = |video: &str, processor: &str| {
        FaceSearchPipeline::new(&config)
            .collection("faces")
            .index_folder(&faces)
            .video_stream(video)
            .data_stream(DATA_STREAM)
            .processor(processor)
    };
    let up = pipeline("door", "door-faces").up().await.unwrap();
    assert_eq!(up.indexed.len(), 1);
    let mut reader = RecordReader::open(&config, DATA_STREAM, StartPosition::Latest)
        .await
        .unwrap()
        .poll_interval(Duration::from_millis(10), Duration::from_millis(20));

    let total = seconds.max(backlog_seconds);
    let (tracks, all_frames) = video_of(&photos().join("obama2.jpg"), total, d);
    let frames_of = |s: u64| -> Vec<Frame> {
        all_frames
            .iter()
            .filter(|f| f.timestamp_ns < s * 1_000_000_000)
            .cloned()
            .collect()
    };

    // 1. Real time.
    let frames = frames_of(seconds);
    let cpu_before = cpu_seconds("self");
    let started = Instant::now();
    // The processor samples a frame every 200 ms: 5 per second of video.
    let want = (seconds * 5) as usize;
    let reading = tokio::spawn(async move {
        let records = read_records(&mut reader, "door-faces", want, Duration::from_secs(20)).await;
        (reader, records)
    });
    let persisted = produce(&config, "door", tracks.clone(), &frames, true).await;
    let (mut reader, records) = reading.await.unwrap();
    let wall = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds("self") - cpu_before;
    let mut delays = Vec::new();
    let mut read_delays = Vec::new();
    let mut matched = 0;
    for (r, read_at) in &records {
        let fragment = fragment_of(r);
        let at = persisted
            .get(&fragment)
            .unwrap_or_else(|| panic!("record names fragment {fragment}, never PERSISTED"));
        delays.push(secs_between(r.arrival.unwrap(), *at) * 1000.0);
        read_delays.push(secs_between(*read_at, *at) * 1000.0);
        if r.matches().iter().any(|m| m.who() == "obama") {
            matched += 1;
        }
    }
    delays.sort_by(f64::total_cmp);
    read_delays.sort_by(f64::total_cmp);
    // Records of one fragment: how far apart the first and the last arrive.
    let mut by_fragment: HashMap<String, (SystemTime, SystemTime)> = HashMap::new();
    for (r, _) in &records {
        let at = r.arrival.unwrap();
        let e = by_fragment.entry(fragment_of(r)).or_insert((at, at));
        e.0 = e.0.min(at);
        e.1 = e.1.max(at);
    }
    let mut spreads: Vec<f64> = by_fragment
        .values()
        .map(|(first, last)| secs_between(*last, *first) * 1000.0)
        .collect();
    spreads.sort_by(f64::total_cmp);
    let first_arrival = records.iter().filter_map(|(r, _)| r.arrival).min().unwrap();
    let last_arrival = records.iter().filter_map(|(r, _)| r.arrival).max().unwrap();
    println!(
        "real time: {seconds} s of 1280x720 30 fps video, {} fragments PERSISTED, {} records ({} of {want} expected), {matched} matching obama",
        persisted.len(),
        records.len(),
        records.len()
    );
    println!(
        "delay PERSISTED -> record arrival: p50 {:.0} ms, p99 {:.0} ms, min {:.0} ms, max {:.0} ms",
        percentile(&delays, 0.5),
        percentile(&delays, 0.99),
        delays[0],
        delays.last().unwrap()
    );
    println!(
        "delay PERSISTED -> record read by RecordReader: p50 {:.0} ms, p99 {:.0} ms",
        percentile(&read_delays, 0.5),
        percentile(&read_delays, 0.99)
    );
    println!(
        "first to last record of one fragment: p50 {:.0} ms, max {:.0} ms",
        percentile(&spreads, 0.5),
        spreads.last().unwrap()
    );
    println!(
        "analysed frames per second: {:.2} (records {:.1} s apart first to last); process CPU {:.1} s over {:.1} s = {:.0} ms per analysed frame",
        (records.len() - 1) as f64 / secs_between(last_arrival, first_arrival),
        secs_between(last_arrival, first_arrival),
        cpu,
        wall,
        cpu * 1000.0 / records.len() as f64
    );

    // 2. A backlog.
    pipeline("burst", "burst-faces").up().await.unwrap();
    let frames = frames_of(backlog_seconds);
    let cpu_before = cpu_seconds("self");
    let started = Instant::now();
    let want = (backlog_seconds * 5) as usize;
    let reading = tokio::spawn(async move {
        read_records(&mut reader, "burst-faces", want, Duration::from_secs(20)).await
    });
    let persisted = produce(&config, "burst", tracks, &frames, false).await;
    let sent = started.elapsed().as_secs_f64();
    let records = reading.await.unwrap();
    let cpu = cpu_seconds("self") - cpu_before;
    let first_persisted = persisted.values().min().unwrap();
    let last_arrival = records.iter().filter_map(|(r, _)| r.arrival).max().unwrap();
    let span = secs_between(last_arrival, *first_persisted);
    println!(
        "backlog: {backlog_seconds} s of video sent in {sent:.1} s, {} records ({want} expected) in {span:.1} s from the first PERSISTED: {:.2} analysed frames per second; process CPU {:.1} s = {:.0} ms per analysed frame",
        records.len(),
        records.len() as f64 / span,
        cpu,
        cpu * 1000.0 / records.len() as f64
    );
    server.shutdown().await;
}
