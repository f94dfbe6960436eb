//! MKV writer and parser throughput, side by side with GStreamer's matroskademux/matroskamux on
//! the same bytes in the same run. Run: `cargo bench -p kvs-mkv --bench throughput`.
//!
//! Our figures are in-process (bytes in memory); GStreamer's are `gst-launch-1.0` reading the
//! same file from the page cache, minus the time of a `filesrc ! fakesink` baseline, so both
//! measure the format work. Each of ours is measured both ways: the writer into a flat `Vec`
//! (payloads copied) and into `Chunks` (payloads shared, as `write_vectored` or an HTTP body
//! stream sends them); the parser fed 64 KiB `&[u8]` (copied in) and 64 KiB `Bytes` chunks, each
//! its own allocation as read from a socket or file (kept, frames sliced from them). The
//! ratios use the shared forms. Results go in docs/benchmarks.md.

#![allow(clippy::unwrap_used)]

use std::process::Command;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kvs_mkv::{
    Chunks, Frame, MkvWriter, Output, Packager, PackagerConfig, Parser, TrackInfo, WriterConfig,
};

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

/// Writes into `out`, which the caller cleared (capacity kept, as a producer reuses its buffers).
fn write_into(frames: &[Frame], out: &mut impl Output) {
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
    p.writer().write_header(out);
    for f in frames {
        p.push(f, out).unwrap();
    }
}

const CHUNK: usize = 64 * 1024;

/// Parses `bytes` fed as 64 KiB slices (copied in).
fn parse(bytes: &[u8]) -> usize {
    let mut p = Parser::new();
    let mut n = 0;
    for chunk in bytes.chunks(CHUNK) {
        p.feed(chunk);
        n += drain(&mut p);
    }
    n + p.finish().unwrap().len()
}

/// Parses `chunks` fed as `Bytes` (kept).
fn parse_bytes(chunks: &[Bytes]) -> usize {
    let mut p = Parser::new();
    let mut n = 0;
    for chunk in chunks {
        p.feed_bytes(chunk.clone());
        n += drain(&mut p);
    }
    n + p.finish().unwrap().len()
}

fn drain(p: &mut Parser) -> usize {
    let mut n = 0;
    while let Some(e) = p.next_event().unwrap() {
        n += matches!(e, kvs_mkv::Event::Frame(_)) as usize;
    }
    n
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
    let mut flat = Vec::with_capacity(n + 4096);
    let mut chunks = Chunks::new();
    write_into(&frames, &mut chunks);
    assert_eq!(chunks.to_vec(), bytes, "the two writer forms differ");
    let fed: Vec<Bytes> = bytes.chunks(CHUNK).map(Bytes::copy_from_slice).collect();
    assert_eq!(parse(&bytes), parse_bytes(&fed));

    let w_flat = best(5, || {
        flat.clear();
        write_into(&frames, &mut flat);
    });
    let w = best(5, || {
        chunks.clear();
        write_into(&frames, &mut chunks);
    });
    let p_flat = best(5, || parse(&bytes));
    let p = best(5, || parse_bytes(&fed));
    println!("stream: {} frames, {:.1} MB", FRAMES, n as f64 / 1e6);
    println!(
        "kvs-mkv writer, into Vec:    {:.2} GB/s ({w_flat:?})",
        gbps(n, w_flat)
    );
    println!(
        "kvs-mkv writer, into Chunks: {:.2} GB/s ({w:?})",
        gbps(n, w)
    );
    println!(
        "kvs-mkv parser, feed(&[u8]): {:.2} GB/s ({p_flat:?})",
        gbps(n, p_flat)
    );
    println!(
        "kvs-mkv parser, feed_bytes:  {:.2} GB/s ({p:?})",
        gbps(n, p)
    );

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
            let ratio = |gst: Duration, ours: Duration| gst.as_secs_f64() / ours.as_secs_f64();
            println!(
                "ratio parser (feed_bytes)/matroskademux: {:.1}x (feed(&[u8]): {:.1}x)",
                ratio(demux_only, p),
                ratio(demux_only, p_flat)
            );
            println!(
                "ratio writer (Chunks)/matroskamux:       {:.1}x (Vec: {:.1}x)",
                ratio(mux_only, w),
                ratio(mux_only, w_flat)
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
