//! Browser viewers in headless Chromium against a Rust master: the page kvs-local serves
//! (over http and https), and a page that uses only the official SDKs the way AWS's test page
//! does (`web/sdk-pages/`, over https from another origin, trusting the kvs-local CA).
//!
//! Needs what `scripts/install-deps` installs: Debian's `chromium`, node, and `npm ci` in
//! `web/` (the KVS WebRTC SDK, the AWS SDK for JavaScript and playwright-core).
#![allow(clippy::unwrap_used)]
#![cfg(feature = "gst")]

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use kvs_control::{ChannelSpec, ControlPlane};
use kvs_endpoint::KvsConfig;
use kvs_gst::{Source, TestPattern};
use kvs_testkit::LocalKvs;
use kvs_types::{Arn, ChannelName};
use kvs_webrtc::peer::{GstSource, IceConfig, Master, MasterConfig, MasterEvent};
use kvs_webrtc::signaling::{ClientId, Role, SignalingClient, SignalingEvent, SignalingOptions};
use tokio::sync::mpsc;

/// One Chromium at a time: the machines have two cores, and each test also encodes video.
static ONE_BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The workspace's `web/` directory (package.json, the test scripts, node_modules).
fn web_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../web"))
}

/// Runs `node args...` in `web/` on a blocking thread.
async fn node(args: Vec<String>) -> Output {
    node_with_env(args, Vec::new()).await
}

