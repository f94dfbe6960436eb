//! WebRTC through kvs-local on this machine. The master runs in a child process (this bench
//! run again with `KVS_BENCH_ROLE=master`), so its CPU is measured apart from the viewers'.
//!
//! 1. Time to first frame: `KVS_BENCH_CONNECTIONS` (20) viewers, one after another, each timed
//!    from `ViewerSession::start` (signaling connect, GetIceServerConfig, offer) to its first
//!    complete key frame; p50 and p99.
//! 2. Viewers one master serves: add viewers of a 1 Mbit/s, 30 fps test pattern with Opus audio in steps of
//!    `KVS_BENCH_STEP` (10) up to `KVS_BENCH_MAX_VIEWERS` (100) while every viewer still gets at
//!    least 90% of the source's frame rate; the master process's CPU at each step. KVS (and
//!    kvs-local) let at most 10 viewers be connected to a channel's signaling at once, so each
//!    of these viewers leaves signaling once its peer connection is up, which leaves the
//!    connection up.
//! 3. Frame loss under packet loss (`KVS_BENCH_LOSS`, "0,1,5,10,5>"): master and viewer in two
//!    network namespaces joined by a veth pair, an nftables rule in each dropping that share of
//!    the UDP packets the other sends at random: both directions, or with `>` only the master's (the
//!    media; the viewer's NACKs and key frame requests all arrive). After 2 s, the viewer counts
//!    the unique source frames it can decode for `KVS_BENCH_LOSS_SECONDS` (60) against the 30 fps the source
//!    makes: frames lost after NACK/retransmission. Needs root, `ip` and `nft`; skipped with
//!    the reason otherwise. (netem is not used: this machine's kernel is built without it.)
//!
//! Run: `cargo bench -p kvs-webrtc --bench webrtc`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{IpAddr, Ipv4Addr};
use std::process::Stdio;
use std::time::{Duration, Instant};

use kvs_control::{ChannelSpec, ControlPlane};
use kvs_endpoint::KvsConfig;
use kvs_gst::{Source, TestPattern};
use kvs_local::{Config, Server};
use kvs_testkit::local::config_at;
use kvs_testkit::lossy::{self, LossyLink, MASTER_IP, VIEWER_IP};
use kvs_testkit::process::cpu_seconds;
use kvs_types::{ChannelName, ChannelRef};
use kvs_webrtc::peer::{GstSource, IceConfig, Viewer, ViewerConfig, ViewerEvent, ViewerOutput};
use kvs_webrtc::session::{MasterSession, SessionOptions, ViewerSession};
use kvs_webrtc::signaling::{
    ClientId, Role, SignalingClient, SignalingEvent, SignalingOptions, ice_servers,
};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

const FPS: u32 = 30;
const CHANNEL: &str = "bench";

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set"))
}

/// ICE on one address, no mDNS (loopback: 127.0.0.1).
fn ice_on(ip: IpAddr) -> IceConfig {
    let mut c = IceConfig::loopback();
    c.host_addresses = vec![ip];
    c
}

