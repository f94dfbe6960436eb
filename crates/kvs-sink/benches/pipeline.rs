//! CPU and memory of the seed's file pipeline ending in kvssink, against the same pipeline
//! ending in `matroskamux ! filesink` (the floor: demux, parse and mux without the network), in
//! the same run. Both run as `gst-launch-1.0` under `/usr/bin/time`; kvssink streams to an
//! in-process kvs-local (whose own CPU is not counted: it is the service's).
//! Run: `cargo build -p kvs-sink && cargo bench -p kvs-sink --bench pipeline`.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

struct Usage {
    cpu_s: f64,
    max_rss_kb: u64,
    wall_s: f64,
}

fn measure(pipeline: &str, plugin_dir: &Path) -> Usage {
    let start = std::time::Instant::now();
    let out = Command::new("/usr/bin/time")
        .args(["-f", "%U %S %M", "gst-launch-1.0", "-q", "-e"])
        .args(pipeline.split_whitespace())
        .env("GST_PLUGIN_PATH", plugin_dir)
        .output()
        .expect("/usr/bin/time (Debian package time) and gst-launch-1.0 are installed");
    let wall_s = start.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "{pipeline}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    let last = stderr.lines().last().unwrap();
    let f: Vec<&str> = last.split_whitespace().collect();
    Usage {
        cpu_s: f[0].parse::<f64>().unwrap() + f[1].parse::<f64>().unwrap(),
        max_rss_kb: f[2].parse().unwrap(),
        wall_s,
    }
}

fn main() {
    let exe = std::env::current_exe().unwrap();
    let plugin_dir = exe.parent().and_then(Path::parent).unwrap().to_path_buf();
    let debug_dir = plugin_dir.parent().unwrap().join("debug");
    let plugin_dir = if plugin_dir.join("libgstkvssink.so").exists() {
        plugin_dir
    } else {
        debug_dir
    };
    assert!(
        plugin_dir.join("libgstkvssink.so").exists(),
        "build the plugin first: cargo build -p kvs-sink"
    );
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.mkv");
    // 30 s of 1280x720 at about 4 Mbit/s with AAC: large enough that per-byte costs, not
    // start-up, decide the comparison.
    let aac = kvs_testkit::aac_encoder();
    kvs_testkit::gst_launch(&format!(
        "videotestsrc num-buffers=900 pattern=snow ! video/x-raw,format=I420,framerate=30/1,width=1280,height=720 \
         ! x264enc bitrate=4000 key-int-max=60 speed-preset=ultrafast tune=zerolatency ! h264parse ! queue \
         ! matroskamux name=m ! filesink location={} \
         audiotestsrc num-buffers=1292 ! audio/x-raw,rate=44100,channels=2 ! audioconvert ! {aac} ! aacparse ! queue ! m.",
        input.display()
    ));
    let input_mb = std::fs::metadata(&input).unwrap().len() as f64 / 1e6;
    let local = kvs_testkit::LocalKvs::builder().start_blocking();
    let url = local.url();
    let input = input.display();
    let floor = measure(
        &format!(
            "filesrc location={input} ! matroskademux name=demux ! queue ! h264parse ! matroskamux name=mux ! filesink location={}/out.mkv demux. ! queue ! aacparse ! mux.",
            dir.path().display()
        ),
        &plugin_dir,
    );
    let sink = measure(
        &format!(
            "filesrc location={input} ! matroskademux name=demux ! queue ! h264parse ! kvssink name=sink stream-name=bench streaming-type=offline endpoint-url={url} access-key=AKIDKVSLOCAL secret-key=kvs-local-secret aws-region=us-east-1 demux. ! queue ! aacparse ! sink."
        ),
        &plugin_dir,
    );
    println!(
        "30 s 720p H.264 + AAC file, {input_mb:.1} MB (plugin from {})",
        plugin_dir.display()
    );
    println!(
        "matroskamux ! filesink: cpu {:.3} s, max rss {} KiB, wall {:.2} s",
        floor.cpu_s, floor.max_rss_kb, floor.wall_s
    );
    println!(
        "kvssink:                cpu {:.3} s, max rss {} KiB, wall {:.2} s",
        sink.cpu_s, sink.max_rss_kb, sink.wall_s
    );
    println!(
        "kvssink / floor: cpu {:.2}x, memory {:.2}x",
        sink.cpu_s / floor.cpu_s.max(1e-6),
        sink.max_rss_kb as f64 / floor.max_rss_kb.max(1) as f64
    );
    drop(local);
}
