//! Masters and viewers through kvs-local's signaling and TURN servers over loopback.
#![allow(clippy::unwrap_used)]
#![cfg(feature = "gst")]

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use kvs_control::{ChannelSpec, ControlPlane};
use kvs_endpoint::KvsConfig;
use kvs_gst::{Source, TestPattern};
use kvs_testkit::LocalKvs;
use kvs_types::{Arn, ChannelName, ChannelRef};
use kvs_webrtc::peer::{
    GstSource, IceConfig, Viewer, ViewerConfig, ViewerEvent, ViewerOutput, record,
};
use kvs_webrtc::session::{MasterSession, SessionOptions, ViewerSession};
use kvs_webrtc::signaling::{
    ClientId, Role, SignalingClient, SignalingEvent, SignalingOptions, ice_servers,
};
use tokio::sync::mpsc;
use tokio::time::timeout;

/// Generous bound against hangs, never a performance assertion.
const PATIENCE: Duration = Duration::from_secs(30);

/// kvs-local with one signaling channel.
struct Local {
    kvs: LocalKvs,
    channel: ChannelRef,
    arn: Arn,
}

impl Local {
    fn config(&self) -> &KvsConfig {
        self.kvs.config()
    }
}

async fn local() -> Local {
    let kvs = LocalKvs::start().await;
    let name = ChannelName::new("front-door").unwrap();
    let info = ControlPlane::new(kvs.config())
        .ensure_channel(&ChannelSpec::new(name.clone()))
        .await
        .unwrap();
    Local {
        kvs,
        channel: ChannelRef::Name(name),
        arn: Arn::parse(&info.channel_arn).unwrap(),
    }
}

fn loopback(relay_only: bool) -> SessionOptions {
    let mut c = SessionOptions::default();
    c.ice = IceConfig::loopback();
    c.relay_only = relay_only;
    c
}

async fn master(local: &Local, relay_only: bool) -> MasterSession {
    master_with(local, loopback(relay_only)).await
}

async fn master_with(local: &Local, options: SessionOptions) -> MasterSession {
    let source = GstSource::open(Source::TestPattern(TestPattern {
        width: 320,
        height: 240,
        bitrate_kbps: 500,
        ..TestPattern::default()
    }))
    .await
    .unwrap();
    let session = MasterSession::start(local.config(), &local.channel, source.tracks(), options)
        .await
        .unwrap();
    drop(source.start(session.frame_sink()));
    session
}

async fn viewer(local: &Local, id: &str, relay_only: bool) -> (ViewerSession, ViewerOutput) {
    ViewerSession::start(
        local.config(),
        &local.channel,
        ClientId::new(id).unwrap(),
        loopback(relay_only),
    )
    .await
    .unwrap()
}

