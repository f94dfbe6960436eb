//! The producer: frames in, KVS fragments out over PutMedia, with every fragment kept in the
//! content store until it is PERSISTED, reconnects with back-off, and resends in order.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use kvs_endpoint::{EndpointResolver, ErrorKind, KvsConfig, Payload, RequestSigner};
use kvs_mkv::{
    Chunks, Frame, MkvWriter, PackError, Packager, PackagerConfig, TrackInfo, WriterConfig,
};
use kvs_types::{ApiName, StreamRef};
use tokio::sync::{Mutex, broadcast, mpsc};
use tokio::task::JoinHandle;

use crate::ack::{Ack, AckDecoder, AckEventType};
use crate::repair::TimestampRepair;
use crate::store::{Cursor, Dropped, OverflowPolicy, Storage, Store, StoreError};

/// How a producer behaves. Start from `ProducerConfig::default()` and change fields.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ProducerConfig {
    /// Where fragments wait for PERSISTED (default: 128 MiB in memory).
    pub storage: Storage,
    /// What to do when the store is full (default: drop the oldest whole fragments).
    pub overflow: OverflowPolicy,
    /// How fragments are cut (default: a new fragment on each video key frame, absolute
    /// timecodes; every 2 s when not cut on key frames).
    pub fragments: PackagerConfig,
    /// Reconnect when no acknowledgement arrives for this long while data is outstanding
    /// (default 60 s).
    pub connection_staleness: Duration,
    /// First reconnect delay; doubles up to `max_backoff` (default 200 ms).
    pub min_backoff: Duration,
    /// Longest reconnect delay (default 10 s) after the service answered with an error; when
    /// nothing answered (connection refused, DNS, timeout) the delay stops at 250 ms.
    pub max_backoff: Duration,
    /// How many times one fragment may be refused with an ERROR before it is dropped
    /// (default 3).
    pub max_fragment_attempts: u32,
    /// Repair timestamps that go backwards (reported as events), instead of refusing frames
    /// (default: true).
    pub repair_timestamps: bool,
    /// The most media the store holds, from the oldest unacknowledged fragment's start to the
    /// newest one's (default: no bound but `storage`'s size). Past it the store counts as full
    /// and `overflow` applies, as AWS's producer SDKs bound their content store by
    /// `bufferDuration` (kvssink's `buffer-duration`).
    pub max_buffered: Option<Duration>,
}

impl Default for ProducerConfig {
    fn default() -> Self {
        Self {
            storage: Storage::default(),
            overflow: OverflowPolicy::DropOldest,
            fragments: PackagerConfig::default(),
            connection_staleness: Duration::from_secs(60),
            min_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(10),
            max_fragment_attempts: 3,
            repair_timestamps: true,
            max_buffered: None,
        }
    }
}

/// What happened, for progress displays and logs.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProducerEvent {
    /// A PutMedia connection was opened.
    Connected {
        /// The PutMedia endpoint URL.
        endpoint: String,
    },
    /// An acknowledgement arrived.
    Ack(Ack),
    /// The connection failed; the producer will reconnect after `delay`.
    Reconnecting {
        /// What failed: the connection, an ERROR acknowledgement, or no acknowledgement for
        /// `connection_staleness`.
        error: String,
        /// How long the producer waits before connecting again (the current back-off).
        delay: Duration,
    },
    /// Fragments were dropped: the store was full, or the service kept refusing one.
    Dropped {
        /// Whole fragments dropped.
        fragments: u64,
        /// Their size in bytes.
        bytes: u64,
        /// Why, for people: the store was full, or the service refused a fragment
        /// `max_fragment_attempts` times.
        reason: String,
    },
    /// Frames before the first key frame were dropped (a fragment must start on one).
    SkippedBeforeKeyFrame {
        /// The track of the skipped frames.
        track: u64,
    },
    /// A fragment was acknowledged PERSISTED.
    Persisted {
        /// The fragment's cluster timecode (milliseconds with the default timecode scale), as
        /// the acknowledgement names it.
        timecode: u64,
        /// From its last frame to the acknowledgement.
        latency: Duration,
    },
    /// Timestamps went backwards and were shifted forward.
    TimestampsRepaired {
        /// The track whose frame went back.
        track: u64,
        /// How far later frames were shifted, in nanoseconds.
        shift_ns: u64,
    },
}

