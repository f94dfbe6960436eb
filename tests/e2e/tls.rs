//! kvs-local over https as users' tools meet it: `kvs` with a CA bundle, the AWS CLI with
//! `--ca-bundle`, `kvs-local ca`, and a browser master built on the official JS SDK.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kvs_e2e::{ServerProcess, aws_cli, json, ok, workspace_root};

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// How many video frames ffprobe decodes in `file`.
fn frames(file: &Path) -> u64 {
    let out = ok(Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-count_frames"])
        .args(["-show_entries", "stream=nb_read_frames", "-of", "csv=p=0"])
        .arg(file)
        .output()
        .unwrap());
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

#[test]
fn kvs_puts_and_clips_over_https_trusting_the_kvs_local_ca() {
    let scratch = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(&scratch.path().join("data"), scratch.path());
    let https = server.https_url();
    let ca = server.ca_file();

    let put = json(
        server
            .kvs_over_https(scratch.path())
            .args(["put", "--create", "--stream", "over-tls", "--test-pattern"])
            .args(["--duration", "4s"])
            .output()
            .unwrap(),
    );
    let sent = put["Frames"].as_u64().unwrap();
    assert!(sent >= 100, "{put}");

    // AWS_CA_BUNDLE does what --ca-bundle does
    let clip = scratch.path().join("clip.mp4");
    ok(server
        .kvs_at(scratch.path(), &https)
        .env("AWS_CA_BUNDLE", &ca)
        .args([
            "clip",
            "--stream",
            "over-tls",
            "--last",
            "5m",
            "--output-file",
        ])
        .arg(&clip)
        .output()
        .unwrap());
    assert_eq!(
        frames(&clip),
        sent,
        "every frame put over https is in the clip"
    );

    // without the CA: a certificate error that says what to do, not a vague network error
    let refused = server
        .kvs_at(scratch.path(), &https)
        .args(["stream", "list"])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(1));
    let msg = stderr(&refused);
    assert!(
        msg.contains("TLS certificate") && msg.contains("not trust"),
        "{msg}"
    );
    assert!(
        msg.contains("AWS_CA_BUNDLE") && msg.contains("kvs-local ca"),
        "{msg}"
    );
    // a bundle that is not a PEM file is named
    let bad = server
        .kvs_at(scratch.path(), &https)
        .arg("--ca-bundle")
        .arg(server.tls_files().1.with_file_name("server.json"))
        .args(["stream", "list"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(1));
    assert!(stderr(&bad).contains("server.json"), "{}", stderr(&bad));
}

#[test]
fn the_aws_cli_with_ca_bundle_runs_the_control_plane_and_get_clip_over_https() {
    let scratch = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(&scratch.path().join("data"), scratch.path());
    let https = server.https_url();
    let ca = server.ca_file();
    let ca = ca.to_str().unwrap();
    let aws = |args: &[&str]| {
        json(
            aws_cli(scratch.path())
                .args(args)
                .args([
                    "--endpoint-url",
                    &https,
                    "--ca-bundle",
                    ca,
                    "--output",
                    "json",
                ])
                .output()
                .unwrap(),
        )
    };

    let stream = aws(&[
        "kinesisvideo",
        "create-stream",
        "--stream-name",
        "cli-tls",
        "--data-retention-in-hours",
        "24",
    ]);
    assert!(stream["StreamARN"].as_str().unwrap().contains("cli-tls"));
    let info = aws(&[
        "kinesisvideo",
        "describe-stream",
        "--stream-name",
        "cli-tls",
    ]);
    assert_eq!(info["StreamInfo"]["Status"], "ACTIVE");
    let list = aws(&["kinesisvideo", "list-streams"]);
    assert_eq!(list["StreamInfoList"].as_array().unwrap().len(), 1);
    let data = aws(&[
        "kinesisvideo",
        "get-data-endpoint",
        "--stream-name",
        "cli-tls",
        "--api-name",
        "GET_CLIP",
    ]);
    let data_endpoint = data["DataEndpoint"].as_str().unwrap().to_owned();
    assert_eq!(data_endpoint, https);

    let channel = aws(&[
        "kinesisvideo",
        "create-signaling-channel",
        "--channel-name",
        "cli-door",
    ]);
    let channel_arn = channel["ChannelARN"].as_str().unwrap().to_owned();
    let described = aws(&[
        "kinesisvideo",
        "describe-signaling-channel",
        "--channel-name",
        "cli-door",
    ]);
    assert_eq!(described["ChannelInfo"]["ChannelARN"], channel_arn.as_str());
    let endpoints = aws(&[
        "kinesisvideo",
        "get-signaling-channel-endpoint",
        "--channel-arn",
        &channel_arn,
        "--single-master-channel-endpoint-configuration",
        "Protocols=WSS,HTTPS,Role=MASTER",
    ]);
    let list = endpoints["ResourceEndpointList"].as_array().unwrap();
    let endpoint = |p: &str| {
        list.iter()
            .find(|e| e["Protocol"] == p)
            .and_then(|e| e["ResourceEndpoint"].as_str())
            .unwrap()
            .to_owned()
    };
    assert_eq!(endpoint("WSS"), https.replacen("https://", "wss://", 1));
    assert_eq!(endpoint("HTTPS"), https);
    let ice = aws(&[
        "kinesis-video-signaling",
        "get-ice-server-config",
        "--channel-arn",
        &channel_arn,
    ]);
    assert!(
        !ice["IceServerList"].as_array().unwrap().is_empty(),
        "{ice}"
    );

    // media for GetClip, put over https by kvs
    let put = json(
        server
            .kvs_over_https(scratch.path())
            .args([
                "put",
                "--stream",
                "cli-tls",
                "--test-pattern",
                "--duration",
                "3s",
            ])
            .output()
            .unwrap(),
    );
    let clip = scratch.path().join("cli-clip.mp4");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let range = format!(
        "FragmentSelectorType=PRODUCER_TIMESTAMP,TimestampRange={{StartTimestamp={},EndTimestamp={}}}",
        now - 300,
        now + 60
    );
    let out = aws_cli(scratch.path())
        .args([
            "kinesis-video-archived-media",
            "get-clip",
            "--stream-name",
            "cli-tls",
        ])
        .args(["--clip-fragment-selector", &range])
        .args(["--endpoint-url", &data_endpoint, "--ca-bundle", ca])
        .arg(&clip)
        .output()
        .unwrap();
    ok(out);
    assert_eq!(frames(&clip), put["Frames"].as_u64().unwrap());

    // plain http on the same port still works, and hands out plain endpoints
    let plain = json(
        aws_cli(scratch.path())
            .args(["kinesisvideo", "get-signaling-channel-endpoint"])
            .args(["--channel-arn", &channel_arn])
            .args([
                "--single-master-channel-endpoint-configuration",
                "Protocols=WSS,HTTPS,Role=VIEWER",
            ])
            .args(["--endpoint-url", server.url(), "--output", "json"])
            .output()
            .unwrap(),
    );
    let text = plain.to_string();
    assert!(
        text.contains(&server.url().replacen("http://", "ws://", 1)),
        "{text}"
    );

    // and without --ca-bundle the CLI refuses the certificate
    let refused = aws_cli(scratch.path())
        .args(["kinesisvideo", "list-streams", "--endpoint-url", &https])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("CERTIFICATE_VERIFY_FAILED"),
        "{}",
        stderr(&refused)
    );
}

