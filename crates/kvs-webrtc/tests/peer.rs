//! Master and viewers in one process, their signaling moved by a tiny in-test relay: video
//! recorded and decoded, several viewers with one leaving, data channels both ways.
#![allow(clippy::unwrap_used)]
#![cfg(feature = "gst")]

use std::collections::HashMap;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kvs_gst::{Source, TestPattern};
use kvs_mkv::{Frame, TrackInfo};
use kvs_webrtc::peer::{
    GstSource, IceConfig, IceServer, Master, MasterConfig, MasterEvent, Viewer, ViewerConfig,
    ViewerEvent, ViewerOutput,
};
use kvs_webrtc::signaling::{ClientId, Incoming, Outgoing, Signal};
use tokio::sync::mpsc;
use tokio::time::timeout;

/// Generous bound against hangs, never a performance assertion.
const PATIENCE: Duration = Duration::from_secs(30);

/// Moves signaling messages as KVS would: a viewer's to the master with the viewer as sender,
/// the master's to the viewer named as recipient, without a sender.
struct Relay {
    master: Arc<Master>,
    master_events: mpsc::Receiver<MasterEvent>,
    to_master: mpsc::Sender<Incoming>,
    to_viewers: Arc<Mutex<HashMap<ClientId, mpsc::Sender<Incoming>>>>,
    ice: IceConfig,
}

impl Relay {
    fn start(tracks: &[TrackInfo]) -> Self {
        Self::with_ice(tracks, IceConfig::loopback())
    }

    fn with_ice(tracks: &[TrackInfo], ice: IceConfig) -> Self {
        let (master_out, mut master_out_rx) = mpsc::channel::<Outgoing>(256);
        let mut config = MasterConfig::default();
        config.ice = ice.clone();
        // A viewer that closes is noticed about 5 s later (ICE consent), then dropped.
        config.disconnected_timeout = Duration::from_millis(500);
        let (master, master_events) = Master::new(config, tracks, master_out).unwrap();
        let master = Arc::new(master);
        let to_viewers: Arc<Mutex<HashMap<ClientId, mpsc::Sender<Incoming>>>> = Arc::default();

        let routes = Arc::clone(&to_viewers);
        tokio::spawn(async move {
            while let Some(message) = master_out_rx.recv().await {
                let recipient = message.recipient.expect("the master names every recipient");
                let route = routes.lock().unwrap().get(&recipient).cloned();
                if let Some(route) = route {
                    let _ = route
                        .send(Incoming::Signal {
                            sender: None,
                            signal: message.signal,
                        })
                        .await;
                }
            }
        });
        let (to_master, mut master_in) = mpsc::channel::<Incoming>(256);
        let handler = Arc::clone(&master);
        tokio::spawn(async move {
            while let Some(message) = master_in.recv().await {
                handler.handle(message).await.unwrap();
            }
        });
        Self {
            master,
            master_events,
            to_master,
            to_viewers,
            ice,
        }
    }

    async fn viewer(&self, name: &str) -> (ClientId, Arc<Viewer>, ViewerOutput) {
        let id = ClientId::new(name).unwrap();
        let (viewer_in, mut viewer_in_rx) = mpsc::channel::<Incoming>(256);
        self.to_viewers
            .lock()
            .unwrap()
            .insert(id.clone(), viewer_in);
        let (viewer_out, mut viewer_out_rx) = mpsc::channel::<Outgoing>(256);
        let mut config = ViewerConfig::default();
        config.ice = self.ice.clone();
        let (viewer, output) = Viewer::connect(config, viewer_out).await.unwrap();
        let viewer = Arc::new(viewer);

        let (to_master, sender) = (self.to_master.clone(), id.clone());
        tokio::spawn(async move {
            while let Some(message) = viewer_out_rx.recv().await {
                let incoming = Incoming::Signal {
                    sender: Some(sender.clone()),
                    signal: message.signal,
                };
                if to_master.send(incoming).await.is_err() {
                    break;
                }
            }
        });
        let handler = Arc::clone(&viewer);
        tokio::spawn(async move {
            while let Some(message) = viewer_in_rx.recv().await {
                handler.handle(message).await.unwrap();
            }
        });
        (id, viewer, output)
    }