/// Counters, readable at any time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProducerStats {
    /// Frames accepted.
    pub frames: u64,
    /// Fragments started.
    pub fragments: u64,
    /// Fragments acknowledged PERSISTED.
    pub persisted: u64,
    /// Bytes sent over PutMedia (including resends).
    pub bytes_sent: u64,
    /// Fragments held in the store.
    pub buffered_fragments: u64,
    /// Bytes held in the store.
    pub buffered_bytes: u64,
    /// Fragments dropped.
    pub dropped: u64,
    /// ERROR acknowledgements.
    pub errors: u64,
    /// Reconnections.
    pub reconnects: u64,
}

/// A producer failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProducerError {
    /// The tracks or configuration cannot make a KVS stream.
    #[error("cannot package the stream: {0}")]
    Package(#[from] kvs_mkv::WriteError),
    /// A frame could not be packaged.
    #[error("frame refused: {0}")]
    Frame(PackError),
    /// The content store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Not every fragment was acknowledged PERSISTED in time.
    #[error(
        "{fragments} fragment(s) ({bytes} bytes) not acknowledged PERSISTED within {timeout:?}; they stay in the store"
    )]
    Unacknowledged {
        /// Fragments not acknowledged, still in the store (a disk store sends them again on
        /// the next start).
        fragments: usize,
        /// Their size in bytes.
        bytes: u64,
        /// How long `finish` waited.
        timeout: Duration,
    },
    /// The producer was already finished.
    #[error("the producer has finished")]
    Finished,
    /// The HTTP client could not be set up with the configuration's TLS settings.
    #[error("cannot set up the PutMedia HTTP client: {0}")]
    HttpClient(String),
}

/// What [`Producer::try_push`] did with a frame.
#[derive(Debug)]
#[must_use = "a frame that would wait is handed back, not taken"]
pub enum TryPush {
    /// Taken, or skipped as [`Producer::push`] would skip it.
    Done,
    /// Not taken: give it to [`Producer::push`], which waits.
    WouldWait(Frame),
}

/// Store room a frame needs: its payload and the block and cluster headers around it.
fn room_for(frame: &Frame) -> u64 {
    frame.data.len() as u64 + 64
}

/// The PutMedia client: it trusts what `config` trusts (its CA bundle, else the default roots).
fn http_client(config: &KvsConfig) -> Result<reqwest::Client, ProducerError> {
    let builder = reqwest::Client::builder();
    let builder = match config.tls_client_config() {
        Some(tls) => builder.tls_backend_preconfigured((*tls).clone()),
        None => builder,
    };
    builder
        .build()
        .map_err(|e| ProducerError::HttpClient(e.to_string()))
}

#[derive(Default)]
struct Counters {
    frames: AtomicU64,
    fragments: AtomicU64,
    bytes_sent: AtomicU64,
    dropped: AtomicU64,
    errors: AtomicU64,
    reconnects: AtomicU64,
}

struct Shared {
    store: Store,
    counters: Counters,
    events: broadcast::Sender<ProducerEvent>,
    config: ProducerConfig,
}

impl Shared {
    fn emit(&self, e: ProducerEvent) {
        let _ = self.events.send(e);
    }

    fn note_dropped(&self, d: Dropped, reason: &str) {
        if d.fragments > 0 {
            self.counters
                .dropped
                .fetch_add(d.fragments, Ordering::Relaxed);
            self.emit(ProducerEvent::Dropped {
                fragments: d.fragments,
                bytes: d.bytes,
                reason: reason.to_owned(),
            });
        }
    }
}

