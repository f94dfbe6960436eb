use std::process::Command;

use kvs_e2e::{bin_dir, workspace_root};

#[test]
fn make_demo_script_runs_offline() {
    let scratch = tempfile::tempdir().unwrap();
    let out = Command::new(workspace_root().join("scripts/demo"))
        .env("BIN", bin_dir())
        .env("KVS_DEMO_DATA", scratch.path().join("demo"))
        .env("KVS_DEMO_SECONDS", "4")
        .env("AWS_CONFIG_FILE", scratch.path().join("none"))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "demo failed:\n{stdout}\n{stderr}");
    for expected in [
        "kvs-local listening on http://127.0.0.1:",
        "\"StreamARN\": \"arn:aws:kinesisvideo:us-east-1:123456789012:stream/demo-stream/",
        "DataRetentionInHours  24",
        "\"ChannelARN\"",
        "\"DataEndpoint\": \"http://127.0.0.1:",
        "\"Protocol\": \"WSS\"",
        "\"Persisted\": 2",
        "FragmentNumber",
        "demo-clip.mp4",
        "getHLSMasterPlaylist.m3u8?SessionToken=",
        "getDASHManifest.mpd?SessionToken=",
        // face search: the indexed face is found in the visitor's video
        "  obama  ",
    ] {
        assert!(
            stdout.contains(expected),
            "{expected:?} missing from:\n{stdout}"
        );
    }
    assert!(stderr.contains("running kvs-local at"), "{stderr}");
    assert!(
        stderr.contains("1 matches from demo-face-matches"),
        "{stderr}"
    );
    let probe = kvs_testkit::ffprobe(&scratch.path().join("demo/demo-clip.mp4"));
    let streams = probe["streams"].as_array().unwrap();
    assert!(streams.iter().any(|s| s["codec_name"] == "h264"), "{probe}");
    assert!(streams.iter().any(|s| s["codec_name"] == "aac"), "{probe}");
}