/// Runs `node args...` in `web/` with extra environment variables.
async fn node_with_env(args: Vec<String>, env: Vec<(&'static str, String)>) -> Output {
    let dir = web_dir();
    assert!(
        dir.join("node_modules/playwright-core").is_dir(),
        "{}/node_modules is missing: run scripts/install-deps",
        dir.display()
    );
    tokio::task::spawn_blocking(move || {
        Command::new("node")
            .args(&args)
            .envs(env)
            .current_dir(&dir)
            .output()
            .unwrap_or_else(|e| panic!("cannot run node (run scripts/install-deps): {e}"))
    })
    .await
    .unwrap()
}

fn print(output: &Output) {
    println!("{}", String::from_utf8_lossy(&output.stdout));
    eprintln!("{}", String::from_utf8_lossy(&output.stderr));
}

fn encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

#[tokio::test]
async fn the_pages_sigv4_signer_matches_the_aws_test_suite_and_the_sdk() {
    let output = node(vec!["--test".into(), "sigv4.test.mjs".into()]).await;
    print(&output);
    assert!(
        output.status.success(),
        "node --test web/sigv4.test.mjs failed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_plays_a_rust_master_in_the_viewer_page() {
    let page = play_in_chromium(Scheme::Http, "").await;
    assert!(page.contains("PLAYING 320x240"), "{page}");
    assert!(page.contains("(URL signed by sigv4.js)"), "{page}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_https_the_viewer_page_lets_the_sdk_sign_as_users_pages_do() {
    let page = play_in_chromium(Scheme::Https, "").await;
    assert!(page.contains("PLAYING 320x240"), "{page}");
    assert!(page.contains("(URL signed by the SDK)"), "{page}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_plays_it_through_the_kvs_local_turn_server_when_relay_only() {
    let page = play_in_chromium(Scheme::Http, "&relayOnly=1").await;
    assert!(page.contains("PLAYING 320x240"), "{page}");
    // The page logs the selected path once stats come in, which a loaded machine may not reach
    // before the video plays; what proves the relay is that the browser offered nothing else.
    let local: Vec<&str> = page
        .lines()
        .filter(|l| l.contains("local candidate"))
        .collect();
    assert!(!local.is_empty(), "no local candidates: {page}");
    assert!(
        local.iter().all(|l| l.contains(" typ relay ")),
        "not relay-only: {page}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_with_only_the_official_sdks_plays_the_rust_master_over_https() {
    let out = sdk_viewer(&[]).await;
    assert!(out.contains("PLAYING 320x240"), "{out}");
    // The master's test tone, as Opus: the page's inbound audio stream has packets.
    let audio = out
        .lines()
        .find_map(|l| l.strip_prefix("AUDIO audio/opus packets="))
        .unwrap_or_else(|| panic!("no Opus audio reached the page: {out}"));
    assert!(audio.trim().parse::<u64>().unwrap() > 0, "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_with_only_the_official_sdks_plays_it_relay_only() {
    let out = sdk_viewer(&["--relay-only"]).await;
    assert!(out.contains("PLAYING 320x240"), "{out}");
    assert!(out.contains("RELAY ONLY:"), "{out}");
    assert!(!out.contains("NOT RELAY ONLY"), "{out}");
}

#[derive(Clone, Copy, PartialEq)]
enum Scheme {
    Http,
    Https,
}

/// A Rust master on a signaling channel, streaming a 320x240 test pattern.
struct RustMaster {
    master: Arc<Master>,
    feeding: tokio::task::JoinHandle<Result<u64, kvs_webrtc::peer::PeerError>>,
    seen: Arc<Mutex<Vec<MasterEvent>>>,
}

impl RustMaster {
    /// Creates `channel` and starts a master on it, signaling through `kvs`.
    async fn start(kvs: &KvsConfig, channel: &str) -> Self {
        let channel = ControlPlane::new(kvs)
            .ensure_channel(&ChannelSpec::new(ChannelName::new(channel).unwrap()))
            .await
            .unwrap();
        let arn = Arn::parse(&channel.channel_arn).unwrap();

        // Host candidates on every interface and loopback. Chromium gathers no loopback
        // candidates: it reaches the master's non-loopback address, or relays through the
        // kvs-local TURN server (on loopback) to the master's loopback candidate. No mDNS: the
        // browser is told to send real addresses.
        let source = GstSource::open(Source::TestPattern(TestPattern {
            width: 320,
            height: 240,
            bitrate_kbps: 500,
            audio: true,
            ..TestPattern::default()
        }))
        .await
        .unwrap();
        let (to_signaling, mut outgoing) = mpsc::channel(256);
        let mut config = MasterConfig::default();
        config.ice = {
            let mut c = IceConfig::default();
            c.mdns = false;
            c
        };
        let (master, mut events) = Master::new(config, source.tracks(), to_signaling).unwrap();
        let master = Arc::new(master);
        let feeding = source.start(master.frame_sink());

        let mut client =
            SignalingClient::connect(kvs, arn.clone(), Role::Master, SignalingOptions::default())
                .await
                .unwrap();
        let sender = client.sender();
        tokio::spawn(async move {
            while let Some(message) = outgoing.recv().await {
                if sender.send(message).is_err() {
                    break;
                }
            }
        });
        let handler = Arc::clone(&master);
        tokio::spawn(async move {
            while let Some(event) = client.recv().await {
                match event {
                    SignalingEvent::Message(m) => {
                        if let Err(e) = handler.handle(m).await {
                            eprintln!("master: {e}");
                        }
                    }
                    other => eprintln!("master signaling: {other:?}"),
                }
            }
        });
        let started = Instant::now();
        let seen: Arc<Mutex<Vec<MasterEvent>>> = Arc::default();
        let record = Arc::clone(&seen);
        tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                eprintln!("{:>6} ms master: {event:?}", started.elapsed().as_millis());
                record.lock().unwrap().push(event);
            }
        });
        Self {
            master,
            feeding,
            seen,
        }
    }

    /// Checks that `viewer` connected and the source fed frames, then stops.
    async fn finish(self, viewer: &str) {
        let viewer = ClientId::new(viewer).unwrap();
        let seen = self.seen.lock().unwrap().clone();
        assert!(
            seen.contains(&MasterEvent::ViewerConnected(viewer)),
            "{seen:?}"
        );
        self.master.close().await;
        assert!(self.feeding.await.unwrap().unwrap() > 0);
    }
}

/// Starts kvs-local and a Rust master, opens kvs-local's viewer page over `scheme` (with
/// `extra_query`) in headless Chromium until its video plays, and returns what the browser
/// test printed (the page's log included).
async fn play_in_chromium(scheme: Scheme, extra_query: &str) -> String {
    let _alone = ONE_BROWSER.lock().await;
    let local = LocalKvs::start().await;
    let credentials = local.credentials();
    let master = RustMaster::start(local.config(), "browser-door").await;
    let started = Instant::now();

    let (base, env) = match scheme {
        Scheme::Http => (local.url().to_owned(), Vec::new()),
        Scheme::Https => (
            local.https_url(),
            vec![(
                "VIEWER_CA",
                local.server().ca_file().unwrap().display().to_string(),
            )],
        ),
    };
    let url = format!(
        "{base}/viewer/?channel=browser-door&region=us-east-1&clientId=chromium-1\
         &accessKeyId={}&secretAccessKey={}&autoconnect=1{extra_query}",
        encode(&credentials.access_key_id),
        encode(&credentials.secret_access_key),
    );
    let output = node_with_env(vec!["browser-test.mjs".into(), url], env).await;
    print(&output);
    println!("browser test took {:?}", started.elapsed());
    assert!(
        output.status.success(),
        "the viewer page did not play the master's video"
    );
    master.finish("chromium-1").await;
    assert_eq!(local.server().calls("ConnectAsViewer"), 1);
    assert_eq!(local.server().calls("GetIceServerConfig"), 1);
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Starts kvs-local and a Rust master (signaling over wss), runs `web/sdk-test.mjs viewer`
/// (the official-SDK page over https, Chromium trusting only the kvs-local CA) with `extra`
/// arguments, and returns its output.
async fn sdk_viewer(extra: &[&str]) -> String {
    let _alone = ONE_BROWSER.lock().await;
    let local = LocalKvs::start().await;
    let master = RustMaster::start(&local.https_config().await, "sdk-door").await;
    let credentials = local.credentials();
    let tls = local.data_dir().join("tls");
    let path = |f: &str| tls.join(f).display().to_string();
    let mut args: Vec<String> = vec![
        "sdk-test.mjs".into(),
        "viewer".into(),
        "--cert".into(),
        path("server.pem"),
        "--key".into(),
        path("server-key.pem"),
        "--ca".into(),
        path("ca.pem"),
        "--endpoint".into(),
        local.https_url(),
        "--channel".into(),
        "sdk-door".into(),
        "--client-id".into(),
        "sdk-viewer-1".into(),
        "--access-key-id".into(),
        credentials.access_key_id.clone(),
        "--secret-access-key".into(),
        credentials.secret_access_key.clone(),
    ];
    args.extend(extra.iter().map(|a| a.to_string()));
    let started = Instant::now();
    let output = node(args).await;
    print(&output);
    println!("sdk viewer test took {:?}", started.elapsed());
    assert!(
        output.status.success(),
        "the official-SDK viewer page did not play the master's video"
    );
    master.finish("sdk-viewer-1").await;
    // The page's own calls, as AWS's test page makes them: one viewer, ICE servers asked once.
    assert_eq!(local.server().calls("ConnectAsViewer"), 1);
    assert_eq!(local.server().calls("GetIceServerConfig"), 1);
    String::from_utf8_lossy(&output.stdout).into_owned()
}