struct Input {
    packager: Packager,
    repair: TimestampRepair,
    /// The packager's output for one frame, and its parts (both kept for reuse).
    out: Chunks,
    parts: Vec<Bytes>,
}

/// Sets up a [`Producer`]: its tracks (at least one; track numbers from 1) and how it
/// behaves. Made by [`Producer::builder`].
#[derive(Debug)]
#[must_use = "a builder does nothing until started"]
pub struct ProducerBuilder {
    config: KvsConfig,
    stream: StreamRef,
    tracks: Vec<TrackInfo>,
    options: ProducerConfig,
}

impl ProducerBuilder {
    /// Adds a track (video on track 1, audio on track 2, as KVS expects).
    pub fn track(mut self, track: TrackInfo) -> Self {
        self.tracks.push(track);
        self
    }

    /// Sets all tracks at once.
    pub fn tracks(mut self, tracks: impl IntoIterator<Item = TrackInfo>) -> Self {
        self.tracks = tracks.into_iter().collect();
        self
    }

    /// Replaces every option with `options`.
    pub fn options(mut self, options: ProducerConfig) -> Self {
        self.options = options;
        self
    }

    /// Where fragments wait for PERSISTED (default: 128 MB in memory).
    pub fn storage(mut self, storage: Storage) -> Self {
        self.options.storage = storage;
        self
    }

    /// Starts the producer: a disk store first resends what a previous run left
    /// unacknowledged, then frames pushed with [`Producer::push`] follow. Needs a tokio runtime.
    pub fn start(self) -> Result<Producer, ProducerError> {
        Producer::start(self)
    }
}

/// Streams frames into one KVS stream.
pub struct Producer {
    shared: Arc<Shared>,
    input: Mutex<Option<Input>>,
    sender: JoinHandle<()>,
}

impl Producer {
    /// A producer for `stream`, to be given its tracks and started:
    /// `Producer::builder(&config, stream).track(video).start()`.
    pub fn builder(config: &KvsConfig, stream: StreamRef) -> ProducerBuilder {
        ProducerBuilder {
            config: config.clone(),
            stream,
            tracks: Vec::new(),
            options: ProducerConfig::default(),
        }
    }

    fn start(builder: ProducerBuilder) -> Result<Self, ProducerError> {
        let ProducerBuilder {
            config,
            stream,
            tracks,
            options: producer_config,
        } = builder;
        let writer = MkvWriter::new(WriterConfig::default(), tracks)?;
        let packager = Packager::new(writer, producer_config.fragments.clone());
        let max_span = producer_config.max_buffered.map(|d| {
            let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
            packager.writer().to_timecode(ns)
        });
        let store = Store::open(&producer_config.storage, producer_config.overflow)?
            .with_max_span(max_span);
        store.begin_session(packager.header().into())?;
        let (events, _) = broadcast::channel(4096);
        let shared = Arc::new(Shared {
            store,
            counters: Counters::default(),
            events,
            config: producer_config,
        });
        let connection = Connection {
            shared: shared.clone(),
            resolver: config.resolver().clone(),
            signer: config.signer("kinesisvideo"),
            stream,
            http: http_client(&config)?,
        };
        let sender = tokio::spawn(connection.run());
        Ok(Self {
            shared,
            input: Mutex::new(Some(Input {
                packager,
                repair: TimestampRepair::default(),
                out: Chunks::new(),
                parts: Vec::new(),
            })),
            sender,
        })
    }

    /// Events as they happen (acks, reconnects, drops, repairs).
    pub fn events(&self) -> broadcast::Receiver<ProducerEvent> {
        self.shared.events.subscribe()
    }

