//! Media made with GStreamer: `gst-launch-1.0` pipelines, a Matroska test file, and an RTSP
//! server on loopback (feature `gst`).

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;
use std::thread::JoinHandle;

use gstreamer as gst;
use gstreamer_rtsp_server as rtsp_server;
use gstreamer_rtsp_server::glib;
use gstreamer_rtsp_server::prelude::*;

/// Initialises GStreamer once.
pub fn init() {
    static INIT: OnceLock<()> = OnceLock::new();
    INIT.get_or_init(|| gst::init().expect("GStreamer initialises"));
}

/// The AAC encoder this machine has.
pub fn aac_encoder() -> &'static str {
    init();
    ["avenc_aac", "voaacenc"]
        .into_iter()
        .find(|f| gst::ElementFactory::find(f).is_some())
        .expect("an AAC encoder (gstreamer1.0-libav or gstreamer1.0-plugins-bad); run scripts/install-deps")
}

/// Runs `gst-launch-1.0 -q` with a pipeline description (no quoting: keep paths plain).
pub fn gst_launch(description: &str) {
    let status = Command::new("gst-launch-1.0")
        .arg("-q")
        .args(description.split_whitespace())
        .status()
        .expect("gst-launch-1.0 (gstreamer1.0-tools) is installed; run scripts/install-deps");
    assert!(status.success(), "gst-launch-1.0 {description} failed");
}

/// A `seconds` long 320x240 30 fps H.264 (key frame every second) + 44.1 kHz stereo AAC
/// Matroska file.
pub fn make_mkv(path: &Path, seconds: u32) {
    let aac = aac_encoder();
    gst_launch(&format!(
        "videotestsrc num-buffers={} ! video/x-raw,format=I420,framerate=30/1,width=320,height=240 \
         ! x264enc key-int-max=30 tune=zerolatency ! h264parse ! queue ! matroskamux name=m \
         ! filesink location={} \
         audiotestsrc num-buffers={} ! audio/x-raw,rate=44100,channels=2 ! audioconvert \
         ! {aac} ! aacparse ! queue ! m.",
        seconds * 30,
        path.display(),
        seconds * 43
    ));
}

/// An RTSP server on 127.0.0.1 (a free port) serving `launch` at `/test`, run on its own
/// thread until dropped.
pub struct RtspServer {
    port: u16,
    main_loop: glib::MainLoop,
    context: glib::MainContext,
    source: Option<glib::SourceId>,
    thread: Option<JoinHandle<()>>,
    _server: rtsp_server::RTSPServer,
}

impl RtspServer {
    /// Serves the GStreamer launch line `launch` (payloaders named pay0, pay1, ...).
    pub fn start(launch: &str) -> Self {
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

    /// A live 320x240 15 fps H.264 test stream.
    pub fn test_pattern() -> Self {
        Self::start(
            "( videotestsrc is-live=true ! video/x-raw,width=320,height=240,framerate=15/1 \
             ! x264enc tune=zerolatency key-int-max=15 ! rtph264pay name=pay0 pt=96 )",
        )
    }

    /// The stream's URL.
    pub fn url(&self) -> String {
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

/// A 30 fps H.264 Matroska file (a key frame a second) of `frames` frames showing the JPEG
/// `photo` scaled to `size`, for face search.
pub fn video_of_photo(photo: &Path, size: (u32, u32), frames: u64, path: &Path) {
    gst_launch(&format!(
        "filesrc location={} ! jpegdec ! videoconvert ! videoscale \
         ! video/x-raw,width={},height={},pixel-aspect-ratio=1/1 ! imagefreeze num-buffers={frames} \
         ! video/x-raw,framerate=30/1 ! videoconvert ! video/x-raw,format=I420 \
         ! x264enc key-int-max=30 tune=zerolatency ! h264parse ! matroskamux \
         ! filesink location={}",
        photo.display(),
        size.0,
        size.1,
        path.display()
    ));
}
