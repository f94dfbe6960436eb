//! The `kvssink` implementation.
//!
//! A plain `gst::Element` with request sink pads and the SINK flag, like the C++ element (which
//! uses GstCollectPads), rather than a `gst_base::Aggregator`: an aggregator always has a source
//! pad, which a sink must not have, and its live timeout would cut fragments on its own clock
//! instead of on the streams' timestamps.
//!
//! Each pad holds at most one pending buffer. When every linked pad has one pending (or is at
//! EOS), the earliest is pushed to the producer, so frames of all tracks reach it in timestamp
//! order; a pad whose buffer is pending waits (back-pressure per pad). Pushing blocks the
//! streaming thread while the producer's store is full under `streaming-type=offline`.
//!
//! Lifecycle: NULL->READY validates the properties; READY->PAUSED builds the AWS configuration
//! and makes sure the stream exists (created with `retention-period`, `content-type` and
//! `stream-tags` when `allow-create-stream`); the first frame (when every pad has caps) starts
//! the producer with one track per pad; EOS on every pad finishes it (waiting at most
//! `stop-stream-timeout` for the last PERSISTED acknowledgement) and posts EOS.

use std::sync::{Arc, Condvar, LazyLock, Mutex, MutexGuard, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use gstreamer as gst;
use gstreamer::glib;
use gstreamer::prelude::*;
use gstreamer::subclass::prelude::*;
use kvs_control::{ControlPlane, StreamSpec};
use kvs_endpoint::{KvsConfig, LoadOptions, StaticKeys};
use kvs_media::{AckEventType, Producer, ProducerError, ProducerEvent, ProducerStats, TryPush};
use kvs_mkv::{Frame, TrackInfo};
use kvs_types::StreamRef;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::StreamingType;
use super::settings::{self, Plan, Settings};
use crate::runtime::{self, RunError};
use crate::tracks::{self, AUDIO_TRACK, VIDEO_TRACK};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "kvssink",
        gst::DebugColorFlags::empty(),
        Some("Kinesis Video Streams sink"),
    )
});

/// How long READY->PAUSED may take to load credentials and find or create the stream.
const PREPARE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long PAUSED->READY without EOS waits for unacknowledged fragments.
const STOP_FLUSH_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the event task may take to deliver the last signals after the producer finished.
const EVENT_DRAIN_TIMEOUT: Duration = Duration::from_secs(2);

/// What READY->PAUSED prepared.
struct Session {
    plan: Plan,
    config: KvsConfig,
}

#[derive(Default)]
enum State {
    /// NULL or READY: properties may change.
    #[default]
    Stopped,
    /// The stream exists (READY->PAUSED and later): properties are fixed.
    Started { session: Arc<Session> },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Video,
    Audio,
}

impl Kind {
    fn track(self) -> u64 {
        match self {
            Self::Video => VIDEO_TRACK,
            Self::Audio => AUDIO_TRACK,
        }
    }
}

/// A buffer waiting for its turn.
struct Pending {
    running_ns: u64,
    key: bool,
    data: Bytes,
}

/// One sink pad's stream.
struct Slot {
    pad: gst::Pad,
    kind: Kind,
    caps: Option<gst::Caps>,
    segment: gst::FormattedSegment<gst::ClockTime>,
    pending: Option<Pending>,
    eos: bool,
    flushing: bool,
}

impl Slot {
    fn new(pad: gst::Pad, kind: Kind) -> Self {
        Self {
            pad,
            kind,
            caps: None,
            segment: gst::FormattedSegment::new(),
            pending: None,
            eos: false,
            flushing: false,
        }
    }

    fn reset(&mut self) {
        self.caps = None;
        self.segment = gst::FormattedSegment::new();
        self.pending = None;
        self.eos = false;
        self.flushing = false;
    }

    /// Whether the slot takes part in ordering: an unlinked pad never gets data.
    fn live(&self) -> bool {
        self.pending.is_some() || self.eos || self.pad.is_linked()
    }
}

/// The running producer.
struct Running {
    producer: Arc<Producer>,
    events: JoinHandle<()>,
    /// Added to running times to make absolute timestamps.
    base_ns: u64,
}

#[derive(Default)]
struct Collect {
    slots: Vec<Slot>,
    running: Option<Running>,
    stopping: bool,
    /// Every pad reached EOS and the producer was finished (or is finishing).
    finished: bool,
    /// An error was posted; every buffer is refused until the element is restarted.
    failed: bool,
}

impl Collect {
    fn slot_mut(&mut self, pad: &gst::Pad) -> Option<&mut Slot> {
        self.slots.iter_mut().find(|s| &s.pad == pad)
    }

    /// Every live pad has a buffer pending or is at EOS.
    fn ready(&self) -> bool {
        let mut live = self.slots.iter().filter(|s| s.live()).peekable();
        live.peek().is_some() && live.all(|s| s.pending.is_some() || s.eos)
    }

    fn all_eos(&self) -> bool {
        self.slots
            .iter()
            .filter(|s| s.live())
            .all(|s| s.eos && s.pending.is_none())
    }

    /// The slot whose pending buffer is earliest (video first on a tie: a fragment starts on a
    /// video key frame, and audio before it would be skipped).
    fn earliest(&self) -> Option<usize> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                s.pending
                    .as_ref()
                    .map(|p| (i, p.running_ns, s.kind.track()))
            })
            .min_by_key(|&(_, ns, track)| (ns, track))
            .map(|(i, _, _)| i)
    }
}

pub struct KvsSink {
    settings: Mutex<Settings>,
    state: Mutex<State>,
    collect: Mutex<Collect>,
    /// Signalled when a pending buffer is taken or the element stops or flushes.
    taken: Condvar,
    /// Cancels the waits on the runtime when the element stops.
    cancel: Mutex<CancellationToken>,
}