    /// Current counters.
    pub fn stats(&self) -> ProducerStats {
        let c = &self.shared.counters;
        let (frags, bytes) = self.shared.store.usage();
        ProducerStats {
            frames: c.frames.load(Ordering::Relaxed),
            fragments: c.fragments.load(Ordering::Relaxed),
            persisted: self.shared.store.persisted_count(),
            bytes_sent: c.bytes_sent.load(Ordering::Relaxed),
            buffered_fragments: frags as u64,
            buffered_bytes: bytes,
            dropped: c.dropped.load(Ordering::Relaxed),
            errors: c.errors.load(Ordering::Relaxed),
            reconnects: c.reconnects.load(Ordering::Relaxed),
        }
    }

    /// Adds a frame (timestamps absolute, epoch nanoseconds). Frames before the first key frame
    /// are skipped (reported); with [`OverflowPolicy::Block`] this waits while the store is full.
    pub async fn push(&self, frame: Frame) -> Result<(), ProducerError> {
        let mut guard = self.input.lock().await;
        let input = guard.as_mut().ok_or(ProducerError::Finished)?;
        let dropped = self.shared.store.make_room(room_for(&frame)).await;
        self.push_into(input, frame, dropped)
    }

    /// [`push`](Self::push) without waiting and without an async runtime, for callers on their
    /// own threads (a GStreamer streaming thread): the frame comes back in
    /// [`TryPush::WouldWait`] when `push` would wait (the store is full under
    /// [`OverflowPolicy::Block`], or another push is under way).
    pub fn try_push(&self, frame: Frame) -> Result<TryPush, ProducerError> {
        let Ok(mut guard) = self.input.try_lock() else {
            return Ok(TryPush::WouldWait(frame));
        };
        let input = guard.as_mut().ok_or(ProducerError::Finished)?;
        let Some(dropped) = self.shared.store.try_make_room(room_for(&frame)) else {
            return Ok(TryPush::WouldWait(frame));
        };
        self.push_into(input, frame, dropped)?;
        Ok(TryPush::Done)
    }

    fn push_into(
        &self,
        input: &mut Input,
        frame: Frame,
        dropped: Dropped,
    ) -> Result<(), ProducerError> {
        self.shared
            .note_dropped(dropped, "the fragment store is full");
        let frame = if self.shared.config.repair_timestamps {
            let (frame, shift) = input.repair.apply(frame);
            if let Some((track, shift_ns)) = shift {
                tracing::warn!(
                    track,
                    shift_ns,
                    "timestamps went backwards; shifted later frames"
                );
                self.shared
                    .emit(ProducerEvent::TimestampsRepaired { track, shift_ns });
            }
            frame
        } else {
            frame
        };
        // Block headers are written, payloads shared: the frame's bytes are not copied on
        // their way to the store and the request body.
        let pushed = input.packager.push(&frame, &mut input.out);
        input.parts.clear();
        input.parts.extend(input.out.drain());
        match pushed {
            Ok(pushed) => {
                self.shared.counters.frames.fetch_add(1, Ordering::Relaxed);
                if let Some(timecode) = pushed.started {
                    self.shared
                        .counters
                        .fragments
                        .fetch_add(1, Ordering::Relaxed);
                    self.shared.store.start_fragment(timecode, &input.parts)?;
                } else {
                    self.shared.store.append(&input.parts)?;
                }
                Ok(())
            }
            Err(PackError::BeforeFirstKeyFrame { track, .. }) => {
                self.shared
                    .emit(ProducerEvent::SkippedBeforeKeyFrame { track });
                Ok(())
            }
            Err(e) => Err(ProducerError::Frame(e)),
        }
    }

    /// Ends the input and waits (up to `timeout`) until every fragment is PERSISTED.
    pub async fn finish(self, timeout: Duration) -> Result<ProducerStats, ProducerError> {
        if let Some(mut input) = self.input.lock().await.take() {
            input.packager.finish();
        }
        self.shared.store.close()?;
        let waited = tokio::time::timeout(timeout, async {
            while !self.shared.store.drained() {
                let changed = self.shared.store.changed();
                if self.shared.store.drained() {
                    break;
                }
                let _ = tokio::time::timeout(Duration::from_millis(200), changed).await;
            }
        })
        .await;
        let stats = self.stats();
        self.sender.abort();
        match waited {
            Ok(()) => Ok(stats),
            Err(_) => {
                let (fragments, bytes) = self.shared.store.usage();
                Err(ProducerError::Unacknowledged {
                    fragments,
                    bytes,
                    timeout,
                })
            }
        }
    }
}

