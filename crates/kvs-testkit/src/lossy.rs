//! A lossy network between two hosts on one machine: two network namespaces joined by a veth
//! pair, an nftables rule in each dropping at random a share of the UDP packets that arrive
//! (TCP, and so signaling, is left alone). Dropped on arrival, as a network loses them: a rule
//! on the sender's output would fail its `send` with EPERM instead, which no real loss does.
//! netem is not used: this machine's kernel lacks it.
//!
//! Needs root, `ip` (iproute2) and `nft` (nftables); `scripts/install-deps` installs both.

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

/// The address of the first host (the "master" side) on the link.
pub const MASTER_IP: &str = "10.233.0.1";
/// The address of the second host (the "viewer" side).
pub const VIEWER_IP: &str = "10.233.0.2";

/// Runs a command to completion; its stdout, or an error naming the command and its stderr.
fn run(program: &str, args: &[&str], stdin: Option<&str>) -> Result<String, String> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{program}: {e}"))?;
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .map_err(|e| format!("{program}: {e}"))?;
    }
    drop(child.stdin.take());
    let out = child
        .wait_with_output()
        .map_err(|e| format!("{program}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{program} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Why a lossy link cannot be made here (not root, a tool missing), if it cannot.
pub fn unavailable() -> Option<String> {
    let root = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false);
    if !root {
        return Some("not root: network namespaces need root".into());
    }
    for (tool, version) in [("ip", "-V"), ("nft", "--version")] {
        if let Err(e) = run(tool, &[version], None) {
            return Some(format!("{e} (scripts/install-deps installs it)"));
        }
    }
    None
}

/// Two namespaces joined by a veth pair, each dropping a share of the UDP packets it sends;
/// removed when dropped.
#[derive(Debug)]
pub struct LossyLink {
    master_ns: String,
    viewer_ns: String,
}

impl LossyLink {
    /// Makes the link: `master_percent` of the UDP packets the master's side sends are lost on
    /// the way, and `viewer_percent` of the viewer's.
    pub fn create(master_percent: u32, viewer_percent: u32) -> Result<Self, String> {
        static LINKS: AtomicU32 = AtomicU32::new(0);
        let tag = format!(
            "{}x{}",
            std::process::id(),
            LINKS.fetch_add(1, Ordering::Relaxed)
        );
        let link = Self {
            master_ns: format!("kvsl-m{tag}"),
            viewer_ns: format!("kvsl-v{tag}"),
        };
        let (m, v) = (link.master_ns.as_str(), link.viewer_ns.as_str());
        // Interface names are at most 15 bytes.
        let (veth_m, veth_v) = (format!("kvm{tag}"), format!("kvv{tag}"));
        run("ip", &["netns", "add", m], None)?;
        run("ip", &["netns", "add", v], None)?;
        run(
            "ip",
            &[
                "link", "add", &veth_m, "netns", m, "type", "veth", "peer", "name", &veth_v,
                "netns", v,
            ],
            None,
        )?;
        // Each side drops on arrival what the other sends.
        for (ns, dev, ip, percent) in [
            (m, &veth_m, MASTER_IP, viewer_percent),
            (v, &veth_v, VIEWER_IP, master_percent),
        ] {
            let cidr = format!("{ip}/24");
            run("ip", &["-n", ns, "addr", "add", &cidr, "dev", dev], None)?;
            run("ip", &["-n", ns, "link", "set", dev, "up"], None)?;
            run("ip", &["-n", ns, "link", "set", "lo", "up"], None)?;
            // As on a real host: without a default route, joining the mDNS multicast group
            // fails (ENODEV) and with it a WebRTC peer that resolves .local candidates.
            run(
                "ip",
                &["-n", ns, "route", "add", "default", "dev", dev],
                None,
            )?;
            let rules = format!(
                "table inet kvsloss {{\n  chain in {{\n    type filter hook input priority 0; policy accept;\n    iifname \"{dev}\" meta l4proto udp counter\n    iifname \"{dev}\" meta l4proto udp numgen random mod 100 < {percent} counter drop\n  }}\n}}\n"
            );
            run("ip", &["netns", "exec", ns, "nft", "-f", "-"], Some(&rules))?;
        }
        Ok(link)
    }

    /// The master side's namespace.
    pub fn master_ns(&self) -> &str {
        &self.master_ns
    }

    /// The viewer side's namespace.
    pub fn viewer_ns(&self) -> &str {
        &self.viewer_ns
    }

    /// A command that runs `program` in namespace `ns` (`ip netns exec`).
    pub fn command_in(ns: &str, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", ns]).arg(program);
        command
    }

    /// (UDP packets the master's side sent over the link, how many of them were lost).
    pub fn from_master(&self) -> Result<(u64, u64), String> {
        Self::counters(&self.viewer_ns)
    }

    /// (UDP packets the viewer's side sent over the link, how many of them were lost).
    pub fn from_viewer(&self) -> Result<(u64, u64), String> {
        Self::counters(&self.master_ns)
    }

    /// (UDP packets that arrived over the link in namespace `ns`, how many were dropped).
    fn counters(ns: &str) -> Result<(u64, u64), String> {
        let out = run(
            "ip",
            &[
                "netns", "exec", ns, "nft", "list", "table", "inet", "kvsloss",
            ],
            None,
        )?;
        let packets: Vec<u64> = out
            .split("counter packets ")
            .skip(1)
            .filter_map(|s| s.split_whitespace().next()?.parse().ok())
            .collect();
        match packets[..] {
            [sent, dropped] => Ok((sent, dropped)),
            _ => Err(format!("unexpected nft counters: {out}")),
        }
    }
}

impl Drop for LossyLink {
    fn drop(&mut self) {
        // Deleting a namespace deletes its end of the veth pair, and so the pair.
        let _ = run("ip", &["netns", "del", &self.master_ns], None);
        let _ = run("ip", &["netns", "del", &self.viewer_ns], None);
    }
}
