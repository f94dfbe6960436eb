//! The `kvs` binary end to end, with JSON output parsed.

#![allow(clippy::unwrap_used)]

use std::path::Path;

use assert_cmd::Command;
use serde_json::Value;

/// `kvs` with no AWS configuration in its environment, using `dir` as kvs-local's data dir.
fn kvs(dir: &Path) -> Command {
    let mut cmd = Command::cargo_bin("kvs").unwrap();
    for var in [
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_PROFILE",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_KINESIS_VIDEO",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("AWS_CONFIG_FILE", dir.join("no-aws-config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            dir.join("no-aws-credentials"),
        )
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("KVS_LOCAL_DATA_DIR", dir.join("kvs-data"));
    cmd
}

fn json_of(cmd: &mut Command) -> Value {
    let out = cmd.assert().success().get_output().clone();
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn stderr_of(cmd: &mut Command) -> String {
    let out = cmd.assert().failure().code(1).get_output().clone();
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn stream_commands_on_the_embedded_kvs_local() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();

    let out = kvs(d)
        .args([
            "stream",
            "create",
            "cam-1",
            "--retention",
            "2d",
            "--media-type",
            "video/h264",
        ])
        .args(["--tag", "team=video"])
        .assert()
        .success()
        .get_output()
        .clone();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("embedded kvs-local"), "{stderr}");
    let created: Value = serde_json::from_slice(&out.stdout).unwrap();
    let arn = created["StreamARN"].as_str().unwrap().to_owned();
    assert!(arn.contains(":stream/cam-1/"), "{arn}");

    // the data survives between commands: each starts kvs-local on the same data dir
    let info = json_of(kvs(d).args(["stream", "describe", "cam-1"]));
    assert_eq!(info["StreamInfo"]["StreamARN"], arn.as_str());
    assert_eq!(info["StreamInfo"]["DataRetentionInHours"], 48);
    assert_eq!(info["StreamInfo"]["MediaType"], "video/h264");
    assert_eq!(info["StreamInfo"]["Status"], "ACTIVE");

    kvs(d)
        .args(["stream", "create", "cam-2"])
        .assert()
        .success();
    kvs(d)
        .args(["stream", "create", "other"])
        .assert()
        .success();
    let list = json_of(kvs(d).args(["stream", "list", "--prefix", "cam-"]));
    let names: Vec<&str> = list["StreamInfoList"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["StreamName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["cam-1", "cam-2"]);

    let info = json_of(kvs(d).args(["stream", "retention", &arn, "12"]));
    assert_eq!(info["StreamInfo"]["DataRetentionInHours"], 12);

    let tags = json_of(kvs(d).args(["stream", "tag", "cam-1", "site=lab", "--remove", "team"]));
    assert_eq!(tags, serde_json::json!({ "Tags": { "site": "lab" } }));

    let dup = stderr_of(kvs(d).args(["stream", "create", "cam-1"]));
    assert!(dup.contains("already exists"), "{dup}");
    let again = json_of(kvs(d).args(["stream", "create", "cam-1", "--if-not-exists"]));
    assert_eq!(again["StreamARN"], arn.as_str());

    kvs(d)
        .args(["stream", "delete", "cam-1"])
        .assert()
        .success();
    let gone = stderr_of(kvs(d).args(["stream", "describe", "cam-1"]));
    assert!(gone.contains("stream cam-1 not found"), "{gone}");
}

#[test]
fn bad_input_is_refused_before_any_call() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let bad = stderr_of(kvs(d).args(["stream", "create", "bad name"]));
    assert!(bad.contains("invalid StreamName"), "{bad}");
    let out = kvs(d)
        .args(["stream", "create", "x", "--retention", "100000"])
        .assert()
        .failure()
        .code(2)
        .get_output()
        .clone();
    assert!(String::from_utf8_lossy(&out.stderr).contains("87600"));
    let bad_api = kvs(d)
        .args(["endpoint", "--stream", "x", "--api", "NOPE"])
        .assert()
        .failure()
        .code(2)
        .get_output()
        .clone();
    assert!(String::from_utf8_lossy(&bad_api.stderr).contains("GET_CLIP"));
}

#[test]
fn channel_and_endpoint_commands_against_an_explicit_endpoint() {
    // The server runs on the fixture's own runtime while this thread waits on `kvs`.
    let local = kvs_testkit::LocalKvs::builder().start_blocking();
    let url = local.url().to_owned();
    // Not the fixture's directory: its name, in the AWS SDK's warnings, says "kvs-local".
    let dir = tempfile::tempdir().unwrap();
    let remote = || {
        let mut cmd = kvs(dir.path());
        cmd.env("AWS_ACCESS_KEY_ID", &local.credentials().access_key_id)
            .env(
                "AWS_SECRET_ACCESS_KEY",
                &local.credentials().secret_access_key,
            )
            .args(["--endpoint-url", &url, "--region", local.region()]);
        cmd
    };
    let created = json_of(remote().args(["channel", "create", "door", "--message-ttl", "30"]));
    let arn = created["ChannelARN"].as_str().unwrap().to_owned();
    let out = remote()
        .args(["channel", "describe", "door"])
        .assert()
        .success()
        .get_output()
        .clone();
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("kvs-local"),
        "an explicit endpoint is not announced as kvs-local"
    );
    let info: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(info["ChannelInfo"]["ChannelARN"], arn.as_str());
    assert_eq!(
        info["ChannelInfo"]["SingleMasterConfiguration"]["MessageTtlSeconds"],
        30
    );

    let list = json_of(remote().args(["channel", "list"]));
    assert_eq!(list["ChannelInfoList"].as_array().unwrap().len(), 1);

    let eps = json_of(remote().args(["endpoint", "--channel", "door", "--role", "viewer"]));
    let eps = eps["ResourceEndpointList"].as_array().unwrap();
    assert_eq!(eps[0]["Protocol"], "WSS");
    assert_eq!(
        eps[0]["ResourceEndpoint"],
        url.replacen("http", "ws", 1).as_str()
    );
    assert_eq!(eps[1]["ResourceEndpoint"], url.as_str());

    remote()
        .args(["stream", "create", "cam"])
        .assert()
        .success();
    let ep = json_of(remote().args(["endpoint", "--stream", "cam", "--api", "get-clip"]));
    assert_eq!(ep["DataEndpoint"], url.as_str());

    let table = remote()
        .args(["--output", "table", "channel", "list"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let table = String::from_utf8(table).unwrap();
    assert!(table.starts_with("ChannelName"), "{table}");
    assert!(
        table.lines().nth(1).unwrap().starts_with("door "),
        "{table}"
    );

    remote()
        .args(["channel", "delete", &arn])
        .assert()
        .success();
    let gone = stderr_of(remote().args(["channel", "describe", "door"]));
    assert!(gone.contains("not found"), "{gone}");

    let wrong = stderr_of(
        remote()
            .env("AWS_SECRET_ACCESS_KEY", "wrong")
            .args(["stream", "list"]),
    );
    assert!(wrong.contains("InvalidSignatureException"), "{wrong}");
}

#[test]
fn an_unreachable_endpoint_is_one_sentence_naming_it_and_why() {
    let dir = tempfile::tempdir().unwrap();
    // Port 1 on loopback: nothing listens, the connection is refused at once.
    let refused = stderr_of(
        kvs(dir.path())
            .env("AWS_ACCESS_KEY_ID", "AKIDTEST")
            .env("AWS_SECRET_ACCESS_KEY", "secret")
            .args(["--endpoint-url", "http://127.0.0.1:1", "stream", "list"]),
    );
    let error_line = |stderr: &str| {
        stderr
            .lines()
            .find(|l| l.starts_with("kvs: error:"))
            .unwrap_or_else(|| panic!("no error line: {stderr}"))
            .to_owned()
    };
    let first = error_line(&refused);
    assert!(first.contains("http://127.0.0.1:1"), "{refused}");
    assert!(first.contains("connection was refused"), "{refused}");
    assert!(first.len() < 300, "{} characters: {first}", first.len());
    assert!(!refused.contains("DispatchFailure"), "{refused}");

    // `.invalid` never resolves (RFC 2606); --debug adds the SDK's chain.
    let dns = stderr_of(
        kvs(dir.path())
            .env("AWS_ACCESS_KEY_ID", "AKIDTEST")
            .env("AWS_SECRET_ACCESS_KEY", "secret")
            .args(["--endpoint-url", "http://kvs-rs-test.invalid", "--debug"])
            .args(["stream", "list"]),
    );
    let first = error_line(&dns);
    assert!(first.contains("kvs-rs-test.invalid"), "{dns}");
    assert!(first.contains("(DNS)"), "{dns}");
    assert!(
        dns.contains("kvs: debug: SDK error: dispatch failure"),
        "{dns}"
    );
}
