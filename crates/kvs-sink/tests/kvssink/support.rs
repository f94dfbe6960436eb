use std::sync::OnceLock;
use std::time::{Duration, Instant};

use gstreamer as gst;
use gstreamer::prelude::*;
use kvs_media::{FragmentInfo, MediaClient, MediaFragment, StartSelector};
use kvs_testkit::LocalKvs;
use kvs_types::StreamRef;

/// Initialises GStreamer and registers the plugin statically, once.
pub(crate) fn init() {
    static INIT: OnceLock<()> = OnceLock::new();
    INIT.get_or_init(|| {
        kvs_testkit::init();
        gstkvssink::plugin_register_static().unwrap();
    });
}

/// A kvs-local (the shared fixture, on a runtime of its own) for these synchronous tests,
/// with the sink's view of it.
pub(crate) struct Local(LocalKvs);

impl Local {
    pub(crate) fn start() -> Self {
        Self(LocalKvs::builder().start_blocking())
    }

    /// The kvssink properties that point at this server, as the seed scripts would.
    pub(crate) fn sink_properties(&self) -> String {
        let credentials = self.0.credentials();
        format!(
            "endpoint-url={} access-key={} secret-key={} aws-region={}",
            self.0.url(),
            credentials.access_key_id,
            credentials.secret_access_key,
            self.0.region()
        )
    }

    /// Every fragment of `stream` through GetMedia from the earliest.
    pub(crate) fn get_media(&self, stream: &str) -> Vec<MediaFragment> {
        let client = MediaClient::new(self.0.config());
        let stream = StreamRef::parse(stream).unwrap();
        self.0.block_on(async {
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
        let client = MediaClient::new(self.0.config());
        let stream = StreamRef::parse(stream).unwrap();
        self.0
            .block_on(client.list_fragments(&stream, None))
            .unwrap()
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
