//! CPU and memory of kvssink, in one run:
//!
//! - offline, the seed's file pipeline ending in our kvssink against the same pipeline ending in
//!   `matroskamux ! filesink` (the floor: demux, parse and mux without the network);
//! - side by side with AWS's C++ kvssink, on one 1280x720 ~4 Mbit/s H.264 file: paced at real
//!   time (`h264timestamper ! identity sync=true`, streaming-type realtime; both elements at
//!   once, to two streams), and offline (`h264timestamper`, as fast as the element takes it).
//!
//! The file is 30 s long, or `KVS_BENCH_SECONDS` (600 for the 10-minute runs). Every pipeline
//! runs as `gst-launch-1.0` under `/usr/bin/time` (CPU = user + sys, max RSS) and streams to
//! `kvs-local serve` in another process (`target/release/kvs-local`), whose own CPU is not
//! counted: it is the service's. After each run the stream's fragments are listed (ListFragments), so that a run
//! that stored nothing is reported as broken, not as cheap.
//!
//! The C++ element is optional: set `KVSSINK_CPP_PLUGIN_DIR` to the folder holding its
//! `libgstkvssink.so` (`../shared/peers/cppsink/build.sh` builds it). Both elements are named
//! kvssink, so each runs with its own `GST_REGISTRY` file, warmed before it is measured.
//!
//! Run: `cargo build --release -p kvs-sink -p kvs-local-bin && cargo bench -p kvs-sink --bench pipeline`.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use kvs_media::MediaClient;
use kvs_types::StreamRef;

const ACCESS_KEY: &str = "AKIDKVSLOCAL";
const SECRET_KEY: &str = "kvs-local-secret";
const REGION: &str = "us-east-1";
/// The input's key frame interval (30 fps, a key frame every 2 s): one fragment each.
const GOP_SECONDS: u64 = 2;

struct Usage {
    cpu_s: f64,
    max_rss_kb: u64,
    wall_s: f64,
}

/// Which GStreamer an element comes from: its plugin folder and a registry file of its own.
struct Gst {
    plugin_dir: PathBuf,
    registry: PathBuf,
    env: Vec<(&'static str, String)>,
}

impl Gst {
    fn command(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.env("GST_PLUGIN_PATH", &self.plugin_dir)
            .env("GST_REGISTRY", &self.registry)
            .env_remove("AWS_DEFAULT_REGION")
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        c
    }

