use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{Local, stream_name};

/// The plugin built with this test binary: target/debug/libgstkvssink.so (the test binary is
/// in target/debug/deps), or beside the test binary.
fn built_plugin() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap();
    let candidates = [
        deps.parent().unwrap().join("libgstkvssink.so"),
        deps.join("libgstkvssink.so"),
    ];
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .unwrap_or_else(|| {
            panic!(
                "libgstkvssink.so was not built: looked for {candidates:?}; build the crate \
                 (its cdylib is built with its tests) with `cargo test -p kvs-sink`"
            )
        })
}

/// A directory holding only a copy of the plugin, and a `gst` command (gst-inspect-1.0 or
/// gst-launch-1.0) that loads it from there with a registry of its own, leaving the user's
/// registry alone.
fn gst_tool(tool: &str, plugin_dir: &Path) -> Command {
    std::fs::copy(built_plugin(), plugin_dir.join("libgstkvssink.so")).unwrap();
    let mut cmd = Command::new(tool);
    cmd.env("GST_PLUGIN_PATH", plugin_dir)
        .env("GST_REGISTRY", plugin_dir.join("registry.bin"));
    cmd
}

#[test]
fn gst_inspect_lists_the_built_plugin() {
    let dir = tempfile::tempdir().unwrap();
    let out = gst_tool("gst-inspect-1.0", dir.path())
        .arg("kvssink")
        // Only this plugin: the scan is quick.
        .env("GST_PLUGIN_SYSTEM_PATH", dir.path())
        .output()
        .expect("gst-inspect-1.0 (gstreamer1.0-tools) is installed");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "gst-inspect-1.0 kvssink failed: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for expected in [
        "kvssink",
        "Sink/Video/Network",
        "SINK template: 'video_%u'",
        "SINK template: 'audio_%u'",
        "video/x-h264",
        "video/x-h265",
        "audio/x-alaw",
        "audio/x-mulaw",
        "stream-name",
        "storage-size",
        "streaming-type",
        "fragment-duration",
        "endpoint-url",
        "near-realtime",
    ] {
        assert!(text.contains(expected), "{expected:?} missing in:\n{text}");
    }
}

#[test]
fn gst_launch_runs_the_seed_file_pipeline_with_the_built_plugin() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.mkv");
    kvs_testkit::make_mkv(&input, 2);
    let local = Local::start();
    let stream = stream_name("launch");
    let plugin_dir = dir.path().join("plugin");
    std::fs::create_dir(&plugin_dir).unwrap();
    let description = format!(
        "filesrc location={} ! matroskademux name=demux ! queue ! h264parse ! kvssink name=sink \
         stream-name={stream} streaming-type=offline {} \
         demux. ! queue ! aacparse ! sink.",
        input.display(),
        local.sink_properties()
    );
    let mut child = gst_tool("gst-launch-1.0", &plugin_dir)
        .args(description.split_whitespace())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("gst-launch-1.0 (gstreamer1.0-tools) is installed");
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("gst-launch-1.0 did not end within 60 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(status.success(), "gst-launch-1.0 failed: {stderr}");

    let fragments = local.get_media(&stream);
    let frames: Vec<_> = fragments.iter().flat_map(|f| f.frames.iter()).collect();
    assert_eq!(frames.iter().filter(|f| f.track == 1).count(), 60);
    assert!(frames.iter().any(|f| f.track == 2));
}