fn options(ip: IpAddr) -> SessionOptions {
    let mut c = SessionOptions::default();
    c.ice = ice_on(ip);
    c
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Starts kvs-local on `ip` with the bench's channel.
async fn start_kvs_local(dir: &std::path::Path, ip: IpAddr) -> (Server, KvsConfig) {
    let mut config = Config::new(dir);
    config.addr.set_ip(ip);
    let server = Server::start(config).await.unwrap();
    let config = config_at(server.url()).await;
    ControlPlane::new(&config)
        .ensure_channel(&ChannelSpec::new(ChannelName::new(CHANNEL).unwrap()))
        .await
        .unwrap();
    (server, config)
}

fn channel() -> ChannelRef {
    ChannelRef::Name(ChannelName::new(CHANNEL).unwrap())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    match std::env::var("KVS_BENCH_ROLE").as_deref() {
        Ok("master") => master().await,
        Ok("loss-viewer") => loss_viewer().await,
        _ => {
            loopback().await;
            loss().await;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The master process.

/// Serves the channel with a 1 Mbit/s test pattern until stdin closes. Uses the kvs-local at
/// `KVS_BENCH_ENDPOINT`, or starts one on `KVS_BENCH_IP` when that is not set; prints
/// `ready <endpoint>` once it is serving.
async fn master() {
    // The parent closes stdin (or dies): stop.
    std::thread::spawn(|| {
        let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
        std::process::exit(0);
    });
    let ip: IpAddr = var("KVS_BENCH_IP").parse().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (_server, config) = match std::env::var("KVS_BENCH_ENDPOINT") {
        Ok(url) => (None, config_at(&url).await),
        Err(_) => {
            let (server, config) = start_kvs_local(dir.path(), ip).await;
            (Some(server), config)
        }
    };
    let source = GstSource::open(Source::TestPattern(TestPattern {
        width: 640,
        height: 480,
        fps: FPS,
        bitrate_kbps: 1000,
        audio: true,
        ..TestPattern::default()
    }))
    .await
    .unwrap();
    let master = MasterSession::start(&config, &channel(), source.tracks(), options(ip))
        .await
        .unwrap();
    let _feeding = source.start(master.frame_sink());
    let endpoint = match &_server {
        Some(s) => s.url().to_owned(),
        None => var("KVS_BENCH_ENDPOINT"),
    };
    println!("ready {endpoint}");
    std::future::pending::<()>().await;
}

/// Starts the master process (through `prefix`, e.g. `ip netns exec NS`) and waits until it
/// serves; returns it with the kvs-local endpoint.
async fn spawn_master(prefix: &[&str], envs: &[(&str, &str)]) -> (Child, String) {
    let exe = std::env::current_exe().unwrap();
    let mut cmd = match prefix.split_first() {
        Some((program, args)) => {
            let mut c = Command::new(program);
            c.args(args).arg(&exe);
            c
        }
        None => Command::new(&exe),
    };
    cmd.env("KVS_BENCH_ROLE", "master")
        .envs(envs.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let endpoint = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(url) = line.strip_prefix("ready ") {
                return url.to_owned();
            }
        }
        panic!("the master process ended before it was ready");
    })
    .await
    .expect("the master process did not start in 60 s");
    (child, endpoint)
}

// ---------------------------------------------------------------------------------------------
// 1 and 2: loopback.

/// Frames each viewer received within `window`, and the video bytes of all.
async fn count_frames(outputs: &mut [ViewerOutput], window: Duration) -> (Vec<usize>, usize) {
    let mut counts = vec![0; outputs.len()];
    let mut bytes = 0;
    // Drop what queued before the window.
    for o in outputs.iter_mut() {
        while o.frames.try_recv().is_ok() {}
    }
    let end = tokio::time::Instant::now() + window;
    while tokio::time::Instant::now() < end {
        for (o, c) in outputs.iter_mut().zip(counts.iter_mut()) {
            while let Ok(frame) = o.frames.try_recv() {
                if frame.track == 1 {
                    *c += 1;
                    bytes += frame.data.len();
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    (counts, bytes)
}

/// A viewer that uses signaling only to connect: what `ViewerSession` does, but the signaling
/// connection is closed once the peer connection is up.
async fn viewer_leaving_signaling(config: &KvsConfig, id: ClientId) -> (Viewer, ViewerOutput) {
    let info = ControlPlane::new(config)
        .describe_channel(&channel())
        .await
        .unwrap();
    let arn = info.arn().unwrap();
    let role = Role::Viewer(id);
    let mut ice = ice_on(IpAddr::V4(Ipv4Addr::LOCALHOST));
    ice.servers
        .extend(ice_servers(config, &arn, &role).await.unwrap());
    let mut client = SignalingClient::connect(config, arn, role, SignalingOptions::default())
        .await
        .unwrap();
    let (transport, mut outgoing) = mpsc::channel(256);
    let mut viewer_config = ViewerConfig::default();
    viewer_config.ice = ice;
    let (viewer, mut output) = Viewer::connect(viewer_config, transport).await.unwrap();
    let connected = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            tokio::select! {
                event = client.recv() => match event {
                    Some(SignalingEvent::Message(m)) => viewer.handle(m).await.unwrap(),
                    Some(_) => {}
                    None => panic!("signaling closed"),
                },
                Some(m) = outgoing.recv() => client.send(m),
                event = output.events.recv() => match event {
                    Some(ViewerEvent::Connected) => return,
                    Some(ViewerEvent::Ended) | None => panic!("the viewer's connection failed"),
                    Some(_) => {}
                },
            }
        }
    })
    .await;
    connected.expect("a load viewer did not connect in 30 s");
    client.close();
    (viewer, output)
}

async fn loopback() {
    let dir = tempfile::tempdir().unwrap();
    let localhost = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let (server, config) = start_kvs_local(dir.path(), localhost).await;
    let (master, _) = spawn_master(
        &[],
        &[
            ("KVS_BENCH_IP", "127.0.0.1"),
            ("KVS_BENCH_ENDPOINT", server.url()),
        ],
    )
    .await;
    let master_pid = master.id().unwrap().to_string();
    let channel = channel();

    let connections = env("KVS_BENCH_CONNECTIONS", 20);
    let mut ttff = Vec::with_capacity(connections);
    for i in 0..connections {
        let started = Instant::now();
        let (session, mut output) = ViewerSession::start(
            &config,
            &channel,
            ClientId::new(format!("ttff-{i}")).unwrap(),
            options(localhost),
        )
        .await
        .unwrap();
        tokio::time::timeout(Duration::from_secs(30), output.frames.recv())
            .await
            .unwrap()
            .unwrap();
        ttff.push(started.elapsed());
        session.close().await;
    }
    ttff.sort();
    println!(
        "time to first frame over {connections} connections: p50 {:.0} ms, p99 {:.0} ms, min {:.0} ms, max {:.0} ms (goal p50 < 150 ms, p99 < 300 ms)",
        percentile(&ttff, 0.5).as_secs_f64() * 1000.0,
        percentile(&ttff, 0.99).as_secs_f64() * 1000.0,
        ttff[0].as_secs_f64() * 1000.0,
        ttff.last().unwrap().as_secs_f64() * 1000.0
    );
    let all: Vec<String> = ttff
        .iter()
        .map(|t| format!("{:.0}", t.as_secs_f64() * 1000.0))
        .collect();
    println!("  each (ms, sorted): {}", all.join(" "));

    let step = env("KVS_BENCH_STEP", 10);
    let max = env("KVS_BENCH_MAX_VIEWERS", 100);
    let mut viewers = Vec::new();
    let mut outputs = Vec::new();
    let mut served = 0;
    println!(
        "viewers | slowest viewer fps | video per viewer | master CPU (share of one core) | viewers' process CPU"
    );
    while viewers.len() < max {
        for _ in 0..step.min(max - viewers.len()) {
            let id = ClientId::new(format!("load-{}", viewers.len())).unwrap();
            let (v, o) = viewer_leaving_signaling(&config, id).await;
            viewers.push(v);
            outputs.push(o);
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        let window = Duration::from_secs(3);
        let (master_before, own_before) = (cpu_seconds(&master_pid), cpu_seconds("self"));
        let started = Instant::now();
        let (counts, bytes) = count_frames(&mut outputs, window).await;
        let wall = started.elapsed().as_secs_f64();
        let master_cpu = (cpu_seconds(&master_pid) - master_before) / wall;
        let own_cpu = (cpu_seconds("self") - own_before) / wall;
        let worst = counts.iter().copied().min().unwrap_or(0) as f64 / window.as_secs_f64();
        let mbps = bytes as f64 * 8.0 / window.as_secs_f64() / 1e6 / viewers.len() as f64;
        println!(
            "{} | {worst:.1} of {FPS} | {mbps:.2} Mbit/s | {:.0}% | {:.0}%",
            viewers.len(),
            master_cpu * 100.0,
            own_cpu * 100.0
        );
        if worst < 0.9 * f64::from(FPS) {
            break;
        }
        served = viewers.len();
    }
    println!(
        "viewers served at 1 Mbit/s, {FPS} fps plus Opus with every viewer at >= 90% frame rate: {served} (goal 100)"
    );
    println!(
        "master process: {:.1} s CPU in all, for {connections} connections and the ramp",
        cpu_seconds(&master_pid)
    );
    for v in &viewers {
        v.close().await;
    }
    drop(master);
    server.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// 3: packet loss between two network namespaces.

async fn loss() {
    if let Some(reason) = lossy::unavailable() {
        println!("frame loss under packet loss: not measured: {reason}");
        return;
    }
    let seconds = env("KVS_BENCH_LOSS_SECONDS", 60);
    let levels = std::env::var("KVS_BENCH_LOSS").unwrap_or_else(|_| "0,1,5,10,5>".into());
    println!(
        "UDP packets dropped | sent / dropped by the master, by the viewer | frames expected | decodable frames | frames lost | viewer: packets lost, frames dropped | time to first frame"
    );
    for level in levels.split(',').map(str::trim) {
        let (percent, both_ways) = match level.strip_suffix('>') {
            Some(p) => (p.parse::<u32>().unwrap(), false),
            None => (level.parse::<u32>().unwrap(), true),
        };
        let link = match LossyLink::create(percent, if both_ways { percent } else { 0 }) {
            Ok(link) => link,
            Err(e) => {
                println!("frame loss under packet loss: not measured: {e}");
                return;
            }
        };
        let (master, endpoint) = spawn_master(
            &["ip", "netns", "exec", link.master_ns()],
            &[("KVS_BENCH_IP", MASTER_IP)],
        )
        .await;
        let exe = std::env::current_exe().unwrap();
        let out = Command::new("ip")
            .args(["netns", "exec", link.viewer_ns()])
            .arg(&exe)
            .env("KVS_BENCH_ROLE", "loss-viewer")
            .env("KVS_BENCH_IP", VIEWER_IP)
            .env("KVS_BENCH_ENDPOINT", &endpoint)
            .env("KVS_BENCH_LOSS_SECONDS", seconds.to_string())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .output()
            .await
            .unwrap();
        let (m_sent, m_dropped) = link.from_master().unwrap();
        let (v_sent, v_dropped) = link.from_viewer().unwrap();
        drop(master);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let result = stdout
            .lines()
            .find_map(|l| l.strip_prefix("result "))
            .unwrap_or_else(|| panic!("the viewer reported nothing: {stdout}"));
        let field = |name: &str| -> f64 {
            result
                .split_whitespace()
                .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
                .unwrap()
                .parse()
                .unwrap()
        };
        let (expected, delivered) = (field("expected"), field("delivered"));
        let direction = if both_ways {
            "both ways"
        } else {
            "master to viewer only"
        };
        println!(
            "{percent}% {direction} | {m_sent} / {m_dropped} ({:.1}%), {v_sent} / {v_dropped} ({:.1}%) | {expected:.0} | {delivered:.0} | {:.1}% (goal {}) | {:.0}, {:.0} | {:.0} ms",
            100.0 * m_dropped as f64 / m_sent.max(1) as f64,
            100.0 * v_dropped as f64 / v_sent.max(1) as f64,
            (100.0 * (expected - delivered) / expected).max(0.0),
            match percent {
                0 | 1 => "< 0.5%",
                2..=5 => "< 1%",
                _ => "< 5%",
            },
            field("packets_lost"),
            field("dropped"),
            field("ttff_ms"),
        );
        drop(link);
    }
}

/// The viewer of part 3: receives for `KVS_BENCH_LOSS_SECONDS` and prints `result ...`.
async fn loss_viewer() {
    let ip: IpAddr = var("KVS_BENCH_IP").parse().unwrap();
    let config = config_at(&var("KVS_BENCH_ENDPOINT")).await;
    let seconds = env("KVS_BENCH_LOSS_SECONDS", 60);
    let started = Instant::now();
    let (session, mut output) = ViewerSession::start(
        &config,
        &channel(),
        ClientId::new("lossy").unwrap(),
        options(ip),
    )
    .await
    .unwrap();
    tokio::time::timeout(Duration::from_secs(60), output.frames.recv())
        .await
        .expect("no frame in 60 s")
        .unwrap();
    let ttff = started.elapsed();
    // The first frames come in a burst (the master's current group of pictures): skip them.
    let warm_up = tokio::time::Instant::now() + Duration::from_secs(2);
    while let Ok(Some(_)) = tokio::time::timeout_at(warm_up, output.frames.recv()).await {}
    // Unique source frames: a frame sent twice (a repeated GOP) counts once.
    let mut seen = std::collections::HashSet::new();
    let end = warm_up + Duration::from_secs(seconds as u64);
    while let Ok(Some(frame)) = tokio::time::timeout_at(end, output.frames.recv()).await {
        if frame.track == 1 {
            seen.insert(frame.timestamp_ns);
        }
    }
    let delivered = seen.len();
    let stats = session.viewer().stats().await;
    session.close().await;
    let expected = seconds as u64 * u64::from(FPS);
    println!(
        "result expected={expected} delivered={delivered} dropped={} packets_lost={} ttff_ms={:.0}",
        stats.frames_dropped,
        stats.packets_lost,
        ttff.as_secs_f64() * 1000.0
    );
}
