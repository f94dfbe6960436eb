//! GetClip end to end over HTTP against `ffmpeg -c copy` of the same frames.
//!
//! A release kvs-local in another process holds `KVS_BENCH_SECONDS` (400) of 4 Mbit/s H.264
//! (synthetic 320x240 pictures padded to the bitrate, 30 fps, a fragment every 2 s), put with
//! the producer. `ArchiveClient::clip(..).to_file(..)` then downloads a clip of the whole range:
//! GetClip stops at KVS's 100 MB, about 212 s. The same frames the clip holds, as the MKV a
//! producer sends, go through `ffmpeg -i in.mkv -c copy out.mp4`, as it is and followed by
//! `sync out.mp4` (the download fsyncs its file before renaming it into place). Each is run
//! three times, interleaved, every output deleted and `sync`ed (untimed) before its run; the
//! best counts.
//!
//! Run: `cargo build --release -p kvs-local-bin && cargo bench -p kvs-e2e --bench getclip`.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use kvs_archive::ArchiveClient;
use kvs_media::{OverflowPolicy, Producer, ProducerConfig};
use kvs_mkv::{MkvWriter, Packager, PackagerConfig, WriterConfig};
use kvs_testkit::local::{config_at, create_stream};
use kvs_testkit::process::{env_u64, kvs_local_binary, spawn_kvs_local};
use kvs_testkit::video::SyntheticVideo;
use kvs_types::TimeRange;

const FPS: u64 = 30;
const KEY_EVERY: u64 = 60;
const KBPS: u64 = 4000;

/// Frames in the MP4 at `path` (its `moov` says so; ffprobe does not read the samples).
fn mp4_frames(path: &Path) -> u64 {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-show_entries"])
        .args(["stream=nb_frames", "-of", "csv=p=0"])
        .arg(path)
        .output()
        .expect("ffprobe (Debian package ffmpeg) is installed");
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

fn sync_and_remove(path: &Path) {
    let _ = std::fs::remove_file(path);
    Command::new("sync").status().unwrap();
}

fn main() {
    let seconds = env_u64("KVS_BENCH_SECONDS", 400);
    let bin = kvs_local_binary();
    let dir = tempfile::tempdir().unwrap();
    let (mut server, url) =
        spawn_kvs_local(&bin, "127.0.0.1:0", &dir.path().join("kvs"), &["--no-tls"]);

    // 320x240: an I_PCM key frame is about 115 KB; the others are padded to the bitrate.
    let key_bytes = 320 * 240 * 3 / 2;
    let per_gop = KBPS * 1000 / 8 * KEY_EVERY / FPS;
    let start = SystemTime::now() - Duration::from_secs(seconds + 60);
    let start_ns = start.duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64;
    let video = SyntheticVideo {
        width: 320,
        height: 240,
        fps: FPS as u32,
        key_every: KEY_EVERY as u32,
        start_ns,
        min_frame_bytes: (per_gop.saturating_sub(key_bytes) / (KEY_EVERY - 1)) as usize,
        ..SyntheticVideo::default()
    };
    let frames = video.frames(0..seconds * FPS);
    let bytes: usize = frames.iter().map(|f| f.data.len()).sum();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let config = runtime.block_on(config_at(&url));
    let stream = runtime.block_on(create_stream(&config, "clip-bench"));
    runtime.block_on(async {
        let mut options = ProducerConfig::default();
        options.overflow = OverflowPolicy::Block;
        let producer = Producer::builder(&config, stream.clone())
            .track(video.track_info())
            .options(options)
            .start()
            .unwrap();
        for f in &frames {
            producer.push(f.clone()).await.unwrap();
        }
        let stats = producer.finish(Duration::from_secs(120)).await.unwrap();
        assert_eq!(stats.persisted, seconds / 2, "{stats:?}");
    });
    println!(
        "{seconds} s of {:.1} Mbit/s H.264 in kvs-local ({:.0} MB, {} fragments)",
        bytes as f64 * 8.0 / seconds as f64 / 1e6,
        bytes as f64 / 1e6,
        seconds / 2
    );

    let clip = dir.path().join("clip.mp4");
    let range = TimeRange::between(start, start + Duration::from_secs(seconds + 1)).unwrap();
    let archive = ArchiveClient::new(&config);
    let download = || {
        sync_and_remove(&clip);
        let t = Instant::now();
        let summary = runtime
            .block_on(archive.clip(&stream, range).to_file(&clip))
            .unwrap();
        (t.elapsed(), summary.bytes)
    };
    let (_, clip_bytes) = download();
    let clip_frames = mp4_frames(&clip);

    // The frames the clip holds, as a producer's MKV: what ffmpeg remuxes.
    let mkv = dir.path().join("in.mkv");
    let writer = MkvWriter::new(WriterConfig::default(), vec![video.track_info()]).unwrap();
    let mut packager = Packager::new(writer, PackagerConfig::default());
    let mut out = packager.header();
    for f in &frames[..clip_frames as usize] {
        packager.push(f, &mut out).unwrap();
    }
    std::fs::write(&mkv, &out).unwrap();
    let ffmpeg_out = dir.path().join("ffmpeg.mp4");
    // ffmpeg's output as written, and as durable as the download (which fsyncs its file
    // before renaming it into place): `sync FILE` after it.
    let ffmpeg = |durable: bool| {
        sync_and_remove(&ffmpeg_out);
        let t = Instant::now();
        let status = Command::new("ffmpeg")
            .args(["-v", "error", "-y", "-i"])
            .arg(&mkv)
            .args(["-c", "copy"])
            .arg(&ffmpeg_out)
            .status()
            .unwrap();
        assert!(status.success());
        if durable {
            assert!(
                Command::new("sync")
                    .arg(&ffmpeg_out)
                    .status()
                    .unwrap()
                    .success()
            );
        }
        t.elapsed()
    };
    ffmpeg(false);
    assert_eq!(mp4_frames(&ffmpeg_out), clip_frames);

    let (mut ours, mut theirs, mut theirs_durable) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..3 {
        ours.push(download().0);
        theirs.push(ffmpeg(false));
        theirs_durable.push(ffmpeg(true));
    }
    let ms = |d: &[Duration]| {
        d.iter()
            .map(|d| format!("{:.0}", d.as_secs_f64() * 1e3))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let best = |d: &[Duration]| *d.iter().min().unwrap();
    let (best_ours, best_theirs, best_durable) =
        (best(&ours), best(&theirs), best(&theirs_durable));
    println!(
        "clip: {clip_frames} frames, {:.1} s, {clip_bytes} bytes",
        clip_frames as f64 / FPS as f64
    );
    println!("| | runs (ms) | best |\n|---|---|---|");
    println!(
        "| GetClip to a file (ArchiveClient) | {} | {:.0} ms |",
        ms(&ours),
        best_ours.as_secs_f64() * 1e3
    );
    println!(
        "| `ffmpeg -c copy` of the same frames | {} | {:.0} ms |",
        ms(&theirs),
        best_theirs.as_secs_f64() * 1e3
    );
    println!(
        "| `ffmpeg -c copy`, then `sync` of its output | {} | {:.0} ms |",
        ms(&theirs_durable),
        best_durable.as_secs_f64() * 1e3
    );
    println!(
        "ffmpeg / GetClip: {:.1}x; ffmpeg + sync / GetClip: {:.1}x",
        best_theirs.as_secs_f64() / best_ours.as_secs_f64(),
        best_durable.as_secs_f64() / best_ours.as_secs_f64()
    );
    let _ = server.kill();
    let _ = server.wait();
}