impl Default for KvsSink {
    fn default() -> Self {
        Self {
            settings: Mutex::new(Settings::default()),
            state: Mutex::new(State::Stopped),
            collect: Mutex::new(Collect::default()),
            taken: Condvar::new(),
            cancel: Mutex::new(CancellationToken::new()),
        }
    }
}

/// Locks, recovering from a poisoned mutex (a panic elsewhere was already reported as an
/// element error by the pad function wrappers).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

fn event_name(event: AckEventType) -> &'static str {
    match event {
        AckEventType::Buffering => "BUFFERING",
        AckEventType::Received => "RECEIVED",
        AckEventType::Persisted => "PERSISTED",
        AckEventType::Error => "ERROR",
        AckEventType::Idle => "IDLE",
    }
}

fn stats_structure(stats: &ProducerStats) -> gst::Structure {
    gst::Structure::builder("kvssink-metric")
        .field("frames", stats.frames)
        .field("fragments", stats.fragments)
        .field("persisted", stats.persisted)
        .field("bytes-sent", stats.bytes_sent)
        .field("buffered-fragments", stats.buffered_fragments)
        .field("buffered-bytes", stats.buffered_bytes)
        .field("dropped", stats.dropped)
        .field("errors", stats.errors)
        .field("reconnects", stats.reconnects)
        .build()
}

/// The AWS configuration from the plan: static credentials from the properties (no AWS
/// configuration files read), else the standard chain (environment, profile, instance role);
/// `AWS_CA_BUNDLE` either way.
async fn load_config(plan: &Plan) -> Result<KvsConfig, String> {
    let mut opts = LoadOptions::default().region(plan.region.clone());
    opts.endpoint_url = plan.endpoint_url.clone();
    match &plan.credentials {
        Some(c) => {
            let mut keys = StaticKeys::new(&c.access_key, &c.secret_key);
            if let Some(token) = &c.session_token {
                keys = keys.session_token(token);
            }
            KvsConfig::with_static_keys(opts, keys)
        }
        None => KvsConfig::load(opts).await,
    }
    .map_err(|e| e.to_string())
}

/// Loads the configuration and makes sure the stream exists.
async fn prepare_session(plan: Plan, content_type: String) -> Result<Session, String> {
    let config = load_config(&plan).await?;
    let control = ControlPlane::new(&config);
    let stream = plan.stream.clone();
    let result = if plan.allow_create_stream {
        let mut spec = StreamSpec::new(stream.clone())
            .retention(plan.retention)
            .media_type(content_type);
        for (key, value) in &plan.tags {
            spec = spec.tag(key.clone(), value.clone());
        }
        control.ensure_stream(&spec).await
    } else {
        control
            .describe_stream(&StreamRef::Name(stream.clone()))
            .await
    };
    match result {
        Ok(_) => {}
        Err(kvs_control::Error::StreamNotFound(_)) => {
            return Err(format!(
                "stream {stream} does not exist and allow-create-stream=false; create it or set allow-create-stream=true"
            ));
        }
        Err(e) => {
            return Err(format!(
                "cannot {} stream {stream} at {}: {e}",
                if plan.allow_create_stream {
                    "find or create"
                } else {
                    "find"
                },
                config.target()
            ));
        }
    }
    Ok(Session { plan, config })
}

impl KvsSink {
    fn cancel_token(&self) -> CancellationToken {
        lock(&self.cancel).clone()
    }

    fn sink_chain(
        &self,
        pad: &gst::Pad,
        buffer: gst::Buffer,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let mut c = lock(&self.collect);
        if c.failed {
            return Err(gst::FlowError::Error);
        }
        let Some(slot) = c.slot_mut(pad) else {
            return Err(gst::FlowError::NotLinked);
        };
        if slot.caps.is_none() {
            gst::element_imp_error!(
                self,
                gst::CoreError::Negotiation,
                ("kvssink pad {} got a buffer before its caps", pad.name())
            );
            return Err(gst::FlowError::NotNegotiated);
        }
        let Some(ts) = buffer.pts().or(buffer.dts()) else {
            gst::warning!(CAT, obj = pad, "dropping a buffer without a timestamp");
            return Ok(gst::FlowSuccess::Ok);
        };
        let Some(running) = slot.segment.to_running_time(ts) else {
            gst::debug!(
                CAT,
                obj = pad,
                "dropping a buffer outside the segment at {ts}"
            );
            return Ok(gst::FlowSuccess::Ok);
        };
        if buffer.size() == 0 {
            return Ok(gst::FlowSuccess::Ok);
        }
        let key =
            slot.kind == Kind::Audio || !buffer.flags().contains(gst::BufferFlags::DELTA_UNIT);
        let data = match buffer.into_mapped_buffer_readable() {
            Ok(mapped) => Bytes::from_owner(mapped),
            Err(_) => {
                gst::element_imp_error!(
                    self,
                    gst::StreamError::Failed,
                    ("cannot map a buffer on pad {}", pad.name())
                );
                return Err(gst::FlowError::Error);
            }
        };

        // Wait for this pad's previous buffer to be taken.
        loop {
            if c.stopping {
                return Err(gst::FlowError::Flushing);
            }
            let Some(slot) = c.slot_mut(pad) else {
                return Err(gst::FlowError::NotLinked);
            };
            if slot.flushing {
                return Err(gst::FlowError::Flushing);
            }
            if slot.eos {
                return Err(gst::FlowError::Eos);
            }
            if slot.pending.is_none() {
                slot.pending = Some(Pending {
                    running_ns: running.nseconds(),
                    key,
                    data,
                });
                break;
            }
            c = self.taken.wait(c).unwrap_or_else(|e| e.into_inner());
        }
        self.drain(&mut c)?;
        Ok(gst::FlowSuccess::Ok)
    }