    /// Builds the registry (a cost of the first run, not of the element) and checks that
    /// kvssink loads from `plugin_dir`.
    fn warm(&self) {
        let out = self
            .command("gst-inspect-1.0")
            .arg("kvssink")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.contains(&*self.plugin_dir.to_string_lossy()),
            "kvssink does not load from {}: {}",
            self.plugin_dir.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Runs `pipeline` under GNU time. The C++ element may crash while the pipeline is freed
    /// after EOS (gst-launch prints `Caught SIGSEGV`); that is tolerated, and the fragments
    /// listed afterwards decide whether the run counts.
    fn measure(&self, name: &str, pipeline: &str, limit_s: u64) -> Usage {
        let start = std::time::Instant::now();
        let out = self
            .command("/usr/bin/time")
            .args(["-f", "%U %S %M", "timeout", "-k", "5", &limit_s.to_string()])
            .args(["gst-launch-1.0", "-q", "-e"])
            .args(pipeline.split_whitespace())
            .output()
            .expect(
                "/usr/bin/time (Debian package time), timeout and gst-launch-1.0 are installed",
            );
        let wall_s = start.elapsed().as_secs_f64();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let last = stderr.lines().last().unwrap_or_default();
        let f: Vec<&str> = last.split_whitespace().collect();
        assert!(
            f.len() == 3 && (out.status.success() || stderr.contains("Caught SIGSEGV")),
            "{name}: {pipeline}: {stderr}"
        );
        if !out.status.success() {
            eprintln!(
                "note: {name}: gst-launch exited with {} after Caught SIGSEGV",
                out.status
            );
        }
        Usage {
            cpu_s: f[0].parse::<f64>().unwrap() + f[1].parse::<f64>().unwrap(),
            max_rss_kb: f[2].parse().unwrap(),
            wall_s,
        }
    }
}

/// ListFragments on `stream`: how many fragments were stored and their bytes.
fn stored(rt: &tokio::runtime::Runtime, url: &str, stream: &str) -> (usize, u64) {
    let list = rt.block_on(async {
        let config = kvs_testkit::local::config_at(url).await;
        MediaClient::new(&config)
            .list_fragments(&StreamRef::parse(stream).unwrap(), None)
            .await
    });
    match list {
        Ok(list) => (list.len(), list.iter().map(|f| f.size_bytes).sum()),
        Err(e) => panic!("ListFragments {stream}: {e}"),
    }
}

struct Row {
    label: &'static str,
    usage: Usage,
    stored: Option<(usize, u64)>,
}

fn main() {
    let exe = std::env::current_exe().unwrap();
    let release_dir = exe.parent().and_then(Path::parent).unwrap().to_path_buf();
    let target_dir = release_dir.parent().unwrap().to_path_buf();
    let plugin_dir = if release_dir.join("libgstkvssink.so").exists() {
        release_dir
    } else {
        target_dir.join("debug")
    };
    assert!(
        plugin_dir.join("libgstkvssink.so").exists(),
        "build the plugin first: cargo build --release -p kvs-sink"
    );
    let dir = tempfile::tempdir().unwrap();
    let ours = Gst {
        plugin_dir: plugin_dir.clone(),
        registry: dir.path().join("registry-rs.bin"),
        env: vec![],
    };
    ours.warm();
    let seconds = kvs_testkit::process::env_u64("KVS_BENCH_SECONDS", 30);
    let fragments = (seconds / GOP_SECONDS) as usize;
    // Paced runs take the file's length; nothing may take three times that.
    let limit_s = seconds * 3 + 60;

    // 30 s of 1280x720 at about 4 Mbit/s, encoded once: large enough that per-byte costs, not
    // start-up, decide the comparison. The offline floor comparison adds AAC to it.
    let video = dir.path().join("video.mkv");
    let av = dir.path().join("av.mkv");
    kvs_testkit::gst_launch(&format!(
        "videotestsrc num-buffers={} pattern=snow ! video/x-raw,format=I420,framerate=30/1,width=1280,height=720 \
         ! x264enc bitrate=4000 key-int-max=60 speed-preset=ultrafast tune=zerolatency ! h264parse \
         ! matroskamux ! filesink location={}",
        seconds * 30,
        video.display()
    ));
    let aac = kvs_testkit::aac_encoder();
    kvs_testkit::gst_launch(&format!(
        "filesrc location={} ! matroskademux ! h264parse ! queue ! matroskamux name=m ! filesink location={} \
         audiotestsrc num-buffers={} ! audio/x-raw,rate=44100,channels=2 ! audioconvert ! {aac} ! aacparse ! queue ! m.",
        video.display(),
        av.display(),
        seconds * 44100 / 1024 + 1
    ));
    let video_bytes = std::fs::metadata(&video).unwrap().len();
    let av_bytes = std::fs::metadata(&av).unwrap().len();

    let (mut server, url) = kvs_testkit::process::spawn_kvs_local(
        &kvs_testkit::process::kvs_local_binary(),
        "127.0.0.1:0",
        &dir.path().join("kvs-local"),
        &["--no-tls"],
    );
    // Multi-threaded: the paced runs list their fragments from two threads.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let keys = format!("access-key={ACCESS_KEY} secret-key={SECRET_KEY} aws-region={REGION}");
    let ours_sink = format!("kvssink endpoint-url={url} {keys}");
    let (video, av) = (video.display(), av.display());
    let paced = format!(
        "filesrc location={video} ! matroskademux ! h264parse ! h264timestamper ! identity sync=true"
    );
    let unpaced = format!("filesrc location={video} ! matroskademux ! h264parse ! h264timestamper");

    let mut rows = Vec::new();
    let floor = ours.measure(
        "floor",
        &format!(
            "filesrc location={av} ! matroskademux name=demux ! queue ! h264parse ! matroskamux name=mux ! filesink location={}/out.mkv demux. ! queue ! aacparse ! mux.",
            dir.path().display()
        ),
        limit_s,
    );
    rows.push(Row {
        label: "matroskamux ! filesink, A/V file (floor)",
        usage: floor,
        stored: None,
    });
    let usage = ours.measure(
        "ours offline A/V",
        &format!(
            "filesrc location={av} ! matroskademux name=demux ! queue ! h264parse ! {ours_sink} name=sink stream-name=rs-offline-av streaming-type=offline demux. ! queue ! aacparse ! sink."
        ),
        limit_s,
    );
    rows.push(Row {
        label: "ours, offline, A/V file",
        usage,
        stored: Some(stored(&rt, &url, "rs-offline-av")),
    });

    let cpp = std::env::var_os("KVSSINK_CPP_PLUGIN_DIR")
        .map(PathBuf::from)
        .filter(|d| d.join("libgstkvssink.so").exists())
        .map(|plugin_dir| Gst {
            plugin_dir,
            registry: dir.path().join("registry-cpp.bin"),
            env: vec![("CONTROL_PLANE_URI", url.clone())],
        });
    match &cpp {
        Some(cpp) => cpp.warm(),
        None => println!(
            "AWS's C++ kvssink skipped: set KVSSINK_CPP_PLUGIN_DIR to the folder of its libgstkvssink.so \
             (build it with ../shared/peers/cppsink/build.sh; see its NOTES.md)"
        ),
    }

    let run = |label: &'static str, stream: &str, source: &str, mode: &str| -> Option<Row> {
        let (gst, sink) = if label.starts_with("C++") {
            (cpp.as_ref()?, format!("kvssink {keys}"))
        } else {
            (&ours, ours_sink.clone())
        };
        let usage = gst.measure(
            label,
            &format!("{source} ! {sink} stream-name={stream} streaming-type={mode}"),
            limit_s,
        );
        Some(Row {
            label,
            usage,
            stored: Some(stored(&rt, &url, stream)),
        })
    };
    // Paced: both elements at once (each takes the file's length), then offline one by one.
    let paced_rows = std::thread::scope(|s| {
        let a = s.spawn(|| run("ours, realtime, paced", "rs-realtime", &paced, "realtime"));
        let b = s.spawn(|| run("C++, realtime, paced", "cpp-realtime", &paced, "realtime"));
        [a.join().unwrap(), b.join().unwrap()]
    });
    rows.extend(paced_rows.into_iter().flatten());
    rows.extend(run(
        "ours, offline, unpaced",
        "rs-offline",
        &unpaced,
        "offline",
    ));
    rows.extend(run(
        "C++, offline, unpaced",
        "cpp-offline",
        &unpaced,
        "offline",
    ));
    let _ = server.kill();
    let _ = server.wait();