async fn frames(output: &mut ViewerOutput, n: usize) {
    for _ in 0..n {
        timeout(PATIENCE, output.frames.recv())
            .await
            .unwrap()
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_records_five_seconds_that_gstreamer_decodes() {
    let local = local().await;
    let master = master(&local, false).await;
    let (viewer, mut output) = viewer(&local, "recorder", false).await;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("viewer.mkv");
    let summary = timeout(
        PATIENCE,
        record(
            viewer.viewer(),
            &mut output.frames,
            &path,
            Duration::from_secs(5),
        ),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(summary.duration >= Duration::from_secs(5), "{summary:?}");
    let stats = viewer.viewer().stats().await;
    let ttff = stats.time_to_first_frame.unwrap();
    println!("time to first frame through kvs-local signaling: {ttff:?}");

    let status = Command::new("gst-launch-1.0")
        .arg("-q")
        .args(
            format!(
                "filesrc location={} ! matroskademux ! h264parse ! avdec_h264 ! fakesink",
                path.display()
            )
            .split_whitespace(),
        )
        .status()
        .unwrap();
    assert!(status.success(), "GStreamer could not decode the recording");
    let probe = kvs_testkit::ffprobe(&path);
    let decoded: u64 = probe["streams"][0]["nb_read_frames"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(decoded, summary.frames, "{probe}");
    viewer.close().await;
    master.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_viewers_and_one_leaving_does_not_disturb_the_others() {
    let local = local().await;
    let master = master(&local, false).await;
    let mut viewers = Vec::new();
    for id in ["v1", "v2", "v3"] {
        viewers.push(viewer(&local, id, false).await);
    }
    for (_, output) in &mut viewers {
        frames(output, 10).await;
    }
    assert_eq!(master.master().viewers().len(), 3);

    let (leaving, _) = viewers.remove(1);
    leaving.close().await;
    // The others go on receiving well after the departure.
    for (_, output) in &mut viewers {
        frames(output, 60).await;
    }
    for (session, _) in &viewers {
        assert!(session.viewer().stats().await.connected);
    }
    master.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_only_peers_connect_through_the_kvs_local_turn_server() {
    let local = local().await;
    let master = master(&local, true).await;
    let (viewer, mut output) = viewer(&local, "relayed", true).await;
    frames(&mut output, 30).await;
    let stats = viewer.viewer().stats().await;
    assert_eq!(
        stats.local_candidate_type.as_deref(),
        Some("relay"),
        "{stats:?}"
    );
    viewer.close().await;
    master.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_turn_credentials_fail_in_relay_only_mode() {
    let local = local().await;
    let master = master(&local, true).await;
    // A viewer with the channel's TURN server but a wrong password.
    let id = ClientId::new("bad-creds").unwrap();
    let role = Role::Viewer(id.clone());
    let mut servers = ice_servers(local.config(), &local.arn, &role)
        .await
        .unwrap();
    for s in &mut servers {
        if !s.credential.is_empty() {
            s.credential = "not-the-password".into();
        }
    }
    let mut client = SignalingClient::connect(
        local.config(),
        local.arn.clone(),
        role,
        SignalingOptions::default(),
    )
    .await
    .unwrap();
    let (transport, mut outgoing) = mpsc::channel(64);
    let mut config = ViewerConfig::default();
    config.ice = {
        let mut c = IceConfig::loopback();
        c.servers = servers;
        c.relay_only = true;
        c
    };
    let (viewer, mut output) = Viewer::connect(config, transport).await.unwrap();
    let viewer = Arc::new(viewer);
    let peer = Arc::clone(&viewer);
    let pump = tokio::spawn(async move {
        loop {
            tokio::select! {
                Some(SignalingEvent::Message(m)) = client.recv() => { let _ = peer.handle(m).await; }
                Some(m) = outgoing.recv() => client.send(m),
                else => break,
            }
        }
    });
    // No frame may arrive; the connection never comes up.
    let got = timeout(Duration::from_secs(8), output.frames.recv()).await;
    assert!(
        got.is_err(),
        "a frame arrived through TURN with a wrong password"
    );
    assert!(!viewer.stats().await.connected);
    while let Ok(event) = output.events.try_recv() {
        assert_ne!(event, ViewerEvent::Connected);
    }
    pump.abort();
    viewer.close().await;
    master.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_master_renews_its_turn_credentials_and_later_viewers_relay_with_them() {
    let local = local().await;
    let master = master_with(&local, {
        let mut c = loopback(true);
        c.ice_refresh = Duration::from_millis(300);
        c
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let fetched = local.kvs.server().calls("GetIceServerConfig");
    assert!(fetched >= 3, "GetIceServerConfig called {fetched} times");
    let (viewer, mut output) = viewer(&local, "after-renewal", true).await;
    frames(&mut output, 10).await;
    let stats = viewer.viewer().stats().await;
    assert_eq!(
        stats.local_candidate_type.as_deref(),
        Some("relay"),
        "{stats:?}"
    );
    viewer.close().await;
    master.close().await;
}