    /// Pushes pending buffers, earliest first, while every live pad has one (or is at EOS).
    fn drain(&self, c: &mut MutexGuard<'_, Collect>) -> Result<(), gst::FlowError> {
        while c.ready() {
            if c.failed {
                return Err(gst::FlowError::Error);
            }
            if c.stopping {
                return Err(gst::FlowError::Flushing);
            }
            let Some(i) = c.earliest() else {
                break;
            };
            if c.running.is_none() {
                self.start_producer(c)?;
            }
            let Some(pending) = c.slots[i].pending.take() else {
                break;
            };
            self.taken.notify_all();
            let track = c.slots[i].kind.track();
            let Some(running) = &c.running else {
                return Err(gst::FlowError::Error);
            };
            let frame = Frame {
                track,
                timestamp_ns: running.base_ns.saturating_add(pending.running_ns),
                key: pending.key,
                data: pending.data,
            };
            // Most frames go in at once on this thread; only a full store makes the push wait
            // on the runtime (a thread hop per frame would cost more than the frame).
            let result = match running.producer.try_push(frame) {
                Ok(TryPush::Done) => Ok(Ok(())),
                Ok(TryPush::WouldWait(frame)) => {
                    let producer = running.producer.clone();
                    runtime::run(&self.cancel_token(), async move {
                        let result = producer.push(frame).await;
                        // Only the element may hold the producer when it finishes it.
                        drop(producer);
                        result
                    })
                }
                Err(e) => Ok(Err(e)),
            };
            match result {
                Ok(Ok(())) => {}
                Ok(Err(ProducerError::Frame(e))) => {
                    gst::warning!(CAT, imp = self, "frame on track {track} dropped: {e}");
                }
                Ok(Err(e)) => {
                    c.failed = true;
                    gst::element_imp_error!(
                        self,
                        gst::ResourceError::Write,
                        ("kvssink cannot stream to {}: {e}", self.stream_label())
                    );
                    return Err(gst::FlowError::Error);
                }
                Err(RunError::Cancelled) => return Err(gst::FlowError::Flushing),
                Err(e @ RunError::Runtime(_)) => {
                    c.failed = true;
                    gst::element_imp_error!(self, gst::CoreError::Failed, ("kvssink: {e}"));
                    return Err(gst::FlowError::Error);
                }
            }
        }
        Ok(())
    }

    fn stream_label(&self) -> String {
        match &*lock(&self.state) {
            State::Started { session } => format!("stream {}", session.plan.stream),
            State::Stopped => "the stream".into(),
        }
    }

    /// Starts the producer with one track per pad that has caps.
    fn start_producer(&self, c: &mut MutexGuard<'_, Collect>) -> Result<(), gst::FlowError> {
        let session = match &*lock(&self.state) {
            State::Started { session } => session.clone(),
            _ => return Err(gst::FlowError::Flushing),
        };
        let mut tracks: Vec<TrackInfo> = Vec::new();
        for slot in &c.slots {
            let Some(caps) = &slot.caps else {
                continue;
            };
            let track = match slot.kind {
                Kind::Video => {
                    let first = slot.pending.as_ref().map_or(&[][..], |p| &p.data[..]);
                    tracks::video_track(caps, first, &session.plan.video)
                }
                Kind::Audio => tracks::audio_track(caps),
            };
            match track {
                Ok(t) => tracks.push(t),
                Err(e) => {
                    gst::element_imp_error!(
                        self,
                        gst::StreamError::Format,
                        ("kvssink pad {}: {e}", slot.pad.name())
                    );
                    c.failed = true;
                    return Err(gst::FlowError::NotNegotiated);
                }
            }
        }
        tracks.sort_by_key(|t| t.number);
        gst::info!(
            CAT,
            imp = self,
            "starting the producer with tracks {tracks:?}"
        );
        let stream = StreamRef::Name(session.plan.stream.clone());
        let producer_config = session.plan.producer.clone();
        let config = session.config.clone();
        let started = runtime::run(&self.cancel_token(), async move {
            Producer::builder(&config, stream)
                .tracks(tracks)
                .options(producer_config)
                .start()
        });
        let producer = match started {
            Ok(Ok(p)) => Arc::new(p),
            Ok(Err(e)) => {
                c.failed = true;
                gst::element_imp_error!(
                    self,
                    gst::ResourceError::OpenWrite,
                    (
                        "kvssink cannot start the producer for stream {}: {e}",
                        session.plan.stream
                    )
                );
                return Err(gst::FlowError::Error);
            }
            Err(RunError::Cancelled) => return Err(gst::FlowError::Flushing),
            Err(e) => {
                c.failed = true;
                gst::element_imp_error!(self, gst::CoreError::Failed, ("kvssink: {e}"));
                return Err(gst::FlowError::Error);
            }
        };
        let events = self.spawn_events(&producer)?;
        let base_ns = session.plan.file_start_ns.unwrap_or_else(now_ns);
        c.running = Some(Running {
            producer,
            events,
            base_ns,
        });
        Ok(())
    }