impl Drop for Producer {
    fn drop(&mut self) {
        self.sender.abort();
    }
}

/// The PutMedia connection loop.
struct Connection {
    shared: Arc<Shared>,
    resolver: Arc<EndpointResolver>,
    signer: RequestSigner,
    stream: StreamRef,
    http: reqwest::Client,
}

enum Outcome {
    /// Everything was sent and acknowledged.
    Done,
    /// The connection ended or failed; connect again.
    Retry(String),
    /// Nothing answered (refused, DNS, timeout): connect again, soon.
    Unreachable(String),
}

/// The longest wait before trying an endpoint that did not answer again. Such a try costs
/// next to nothing, and a long back-off would delay the first ack after, say, a restarted
/// kvs-local comes back.
const UNREACHABLE_MAX_BACKOFF: Duration = Duration::from_millis(250);

impl Connection {
    async fn run(self) {
        let mut backoff = self.shared.config.min_backoff;
        let mut refusals: (Option<u64>, u32) = (None, 0);
        loop {
            if self.shared.store.drained() {
                return;
            }
            let mut progressed = false;
            let (error, unreachable) = match self.once(&mut refusals, &mut progressed).await {
                Outcome::Done => return,
                Outcome::Retry(error) => (error, false),
                Outcome::Unreachable(error) => (error, true),
            };
            // A connection that got fragments PERSISTED was a working one: the next outage
            // starts the back-off afresh instead of waiting the longest delay.
            if progressed {
                backoff = self.shared.config.min_backoff;
            }
            let delay = if unreachable {
                backoff.min(UNREACHABLE_MAX_BACKOFF)
            } else {
                backoff
            };
            self.shared
                .counters
                .reconnects
                .fetch_add(1, Ordering::Relaxed);
            self.resolver
                .invalidate_data_endpoint(&self.stream, ApiName::PutMedia);
            tracing::info!(%error, ?delay, "PutMedia reconnecting");
            self.shared
                .emit(ProducerEvent::Reconnecting { error, delay });
            tokio::time::sleep(delay).await;
            backoff = (backoff * 2).min(self.shared.config.max_backoff);
        }
    }

