use kvs_e2e::{ServerProcess, offline};
use serde_json::Value;

#[test]
fn kvs_finds_a_running_kvs_local_through_its_data_dir_and_data_survives_restarts() {
    let scratch = tempfile::tempdir().unwrap();
    let data = scratch.path().join("data");
    let server = ServerProcess::start(&data, scratch.path());

    let out = offline("kvs", scratch.path())
        .env("KVS_LOCAL_DATA_DIR", &data)
        .args(["stream", "create", "kept", "--retention", "5"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("running kvs-local at {}", server.url())),
        "{stderr}"
    );

    // a second server on the same data dir is refused with a clear message
    let busy = offline("kvs-local", scratch.path())
        .args(["serve", "--addr", "127.0.0.1:0", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    assert_eq!(busy.status.code(), Some(1));
    let msg = String::from_utf8_lossy(&busy.stderr);
    assert!(
        msg.contains("in use") && msg.contains(&server.pid().to_string()),
        "{msg}"
    );

    assert!(server.terminate(), "kvs-local exits cleanly on SIGTERM");

    let server = ServerProcess::start(&data, scratch.path());
    let out = offline("kvs", scratch.path())
        .args(["--endpoint-url", server.url(), "stream", "describe", "kept"])
        .env("AWS_ACCESS_KEY_ID", kvs_local_key())
        .env("AWS_SECRET_ACCESS_KEY", kvs_local_secret())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let info: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(info["StreamInfo"]["DataRetentionInHours"], 5);
}

fn kvs_local_key() -> &'static str {
    "AKIDKVSLOCAL"
}

fn kvs_local_secret() -> &'static str {
    "kvs-local-secret"
}