    /// Turns producer events into the `ack`, `error` and `metric` signals (emitted from a
    /// runtime thread) and log lines.
    fn spawn_events(&self, producer: &Arc<Producer>) -> Result<JoinHandle<()>, gst::FlowError> {
        let rt = runtime::runtime().map_err(|e| {
            gst::element_imp_error!(self, gst::CoreError::Failed, ("kvssink: {e}"));
            gst::FlowError::Error
        })?;
        let mut events = producer.events();
        let weak_producer: Weak<Producer> = Arc::downgrade(producer);
        let element = self.obj().downgrade();
        Ok(rt.spawn(async move {
            use tokio::sync::broadcast::error::RecvError;
            loop {
                let event = match events.recv().await {
                    Ok(e) => e,
                    Err(RecvError::Lagged(n)) => {
                        gst::warning!(CAT, "{n} producer events were missed");
                        continue;
                    }
                    Err(RecvError::Closed) => return,
                };
                let Some(element) = element.upgrade() else {
                    return;
                };
                match event {
                    ProducerEvent::Ack(ack) => {
                        let timecode = ack.fragment_timecode.unwrap_or(0);
                        let number = ack
                            .fragment_number
                            .as_ref()
                            .map(|n| n.as_str().to_owned())
                            .unwrap_or_default();
                        gst::log!(
                            CAT,
                            obj = element,
                            "ack {} for fragment {timecode} ({number})",
                            event_name(ack.event)
                        );
                        element.emit_by_name::<()>(
                            "ack",
                            &[&timecode, &event_name(ack.event), &number],
                        );
                        if ack.event == AckEventType::Error {
                            let id = ack.error_id.unwrap_or(0);
                            gst::warning!(
                                CAT,
                                obj = element,
                                "KVS error {id} for fragment {timecode}"
                            );
                            element.emit_by_name::<()>("error", &[&id, &timecode]);
                        }
                    }
                    ProducerEvent::Persisted { timecode, latency } => {
                        gst::debug!(
                            CAT,
                            obj = element,
                            "fragment {timecode} persisted after {latency:?}"
                        );
                        let stats = weak_producer.upgrade().map(|p| p.stats());
                        if let Some(stats) = stats {
                            element.emit_by_name::<()>("metric", &[&stats_structure(&stats)]);
                        }
                    }
                    ProducerEvent::Dropped {
                        fragments,
                        bytes,
                        reason,
                    } => {
                        gst::warning!(
                            CAT,
                            obj = element,
                            "dropped {fragments} fragment(s), {bytes} bytes: {reason}"
                        );
                    }
                    ProducerEvent::Reconnecting { error, delay } => {
                        gst::warning!(
                            CAT,
                            obj = element,
                            "PutMedia reconnecting in {delay:?}: {error}"
                        );
                    }
                    ProducerEvent::TimestampsRepaired { track, shift_ns } => {
                        gst::warning!(
                            CAT,
                            obj = element,
                            "timestamps of track {track} went back; later frames shifted by {shift_ns} ns"
                        );
                    }
                    ProducerEvent::SkippedBeforeKeyFrame { track } => {
                        gst::debug!(
                            CAT,
                            obj = element,
                            "frame on track {track} before the first key frame skipped"
                        );
                    }
                    other => gst::debug!(CAT, obj = element, "{other:?}"),
                }
            }
        }))
    }

