//! The consumer's round trip against a kvs-local process: the binary the workspace builds
//! (`KVS_LOCAL_BIN`, set by scripts/consumer-test), on a free port and its own data directory.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use kvs_endpoint::KvsConfig;

struct KvsLocal(Child);

impl Drop for KvsLocal {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts kvs-local and returns it with its URL (the first line it prints).
fn start_kvs_local(data_dir: &std::path::Path) -> (KvsLocal, String) {
    let bin = std::env::var("KVS_LOCAL_BIN")
        .expect("KVS_LOCAL_BIN names the kvs-local binary (scripts/consumer-test sets it)");
    let mut child = Command::new(&bin)
        .args(["serve", "--addr", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {bin}: {e}"));
    let mut out = BufReader::new(child.stdout.take().expect("piped stdout"));
    let mut first = String::new();
    out.read_line(&mut first).expect("kvs-local prints its URL");
    let url = first
        .trim()
        .strip_prefix("kvs-local listening on ")
        .unwrap_or_else(|| panic!("unexpected first line from kvs-local: {first:?}"))
        .to_owned();
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    (KvsLocal(child), url)
}

#[tokio::test(flavor = "multi_thread")]
async fn create_put_and_clip_against_kvs_local() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (_server, url) = start_kvs_local(&dir.path().join("kvs-local"));
    // kvs-local's default keys, as its banner prints them.
    let config =
        KvsConfig::for_endpoint(&url, "us-east-1", "AKIDKVSLOCAL", "kvs-local-secret").await;

    let clip_path = dir.path().join("clip.mp4");
    let done = kvs_consumer::round_trip(&config, "consumer-cam", 6, &clip_path)
        .await
        .expect("the round trip works");

    assert_eq!(done.persisted, 6, "one fragment per second of video");
    let mp4 = std::fs::read(&clip_path).expect("the clip was written");
    assert_eq!(done.clip.bytes, mp4.len() as u64);
    assert_eq!(&mp4[4..8], b"ftyp", "an MP4 file");

    // ffprobe counts the clip's video packets without decoding them: every frame put.
    let probe = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-count_packets"])
        .args([
            "-show_entries",
            "stream=codec_name,width,height,nb_read_packets",
        ])
        .args(["-of", "csv=p=0"])
        .arg(&clip_path)
        .output()
        .expect("ffprobe runs (make deps installs it)");
    let line = String::from_utf8_lossy(&probe.stdout).trim().to_owned();
    assert_eq!(
        line,
        "h264,320,240,60",
        "ffprobe: {line} {}",
        String::from_utf8_lossy(&probe.stderr)
    );

    // A second download to the same path is refused, and the file is left as it was.
    let again = kvs_archive::ArchiveClient::new(&config)
        .clip(
            &kvs_types::StreamRef::parse("consumer-cam").expect("a stream name"),
            kvs_types::TimeRange::last(
                std::time::Duration::from_secs(60),
                std::time::SystemTime::now(),
            ),
        )
        .to_file(&clip_path)
        .await;
    assert!(
        matches!(again, Err(kvs_archive::ArchiveError::Exists(_))),
        "{again:?}"
    );
    assert_eq!(std::fs::read(&clip_path).expect("still there"), mp4);
}
