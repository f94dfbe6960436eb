//! Helpers for the workspace-level end-to-end tests: the built binaries, run as a user runs them.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace root")
        .to_path_buf()
}

/// The directory the workspace's binaries are built into (next to this test's executable).
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable has a path");
    // target/debug/deps/e2e-HASH -> target/debug
    exe.parent()
        .and_then(Path::parent)
        .expect("test executables live in target/<profile>/deps")
        .to_path_buf()
}

/// A built binary; panics with the fix if it was not built.
pub fn bin(name: &str) -> PathBuf {
    let path = bin_dir().join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --workspace --bins` first (make test does)",
        path.display()
    );
    path
}

/// `command` (program, arguments, environment) run in network namespace `ns` through
/// `ip netns exec`, which executes it in place: the child is the program itself.
pub fn in_netns(ns: &str, command: &Command) -> Command {
    let mut wrapped = Command::new("ip");
    wrapped
        .args(["netns", "exec", ns])
        .arg(command.get_program())
        .args(command.get_args());
    for (key, value) in command.get_envs() {
        match value {
            Some(value) => wrapped.env(key, value),
            None => wrapped.env_remove(key),
        };
    }
    wrapped
}

/// A command for a binary with no AWS configuration in its environment.
pub fn offline(name: &str, scratch: &Path) -> Command {
    let mut cmd = Command::new(bin(name));
    for var in [
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_PROFILE",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_KINESIS_VIDEO",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_CA_BUNDLE",
        "KVS_LOCAL_DATA_DIR",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("AWS_CONFIG_FILE", scratch.join("no-aws-config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            scratch.join("no-aws-credentials"),
        )
        .env("AWS_EC2_METADATA_DISABLED", "true");
    cmd
}

/// A `kvs-local serve` process on a free port; killed on drop.
pub struct ServerProcess {
    child: Child,
    url: String,
    data_dir: PathBuf,
}

impl ServerProcess {
    /// Starts `kvs-local serve` on `data_dir` and waits until it listens.
    pub fn start(data_dir: &Path, scratch: &Path) -> Self {
        Self::start_on(data_dir, scratch, "127.0.0.1:0")
    }

    /// Starts `kvs-local serve` on `data_dir` at `addr` and waits until it listens.
    pub fn start_on(data_dir: &Path, scratch: &Path, addr: &str) -> Self {
        Self::spawn(Self::command(data_dir, scratch, addr), data_dir)
    }

    /// Starts `kvs-local serve` in network namespace `ns` (see [`in_netns`]).
    pub fn start_in_netns(ns: &str, data_dir: &Path, scratch: &Path, addr: &str) -> Self {
        Self::spawn(
            in_netns(ns, &Self::command(data_dir, scratch, addr)),
            data_dir,
        )
    }

    fn command(data_dir: &Path, scratch: &Path, addr: &str) -> Command {
        let mut command = offline("kvs-local", scratch);
        command
            .args(["serve", "--addr", addr, "--data-dir"])
            .arg(data_dir);
        command
    }

    fn spawn(mut command: Command, data_dir: &Path) -> Self {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("kvs-local starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut first = String::new();
        let mut reader = BufReader::new(stdout);
        reader
            .read_line(&mut first)
            .expect("kvs-local prints its URL");
        let url = first
            .trim()
            .strip_prefix("kvs-local listening on ")
            .unwrap_or_else(|| panic!("unexpected first line from kvs-local: {first:?}"))
            .to_owned();
        // Keep draining stdout so the server never writes into a closed pipe.
        std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
        Self {
            child,
            url,
            data_dir: data_dir.to_path_buf(),
        }
    }

    /// The server's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The server's https URL (the same port).
    pub fn https_url(&self) -> String {
        self.url.replacen("http://", "https://", 1)
    }

    /// The CA certificate the server's https certificate chains to.
    pub fn ca_file(&self) -> PathBuf {
        self.data_dir.join("tls/ca.pem")
    }

    /// The server's certificate chain and key (PEM).
    pub fn tls_files(&self) -> (PathBuf, PathBuf) {
        let dir = self.data_dir.join("tls");
        (dir.join("server.pem"), dir.join("server-key.pem"))
    }

    /// `kvs` pointed at this server with its default credentials.
    pub fn kvs(&self, scratch: &Path) -> Command {
        self.kvs_at(scratch, self.url())
    }

    /// `kvs` pointed at this server's https URL, trusting its CA.
    pub fn kvs_over_https(&self, scratch: &Path) -> Command {
        let mut cmd = self.kvs_at(scratch, &self.https_url());
        cmd.arg("--ca-bundle").arg(self.ca_file());
        cmd
    }

    /// `kvs` with this server's credentials pointed at `url` (a URL of this server).
    pub fn kvs_at(&self, scratch: &Path, url: &str) -> Command {
        let mut cmd = offline("kvs", scratch);
        cmd.env("AWS_ACCESS_KEY_ID", "AKIDKVSLOCAL")
            .env("AWS_SECRET_ACCESS_KEY", "kvs-local-secret")
            .args(["--endpoint-url", url, "--region", "us-east-1"]);
        cmd
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills the server with SIGKILL, as a crash or power cut would.
    pub fn kill9(mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }

    /// Sends SIGTERM and waits; returns whether it exited successfully.
    pub fn terminate(mut self) -> bool {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        self.child.wait().map(|s| s.success()).unwrap_or(false)
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The AWS CLI that `scripts/install-deps` puts into `target/py`, with no AWS configuration
/// but kvs-local's credentials and region.
pub fn aws_cli(scratch: &Path) -> Command {
    let aws = workspace_root().join("target/py/bin/aws");
    assert!(
        aws.exists(),
        "{} is missing: run scripts/install-deps (make test does)",
        aws.display()
    );
    let mut cmd = Command::new(aws);
    for var in [
        "AWS_PROFILE",
        "AWS_ENDPOINT_URL",
        "AWS_CA_BUNDLE",
        "AWS_SESSION_TOKEN",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("AWS_CONFIG_FILE", scratch.join("no-aws-config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            scratch.join("no-aws-credentials"),
        )
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ACCESS_KEY_ID", "AKIDKVSLOCAL")
        .env("AWS_SECRET_ACCESS_KEY", "kvs-local-secret")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_PAGER", "");
    cmd
}

/// A loopback address with a port that was free a moment ago.
pub fn free_addr() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().expect("bound address").to_string()
}

/// The output of a command that must have succeeded; panics with its output otherwise.
pub fn ok(out: Output) -> Output {
    assert!(
        out.status.success(),
        "command failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The JSON a successful command printed.
pub fn json(out: Output) -> serde_json::Value {
    let out = ok(out);
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

/// The Markdown of `docs/`, one item per file, so that `cargo test --doc -p kvs-e2e` (and with
/// it `cargo test --workspace`) compiles every Rust example in the documentation. A block
/// without a language tag would be compiled as Rust too: tag shell, TOML, JSON and diagrams
/// (`sh`, `toml`, `json`, `text`).
#[cfg(doctest)]
mod docs {
    #[doc = include_str!("../docs/architecture.md")]
    struct Architecture;
    #[doc = include_str!("../docs/benchmarks.md")]
    struct Benchmarks;
    #[doc = include_str!("../docs/console.md")]
    struct Console;
    #[doc = include_str!("../docs/face-search.md")]
    struct FaceSearch;
    #[doc = include_str!("../docs/faces.md")]
    struct Faces;
    #[doc = include_str!("../docs/kvs-local.md")]
    struct KvsLocal;
    #[doc = include_str!("../docs/playback.md")]
    struct Playback;
    #[doc = include_str!("../docs/python.md")]
    struct Python;
    #[doc = include_str!("../docs/producing-video.md")]
    struct ProducingVideo;
    #[doc = include_str!("../docs/streams-and-channels.md")]
    struct StreamsAndChannels;
    #[doc = include_str!("../docs/webrtc.md")]
    struct Webrtc;
    #[doc = include_str!("../README.md")]
    struct Readme;
}

#[cfg(test)]
mod tests {
    /// A new page in docs/ has its code blocks compiled too: it must be listed in `mod docs`.
    #[test]
    fn every_page_of_the_docs_is_a_doctest() {
        let this = include_str!("support.rs");
        let docs = super::workspace_root().join("docs");
        for entry in std::fs::read_dir(&docs).expect("docs/ is readable") {
            let name = entry.expect("a docs/ entry").file_name();
            let name = name.to_string_lossy();
            if name.ends_with(".md") {
                let line = format!("include_str!(\"../docs/{name}\")");
                assert!(
                    this.contains(&line),
                    "docs/{name} is missing from `mod docs`"
                );
            }
        }
    }
}
