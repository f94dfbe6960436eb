//! GetClip's remux (kvs-mp4 `clip`) of a 10-minute 4 Mbps H.264 stream, side by side with
//! `ffmpeg -i same.mkv -c copy out.mp4` on the same data in the same run.
//! Run: `cargo bench -p kvs-mp4 --bench clip`.

#![allow(clippy::unwrap_used)]

use std::process::{Command, Stdio};
use std::time::Instant;

use bytes::Bytes;
use kvs_mkv::{Frame, MkvWriter, Packager, PackagerConfig, TrackInfo, WriterConfig};

fn main() {
    let avcc = vec![
        1, 0x64, 0, 0x1f, 0xff, 0xe1, 0, 0x0c, 0x67, 0x64, 0, 0x1f, 0xac, 0xd9, 0x40, 0x50, 0x05,
        0xbb, 0x01, 0x10, 1, 0, 4, 0x68, 0xeb, 0xe3, 0xcb,
    ];
    let tracks = vec![TrackInfo::h264(1, 1280, 720, avcc)];
    // 10 minutes at 30 fps, about 4 Mbps: 16 KiB per frame as one NAL unit
    let payloads: Vec<Bytes> = (0..8u8)
        .map(|i| {
            let mut nal = vec![0u8; 16 * 1024];
            nal[..4].copy_from_slice(&((16 * 1024 - 4) as u32).to_be_bytes());
            nal[4] = if i == 0 { 0x65 } else { 0x41 };
            nal[5..].fill(i.wrapping_mul(37) | 1);
            Bytes::from(nal)
        })
        .collect();
    let frames: Vec<Frame> = (0..18_000u64)
        .map(|i| Frame {
            track: 1,
            timestamp_ns: 1_700_000_000_000_000_000 + i * 33_333_333,
            key: i % 60 == 0,
            data: payloads[if i % 60 == 0 { 0 } else { 1 + (i % 7) as usize }].clone(),
        })
        .collect();

    let dir = std::env::temp_dir().join(format!("kvs-clip-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mkv = dir.join("in.mkv");
    let mut packager = Packager::new(
        MkvWriter::new(WriterConfig::default(), tracks.clone()).unwrap(),
        PackagerConfig::default(),
    );
    let mut bytes = packager.header();
    for f in &frames {
        packager.push(f, &mut bytes).unwrap();
    }
    std::fs::write(&mkv, &bytes).unwrap();
    println!(
        "input: {} frames, {:.0} MB",
        frames.len(),
        bytes.len() as f64 / 1e6
    );

    let ours = (0..3)
        .map(|_| {
            // What kvs-local does for GetClip: read the stored MKV (here from the page cache),
            // parse it back into frames, remux.
            let t = Instant::now();
            let stored = std::fs::read(&mkv).unwrap();
            let read = t.elapsed();
            let mut parser = kvs_mkv::Parser::new();
            parser.feed_bytes(bytes::Bytes::from(stored));
            let mut parsed = Vec::with_capacity(frames.len());
            while let Some(e) = parser.next_event().unwrap() {
                if let kvs_mkv::Event::Frame(f) = e {
                    parsed.push(f);
                }
            }
            let parse = t.elapsed() - read;
            let mp4 = kvs_mp4::clip(&tracks, &parsed).unwrap();
            let remux = t.elapsed() - read - parse;
            std::fs::write(dir.join("ours.mp4"), &mp4).unwrap();
            let total = t.elapsed();
            println!(
                "  read {read:?}, parse {parse:?}, remux {remux:?}, write {:?}",
                total - read - parse - remux
            );
            total
        })
        .min()
        .unwrap();
    println!("read + parse + kvs-mp4 clip + write: {ours:?}");

    let out = dir.join("out.mp4");
    let ffmpeg = (0..3)
        .filter_map(|_| {
            let t = Instant::now();
            let ok = Command::new("ffmpeg")
                .args(["-v", "error", "-y", "-i"])
                .arg(&mkv)
                .args(["-c", "copy"])
                .arg(&out)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .ok()?
                .success();
            ok.then(|| t.elapsed())
        })
        .min();
    match ffmpeg {
        Some(f) => {
            println!("ffmpeg -c copy (file to file):       {f:?}");
            println!(
                "ratio ffmpeg/kvs-mp4: {:.1}x",
                f.as_secs_f64() / ours.as_secs_f64().max(1e-9)
            );
        }
        None => println!("ffmpeg not available: comparison skipped (run scripts/install-deps)"),
    }
    let _ = std::fs::remove_dir_all(dir);
}
