//! WebRTC through kvs-local over loopback, in one process on this machine.
//!
//! 1. Time to first frame: `KVS_BENCH_CONNECTIONS` (20) viewers, one after another, each timed
//!    from `ViewerSession::start` (signaling connect, GetIceServerConfig, offer) to its first
//!    complete key frame; p50 and p99.
//! 2. Viewers one master serves: add viewers of a 1 Mbit/s, 30 fps test pattern in steps of
//!    `KVS_BENCH_STEP` (5) up to `KVS_BENCH_MAX_VIEWERS` (50) while every viewer still gets at
//!    least 90% of the source's frame rate.
//!
//! Run: `cargo bench -p kvs-webrtc --bench webrtc`.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use kvs_control::{ChannelSpec, ControlPlane};
use kvs_endpoint::KvsConfig;
use kvs_gst::{Source, TestPattern};
use kvs_local::{Config, Server};
use kvs_types::{ChannelName, ChannelRef};
use kvs_webrtc::peer::{GstSource, IceConfig, ViewerOutput};
use kvs_webrtc::session::{MasterSession, SessionOptions, ViewerSession};
use kvs_webrtc::signaling::ClientId;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn options() -> SessionOptions {
    SessionOptions {
        ice: IceConfig::loopback(),
        ..SessionOptions::default()
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Frames each viewer received within `window`.
async fn count_frames(outputs: &mut [ViewerOutput], window: Duration) -> Vec<usize> {
    let mut counts = vec![0; outputs.len()];
    // Drop what queued before the window.
    for o in outputs.iter_mut() {
        while o.frames.try_recv().is_ok() {}
    }
    let end = tokio::time::Instant::now() + window;
    while tokio::time::Instant::now() < end {
        for (o, c) in outputs.iter_mut().zip(counts.iter_mut()) {
            while o.frames.try_recv().is_ok() {
                *c += 1;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    counts
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(Config::new(dir.path())).await.unwrap();
    let c = server.credentials().clone();
    let config = KvsConfig::for_endpoint(
        server.url(),
        "us-east-1",
        &c.access_key_id,
        &c.secret_access_key,
    )
    .await;
    let name = ChannelName::new("bench").unwrap();
    ControlPlane::new(&config)
        .ensure_channel(&ChannelSpec::new(name.clone()))
        .await
        .unwrap();
    let channel = ChannelRef::Name(name);
    let fps = 30;
    let source = GstSource::open(Source::TestPattern(TestPattern {
        width: 640,
        height: 480,
        fps,
        bitrate_kbps: 1000,
        ..TestPattern::default()
    }))
    .await
    .unwrap();
    let master = MasterSession::start(&config, &channel, source.tracks(), options())
        .await
        .unwrap();
    let _feeding = source.start(master.frame_sink());

    let connections = env("KVS_BENCH_CONNECTIONS", 20);
    let mut ttff = Vec::with_capacity(connections);
    for i in 0..connections {
        let started = Instant::now();
        let (session, mut output) = ViewerSession::start(
            &config,
            &channel,
            ClientId::new(format!("ttff-{i}")).unwrap(),
            options(),
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
        "time to first frame over {connections} connections: p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms (goal p50 < 300 ms, p99 < 600 ms)",
        percentile(&ttff, 0.5).as_secs_f64() * 1000.0,
        percentile(&ttff, 0.99).as_secs_f64() * 1000.0,
        ttff.last().unwrap().as_secs_f64() * 1000.0
    );

    let step = env("KVS_BENCH_STEP", 5);
    let max = env("KVS_BENCH_MAX_VIEWERS", 50);
    let mut sessions = Vec::new();
    let mut outputs = Vec::new();
    let mut served = 0;
    while sessions.len() < max {
        for _ in 0..step.min(max - sessions.len()) {
            let id = ClientId::new(format!("load-{}", sessions.len())).unwrap();
            let (s, o) = ViewerSession::start(&config, &channel, id, options())
                .await
                .unwrap();
            sessions.push(s);
            outputs.push(o);
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        let window = Duration::from_secs(3);
        let counts = count_frames(&mut outputs, window).await;
        let worst = counts.iter().copied().min().unwrap_or(0) as f64 / window.as_secs_f64();
        println!(
            "{} viewers: slowest viewer {worst:.1} fps of {fps}",
            sessions.len()
        );
        if worst < 0.9 * f64::from(fps) {
            break;
        }
        served = sessions.len();
    }
    println!(
        "viewers served at 1 Mbit/s, 30 fps with every viewer at >= 90% frame rate: {served} (goal 50)"
    );
    for s in sessions {
        s.close().await;
    }
    master.close().await;
}
