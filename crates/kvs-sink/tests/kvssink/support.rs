use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use gstreamer as gst;
use gstreamer::prelude::*;
use kvs_endpoint::{EndpointResolver, KvsConfig};
use kvs_media::{FragmentInfo, MediaClient, MediaFragment, StartSelector};
use kvs_types::StreamRef;

/// Initialises GStreamer and registers the plugin statically, once.
pub(crate) fn init() {
    static INIT: OnceLock<()> = OnceLock::new();
    INIT.get_or_init(|| {
        kvs_testkit::init();
        gstkvssink::plugin_register_static().unwrap();
    });
}

/// A kvs-local on 127.0.0.1 with its own runtime and data directory.
pub(crate) struct Local {
    rt: tokio::runtime::Runtime,
    server: Option<kvs_local::Server>,
    _dir: tempfile::TempDir,
}

impl Local {
    pub(crate) fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let server = rt
            .block_on(kvs_local::Server::start(kvs_local::Config::new(dir.path())))
            .unwrap();
        Self {
            rt,
            server: Some(server),
            _dir: dir,
        }
    }

    pub(crate) fn url(&self) -> String {
        self.server.as_ref().unwrap().url().to_owned()
    }

    /// The kvssink properties that point at this server, as the seed scripts would.
    pub(crate) fn sink_properties(&self) -> String {
        format!(
            "endpoint-url={} access-key={} secret-key={} aws-region=us-east-1",
            self.url(),
            kvs_local::Credentials::DEFAULT_ACCESS_KEY_ID,
            kvs_local::Credentials::DEFAULT_SECRET_ACCESS_KEY
        )
    }

    fn client(&self) -> MediaClient {
        let config = self.rt.block_on(KvsConfig::for_endpoint(
            &self.url(),
            "us-east-1",
            kvs_local::Credentials::DEFAULT_ACCESS_KEY_ID,
            kvs_local::Credentials::DEFAULT_SECRET_ACCESS_KEY,
        ));
        MediaClient::new(&config, Arc::new(EndpointResolver::new(&config)))
    }

    /// Every fragment of `stream` through GetMedia from the earliest.
    pub(crate) fn get_media(&self, stream: &str) -> Vec<MediaFragment> {
        let client = self.client();
        let stream = StreamRef::parse(stream).unwrap();
        self.rt.block_on(async {
            tokio::time::timeout(Duration::from_secs(20), async {
                let mut reader = client
                    .get_media(&stream, &StartSelector::Earliest)
                    .await
                    .unwrap();
                let mut out = Vec::new();
                while let Some(f) = reader.next_fragment().await.unwrap() {
                    out.push(f);
                }
                out
            })
            .await
            .expect("GetMedia ends once the producer is gone")
        })
    }

    /// ListFragments of `stream`.
    pub(crate) fn list_fragments(&self, stream: &str) -> Vec<FragmentInfo> {
        let client = self.client();
        let stream = StreamRef::parse(stream).unwrap();
        self.rt
            .block_on(client.list_fragments(&stream, None))
            .unwrap()
    }
}

impl Drop for Local {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            self.rt.block_on(server.shutdown());
        }
    }
}

/// A pipeline set to NULL when dropped, whatever the test's outcome.
pub(crate) struct Pipeline(pub(crate) gst::Pipeline);

impl Pipeline {
    pub(crate) fn launch(description: &str) -> Self {
        init();
        let element = gst::parse::launch(description)
            .unwrap_or_else(|e| panic!("cannot parse {description}: {e}"));
        Self(element.downcast::<gst::Pipeline>().unwrap())
    }

    pub(crate) fn sink(&self) -> gst::Element {
        self.0.by_name("sink").unwrap()
    }

    /// Waits for EOS on the bus; panics on an error message or after `timeout`.
    pub(crate) fn wait_eos(&self, timeout: Duration) {
        let bus = self.0.bus().unwrap();
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "no EOS within {timeout:?}");
            let Some(msg) = bus.timed_pop_filtered(
                gst::ClockTime::from_nseconds(left.as_nanos() as u64),
                &[gst::MessageType::Eos, gst::MessageType::Error],
            ) else {
                continue;
            };
            match msg.view() {
                gst::MessageView::Eos(_) => return,
                gst::MessageView::Error(e) => panic!(
                    "error from {:?}: {} ({:?})",
                    e.src().map(|s| s.path_string()),
                    e.error(),
                    e.debug()
                ),
                _ => {}
            }
        }
    }

    /// The first error message on the bus (within 10 s).
    pub(crate) fn error_message(&self) -> String {
        let bus = self.0.bus().unwrap();
        let msg = bus
            .timed_pop_filtered(gst::ClockTime::from_seconds(10), &[gst::MessageType::Error])
            .expect("an error message on the bus");
        match msg.view() {
            gst::MessageView::Error(e) => format!("{} ({:?})", e.error(), e.debug()),
            _ => unreachable!(),
        }
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        let _ = self.0.set_state(gst::State::Null);
    }
}

/// A stream name unique to a test.
pub(crate) fn stream_name(test: &str) -> String {
    format!("kvssink-{test}-{}", std::process::id())
}