    async fn master_event(&mut self, wanted: impl Fn(&MasterEvent) -> bool) -> MasterEvent {
        timeout(PATIENCE, async {
            loop {
                let event = self.master_events.recv().await.unwrap();
                if wanted(&event) {
                    return event;
                }
            }
        })
        .await
        .unwrap()
    }
}

fn packet_times(path: &std::path::Path) -> Vec<f64> {
    stream_packet_times(path, "v")
}

/// The packet times of the streams `select` (`v`, `a`) ffprobe reads in `path`, in seconds.
fn stream_packet_times(path: &std::path::Path, select: &str) -> Vec<f64> {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            select,
            "-show_entries",
            "packet=pts_time",
        ])
        .args(["-of", "csv=p=0"])
        .arg(path)
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

async fn test_pattern() -> GstSource {
    test_pattern_with(false).await
}

/// Records five seconds of what `viewer` receives into `path`.
async fn record_five_seconds(
    viewer: &Viewer,
    output: &mut ViewerOutput,
    path: &std::path::Path,
) -> kvs_webrtc::peer::RecordSummary {
    timeout(
        PATIENCE,
        kvs_webrtc::peer::record(viewer, &mut output.frames, path, Duration::from_secs(5)),
    )
    .await
    .unwrap()
    .unwrap()
}

/// A 320x240 test pattern, with its tone (Opus) when `audio`.
async fn test_pattern_with(audio: bool) -> GstSource {
    GstSource::open(Source::TestPattern(TestPattern {
        width: 320,
        height: 240,
        bitrate_kbps: 500,
        audio,
        ..TestPattern::default()
    }))
    .await
    .unwrap()
}

async fn frames(output: &mut ViewerOutput, n: usize) -> Vec<Frame> {
    let mut got = Vec::with_capacity(n);
    while got.len() < n {
        got.push(
            timeout(PATIENCE, output.frames.recv())
                .await
                .unwrap()
                .unwrap(),
        );
    }
    got
}

