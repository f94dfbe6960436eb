//! kvs-local's web console (`/`) in headless Chromium (`web/console-test.mjs`, one browser
//! session over every page) against a kvs-local process that `kvs`, the AWS CLI, a test-pattern
//! producer, a WebRTC master and a face-search processor feed.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use kvs_e2e::{ServerProcess, aws_cli, json, ok, workspace_root};

/// The stream the AWS CLI creates, a producer feeds with a pause, and the console plays.
const STREAM: &str = "porch-cam";
/// How long the producer pauses between its two runs: the timeline's gap.
const PAUSE: Duration = Duration::from_secs(4);

/// A background process, killed when the test ends however it ends.
struct Background(Child);

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The result lines of `web/console-test.mjs`, by their first word(s).
fn result<'a>(lines: &'a [String], prefix: &str) -> Vec<&'a str> {
    lines
        .iter()
        .filter_map(|l| l.strip_prefix(prefix))
        .map(str::trim)
        .collect()
}

#[test]
fn the_console_lists_plays_clips_runs_webrtc_and_shows_face_matches() {
    let started = Instant::now();
    let scratch = tempfile::tempdir().unwrap();
    let d = scratch.path();
    let server = ServerProcess::start(&d.join("data"), d);

    // Face search: a processor on a video of a face indexed from another photo of that person.
    let photos = kvs_faces::FaceEngine::default_models_dir().join("test-images");
    assert!(
        photos.join("obama.jpg").exists(),
        "{} has no test photos: run scripts/fetch-models (make test does)",
        photos.display()
    );
    let faces = d.join("faces");
    std::fs::create_dir(&faces).unwrap();
    std::fs::copy(photos.join("obama.jpg"), faces.join("obama.jpg")).unwrap();
    let face_video = d.join("obama2.mkv");
    kvs_testkit::video_of_photo(&photos.join("obama2.jpg"), (416, 800), 90, &face_video);
    let config = d.join("pipeline.toml");
    std::fs::write(
        &config,
        "collection = \"family\"\nfaces_dir = \"faces\"\nvideo_stream = \"front-door\"\n\
         data_stream = \"door-matches\"\nprocessor = \"door-faces\"\nthreshold = 80\n",
    )
    .unwrap();
    let up = json(
        server
            .kvs(d)
            .args(["faces", "pipeline", "up", "--config"])
            .arg(&config)
            .output()
            .unwrap(),
    );
    assert_eq!(up["Processor"]["Status"], "RUNNING", "{up}");
    ok(server
        .kvs(d)
        .args(["put", "--stream", "front-door", "--file"])
        .arg(&face_video)
        .output()
        .unwrap());

    // A stream made with the AWS CLI, fed for 3 s, paused, then fed live.
    ok(aws_cli(d)
        .args(["kinesisvideo", "create-stream", "--stream-name", STREAM])
        .args([
            "--data-retention-in-hours",
            "1",
            "--endpoint-url",
            server.url(),
        ])
        .output()
        .unwrap());
    let put = |duration: &str| {
        let mut cmd = server.kvs(d);
        cmd.args([
            "put",
            "--stream",
            STREAM,
            "--test-pattern",
            "--size",
            "320x240",
        ])
        .args(["--duration", duration]);
        cmd
    };
    ok(put("3s").output().unwrap());
    std::thread::sleep(PAUSE);
    let _live = Background(
        put("120s")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );

    // Channels: one the console serves as master, one it views while `kvs` is its master.
    for channel in ["console-master", "console-viewer"] {
        ok(server
            .kvs(d)
            .args(["channel", "create", channel])
            .output()
            .unwrap());
    }
    let _master = Background(
        server
            .kvs(d)
            .args([
                "webrtc",
                "master",
                "--channel",
                "console-viewer",
                "--test-pattern",
            ])
            .args(["--size", "320x240", "--duration", "120s"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );

    // The processor has a match before the console looks for it.
    let watched = ok(server
        .kvs(d)
        .args(["faces", "watch", "--data-stream", "door-matches"])
        .args(["--from", "trim-horizon", "--max", "1", "--duration", "30s"])
        .output()
        .unwrap());
    assert!(
        String::from_utf8_lossy(&watched.stdout).contains("\"obama\""),
        "no match to show: {}",
        String::from_utf8_lossy(&watched.stdout)
    );
    let set_up = started.elapsed();

    let screenshots = workspace_root().join("target/console-screenshots");
    let downloads = d.join("downloads");
    let _ = std::fs::remove_dir_all(&screenshots);
    let browser_started = Instant::now();
    let mut node = Command::new("node")
        .current_dir(workspace_root().join("web"))
        .arg("console-test.mjs")
        .args(["--url", &server.https_url(), "--http-url", server.url()])
        .arg("--ca")
        .arg(server.ca_file())
        .args([
            "--access-key-id",
            "AKIDKVSLOCAL",
            "--secret-access-key",
            "kvs-local-secret",
        ])
        .args(["--stream", STREAM, "--face", "obama"])
        .args(["--master-channel", "console-master"])
        .args(["--viewer-channel", "console-viewer"])
        .arg("--screenshots")
        .arg(&screenshots)
        .arg("--downloads")
        .arg(&downloads)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node runs web/console-test.mjs (scripts/install-deps installs node and web/)");
    let stdout = BufReader::new(node.stdout.take().unwrap());
    let stderr = node.stderr.take().unwrap();
    let diagnostics = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut BufReader::new(stderr), &mut text);
        text
    });
    let (lines_tx, lines_rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });

    let mut lines = Vec::new();
    let mut recording = None;
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines_rx.recv_timeout(left) {
            Ok(line) => {
                let ready = line == "MASTER READY";
                lines.push(line);
                if ready {
                    // A `kvs` viewer records what the console's camera and microphone send.
                    let file = d.join("console-master.mkv");
                    let viewer = server
                        .kvs_over_https(d)
                        .args(["webrtc", "viewer", "--channel", "console-master"])
                        .args(["--client-id", "cli-viewer", "--duration", "6s", "--record"])
                        .arg(&file)
                        .output()
                        .unwrap();
                    let _ = node.stdin.as_mut().unwrap().write_all(b"next\n");
                    recording = Some((file, viewer));
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let _ = node.kill();
                break;
            }
        }
    }
    let status = node.wait().unwrap();
    let browser_took = browser_started.elapsed();
    let diagnostics = diagnostics.join().unwrap();
    let report = || format!("{}\n--- stderr ---\n{diagnostics}", lines.join("\n"));
    assert!(status.success(), "console-test.mjs failed:\n{}", report());

    // Over http and https; a refused key shows its AWS error code and message.
    assert!(!result(&lines, "HTTP LIST").is_empty(), "{}", report());
    let refused = result(&lines, "SIGN-IN ERROR");
    assert!(
        refused
            .first()
            .is_some_and(|e| e.starts_with("InvalidSignatureException: ")),
        "{}",
        report()
    );
    // The stream the AWS CLI created, a stream created and deleted in the console.
    let streams = result(&lines, "STREAMS");
    assert!(
        streams
            .first()
            .is_some_and(|s| s.split(',').any(|n| n == STREAM)),
        "{}",
        report()
    );
    assert!(!result(&lines, "CREATED AND DELETED").is_empty());
    // The producer's pause is a gap on the timeline.
    let gaps = result(&lines, "GAPS");
    let gap_seconds: Vec<f64> = gaps[0]
        .split_whitespace()
        .nth(1)
        .unwrap_or("")
        .split(',')
        .filter_map(|s| s.parse().ok())
        .collect();
    assert!(
        gap_seconds.len() == 1 && gap_seconds[0] >= PAUSE.as_secs_f64() - 1.0,
        "one gap of about {PAUSE:?}: {}",
        report()
    );
    assert_eq!(result(&lines, "PLAYING"), ["320x240"], "{}", report());
    assert_eq!(
        result(&lines, "ON-DEMAND PLAYING"),
        ["320x240"],
        "{}",
        report()
    );
    // A still at each place along the timeline that has video (the others are the gap).
    let thumbnails = result(&lines, "THUMBNAILS");
    let (loaded, wanted) = thumbnails[0].split_once(" of ").unwrap();
    assert!(
        loaded == wanted && loaded.parse::<u32>().unwrap() >= 2,
        "{}",
        report()
    );
    // The downloaded clip is an MP4 ffprobe reads: H.264 320x240 with both runs' frames.
    let clip = PathBuf::from(result(&lines, "CLIP")[0].rsplit_once(' ').unwrap().0);
    let probe = kvs_testkit::ffprobe(&clip);
    let video = &probe["streams"][0];
    assert_eq!(
        (&video["codec_name"], &video["width"], &video["height"]),
        (
            &serde_json::json!("h264"),
            &serde_json::json!(320),
            &serde_json::json!(240)
        ),
        "{probe}"
    );
    let frames: u64 = video["nb_read_frames"].as_str().unwrap().parse().unwrap();
    assert!(frames >= 90, "{frames} frames: {probe}");

    // WebRTC: both channels listed; the console's viewer played; its master was recorded.
    let channels = result(&lines, "CHANNELS");
    assert_eq!(channels, ["console-master,console-viewer"], "{}", report());
    assert_eq!(
        result(&lines, "VIEWER PLAYING"),
        ["320x240"],
        "{}",
        report()
    );
    assert!(lines.iter().any(|l| l == "MASTER VIEWER CONNECTED"));
    let (file, viewer) = recording.expect("the console's master got ready");
    let summary = json(viewer);
    assert!(
        summary["Recording"]["Frames"].as_u64().unwrap() >= 30,
        "{summary}"
    );
    let probe = kvs_testkit::ffprobe(&file);
    let kinds: Vec<(&str, &str)> = probe["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["codec_type"].as_str().unwrap(),
                s["codec_name"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert!(
        kinds.contains(&("video", "h264")) || kinds.contains(&("video", "vp8")),
        "{probe}"
    );
    assert_eq!(
        probe["streams"][0]["width"], 640,
        "the fake camera: {probe}"
    );

    // Face search: the match with its frame, the running processor.
    let matched = result(&lines, "MATCH obama");
    let similarity: f64 = matched[0].parse().unwrap();
    assert!(similarity >= 80.0, "{}", report());
    assert_eq!(
        result(&lines, "PROCESSOR door-faces"),
        ["RUNNING"],
        "{}",
        report()
    );

    // Every page's screenshot, not blank.
    let shots: BTreeMap<String, u64> = result(&lines, "SCREENSHOT")
        .iter()
        .map(|l| {
            let mut words = l.split_whitespace();
            let path = words.next().unwrap();
            let colors = words.last().unwrap().strip_prefix("colors=").unwrap();
            let name = Path::new(path).file_name().unwrap().to_string_lossy();
            (name.into_owned(), colors.parse().unwrap())
        })
        .collect();
    for page in [
        "streams.png",
        "stream.png",
        "channels.png",
        "channel-viewer.png",
        "channel-master.png",
        "faces.png",
    ] {
        let colors = shots.get(page).copied().unwrap_or(0);
        assert!(colors > 50, "{page}: {colors} colours\n{}", report());
        let png = std::fs::read(screenshots.join(page)).unwrap();
        assert!(
            png.starts_with(b"\x89PNG") && png.len() > 20_000,
            "{page}: {} bytes",
            png.len()
        );
    }
    eprintln!("{}", lines.join("\n"));
    eprintln!(
        "console: set-up {set_up:.1?}, browser {browser_took:.1?}, total {:.1?}",
        started.elapsed()
    );
}