    /// Takes the producer out for finishing; retries while a short-lived clone (a push being
    /// cancelled, the event task reading stats) still holds it.
    fn unwrap_producer(mut producer: Arc<Producer>) -> Option<Producer> {
        for _ in 0..200 {
            match Arc::try_unwrap(producer) {
                Ok(p) => return Some(p),
                Err(p) => producer = p,
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }

    /// Finishes the producer (bounded by `timeout`) and waits briefly for its last signals.
    fn finish(&self, running: Running, timeout: Duration, cancel: &CancellationToken) {
        let Running {
            producer, events, ..
        } = running;
        let Some(producer) = Self::unwrap_producer(producer) else {
            gst::warning!(
                CAT,
                imp = self,
                "the producer is still in use; not finished"
            );
            events.abort();
            return;
        };
        let finished = runtime::run(cancel, producer.finish(timeout));
        let drained = runtime::run(cancel, async move {
            let _ = tokio::time::timeout(EVENT_DRAIN_TIMEOUT, events).await;
        });
        if drained.is_err() {
            gst::debug!(CAT, imp = self, "event task not drained");
        }
        match finished {
            Ok(Ok(stats)) => {
                gst::info!(CAT, imp = self, "finished: {stats:?}");
                // The event task cannot read the counters once the producer is gone: the final
                // ones come from here, after its last signal.
                self.obj()
                    .emit_by_name::<()>("metric", &[&stats_structure(&stats)]);
            }
            Ok(Err(e)) => {
                gst::element_imp_warning!(self, gst::ResourceError::Write, ("kvssink: {e}"))
            }
            Err(e) => gst::info!(CAT, imp = self, "finishing stopped: {e}"),
        }
    }

    fn sink_event(&self, pad: &gst::Pad, event: gst::Event) -> bool {
        use gst::EventView;
        match event.view() {
            EventView::Caps(e) => {
                let caps = e.caps_owned();
                let mut c = lock(&self.collect);
                let started = c.running.is_some();
                let Some(slot) = c.slot_mut(pad) else {
                    return false;
                };
                if started && slot.caps.as_ref().is_some_and(|old| old != &caps) {
                    gst::warning!(
                        CAT,
                        obj = pad,
                        "caps changed to {caps} after the stream started; KVS tracks cannot change, the first caps stay in the stream"
                    );
                }
                gst::debug!(CAT, obj = pad, "caps {caps}");
                slot.caps = Some(caps);
                true
            }
            EventView::Segment(e) => {
                let segment = match e.segment().clone().downcast::<gst::ClockTime>() {
                    Ok(s) => s,
                    Err(_) => {
                        gst::element_imp_error!(
                            self,
                            gst::StreamError::Format,
                            ("kvssink pad {} needs a TIME segment", pad.name())
                        );
                        return false;
                    }
                };
                if let Some(slot) = lock(&self.collect).slot_mut(pad) {
                    slot.segment = segment;
                }
                true
            }
            EventView::FlushStart(_) => {
                let mut c = lock(&self.collect);
                if let Some(slot) = c.slot_mut(pad) {
                    slot.flushing = true;
                    slot.pending = None;
                }
                self.taken.notify_all();
                true
            }
            EventView::FlushStop(_) => {
                let mut c = lock(&self.collect);
                if let Some(slot) = c.slot_mut(pad) {
                    slot.flushing = false;
                    slot.eos = false;
                    slot.segment = gst::FormattedSegment::new();
                }
                c.finished = false;
                true
            }
            EventView::Eos(_) => {
                self.pad_eos(pad);
                true
            }
            _ => gst::Pad::event_default(pad, Some(&*self.obj()), event),
        }
    }

    fn pad_eos(&self, pad: &gst::Pad) {
        gst::debug!(CAT, obj = pad, "EOS");
        let mut c = lock(&self.collect);
        if let Some(slot) = c.slot_mut(pad) {
            slot.eos = true;
        }
        self.taken.notify_all();
        if let Err(e) = self.drain(&mut c) {
            gst::debug!(CAT, obj = pad, "draining at EOS stopped: {e:?}");
            if c.stopping {
                return;
            }
        }
        if c.finished || !c.all_eos() {
            return;
        }
        c.finished = true;
        let running = c.running.take();
        drop(c);
        if let Some(running) = running {
            let timeout = match &*lock(&self.state) {
                State::Started { session } => session.plan.stop_timeout,
                _ => Duration::ZERO,
            };
            self.finish(running, timeout, &self.cancel_token());
        }
        gst::info!(CAT, imp = self, "every pad is at EOS; posting EOS");
        let obj = self.obj();
        let _ = obj.post_message(gst::message::Eos::builder().src(&*obj).build());
    }

    /// Validates the properties (NULL->READY, and again READY->PAUSED as they may change in
    /// READY).
    fn validate(&self) -> Result<Plan, gst::StateChangeError> {
        let settings = lock(&self.settings).clone();
        let plan = settings
            .plan(std::env::var(settings::ENDPOINT_ENV).ok())
            .map_err(|e| {
                gst::element_imp_error!(self, gst::LibraryError::Settings, ("kvssink: {e}"));
                gst::StateChangeError
            })?;
        let ignored = settings.ignored();
        if !ignored.is_empty() {
            gst::warning!(
                CAT,
                imp = self,
                "properties without effect in this implementation: {}",
                ignored.join(", ")
            );
        }
        Ok(plan)
    }

    /// READY->PAUSED: loads the AWS configuration and makes sure the stream exists.
    fn prepare(&self) -> Result<(), gst::StateChangeError> {
        let plan = self.validate()?;
        let cancel = CancellationToken::new();
        *lock(&self.cancel) = cancel.clone();
        {
            let mut c = lock(&self.collect);
            c.stopping = false;
            c.finished = false;
            c.failed = false;
        }
        let has_audio = lock(&self.collect)
            .slots
            .iter()
            .any(|s| s.kind == Kind::Audio);
        let content_type = plan.content_type.clone().unwrap_or_else(|| {
            if has_audio {
                "video/h264,audio/aac".into()
            } else {
                settings::DEFAULT_CONTENT_TYPE.into()
            }
        });
        let stream = plan.stream.clone();
        let result = runtime::run(&cancel, async move {
            tokio::time::timeout(PREPARE_TIMEOUT, prepare_session(plan, content_type))
                .await
                .unwrap_or_else(|_| {
                    Err(format!(
                        "no answer within {PREPARE_TIMEOUT:?} (check endpoint-url, aws-region and the network)"
                    ))
                })
        });
        let message = match result {
            Ok(Ok(session)) => {
                gst::info!(
                    CAT,
                    imp = self,
                    "streaming to {stream} at {}",
                    session.config.target()
                );
                *lock(&self.state) = State::Started {
                    session: Arc::new(session),
                };
                return Ok(());
            }
            Ok(Err(e)) => e,
            Err(e) => e.to_string(),
        };
        gst::element_imp_error!(
            self,
            gst::ResourceError::OpenWrite,
            ("kvssink cannot start streaming to {stream}: {message}")
        );
        Err(gst::StateChangeError)
    }

    /// PAUSED->READY, before the pads are deactivated: wakes every waiting thread.
    fn unblock(&self) {
        lock(&self.cancel).cancel();
        lock(&self.collect).stopping = true;
        self.taken.notify_all();
    }

    /// PAUSED->READY, after the pads are deactivated: flushes briefly what was not finished and
    /// resets the pads.
    fn stop(&self) {
        let running = {
            let mut c = lock(&self.collect);
            for slot in &mut c.slots {
                slot.reset();
            }
            c.finished = false;
            c.failed = false;
            c.running.take()
        };
        if let Some(running) = running {
            let timeout = match &*lock(&self.state) {
                State::Started { session } => session.plan.stop_timeout.min(STOP_FLUSH_TIMEOUT),
                _ => Duration::ZERO,
            };
            gst::info!(
                CAT,
                imp = self,
                "stopped without EOS; sending what is buffered for up to {timeout:?}"
            );
            self.finish(running, timeout, &CancellationToken::new());
        }
        *lock(&self.state) = State::Stopped;
    }
}

#[glib::object_subclass]
impl ObjectSubclass for KvsSink {
    const NAME: &'static str = "GstKvsSinkRs";
    type Type = super::KvsSink;
    type ParentType = gst::Element;
}

fn string_prop(name: &str, nick: &str, blurb: &str, default: Option<&str>) -> glib::ParamSpec {
    glib::ParamSpecString::builder(name)
        .nick(nick)
        .blurb(blurb)
        .default_value(default)
        .mutable_ready()
        .build()
}

fn uint_prop(name: &str, nick: &str, blurb: &str, default: u32) -> glib::ParamSpec {
    glib::ParamSpecUInt::builder(name)
        .nick(nick)
        .blurb(blurb)
        .default_value(default)
        .mutable_ready()
        .build()
}

fn bool_prop(name: &str, nick: &str, blurb: &str, default: bool) -> glib::ParamSpec {
    glib::ParamSpecBoolean::builder(name)
        .nick(nick)
        .blurb(blurb)
        .default_value(default)
        .mutable_ready()
        .build()
}

const NO_EFFECT: &str = "(accepted for compatibility with the C++ kvssink; no effect here)";

impl ObjectImpl for KvsSink {
    fn properties() -> &'static [glib::ParamSpec] {
        use settings::*;
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                string_prop("stream-name", "Stream name", "Name of the Kinesis video stream (required; created if missing when allow-create-stream)", None),
                string_prop("aws-region", "AWS region", "AWS region of the stream (empty: AWS_DEFAULT_REGION or AWS_REGION)", Some(DEFAULT_AWS_REGION)),
                string_prop("access-key", "Access key", "AWS access key id (with secret-key; unset: the standard AWS credential chain)", None),
                string_prop("secret-key", "Secret key", "AWS secret access key (with access-key)", None),
                string_prop("session-token", "Session token", "AWS session token for temporary access-key/secret-key credentials", None),
                uint_prop("storage-size", "Storage size", "Size of the fragment store in MB: fragments wait there until KVS acknowledges them PERSISTED", DEFAULT_STORAGE_SIZE_MB),
                glib::ParamSpecEnum::builder_with_default("streaming-type", DEFAULT_STREAMING_TYPE)
                    .nick("Streaming type")
                    .blurb("realtime and near-realtime drop the oldest fragments when the store is full; offline blocks upstream until there is room")
                    .mutable_ready()
                    .build(),
                uint_prop("retention-period", "Retention period", "Data retention in hours of a stream created by the element", DEFAULT_RETENTION_PERIOD_HOURS),
                uint_prop("fragment-duration", "Fragment duration", "Fragment duration in ms (when key-frame-fragmentation is false, or for audio-only streams)", DEFAULT_FRAGMENT_DURATION_MS),
                bool_prop("key-frame-fragmentation", "Key frame fragmentation", "Start a new fragment on every video key frame", DEFAULT_KEY_FRAME_FRAGMENTATION),
                uint_prop("timecode-scale", "Timecode scale", "MKV timecode scale in ms; only 1 is supported, other values are refused at start", DEFAULT_TIMECODE_SCALE_MS),
                bool_prop("absolute-fragment-times", "Absolute fragment times", "Fragment timecodes are absolute (false is not supported: a warning, and times stay absolute)", DEFAULT_ABSOLUTE_FRAGMENT_TIMES),
                bool_prop("fragment-acks", "Fragment acks", &format!("Request fragment acknowledgements; always on here {NO_EFFECT}"), DEFAULT_FRAGMENT_ACKS),
                bool_prop("restart-on-error", "Restart on error", &format!("Restart the stream on errors; the producer always reconnects with back-off {NO_EFFECT}"), DEFAULT_RESTART_ON_ERROR),
                uint_prop("max-latency", "Max latency", &format!("Maximum latency in seconds {NO_EFFECT}"), DEFAULT_MAX_LATENCY_S),
                uint_prop("buffer-duration", "Buffer duration", "Most media the fragment store holds, in seconds, oldest unacknowledged fragment to newest; past it (or past storage-size) the store is full (0: storage-size only)", DEFAULT_BUFFER_DURATION_S),
                uint_prop("replay-duration", "Replay duration", &format!("Replay duration in seconds; everything unacknowledged is resent {NO_EFFECT}"), DEFAULT_REPLAY_DURATION_S),
                uint_prop("connection-staleness", "Connection staleness", "Reconnect when no acknowledgement arrives for this many seconds (0: never)", DEFAULT_CONNECTION_STALENESS_S),
                uint_prop("framerate", "Frame rate", "Nominal video frame rate, used for the track's frame duration when the caps have none", DEFAULT_FRAMERATE),
                uint_prop("avg-bandwidth-bps", "Average bandwidth", &format!("Expected average bandwidth in bits per second {NO_EFFECT}"), DEFAULT_AVG_BANDWIDTH_BPS),
                string_prop("content-type", "Content type", "Media type of a stream created by the element (default: video/h264, or video/h264,audio/aac with an audio pad)", Some(DEFAULT_CONTENT_TYPE)),
                string_prop("codec-id", "Codec id", "MKV codec id of the video track (default: from the caps)", Some(DEFAULT_CODEC_ID)),
                string_prop("track-name", "Track name", "Name of the video track", Some(DEFAULT_TRACK_NAME)),
                glib::ParamSpecBoxed::builder::<gst::Structure>("stream-tags")
                    .nick("Stream tags")
                    .blurb("Tags of a stream created by the element, as a GstStructure of key=value")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt64::builder("file-start-time")
                    .nick("File start time")
                    .blurb("Epoch seconds of the stream's running time 0 (0: the wall clock at the first buffer)")
                    .default_value(DEFAULT_FILE_START_TIME)
                    .mutable_ready()
                    .build(),
                bool_prop("allow-create-stream", "Allow create stream", "Create the stream when it does not exist", DEFAULT_ALLOW_CREATE_STREAM),
                string_prop("credential-path", "Credential path", &format!("Path of a credentials file {NO_EFFECT}"), Some(DEFAULT_CREDENTIAL_PATH)),
                string_prop("endpoint-url", "Endpoint URL", "Control-plane endpoint, e.g. a kvs-local (default: the CONTROL_PLANE_URI environment variable, else AWS)", None),
                uint_prop("stop-stream-timeout", "Stop stream timeout", "Seconds to wait at EOS for the last fragments to be PERSISTED", DEFAULT_STOP_STREAM_TIMEOUT_S),
                bool_prop("use-original-pts", "Use original PTS", &format!("Use the buffers' original PTS {NO_EFFECT}"), DEFAULT_USE_ORIGINAL_PTS),
                uint_prop("rotation-period", "Rotation period", &format!("Credential rotation period in seconds {NO_EFFECT}"), DEFAULT_ROTATION_PERIOD_S),
                string_prop("log-config", "Log config", &format!("Path of a log4cplus configuration {NO_EFFECT}; use GST_DEBUG=kvssink:5"), Some(DEFAULT_LOG_CONFIG)),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn signals() -> &'static [glib::subclass::Signal] {
        static SIGNALS: LazyLock<Vec<glib::subclass::Signal>> = LazyLock::new(|| {
            vec![
                // fragment timecode, event type (BUFFERING, RECEIVED, PERSISTED, ERROR, IDLE),
                // fragment number.
                glib::subclass::Signal::builder("ack")
                    .param_types([
                        u64::static_type(),
                        String::static_type(),
                        String::static_type(),
                    ])
                    .build(),
                // KVS error id, fragment timecode.
                glib::subclass::Signal::builder("error")
                    .param_types([u32::static_type(), u64::static_type()])
                    .build(),
                // The producer's counters, after each PERSISTED fragment.
                glib::subclass::Signal::builder("metric")
                    .param_types([gst::Structure::static_type()])
                    .build(),
            ]
        });
        SIGNALS.as_ref()
    }

    fn constructed(&self) {
        self.parent_constructed();
        self.obj().set_element_flags(gst::ElementFlags::SINK);
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        if matches!(&*lock(&self.state), State::Started { .. }) {
            gst::warning!(
                CAT,
                imp = self,
                "property {} cannot change while streaming; ignored",
                pspec.name()
            );
            return;
        }
        let mut s = lock(&self.settings);
        let string = || value.get::<Option<String>>().ok().flatten();
        let uint = || value.get::<u32>().unwrap_or_default();
        let boolean = || value.get::<bool>().unwrap_or_default();
        match pspec.name() {
            "stream-name" => s.stream_name = string(),
            "aws-region" => s.aws_region = string().unwrap_or_default(),
            "access-key" => s.access_key = string(),
            "secret-key" => s.secret_key = string(),
            "session-token" => s.session_token = string(),
            "storage-size" => s.storage_size = uint(),
            "streaming-type" => {
                s.streaming_type = value
                    .get::<StreamingType>()
                    .unwrap_or(settings::DEFAULT_STREAMING_TYPE)
            }
            "retention-period" => s.retention_period = uint(),
            "fragment-duration" => s.fragment_duration = uint(),
            "key-frame-fragmentation" => s.key_frame_fragmentation = boolean(),
            "timecode-scale" => s.timecode_scale = uint(),
            "absolute-fragment-times" => s.absolute_fragment_times = boolean(),
            "fragment-acks" => s.fragment_acks = boolean(),
            "restart-on-error" => s.restart_on_error = boolean(),
            "max-latency" => s.max_latency = uint(),
            "buffer-duration" => s.buffer_duration = uint(),
            "replay-duration" => s.replay_duration = uint(),
            "connection-staleness" => s.connection_staleness = uint(),
            "framerate" => s.framerate = uint(),
            "avg-bandwidth-bps" => s.avg_bandwidth_bps = uint(),
            "content-type" => s.content_type = string().unwrap_or_default(),
            "codec-id" => s.codec_id = string().unwrap_or_default(),
            "track-name" => s.track_name = string().unwrap_or_default(),
            "stream-tags" => s.stream_tags = value.get::<Option<gst::Structure>>().ok().flatten(),
            "file-start-time" => s.file_start_time = value.get::<u64>().unwrap_or_default(),
            "allow-create-stream" => s.allow_create_stream = boolean(),
            "credential-path" => s.credential_path = string().unwrap_or_default(),
            "endpoint-url" => s.endpoint_url = string(),
            "stop-stream-timeout" => s.stop_stream_timeout = uint(),
            "use-original-pts" => s.use_original_pts = boolean(),
            "rotation-period" => s.rotation_period = uint(),
            "log-config" => s.log_config = string().unwrap_or_default(),
            other => gst::warning!(CAT, imp = self, "unknown property {other}"),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let s = lock(&self.settings);
        match pspec.name() {
            "stream-name" => s.stream_name.to_value(),
            "aws-region" => s.aws_region.to_value(),
            "access-key" => s.access_key.to_value(),
            // Secrets are write-only in effect: reading them gives nothing away.
            "secret-key" => s.secret_key.as_ref().map(|_| "*****").to_value(),
            "session-token" => s.session_token.as_ref().map(|_| "*****").to_value(),
            "storage-size" => s.storage_size.to_value(),
            "streaming-type" => s.streaming_type.to_value(),
            "retention-period" => s.retention_period.to_value(),
            "fragment-duration" => s.fragment_duration.to_value(),
            "key-frame-fragmentation" => s.key_frame_fragmentation.to_value(),
            "timecode-scale" => s.timecode_scale.to_value(),
            "absolute-fragment-times" => s.absolute_fragment_times.to_value(),
            "fragment-acks" => s.fragment_acks.to_value(),
            "restart-on-error" => s.restart_on_error.to_value(),
            "max-latency" => s.max_latency.to_value(),
            "buffer-duration" => s.buffer_duration.to_value(),
            "replay-duration" => s.replay_duration.to_value(),
            "connection-staleness" => s.connection_staleness.to_value(),
            "framerate" => s.framerate.to_value(),
            "avg-bandwidth-bps" => s.avg_bandwidth_bps.to_value(),
            "content-type" => s.content_type.to_value(),
            "codec-id" => s.codec_id.to_value(),
            "track-name" => s.track_name.to_value(),
            "stream-tags" => s.stream_tags.to_value(),
            "file-start-time" => s.file_start_time.to_value(),
            "allow-create-stream" => s.allow_create_stream.to_value(),
            "credential-path" => s.credential_path.to_value(),
            "endpoint-url" => s.endpoint_url.to_value(),
            "stop-stream-timeout" => s.stop_stream_timeout.to_value(),
            "use-original-pts" => s.use_original_pts.to_value(),
            "rotation-period" => s.rotation_period.to_value(),
            "log-config" => s.log_config.to_value(),
            _ => glib::Value::from_type(pspec.value_type()),
        }
    }
}

impl GstObjectImpl for KvsSink {}

impl ElementImpl for KvsSink {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "Kinesis Video Streams sink",
                "Sink/Video/Network",
                "Streams H.264/H.265 video and AAC/G.711 audio to an Amazon Kinesis video stream \
                 (kvs-rs drop-in for the C++ kvssink)",
                "kvs-rs developers",
            )
        });
        Some(&*METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let video = gst::Caps::builder_full()
                .structure(
                    gst::Structure::builder("video/x-h264")
                        .field("stream-format", "avc")
                        .field("alignment", "au")
                        .build(),
                )
                .structure(
                    gst::Structure::builder("video/x-h265")
                        .field("stream-format", "hvc1")
                        .field("alignment", "au")
                        .build(),
                )
                .build();
            let audio = gst::Caps::builder_full()
                .structure(
                    gst::Structure::builder("audio/mpeg")
                        .field("mpegversion", gst::List::new([2i32, 4]))
                        .field("stream-format", "raw")
                        .build(),
                )
                .structure(gst::Structure::new_empty("audio/x-alaw"))
                .structure(gst::Structure::new_empty("audio/x-mulaw"))
                .build();
            // Templates whose caps are built here from constants cannot fail; an empty list
            // would only make the element unusable, never crash it.
            [
                gst::PadTemplate::new(
                    "video_%u",
                    gst::PadDirection::Sink,
                    gst::PadPresence::Request,
                    &video,
                ),
                gst::PadTemplate::new(
                    "audio_%u",
                    gst::PadDirection::Sink,
                    gst::PadPresence::Request,
                    &audio,
                ),
            ]
            .into_iter()
            .filter_map(Result::ok)
            .collect()
        });
        TEMPLATES.as_ref()
    }

    fn request_new_pad(
        &self,
        templ: &gst::PadTemplate,
        name: Option<&str>,
        _caps: Option<&gst::Caps>,
    ) -> Option<gst::Pad> {
        let kind = match templ.name_template() {
            "video_%u" => Kind::Video,
            "audio_%u" => Kind::Audio,
            _ => return None,
        };
        if matches!(&*lock(&self.state), State::Started { .. }) {
            gst::warning!(CAT, imp = self, "pads cannot be added while streaming");
            return None;
        }
        let mut c = lock(&self.collect);
        if c.slots.iter().any(|s| s.kind == kind) {
            gst::warning!(
                CAT,
                imp = self,
                "kvssink takes one video and one audio stream; a second {kind:?} pad was refused"
            );
            return None;
        }
        let name = name.map_or_else(
            || match kind {
                Kind::Video => "video_0".to_owned(),
                Kind::Audio => "audio_0".to_owned(),
            },
            str::to_owned,
        );
        let pad = gst::Pad::builder_from_template(templ)
            .name(name.as_str())
            .chain_function(|pad, parent, buffer| {
                KvsSink::catch_panic_pad_function(
                    parent,
                    || Err(gst::FlowError::Error),
                    |imp| imp.sink_chain(pad, buffer),
                )
            })
            .event_function(|pad, parent, event| {
                KvsSink::catch_panic_pad_function(
                    parent,
                    || false,
                    |imp| imp.sink_event(pad, event),
                )
            })
            .flags(gst::PadFlags::ACCEPT_TEMPLATE)
            .build();
        c.slots.push(Slot::new(pad.clone(), kind));
        drop(c);
        if let Err(e) = self.obj().add_pad(&pad) {
            gst::warning!(CAT, imp = self, "cannot add pad {name}: {e}");
            lock(&self.collect).slots.retain(|s| s.pad != pad);
            return None;
        }
        Some(pad)
    }

    fn release_pad(&self, pad: &gst::Pad) {
        lock(&self.collect).slots.retain(|s| &s.pad != pad);
        self.taken.notify_all();
        let _ = pad.set_active(false);
        let _ = self.obj().remove_pad(pad);
    }

    fn change_state(
        &self,
        transition: gst::StateChange,
    ) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
        gst::debug!(CAT, imp = self, "{transition:?}");
        match transition {
            gst::StateChange::NullToReady => {
                self.validate()?;
            }
            gst::StateChange::ReadyToPaused => self.prepare()?,
            gst::StateChange::PausedToReady => self.unblock(),
            _ => {}
        }
        let result = self.parent_change_state(transition);
        match transition {
            gst::StateChange::PausedToReady => self.stop(),
            gst::StateChange::ReadyToPaused if result.is_err() => {
                self.unblock();
                self.stop();
            }
            _ => {}
        }
        result
    }
}