    async fn once(&self, refusals: &mut (Option<u64>, u32), progressed: &mut bool) -> Outcome {
        let endpoint = match self
            .resolver
            .data_endpoint(&self.stream, ApiName::PutMedia)
            .await
        {
            Ok(e) => e,
            Err(e) if e.service_error().kind() == ErrorKind::Transport => {
                return Outcome::Unreachable(e.to_string());
            }
            Err(e) => return Outcome::Retry(e.to_string()),
        };
        let url = format!("{}/putMedia", endpoint.trim_end_matches('/'));
        let start = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64();
        let mut builder = http::Request::post(&url)
            .header("x-amzn-fragment-timecode-type", "ABSOLUTE")
            .header("x-amzn-producer-start-timestamp", format!("{start:.3}"))
            .header("x-amzn-fragment-acknowledgment-required", "1")
            .header("user-agent", concat!("kvs-rs/", env!("CARGO_PKG_VERSION")));
        builder = match &self.stream {
            StreamRef::Name(n) => builder.header("x-amzn-stream-name", n.as_str()),
            StreamRef::Arn(a) => builder.header("x-amzn-stream-arn", a.as_str()),
        };
        let Ok(mut request) = builder.body(()) else {
            return Outcome::Retry(format!("cannot build a request for {url}"));
        };
        if let Err(e) = self.signer.sign(&mut request, Payload::Streaming).await {
            return Outcome::Retry(e.to_string());
        }

        let (body_tx, body_rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(8);
        let feeder = {
            let shared = self.shared.clone();
            tokio::spawn(async move {
                let mut cursor = Cursor::default();
                loop {
                    match shared.store.next_chunk(&mut cursor).await {
                        Ok(Some(bytes)) => {
                            let n = bytes.len() as u64;
                            if body_tx.send(Ok(bytes)).await.is_err() {
                                return;
                            }
                            shared.counters.bytes_sent.fetch_add(n, Ordering::Relaxed);
                        }
                        Ok(None) => return,
                        Err(e) => {
                            let _ = body_tx
                                .send(Err(std::io::Error::other(e.to_string())))
                                .await;
                            return;
                        }
                    }
                }
            })
        };
        let _stop_feeder = AbortOnDrop(feeder);
        let mut req = self.http.post(&url).body(reqwest::Body::wrap_stream(
            tokio_stream::wrappers::ReceiverStream::new(body_rx),
        ));
        for (k, v) in request.headers() {
            req = req.header(k, v);
        }
        let response = match req.send().await {
            Ok(r) => r,
            Err(e) if e.is_connect() || e.is_timeout() => {
                return Outcome::Unreachable(format!("PutMedia to {url}: {e}"));
            }
            Err(e) => return Outcome::Retry(format!("PutMedia to {url}: {e}")),
        };
        if !response.status().is_success() {
            let status = response.status();
            let text = response.text().await.unwrap_or_default();
            return Outcome::Retry(format!("PutMedia answered {status}: {}", text.trim()));
        }
        self.shared.emit(ProducerEvent::Connected { endpoint });

        let mut acks = response.bytes_stream();
        let mut decoder = AckDecoder::default();
        let staleness = self.shared.config.connection_staleness;
        loop {
            let next = match tokio::time::timeout(staleness, acks.next()).await {
                Ok(n) => n,
                Err(_) => return Outcome::Retry(format!("no acknowledgement for {staleness:?}")),
            };
            let chunk = match next {
                None if self.shared.store.drained() => return Outcome::Done,
                None => return Outcome::Retry("the service ended the PutMedia connection".into()),
                Some(Err(e)) => return Outcome::Retry(format!("reading acknowledgements: {e}")),
                Some(Ok(c)) => c,
            };
            for ack in decoder.feed(&chunk) {
                let ack = match ack {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::warn!(error = %e, "ignoring an acknowledgement");
                        continue;
                    }
                };
                self.shared.emit(ProducerEvent::Ack(ack.clone()));
                match ack.event {
                    AckEventType::Persisted => {
                        if let Some(timecode) = ack.fragment_timecode
                            && let Some(latency) = self.shared.store.persisted(timecode)
                        {
                            *progressed = true;
                            self.shared
                                .emit(ProducerEvent::Persisted { timecode, latency });
                        }
                        if self.shared.store.drained() {
                            return Outcome::Done;
                        }
                    }
                    AckEventType::Error => {
                        self.shared.counters.errors.fetch_add(1, Ordering::Relaxed);
                        let id = ack.error_id.unwrap_or(0);
                        // The same fragment refused again and again would block the stream.
                        if refusals.0 == ack.fragment_timecode {
                            refusals.1 += 1;
                        } else {
                            *refusals = (ack.fragment_timecode, 1);
                        }
                        if refusals.1 >= self.shared.config.max_fragment_attempts
                            && let Some((_, bytes)) = self.shared.store.drop_first()
                        {
                            self.shared.note_dropped(
                                Dropped {
                                    fragments: 1,
                                    bytes,
                                },
                                &format!("KVS refused it {} times (error {id})", refusals.1),
                            );
                            *refusals = (None, 0);
                        }
                        return Outcome::Retry(format!(
                            "KVS error {id} for fragment {:?}",
                            ack.fragment_timecode
                        ));
                    }
                    AckEventType::Buffering | AckEventType::Received | AckEventType::Idle => {}
                }
            }
        }
    }
}

struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
