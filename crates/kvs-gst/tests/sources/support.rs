use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;
use std::thread::JoinHandle;

use gstreamer as gst;
use gstreamer_rtsp_server as rtsp_server;
use gstreamer_rtsp_server::glib;
use gstreamer_rtsp_server::prelude::*;
use kvs_gst::MediaSource;
use kvs_mkv::Frame;

pub(crate) fn init() {
    static INIT: OnceLock<()> = OnceLock::new();
    INIT.get_or_init(|| gst::init().unwrap());
}

/// The AAC encoder this machine has.
pub(crate) fn aac_encoder() -> &'static str {
    init();
    ["avenc_aac", "voaacenc"]
        .into_iter()
        .find(|f| gst::ElementFactory::find(f).is_some())
        .expect("an AAC encoder (gstreamer1.0-libav or gstreamer1.0-plugins-bad)")
}

/// Runs `gst-launch-1.0 -q` with a pipeline description (no quoting: keep paths plain).
pub(crate) fn gst_launch(description: &str) {
    let status = Command::new("gst-launch-1.0")
        .arg("-q")
        .args(description.split_whitespace())
        .status()
        .expect("gst-launch-1.0 (gstreamer1.0-tools) is installed");
    assert!(status.success(), "gst-launch-1.0 {description} failed");
}

/// A 4 s 320x240 30 fps H.264 (key frame every 30) + 44.1 kHz stereo AAC Matroska file.
pub(crate) fn make_mkv(path: &Path) {
    let aac = aac_encoder();
    gst_launch(&format!(
        "videotestsrc num-buffers=120 ! video/x-raw,format=I420,framerate=30/1,width=320,height=240 \
         ! x264enc key-int-max=30 tune=zerolatency ! h264parse ! queue ! matroskamux name=m \
         ! filesink location={} \
         audiotestsrc num-buffers=172 ! audio/x-raw,rate=44100,channels=2 ! audioconvert \
         ! {aac} ! aacparse ! queue ! m.",
        path.display()
    ));
}

/// A 2 s 320x240 30 fps H.264 (key frame every 30) MP4 file without audio.
pub(crate) fn make_mp4(path: &Path) {
    gst_launch(&format!(
        "videotestsrc num-buffers=60 ! video/x-raw,format=I420,framerate=30/1,width=320,height=240 \
         ! x264enc key-int-max=30 tune=zerolatency ! h264parse ! mp4mux ! filesink location={}",
        path.display()
    ));
}

/// A 2 s Matroska file with AAC audio only.
pub(crate) fn make_audio_only_mkv(path: &Path) {
    let aac = aac_encoder();
    gst_launch(&format!(
        "audiotestsrc num-buffers=86 ! audio/x-raw,rate=44100,channels=2 ! audioconvert ! {aac} \
         ! aacparse ! matroskamux ! filesink location={}",
        path.display()
    ));
}

/// Reads every frame to the end of the stream.
pub(crate) fn read_all(source: &mut MediaSource) -> Vec<Frame> {
    let mut frames = Vec::new();
    while let Some(frame) = source.next_frame().unwrap() {
        frames.push(frame);
    }
    frames
}

/// Asserts timestamps never go back, per track and in the merged order, and that the stream
/// starts with a video key frame at 0.
pub(crate) fn assert_ordered(frames: &[Frame]) {
    let first = frames.first().expect("at least one frame");
    assert_eq!((first.track, first.key, first.timestamp_ns), (1, true, 0));
    for pair in frames.windows(2) {
        assert!(
            pair[1].timestamp_ns >= pair[0].timestamp_ns,
            "merged order goes back: {} then {}",
            describe(&pair[0]),
            describe(&pair[1])
        );
    }
    for track in [1, 2] {
        let times: Vec<u64> = frames
            .iter()
            .filter(|f| f.track == track)
            .map(|f| f.timestamp_ns)
            .collect();
        assert!(
            times.windows(2).all(|w| w[1] >= w[0]),
            "track {track} goes back"
        );
    }
}

fn describe(frame: &Frame) -> String {
    format!("track {} at {} ns", frame.track, frame.timestamp_ns)
}

/// Asserts `data` is AVC: 4-byte big-endian lengths that exactly tile the access unit.
pub(crate) fn assert_avc(data: &[u8]) {
    let mut rest = data;
    let mut units = 0;
    while !rest.is_empty() {
        assert!(rest.len() > 4, "truncated NAL length");
        let len = u32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
        assert!(
            len > 0 && len <= rest.len() - 4,
            "NAL length {len} overruns the frame"
        );
        rest = &rest[4 + len..];
        units += 1;
    }
    assert!(units > 0);
}

pub(crate) fn count(frames: &[Frame], track: u64) -> usize {
    frames.iter().filter(|f| f.track == track).count()
}

pub(crate) fn key_count(frames: &[Frame], track: u64) -> usize {
    frames.iter().filter(|f| f.track == track && f.key).count()
}

/// An RTSP server on 127.0.0.1 (a free port) serving `launch` at `/test`, run on its own
/// thread until dropped.
pub(crate) struct RtspServer {
    port: u16,
    main_loop: glib::MainLoop,
    context: glib::MainContext,
    source: Option<glib::SourceId>,
    thread: Option<JoinHandle<()>>,
    _server: rtsp_server::RTSPServer,
}

impl RtspServer {
    pub(crate) fn start(launch: &str) -> Self {
        init();
        let server = rtsp_server::RTSPServer::new();
        server.set_address("127.0.0.1");
        server.set_service("0");
        let factory = rtsp_server::RTSPMediaFactory::new();
        factory.set_launch(launch);
        factory.set_shared(true);
        server.mount_points().unwrap().add_factory("/test", factory);
        let context = glib::MainContext::new();
        let source = server.attach(Some(&context)).unwrap();
        let port = u16::try_from(server.bound_port()).unwrap();
        let main_loop = glib::MainLoop::new(Some(&context), false);
        let thread = std::thread::spawn({
            let main_loop = main_loop.clone();
            move || main_loop.run()
        });
        Self {
            port,
            context,
            main_loop,
            source: Some(source),
            thread: Some(thread),
            _server: server,
        }
    }

    pub(crate) fn url(&self) -> String {
        format!("rtsp://127.0.0.1:{}/test", self.port)
    }
}

impl Drop for RtspServer {
    fn drop(&mut self) {
        // The server's listening source lives in our own context, not the default one.
        if let Some(source) = self
            .source
            .take()
            .and_then(|id| self.context.find_source_by_id(&id))
        {
            source.destroy();
        }
        self.main_loop.quit();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