async fn viewer_event(
    output: &mut ViewerOutput,
    wanted: impl Fn(&ViewerEvent) -> bool,
) -> ViewerEvent {
    timeout(PATIENCE, async {
        loop {
            let event = output.events.recv().await.unwrap();
            if wanted(&event) {
                return event;
            }
        }
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_records_video_that_gstreamer_decodes() {
    let source = test_pattern().await;
    let relay = Relay::start(source.tracks());
    let feeding = source.start(relay.master.frame_sink());
    let (id, viewer, mut output) = relay.viewer("viewer-record").await;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("viewer.mkv");
    let summary = record_five_seconds(&viewer, &mut output, &path).await;
    assert!(summary.duration >= Duration::from_secs(5), "{summary:?}");

    let stats = viewer.stats().await;
    println!("viewer: {stats:?}");
    assert!(stats.connected);
    assert!(stats.time_to_first_frame.is_some(), "{stats:?}");
    assert!(stats.frames as u64 >= summary.frames);
    let info = viewer.track_info().unwrap();
    assert_eq!(info.codec_id, TrackInfo::H264);
    assert_eq!(
        info.kind,
        kvs_mkv::TrackKind::Video {
            width: 320,
            height: 240
        }
    );
    let sent = relay.master.stats(&id).await.unwrap();
    println!("master to viewer: {sent:?}");
    assert!(sent.time_to_first_frame.is_some());

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
    assert!(
        status.success(),
        "GStreamer could not decode {}",
        path.display()
    );
    let probe = kvs_testkit::ffprobe(&path);
    let stream = &probe["streams"][0];
    assert_eq!(stream["codec_name"], "h264");
    let decoded: u64 = stream["nb_read_frames"].as_str().unwrap().parse().unwrap();
    assert_eq!(decoded, summary.frames, "{probe}");
    // A live recording has no Duration element: the span is read from the packets.
    let times = packet_times(&path);
    let span = times.iter().fold(0.0, |a: f64, b| a.max(*b))
        - times.iter().fold(f64::MAX, |a, b| a.min(*b));
    assert!(span >= 5.0, "{span} s of video");

    viewer.close().await;
    relay.master.close().await;
    assert!(feeding.await.unwrap().unwrap() > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_records_opus_audio_in_sync_with_the_video() {
    let source = test_pattern_with(true).await;
    assert_eq!(
        source.tracks()[1].codec_id,
        TrackInfo::OPUS,
        "AAC is transcoded"
    );
    let relay = Relay::start(source.tracks());
    let _feeding = source.start(relay.master.frame_sink());
    let (_, viewer, mut output) = relay.viewer("viewer-audio").await;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audio.mkv");
    let summary = record_five_seconds(&viewer, &mut output, &path).await;
    let tracks = viewer.tracks();
    let codecs: Vec<&str> = tracks.iter().map(|t| t.codec_id.as_str()).collect();
    assert_eq!(codecs, [TrackInfo::H264, TrackInfo::OPUS]);

    // ffmpeg decodes both tracks.
    let probe = kvs_testkit::ffprobe(&path);
    let streams = probe["streams"].as_array().unwrap();
    let names: Vec<&str> = streams
        .iter()
        .map(|s| s["codec_name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["h264", "opus"], "{probe}");
    let audio_frames: u64 = streams[1]["nb_read_frames"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let video = stream_packet_times(&path, "v");
    let audio = stream_packet_times(&path, "a");
    assert_eq!(audio.len() as u64, audio_frames);
    let span = |t: &[f64]| {
        (
            t.iter().fold(f64::MAX, |a, b| a.min(*b)),
            t.iter().fold(0.0, |a: f64, b| a.max(*b)),
        )
    };
    let ((v0, v1), (a0, a1)) = (span(&video), span(&audio));
    println!("video {v0:.3}-{v1:.3} s, audio {a0:.3}-{a1:.3} s, {summary:?}");
    // 20 ms Opus packets: about 50 a second over the recording.
    assert!(
        audio.len() as f64 >= 45.0 * (a1 - a0),
        "{} audio packets in {:.1} s",
        audio.len(),
        a1 - a0
    );
    // The tracks start and end together: the A/V offset is under 100 ms.
    assert!(
        (a0 - v0).abs() < 0.1,
        "audio starts at {a0} s, video at {v0} s"
    );
    assert!(
        (a1 - v1).abs() < 0.1,
        "audio ends at {a1} s, video at {v1} s"
    );

    viewer.close().await;
    relay.master.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_viewer_leaving_does_not_disturb_the_others() {
    let source = test_pattern().await;
    let mut relay = Relay::start(source.tracks());
    let _feeding = source.start(relay.master.frame_sink());
    let mut viewers = Vec::new();
    for name in ["viewer-1", "viewer-2", "viewer-3"] {
        viewers.push(relay.viewer(name).await);
    }
    for (_, _, output) in &mut viewers {
        let first = frames(output, 10).await;
        assert!(first[0].key, "every viewer starts on a key frame");
    }
    assert_eq!(relay.master.viewers().len(), 3);

    let (leaving, viewer, _) = viewers.remove(1);
    viewer.close().await;
    drop(viewer);
    relay
        .master_event(|e| *e == MasterEvent::ViewerLeft(leaving.clone()))
        .await;
    assert_eq!(relay.master.viewers().len(), 2);

    for (id, viewer, output) in &mut viewers {
        // Drain what was queued before the departure, then see new frames arrive.
        while output.frames.try_recv().is_ok() {}
        let later = frames(output, 30).await;
        assert!(
            later
                .windows(2)
                .all(|w| w[0].timestamp_ns < w[1].timestamp_ns)
        );
        let stats = viewer.stats().await;
        assert!(stats.connected, "{id}: {stats:?}");
    }
    relay.master.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_channel_messages_go_both_ways() {
    let avcc = kvs_mkv::codec::avcc_from_parameter_sets(
        &[&[0x67, 0x42, 0xc0, 0x15, 0xd9, 0x01, 0x41, 0xfb]],
        &[&[0x68, 0xcb, 0x83, 0xcb, 0x20]],
    )
    .unwrap();
    let mut relay = Relay::start(&[TrackInfo::h264(1, 320, 240, avcc)]);
    let (id, viewer, mut output) = relay.viewer("viewer-data").await;

    viewer_event(&mut output, |e| *e == ViewerEvent::DataChannelOpen).await;
    relay
        .master_event(|e| *e == MasterEvent::DataChannelOpen(id.clone()))
        .await;

    viewer.send_text("hello master").await.unwrap();
    let MasterEvent::Data {
        viewer: from,
        message,
    } = relay
        .master_event(|e| matches!(e, MasterEvent::Data { .. }))
        .await
    else {
        unreachable!()
    };
    assert_eq!((from, message.text()), (id.clone(), Some("hello master")));
    assert!(message.is_text);

    relay.master.send_data(&id, &[1, 2, 3]).await.unwrap();
    let ViewerEvent::Data(message) =
        viewer_event(&mut output, |e| matches!(e, ViewerEvent::Data(_))).await
    else {
        unreachable!()
    };
    assert_eq!(&message.data[..], &[1, 2, 3]);
    assert!(!message.is_text);

    viewer.close().await;
    relay.master.close().await;
}

/// A TURN server on 127.0.0.1 that knows one user.
async fn turn_server(username: &str, password: &str) -> (turn::server::Server, IceServer) {
    struct OneUser(String, String);
    impl turn::auth::AuthHandler for OneUser {
        fn auth_handle(
            &self,
            username: &str,
            realm: &str,
            _: std::net::SocketAddr,
        ) -> Result<Vec<u8>, turn::Error> {
            if username != self.0 {
                return Err(turn::Error::Other(format!("no user {username}")));
            }
            Ok(turn::auth::generate_auth_key(username, realm, &self.1))
        }
    }
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    let server = turn::server::Server::new(turn::server::config::ServerConfig {
        conn_configs: vec![turn::server::config::ConnConfig {
            conn: Arc::new(socket),
            relay_addr_generator: Box::new(
                turn::relay::relay_static::RelayAddressGeneratorStatic {
                    relay_address: addr.ip(),
                    address: addr.ip().to_string(),
                    net: Arc::new(webrtc_util::vnet::net::Net::new(None)),
                },
            ),
        }],
        realm: "test".to_owned(),
        auth_handler: Arc::new(OneUser(username.to_owned(), password.to_owned())),
        channel_bind_timeout: Duration::from_secs(0),
        alloc_close_notify: None,
    })
    .await
    .unwrap();
    let ice_server = IceServer {
        urls: vec![format!("turn:{addr}?transport=udp")],
        username: username.to_owned(),
        credential: password.to_owned(),
    };
    (server, ice_server)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_only_peers_connect_through_turn() {
    let (turn, server) = turn_server("kvs", "secret").await;
    let mut ice = IceConfig::loopback();
    ice.servers = vec![server];
    ice.relay_only = true;
    let source = test_pattern().await;
    let relay = Relay::with_ice(source.tracks(), ice);
    let _feeding = source.start(relay.master.frame_sink());
    let (id, viewer, mut output) = relay.viewer("viewer-relayed").await;

    let received = frames(&mut output, 30).await;
    assert!(received[0].key);
    let stats = viewer.stats().await;
    println!("relayed viewer: {stats:?}");
    assert_eq!(
        stats.local_candidate_type.as_deref(),
        Some("relay"),
        "{stats:?}"
    );
    let sent = relay.master.stats(&id).await.unwrap();
    assert_eq!(
        sent.local_candidate_type.as_deref(),
        Some("relay"),
        "{sent:?}"
    );

    viewer.close().await;
    relay.master.close().await;
    turn.close().await.unwrap();
}

/// Waits for a key frame the source made (a frame interval after its predecessor, where the
/// frames of a start-up burst are a millisecond apart); returns its timestamp.
async fn next_source_key_frame(output: &mut ViewerOutput) -> u64 {
    let mut previous = frames(output, 1).await[0].timestamp_ns;
    loop {
        let frame = frames(output, 1).await.remove(0);
        let gap = frame.timestamp_ns - previous;
        previous = frame.timestamp_ns;
        if frame.key && gap > 20_000_000 {
            return previous;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_frame_request_makes_the_encoder_send_one() {
    let source = test_pattern().await;
    let relay = Relay::start(source.tracks());
    let _feeding = source.start(relay.master.frame_sink());
    let (_, viewer, mut output) = relay.viewer("viewer-pli").await;

    let mut previous = next_source_key_frame(&mut output).await;
    viewer.request_key_frame().await.unwrap();
    // The test pattern's GOP is 60 frames; the encoder's answer comes long before that, in
    // real time (frames a frame interval apart), not as a repeat.
    for n in 1.. {
        let frame = frames(&mut output, 1).await.remove(0);
        let gap = frame.timestamp_ns - previous;
        previous = frame.timestamp_ns;
        assert!(
            gap > 20_000_000,
            "frames keep their real-time spacing: {gap} ns"
        );
        if frame.key {
            assert!(n < 30, "the key frame came {n} frames after the request");
            break;
        }
    }
    viewer.close().await;
    relay.master.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_passed_through_source_answers_a_key_frame_request_with_its_gop() {
    // Frames pushed by hand, as from a file or an RTSP camera: nobody listens for key frame
    // requests, so the master repeats the current GOP.
    let mut source = tokio::task::spawn_blocking(|| {
        kvs_gst::MediaSource::open(
            &Source::TestPattern(TestPattern {
                width: 320,
                height: 240,
                bitrate_kbps: 500,
                ..TestPattern::default()
            }),
            kvs_gst::SourceOptions::default(),
        )
        .unwrap()
    })
    .await
    .unwrap();
    let relay = Relay::start(source.tracks());
    let sink = relay.master.frame_sink();
    let _feeding = tokio::task::spawn_blocking(move || {
        while let Ok(Some(frame)) = source.next_frame() {
            if sink.send(frame).is_err() {
                return;
            }
        }
    });
    let (_, viewer, mut output) = relay.viewer("viewer-pli-file").await;

    let mut previous = next_source_key_frame(&mut output).await;
    viewer.request_key_frame().await.unwrap();
    loop {
        let frame = frames(&mut output, 1).await.remove(0);
        assert!(frame.timestamp_ns > previous, "time never goes back");
        let gap = frame.timestamp_ns - previous;
        previous = frame.timestamp_ns;
        if frame.key {
            assert!(
                gap < 20_000_000,
                "the answer is the GOP again, sent ahead of real time: {gap} ns"
            );
            break;
        }
    }
    // And the stream goes on from there.
    let after = frames(&mut output, 10).await;
    assert!(after[0].timestamp_ns > previous);
    viewer.close().await;
    relay.master.close().await;
}

/// Browsers say so, and AWS's C master waits for its whole candidate gathering (10 s) before
/// answering an offer that does not.
#[tokio::test]
async fn the_viewers_offer_says_candidates_are_trickled() {
    let (out, mut sent) = mpsc::channel::<Outgoing>(64);
    let mut config = ViewerConfig::default();
    config.ice = IceConfig::loopback();
    let (_viewer, _output) = Viewer::connect(config, out).await.unwrap();
    let first = tokio::time::timeout(Duration::from_secs(10), sent.recv())
        .await
        .unwrap()
        .unwrap();
    let Signal::Offer(sdp) = first.signal else {
        panic!("the viewer's first message is not its offer: {first:?}")
    };
    let session = sdp.split("\r\nm=").next().unwrap();
    assert!(session.contains("a=ice-options:trickle"), "{sdp}");
    // Retransmissions on their own SSRC (RFC 4588), for each H.264 payload type.
    assert!(sdp.contains("rtx/90000") && sdp.contains("apt=96"), "{sdp}");
}