    println!(
        "{seconds} s 1280x720 H.264 file of {:.1} MB ({:.1} MB with AAC); ours from {}{}",
        video_bytes as f64 / 1e6,
        av_bytes as f64 / 1e6,
        plugin_dir.display(),
        cpp.as_ref()
            .map(|c| format!(", C++ from {}", c.plugin_dir.display()))
            .unwrap_or_default()
    );
    println!(
        "| pipeline | CPU (user+sys) | max RSS | wall | fragments stored | MB stored |\n|---|---|---|---|---|---|"
    );
    let mut broken = Vec::new();
    for r in &rows {
        let (frags, mb) = match r.stored {
            Some((n, b)) => {
                let input = if r.label.contains("A/V") {
                    av_bytes
                } else {
                    video_bytes
                };
                if n + 1 < fragments || (b as f64) < 0.9 * input as f64 {
                    broken.push(r.label);
                }
                (n.to_string(), format!("{:.1}", b as f64 / 1e6))
            }
            None => ("-".into(), "-".into()),
        };
        println!(
            "| {} | {:.2} s | {:.1} MB | {:.2} s | {frags} | {mb} |",
            r.label,
            r.usage.cpu_s,
            r.usage.max_rss_kb as f64 / 1024.0,
            r.usage.wall_s
        );
    }
    let find = |label: &str| rows.iter().find(|r| r.label == label).map(|r| &r.usage);
    let ratio = |name: &str, a: &Usage, b: &Usage| {
        println!(
            "{name}: cpu {:.2}x, memory {:.2}x",
            a.cpu_s / b.cpu_s.max(1e-6),
            a.max_rss_kb as f64 / b.max_rss_kb.max(1) as f64
        );
    };
    ratio(
        "ours offline A/V / floor",
        find("ours, offline, A/V file").unwrap(),
        find("matroskamux ! filesink, A/V file (floor)").unwrap(),
    );
    for mode in ["realtime, paced", "offline, unpaced"] {
        if let (Some(a), Some(b)) = (
            find(&format!("ours, {mode}")),
            find(&format!("C++, {mode}")),
        ) {
            ratio(&format!("ours / C++, {mode}"), a, b);
        }
    }
    assert!(
        broken.is_empty(),
        "these runs did not store the whole file ({fragments} fragments expected): {broken:?}"
    );
}