#[test]
fn kvs_local_ca_prints_the_ca_file_and_the_fingerprint_openssl_computes() {
    let scratch = tempfile::tempdir().unwrap();
    let data = scratch.path().join("data");
    let out = ok(kvs_e2e::offline("kvs-local", scratch.path())
        .args(["ca", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap());
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let ca = data.join("tls/ca.pem");
    assert!(text.contains(&ca.display().to_string()), "{text}");
    let openssl = ok(Command::new("openssl")
        .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
        .arg(&ca)
        .output()
        .unwrap());
    let fingerprint = String::from_utf8_lossy(&openssl.stdout)
        .trim()
        .rsplit('=')
        .next()
        .unwrap()
        .to_owned();
    assert!(text.contains(&fingerprint), "{fingerprint} not in {text}");
    for how in [
        "AWS_CA_BUNDLE",
        "--ca-bundle",
        "NODE_EXTRA_CA_CERTS",
        "REQUESTS_CA_BUNDLE",
        "update-ca-certificates",
        "certutil",
    ] {
        assert!(text.contains(how), "{how} not in {text}");
    }

    // --path is the file alone; the server started later serves a certificate from that CA
    let path = ok(kvs_e2e::offline("kvs-local", scratch.path())
        .args(["ca", "--path", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap());
    assert_eq!(
        String::from_utf8_lossy(&path.stdout).trim(),
        ca.display().to_string()
    );
    let before = std::fs::read(&ca).unwrap();
    let server = ServerProcess::start(&data, scratch.path());
    assert_eq!(std::fs::read(server.ca_file()).unwrap(), before);
    ok(server
        .kvs_over_https(scratch.path())
        .args(["stream", "list"])
        .output()
        .unwrap());
}

/// The fake camera at 640x480 in the browser's `video` codec and its microphone in Opus, every
/// recorded video frame decodable.
fn assert_recorded(recording: &Path, video: &str, summary: &serde_json::Value) {
    let probe = kvs_testkit::ffprobe(recording);
    let streams = probe["streams"].as_array().unwrap();
    let described: Vec<String> = streams
        .iter()
        .map(|s| match s["codec_type"].as_str() {
            Some("video") => format!("{},{},{}", s["codec_name"], s["width"], s["height"]),
            _ => format!("{}", s["codec_name"]),
        })
        .collect();
    assert_eq!(
        described,
        [format!("\"{video}\",640,480"), "\"opus\"".to_owned()],
        "{probe}"
    );
    let decoded = frames(recording);
    assert!(decoded >= 60, "only {decoded} frames in 6 s: {summary}");
    let audio: u64 = streams[1]["nb_read_frames"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(audio >= 200, "only {audio} Opus frames in 6 s: {summary}");
}

/// A browser master on the official JS SDK (fake camera and microphone), and `kvs webrtc viewer
/// --record` as its viewer, through kvs-local over https: H.264 video and Opus audio.
#[test]
fn kvs_webrtc_viewer_records_a_browser_master_built_on_the_official_sdk() {
    let scratch = tempfile::tempdir().unwrap();
    let (recording, summary) = record_browser_master(scratch.path(), "browser-master");
    assert_recorded(&recording, "h264", &summary);
}

/// Runs `web/sdk-test.mjs master` (the official-SDK master page, fake camera and microphone) on
/// `channel` and `kvs webrtc viewer --record` for 6 s; returns the recording and the viewer's
/// JSON summary.
fn record_browser_master(scratch: &Path, channel: &str) -> (std::path::PathBuf, serde_json::Value) {
    let server = ServerProcess::start(&scratch.join("data"), scratch);
    let https = server.https_url();
    let ca = server.ca_file();
    ok(server
        .kvs_over_https(scratch)
        .args(["channel", "create", channel])
        .output()
        .unwrap());

    let web = workspace_root().join("web");
    let (cert, key) = server.tls_files();
    let mut master = Command::new("node")
        .current_dir(&web)
        .arg("sdk-test.mjs")
        .arg("master")
        .arg("--cert")
        .arg(&cert)
        .arg("--key")
        .arg(&key)
        .arg("--ca")
        .arg(&ca)
        .args(["--endpoint", &https, "--channel", channel])
        .args([
            "--access-key-id",
            "AKIDKVSLOCAL",
            "--secret-access-key",
            "kvs-local-secret",
        ])
        .args(["--timeout-ms", "60000"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node runs web/sdk-test.mjs (scripts/install-deps installs node and web/)");
    let stdout = BufReader::new(master.stdout.take().unwrap());
    let (lines_tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    let started = Instant::now();
    while !seen.iter().any(|l: &String| l == "MASTER READY") {
        match lines.recv_timeout(Duration::from_secs(40).saturating_sub(started.elapsed())) {
            Ok(line) => seen.push(line),
            Err(_) => {
                let _ = master.kill();
                let out = master.wait_with_output().unwrap();
                panic!(
                    "the browser master never got ready: {seen:?}\n{}",
                    stderr(&out)
                );
            }
        }
    }

    let recording = scratch.join("browser.mkv");
    let viewer = server
        .kvs_over_https(scratch)
        .args(["webrtc", "viewer", "--channel", channel, "--duration", "6s"])
        .args(["--client-id", "rust-viewer-1", "--record"])
        .arg(&recording)
        .output()
        .unwrap();
    drop(master.stdin.take());
    let master_out = master.wait_with_output().unwrap();
    seen.extend(lines.try_iter());
    let viewer = ok(viewer);
    let summary: serde_json::Value = serde_json::from_slice(&viewer.stdout).unwrap();
    assert!(
        seen.iter().any(|l| l == "VIEWER CONNECTED rust-viewer-1"),
        "{seen:?}\n{}",
        stderr(&master_out)
    );
    (recording, summary)
}
