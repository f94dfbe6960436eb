//! `kvs webrtc master` and `kvs webrtc viewer` as separate processes on a kvs-local process.

use std::process::{Command, Stdio};

use kvs_e2e::{ServerProcess, json, ok};

#[test]
fn a_cli_viewer_records_what_a_cli_master_serves() {
    let scratch = tempfile::tempdir().unwrap();
    let d = scratch.path();
    let server = ServerProcess::start(&d.join("data"), d);
    ok(server
        .kvs(d)
        .args(["channel", "create", "porch"])
        .output()
        .unwrap());
    let master = server
        .kvs(d)
        .args([
            "webrtc",
            "master",
            "--channel",
            "porch",
            "--test-pattern",
            "--size",
            "320x240",
            "--audio",
            "--duration",
            "20s",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    let recording = d.join("porch.mkv");
    let viewer = json(
        server
            .kvs(d)
            .args([
                "webrtc",
                "viewer",
                "--channel",
                "porch",
                "--client-id",
                "cli-viewer",
                "--duration",
                "8s",
                "--record",
            ])
            .arg(&recording)
            .output()
            .unwrap(),
    );
    assert_eq!(viewer["ClientId"], "cli-viewer", "{viewer}");
    let stats = &viewer["Stats"];
    assert!(
        stats["TimeToFirstFrameMs"].as_f64().unwrap() > 0.0,
        "{viewer}"
    );
    assert!(stats["Frames"].as_u64().unwrap() > 60, "{viewer}");
    let recorded = viewer["Recording"]["Frames"].as_u64().unwrap();
    assert!(recorded > 60, "{viewer}");

    let status = Command::new("gst-launch-1.0")
        .arg("-q")
        .args(
            format!(
                "filesrc location={} ! matroskademux ! h264parse ! avdec_h264 ! fakesink",
                recording.display()
            )
            .split_whitespace(),
        )
        .status()
        .unwrap();
    assert!(status.success(), "GStreamer could not decode the recording");
    let probe = kvs_testkit::ffprobe(&recording);
    assert_eq!(probe["streams"][0]["codec_name"], "h264", "{probe}");
    // The test tone, sent as Opus, recorded beside the video.
    assert_eq!(probe["streams"][1]["codec_name"], "opus", "{probe}");

    // The master ends at its --duration and reports the viewer it served.
    let out = master.wait_with_output().unwrap();
    let served = json(out);
    assert_eq!(served["ViewersServed"], 1, "{served}");
}
