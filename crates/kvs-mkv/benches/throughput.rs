//! MKV writer and parser throughput, side by side with GStreamer's matroskademux/matroskamux on
//! the same bytes in the same run. Run: `cargo bench -p kvs-mkv --bench throughput`.
//!
//! Our figures are in-process (bytes in memory); GStreamer's are `gst-launch-1.0` reading the
//! same file from the page cache, minus the time of a `filesrc ! fakesink` baseline, so both
//! measure the format work. Results go in docs/benchmarks.md.

#![allow(clippy::unwrap_used)]

use std::process::Command;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kvs_mkv::{Frame, MkvWriter, Packager, PackagerConfig, Parser, TrackInfo, WriterConfig};

const FRAMES: u64 = 12_000; // 400 s of 30 fps
const FRAME_BYTES: usize = 16 * 1024; // about 4 Mbps

fn frames() -> Vec<Frame> {
    let payload: Vec<Bytes> = (0..16)
        .map(|i| Bytes::from(vec![i as u8; FRAME_BYTES]))
        .collect();
    (0..FRAMES)
        .map(|i| Frame {
            track: 1,
            // stream-relative times: matroskademux seeks badly in epoch-based timecodes
            timestamp_ns: i * 33_333_333,
            key: i % 60 == 0,
            data: payload[(i % 16) as usize].clone(),
        })
        .collect()
}

fn write(frames: &[Frame]) -> Vec<u8> {
    let mut out = Vec::with_capacity(frames.len() * (FRAME_BYTES + 32) + 4096);
    write_into(frames, &mut out);
    out
}

/// Writes into `out` (cleared first, capacity kept, as a producer reuses its buffers).
fn write_into(frames: &[Frame], out: &mut Vec<u8>) {
    out.clear();
    let writer = MkvWriter::new(
        WriterConfig::default(),
        vec![TrackInfo::h264(
            1,
            1280,
            720,
            vec![
                1, 0x64, 0, 0x1f, 0xff, 0xe1, 0, 4, 0x67, 0x64, 0, 0x1f, 1, 0, 4, 0x68, 0xee, 0x3c,
                0x80,
            ],
        )],
    )
    .unwrap();
    let mut p = Packager::new(writer, PackagerConfig::default());
    out.extend(p.header());
    for f in frames {
        p.push(f, out).unwrap();
    }
}

fn parse(bytes: &[u8]) -> usize {
    let mut p = Parser::new();
    let mut n = 0;
    for chunk in bytes.chunks(64 * 1024) {
        p.feed(chunk);
        while let Some(e) = p.next_event().unwrap() {
            n += matches!(e, kvs_mkv::Event::Frame(_)) as usize;
        }
    }
    n + p.finish().unwrap().len()
}

fn best<T>(runs: usize, mut f: impl FnMut() -> T) -> Duration {
    (0..runs)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(f());
            t.elapsed()
        })
        .min()
        .unwrap()
}

fn gst(pipeline: &str) -> Option<Duration> {
    let args: Vec<&str> = pipeline.split_whitespace().collect();
    let t = Instant::now();
    let ok = Command::new("gst-launch-1.0")
        .arg("-q")
        .args(&args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .ok()?
        .success();
    ok.then(|| t.elapsed())
}

fn gbps(bytes: usize, d: Duration) -> f64 {
    bytes as f64 / d.as_secs_f64() / 1e9
}

fn main() {
    let frames = frames();
    let bytes = write(&frames);
    let n = bytes.len();
    let mut reuse = Vec::with_capacity(n + 4096);
    write_into(&frames, &mut reuse);
    let w = best(5, || write_into(&frames, &mut reuse));
    let p = best(5, || parse(&bytes));
    println!("stream: {} frames, {:.1} MB", FRAMES, n as f64 / 1e6);
    println!("kvs-mkv writer: {:.2} GB/s ({:?})", gbps(n, w), w);
    println!("kvs-mkv parser: {:.2} GB/s ({:?})", gbps(n, p), p);

    let dir = std::env::temp_dir().join(format!("kvs-mkv-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("stream.mkv");
    std::fs::write(&file, &bytes).unwrap();
    let loc = file.display().to_string();
    let baseline = (0..3)
        .filter_map(|_| gst(&format!("pushfilesrc location={loc} ! fakesink")))
        .min();
    let demux = (0..3)
        .filter_map(|_| {
            gst(&format!(
                "pushfilesrc location={loc} ! matroskademux ! fakesink"
            ))
        })
        .min();
    let remux = (0..3)
        .filter_map(|_| gst(&format!("pushfilesrc location={loc} ! matroskademux ! matroskamux streamable=true ! fakesink")))
        .min();
    match (baseline, demux, remux) {
        (Some(b), Some(d), Some(r)) => {
            let demux_only = d.saturating_sub(b).max(Duration::from_micros(1));
            let mux_only = r.saturating_sub(d).max(Duration::from_micros(1));
            println!(
                "matroskademux:  {:.2} GB/s ({demux_only:?} over a filesrc baseline of {b:?})",
                gbps(n, demux_only)
            );
            println!(
                "matroskamux:    {:.2} GB/s ({mux_only:?} over demux)",
                gbps(n, mux_only)
            );
            println!(
                "ratio parser/matroskademux: {:.1}x",
                demux_only.as_secs_f64() / p.as_secs_f64()
            );
            println!(
                "ratio writer/matroskamux:   {:.1}x",
                mux_only.as_secs_f64() / w.as_secs_f64()
            );
        }
        _ => println!(
            "gst-launch-1.0 not available: GStreamer comparison skipped (run scripts/install-deps)"
        ),
    }
    if std::env::var_os("KVS_BENCH_KEEP").is_some() {
        println!("kept {loc}");
    } else {
        let _ = std::fs::remove_dir_all(dir);
    }
}
