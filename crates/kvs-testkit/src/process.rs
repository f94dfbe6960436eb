//! For benchmarks: settings from the environment, a `kvs-local` binary run as its own process
//! (so that its CPU and memory are measured apart from the clients'), and `/proc` figures.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// The number in environment variable `name`, or `default`.
pub fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The `kvs-local` binary of this build's target directory, release before debug.
///
/// # Panics
/// When neither is built, saying how to build it.
pub fn kvs_local_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/<bench>
    let target = exe
        .parent()
        .and_then(|p| p.parent())
        .and_then(|p| p.parent())
        .unwrap();
    ["release", "debug"]
        .iter()
        .map(|p| target.join(p).join("kvs-local"))
        .find(|p| p.exists())
        .expect("build the server first: cargo build --release -p kvs-local-bin")
}

/// Runs `bin serve --addr addr --data-dir data_dir` plus `extra` arguments and waits until it
/// says it listens; returns the process and its URL. Its stdout is not read further.
///
/// # Panics
/// When it cannot start or says something else first.
pub fn spawn_kvs_local(bin: &Path, addr: &str, data_dir: &Path, extra: &[&str]) -> (Child, String) {
    let mut server = Command::new(bin)
        .args(["serve", "--addr", addr, "--data-dir"])
        .arg(data_dir)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{} does not start: {e}", bin.display()));
    let mut first = String::new();
    BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let url = first
        .trim()
        .strip_prefix("kvs-local listening on ")
        .unwrap_or_else(|| panic!("unexpected first line from kvs-local: {first:?}"))
        .to_owned();
    (server, url)
}

/// User+system CPU seconds of process `pid` (`"self"` for this one); USER_HZ is 100 on Linux.
pub fn cpu_seconds(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    (f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap()) / 100.0
}

/// A `/proc/PID/status` figure in KiB, e.g. `VmHWM:` (peak resident memory) or `VmRSS:`.
pub fn status_kib(pid: &str, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}
