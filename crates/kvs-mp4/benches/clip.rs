//! GetClip's path (read each stored fragment into `Bytes`, parse it with kvs-mkv, lay the MP4
//! out with kvs-mp4 `clip_parts`, write it from the frames' shared payloads with vectored
//! writes) on a 10-minute 4 Mbps H.264 stream, side by side with
//! `ffmpeg -i same.mkv -c copy out.mp4` on the same data, in the same run and directory.
//! Best of three each.
//! Run: `cargo bench -p kvs-mp4 --bench clip`.

#![allow(clippy::unwrap_used)]

use std::fs::File;
use std::io::{IoSlice, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use kvs_mkv::{Event, Frame, MkvWriter, Packager, PackagerConfig, Parser, TrackInfo, WriterConfig};

/// Slices per `writev` (Linux's IOV_MAX).
const IOV_BATCH: usize = 1024;

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
    // Where each fragment's cluster starts, as kvs-local's fragments table records it.
    let mut starts = Vec::new();
    for f in &frames {
        let at = bytes.len() as u64;
        if packager.push(f, &mut bytes).unwrap().started.is_some() {
            starts.push(at);
        }
    }
    let header_len = starts[0];
    let fragments: Vec<(u64, u64)> = starts
        .iter()
        .zip(starts.iter().skip(1).chain([&(bytes.len() as u64)]))
        .map(|(&start, &end)| (start, end - start))
        .collect();
    std::fs::write(&mkv, &bytes).unwrap();
    println!(
        "input: {} frames in {} fragments, {:.0} MB, in {}",
        frames.len(),
        fragments.len(),
        bytes.len() as f64 / 1e6,
        dir.display()
    );
    drop(bytes);

    let stored = Stored {
        mkv: mkv.clone(),
        header_len,
        fragments,
    };
    let (ours_mp4, copied_mp4, ffmpeg_mp4) = (
        dir.join("ours.mp4"),
        dir.join("copied.mp4"),
        dir.join("ffmpeg.mp4"),
    );
    println!(
        "ours: read each fragment into Bytes, parse (feed_bytes), lay out (clip_parts), writev \
         the parts\nprevious: the same read and parse, the MP4 built in memory (clip), written \
         whole\nffmpeg: ffmpeg -i in.mkv -c copy ffmpeg.mp4 (same directory)"
    );
    // Rounds interleave the three so that disk and page-cache state is shared fairly; before
    // each run its previous output is deleted and dirty pages are flushed (untimed), so no
    // run pays for another's writeback.
    let (mut ours, mut copied, mut ffmpeg) = (Vec::new(), Vec::new(), Vec::new());
    for round in 1..=3 {
        println!("round {round}");
        fresh(&ours_mp4);
        ours.push(run_ours(&stored, &tracks, &ours_mp4));
        fresh(&copied_mp4);
        copied.push(run_previous(&stored, &tracks, &copied_mp4));
        fresh(&ffmpeg_mp4);
        ffmpeg.push(run_ffmpeg(&mkv, &ffmpeg_mp4));
    }
    assert!(
        files_equal(&ours_mp4, &copied_mp4),
        "clip_parts and clip wrote different files"
    );
    let best = |runs: &[Duration]| runs.iter().min().copied().unwrap();
    let (ours, copied) = (best(&ours), best(&copied));
    println!("best of 3, end to end: ours {ours:.1?}, previous {copied:.1?}");
    match ffmpeg.into_iter().collect::<Option<Vec<Duration>>>() {
        Some(runs) => {
            let ffmpeg = best(&runs);
            println!(
                "ffmpeg -c copy {ffmpeg:.1?}; ratio ffmpeg/ours {:.2}x (previous path {:.2}x)",
                ffmpeg.as_secs_f64() / ours.as_secs_f64().max(1e-9),
                ffmpeg.as_secs_f64() / copied.as_secs_f64().max(1e-9)
            );
        }
        None => println!("ffmpeg not available: comparison skipped (run scripts/install-deps)"),
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// The stored stream as kvs-local keeps it: a header, then one cluster per fragment.
struct Stored {
    mkv: PathBuf,
    header_len: u64,
    /// (offset, length) of each fragment's cluster.
    fragments: Vec<(u64, u64)>,
}

/// GetClip's path, timed step by step.
fn run_ours(stored: &Stored, tracks: &[TrackInfo], out: &Path) -> Duration {
    let t = Instant::now();
    let (header, clusters) = read_stored(stored).unwrap();
    let read = t.elapsed();
    let parsed: Vec<Frame> = clusters.iter().flat_map(|c| parse(&header, c)).collect();
    let parse_t = t.elapsed() - read;
    let clip = kvs_mp4::clip_parts(tracks, &parsed).unwrap();
    let layout = t.elapsed() - read - parse_t;
    let parts: Vec<&Bytes> = clip.parts().collect();
    write_parts(out, &parts).unwrap();
    let total = t.elapsed();
    // What makes this path cheap: every payload is a slice of a buffer read from the file.
    let shared = clip.payloads().iter().all(|p| {
        clusters
            .iter()
            .any(|c| c.as_ptr_range().contains(&p.as_ptr()))
    });
    assert!(shared, "a payload was copied out of the read buffers");
    assert_eq!(std::fs::metadata(out).unwrap().len(), clip.len());
    println!(
        "  ours:     read {read:.1?}, parse {parse_t:.1?}, lay out {layout:.1?}, write {:.1?} \
         ({} parts, {:.0} MB); total {total:.1?}",
        total - read - parse_t - layout,
        parts.len(),
        clip.len() as f64 / 1e6
    );
    total
}

/// The path before `clip_parts`: the whole MP4 built in memory, then written.
fn run_previous(stored: &Stored, tracks: &[TrackInfo], out: &Path) -> Duration {
    let t = Instant::now();
    let (header, clusters) = read_stored(stored).unwrap();
    let parsed: Vec<Frame> = clusters.iter().flat_map(|c| parse(&header, c)).collect();
    let before = t.elapsed();
    let mp4 = kvs_mp4::clip(tracks, &parsed).unwrap();
    let remux = t.elapsed() - before;
    std::fs::write(out, &mp4).unwrap();
    let total = t.elapsed();
    println!(
        "  previous: read + parse {before:.1?}, clip {remux:.1?}, write {:.1?}; total {total:.1?}",
        total - before - remux
    );
    total
}

/// `ffmpeg -c copy`, or `None` if it could not run.
fn run_ffmpeg(mkv: &Path, out: &Path) -> Option<Duration> {
    let t = Instant::now();
    let ok = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-i"])
        .arg(mkv)
        .args(["-c", "copy"])
        .arg(out)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let total = t.elapsed();
    println!("  ffmpeg:   total {total:.1?}");
    ok.then_some(total)
}

/// Deletes `output` and flushes dirty pages, outside the timings.
fn fresh(output: &Path) {
    let _ = std::fs::remove_file(output);
    let _ = Command::new("sync").status();
}

/// What kvs-local's GetClip reads: the stream header, then each fragment's cluster into a
/// buffer of its own (exact capacity, so it becomes `Bytes` without a copy).
fn read_stored(stored: &Stored) -> std::io::Result<(Bytes, Vec<Bytes>)> {
    let mut file = File::open(&stored.mkv)?;
    let read = |file: &mut File, offset: u64, len: u64| -> std::io::Result<Bytes> {
        file.seek(SeekFrom::Start(offset))?;
        let mut buf = Vec::with_capacity(len as usize);
        file.take(len).read_to_end(&mut buf)?;
        Ok(Bytes::from(buf))
    };
    let header = read(&mut file, 0, stored.header_len)?;
    let clusters = stored
        .fragments
        .iter()
        .map(|&(offset, len)| read(&mut file, offset, len))
        .collect::<std::io::Result<_>>()?;
    Ok((header, clusters))
}

/// What kvs-local does with a stored fragment: the header is parsed first, then the parser
/// adopts the cluster's buffer, so frame payloads are slices of it.
fn parse(header: &[u8], cluster: &Bytes) -> Vec<Frame> {
    let mut parser = Parser::new();
    let mut frames = Vec::with_capacity(64);
    let mut keep = |e: Event| {
        if let Event::Frame(f) = e {
            frames.push(f);
        }
    };
    parser.feed(header);
    while let Some(e) = parser.next_event().unwrap() {
        keep(e);
    }
    parser.feed_bytes(cluster.clone());
    while let Some(e) = parser.next_event().unwrap() {
        keep(e);
    }
    parser.finish().unwrap().into_iter().for_each(keep);
    frames
}

/// Writes `parts` to a new file with `writev`, `IOV_BATCH` slices at a time, straight from
/// the parts' memory (a `BufWriter` would copy every payload once more).
fn write_parts(path: &Path, parts: &[&Bytes]) -> std::io::Result<()> {
    let mut file = File::create(path)?;
    for batch in parts.chunks(IOV_BATCH) {
        let mut slices: Vec<IoSlice<'_>> = batch.iter().map(|p| IoSlice::new(p)).collect();
        let mut rest = &mut slices[..];
        while !rest.is_empty() {
            let n = file.write_vectored(rest)?;
            if n == 0 {
                return Err(std::io::ErrorKind::WriteZero.into());
            }
            IoSlice::advance_slices(&mut rest, n);
        }
    }
    Ok(())
}

fn files_equal(a: &Path, b: &Path) -> bool {
    std::fs::read(a).ok() == std::fs::read(b).ok()
}
