//! `kvs_rs.Producer`: encoded H.264 frames into a stream over PutMedia, with the Rust
//! producer's buffering, reconnects and acknowledgements.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use std::path::{Path, PathBuf};

use kvs_gst::{MediaSource, Source, SourceOptions};
use kvs_media::{ProducerConfig, ProducerEvent, ProducerStats, UploadOptions, UploadSummary};
use kvs_mkv::codec::{
    annexb_to_avc, avc_nal_units, avcc_from_access_unit, avcc_from_annexb, h264_nal_type,
    h264_sps_dimensions, is_annexb,
};
use kvs_mkv::{Frame, TrackInfo};
use kvs_types::StreamRef;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use crate::config::{Config, epoch_ns, stream_ref};
use crate::errors::{FrameError, KvsError, Local, to_py};
use crate::runtime::{runtime, wait};

/// Events kept for `events()` when nobody drains them.
const EVENT_BACKLOG: usize = 10_000;

enum State {
    /// Waiting for the first key frame, which gives the track its codec private data.
    Waiting,
    Running(Box<Running>),
    Finished,
}

struct Running {
    producer: kvs_media::Producer,
    /// The last timestamp (ns) accepted on each track: they must not go back.
    last_ns: std::collections::HashMap<u64, u64>,
    /// Delivers events to the queue or the callback; ends after the producer.
    events: tokio::task::JoinHandle<()>,
}

/// Streams encoded H.264 frames into a Kinesis video stream (PutMedia).
///
/// Frames are access units in Annex-B (start codes, what most encoders emit) or AVC
/// (length-prefixed) form; the first must be a key frame with SPS and PPS, which give the
/// track's codec private data and picture size unless `codec_private` (an avcC record),
/// `width` and `height` are given. Timestamps are epoch seconds and must not go back.
/// Fragments wait in memory until KVS acknowledges them PERSISTED; `finish()` waits for
/// that. Acknowledgements and other events come from `events()` or an `on_event` callback.
#[pyclass(module = "kvs_rs._native", subclass, frozen)]
pub(crate) struct Producer {
    config: Config,
    stream: StreamRef,
    width: Option<u32>,
    height: Option<u32>,
    codec_private: Option<Vec<u8>>,
    state: Mutex<State>,
    events: Arc<Mutex<VecDeque<Event>>>,
    on_event: Option<Arc<Py<PyAny>>>,
}

/// One producer event, as Python gets it (a dict).
#[derive(Clone)]
struct Event {
    kind: &'static str,
    fields: Vec<(&'static str, EventValue)>,
}

#[derive(Clone)]
enum EventValue {
    Str(String),
    Int(u64),
    Float(f64),
    Null,
}

impl Event {
    fn from(event: &ProducerEvent) -> Option<Self> {
        use EventValue::{Float, Int, Null, Str};
        let opt_int = |v: Option<u64>| v.map_or(Null, Int);
        Some(match event {
            ProducerEvent::Connected { endpoint } => Self {
                kind: "connected",
                fields: vec![("endpoint", Str(endpoint.clone()))],
            },
            ProducerEvent::Ack(ack) => Self {
                kind: "ack",
                fields: vec![
                    (
                        "event",
                        Str(format!("{:?}", ack.event).to_ascii_uppercase()),
                    ),
                    ("fragment_timecode", opt_int(ack.fragment_timecode)),
                    (
                        "fragment_number",
                        ack.fragment_number
                            .as_ref()
                            .map_or(Null, |n| Str(n.as_str().to_owned())),
                    ),
                    ("error_id", opt_int(ack.error_id.map(u64::from))),
                ],
            },
            ProducerEvent::Reconnecting { error, delay } => Self {
                kind: "reconnecting",
                fields: vec![
                    ("error", Str(error.clone())),
                    ("delay", Float(delay.as_secs_f64())),
                ],
            },
            ProducerEvent::Dropped {
                fragments,
                bytes,
                reason,
            } => Self {
                kind: "dropped",
                fields: vec![
                    ("fragments", Int(*fragments)),
                    ("bytes", Int(*bytes)),
                    ("reason", Str(reason.clone())),
                ],
            },
            ProducerEvent::SkippedBeforeKeyFrame { track } => Self {
                kind: "skipped_before_key_frame",
                fields: vec![("track", Int(*track))],
            },
            ProducerEvent::Persisted { timecode, latency } => Self {
                kind: "persisted",
                fields: vec![
                    ("fragment_timecode", Int(*timecode)),
                    ("latency", Float(latency.as_secs_f64())),
                ],
            },
            ProducerEvent::TimestampsRepaired { track, shift_ns } => Self {
                kind: "timestamps_repaired",
                fields: vec![("track", Int(*track)), ("shift_ns", Int(*shift_ns))],
            },
            _ => return None,
        })
    }

    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("type", self.kind)?;
        for (k, v) in &self.fields {
            match v {
                EventValue::Str(s) => d.set_item(k, s)?,
                EventValue::Int(i) => d.set_item(k, i)?,
                EventValue::Float(f) => d.set_item(k, f)?,
                EventValue::Null => d.set_item(k, py.None())?,
            }
        }
        Ok(d)
    }
}

#[pymethods]
impl Producer {
    #[new]
    #[pyo3(signature = (stream, config, *, width=None, height=None, codec_private=None, on_event=None))]
    fn new(
        stream: &str,
        config: Config,
        width: Option<u32>,
        height: Option<u32>,
        codec_private: Option<Vec<u8>>,
        on_event: Option<Py<PyAny>>,
    ) -> PyResult<Self> {
        let stream = stream_ref(stream)?;
        Ok(Self {
            config,
            stream,
            width,
            height,
            codec_private,
            state: Mutex::new(State::Waiting),
            events: Arc::default(),
            on_event: on_event.map(Arc::new),
        })
    }

    /// Adds one frame: `data` (bytes) is an access unit, `timestamp` its presentation time in
    /// epoch seconds, `key_frame` whether it is an IDR frame, `track` 1 (video). Waits while
    /// the buffer is full. Raises FrameError for a frame the stream cannot take (unknown
    /// track, timestamp going back, not H.264); nothing already accepted is lost.
    #[pyo3(signature = (data, timestamp, key_frame, track=1))]
    fn put_frame(
        &self,
        py: Python<'_>,
        data: &Bound<'_, PyAny>,
        timestamp: f64,
        key_frame: bool,
        track: u64,
    ) -> PyResult<()> {
        if !timestamp.is_finite() || timestamp < 0.0 {
            return Err(FrameError::new_err(format!(
                "timestamp {timestamp} is not a time in epoch seconds"
            )));
        }
        // bytes as they are; anything else with a buffer (bytearray, memoryview, a NumPy
        // array of encoded bytes) through its `tobytes()` or `bytes()`.
        let converted;
        let bytes = match data.downcast::<PyBytes>() {
            Ok(b) => b,
            Err(_) => {
                converted = match data.call_method0("tobytes") {
                    Ok(b) => b,
                    Err(_) => py
                        .get_type::<PyBytes>()
                        .call1((data,))
                        .map_err(|_| FrameError::new_err("data must be bytes or have a buffer"))?,
                };
                converted
                    .downcast::<PyBytes>()
                    .map_err(|_| FrameError::new_err("data must be bytes or have a buffer"))?
            }
        };
        let data = bytes.as_bytes();
        // Everything below waits (a full buffer, the first connection): without the GIL, and
        // with the state lock taken and released inside, so other threads never deadlock on it.
        py.allow_threads(|| self.put(data, timestamp, key_frame, track))
    }

    /// Ends the input and waits up to `timeout` seconds until every fragment is PERSISTED;
    /// returns the counters (frames, fragments, persisted, bytes_sent, dropped, errors, ...).
    #[pyo3(signature = (timeout=30.0))]
    fn finish<'py>(&self, py: Python<'py>, timeout: f64) -> PyResult<Bound<'py, PyDict>> {
        let state = {
            let mut s = self
                .state
                .lock()
                .map_err(|_| KvsError::new_err("the producer failed earlier"))?;
            std::mem::replace(&mut *s, State::Finished)
        };
        let stats = match state {
            State::Running(running) => {
                let timeout = Duration::try_from_secs_f64(timeout.max(0.0))
                    .unwrap_or(Duration::from_secs(30));
                let Running {
                    producer, events, ..
                } = *running;
                wait(py, async move {
                    let stats = producer.finish(timeout).await;
                    // The last acknowledgements reach the queue or the callback before
                    // finish returns (the event task ends with the producer).
                    let _ = tokio::time::timeout(Duration::from_secs(5), events).await;
                    stats
                })
                .map_err(|e| to_py(&e, Local::Other))?
            }
            State::Waiting | State::Finished => ProducerStats::default(),
        };
        stats_dict(py, &stats)
    }

    /// Uploads an MKV or MP4 file (H.264 or H.265 video, optional AAC audio; not re-encoded)
    /// through this producer, which must not have taken frames yet: its tracks come from the
    /// file. `realtime` paces it as a camera would; otherwise it is read as fast as it goes and
    /// placed so that it ends now. Returns `{"frames": n, "media_seconds": s}`; call
    /// `finish()` after to wait for the acknowledgements.
    #[pyo3(signature = (path, realtime=false))]
    fn put_file<'py>(
        &self,
        py: Python<'py>,
        path: PathBuf,
        realtime: bool,
    ) -> PyResult<Bound<'py, PyDict>> {
        let summary = py.allow_threads(|| self.upload_file(&path, realtime))?;
        let d = PyDict::new(py);
        d.set_item("frames", summary.frames)?;
        d.set_item("media_seconds", summary.media.as_secs_f64())?;
        Ok(d)
    }

    /// For the benchmark: `put_frame` of each `(data, timestamp, key_frame)` in a Rust loop;
    /// returns the seconds the loop took (what a Python loop is compared with).
    fn _bench_put_frames(
        &self,
        py: Python<'_>,
        frames: Vec<(Vec<u8>, f64, bool)>,
    ) -> PyResult<f64> {
        py.allow_threads(|| {
            let started = std::time::Instant::now();
            for (data, timestamp, key) in &frames {
                self.put(data, *timestamp, *key, 1)?;
            }
            Ok(started.elapsed().as_secs_f64())
        })
    }

    /// The events since the last call (dicts with a `type`: `ack`, `persisted`, `connected`,
    /// `reconnecting`, `dropped`, ...), oldest first.
    fn events<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyDict>>> {
        let drained: Vec<Event> = self
            .events
            .lock()
            .map(|mut q| q.drain(..).collect())
            .unwrap_or_default();
        drained.iter().map(|e| e.to_dict(py)).collect()
    }

    /// The counters so far.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let stats = match &*self
            .state
            .lock()
            .map_err(|_| KvsError::new_err("the producer failed earlier"))?
        {
            State::Running(r) => r.producer.stats(),
            _ => ProducerStats::default(),
        };
        stats_dict(py, &stats)
    }
}

impl Producer {
    fn put(&self, data: &[u8], timestamp: f64, key_frame: bool, track: u64) -> PyResult<()> {
        let avc = if is_annexb(data) {
            Bytes::from(annexb_to_avc(data))
        } else {
            Bytes::copy_from_slice(data)
        };
        let frame = Frame {
            track,
            timestamp_ns: epoch_ns(timestamp),
            key: key_frame,
            data: avc,
        };
        let mut state = self
            .state
            .lock()
            .map_err(|_| KvsError::new_err("the producer failed earlier"))?;
        if let State::Waiting = *state {
            if !key_frame {
                // As the Rust producer does: a fragment starts on a key frame.
                return Ok(());
            }
            *state = State::Running(Box::new(self.start(data)?));
        }
        let State::Running(running) = &mut *state else {
            return Err(KvsError::new_err("the producer has finished"));
        };
        if let Some(&last) = running.last_ns.get(&track)
            && frame.timestamp_ns < last
        {
            return Err(FrameError::new_err(format!(
                "frame at {timestamp} s on track {track} is earlier than the previous one at {} s: timestamps must not go back",
                last as f64 / 1e9
            )));
        }
        runtime()
            .block_on(running.producer.push(frame))
            .map_err(|e| to_py(&e, Local::Frame))?;
        running.last_ns.insert(track, epoch_ns(timestamp));
        Ok(())
    }

    fn upload_file(&self, path: &Path, realtime: bool) -> PyResult<UploadSummary> {
        let mut state = self
            .state
            .lock()
            .map_err(|_| KvsError::new_err("the producer failed earlier"))?;
        if !matches!(*state, State::Waiting) {
            return Err(KvsError::new_err(
                "put_file needs a producer that has taken no frames: its tracks come from the file",
            ));
        }
        let mut media = MediaSource::open(
            &Source::File(path.to_path_buf()),
            SourceOptions::realtime(realtime),
        )
        .map_err(|e| to_py(&e, Local::Frame))?;
        let options = if realtime {
            UploadOptions::live(None)
        } else {
            UploadOptions::ending_now(media.duration().unwrap_or_default(), None)
        };
        let running = self.start_with(media.tracks().to_vec())?;
        let summary = runtime().block_on(kvs_media::upload(
            move || media.next_frame(),
            &running.producer,
            options,
            std::future::pending(),
        ));
        *state = State::Running(Box::new(running));
        summary.map_err(|e| to_py(&e, Local::Frame))
    }

    /// Starts the Rust producer with the track the first key frame describes.
    fn start(&self, key_frame: &[u8]) -> PyResult<Running> {
        let bad = |why: String| FrameError::new_err(why);
        let avcc = match &self.codec_private {
            Some(c) => c.clone(),
            None if is_annexb(key_frame) => avcc_from_annexb(key_frame)
                .map_err(|e| bad(format!("the first key frame has no usable SPS/PPS: {e}")))?,
            None => avcc_from_access_unit(key_frame)
                .map_err(|e| bad(format!("the first key frame has no usable SPS/PPS: {e}")))?,
        };
        let (width, height) = match (self.width, self.height) {
            (Some(w), Some(h)) => (w, h),
            _ => {
                let avc = if is_annexb(key_frame) {
                    annexb_to_avc(key_frame)
                } else {
                    key_frame.to_vec()
                };
                avc_nal_units(&avc)
                    .into_iter()
                    .find(|u| h264_nal_type(u) == Some(7))
                    .and_then(h264_sps_dimensions)
                    .ok_or_else(|| {
                        bad(
                            "cannot read the picture size from the SPS; give width and height"
                                .into(),
                        )
                    })?
            }
        };
        self.start_with(vec![TrackInfo::h264(1, width, height, avcc)])
    }

    /// Starts the Rust producer with `tracks`, and the task that delivers its events.
    fn start_with(&self, tracks: Vec<TrackInfo>) -> PyResult<Running> {
        let mut options = ProducerConfig::default();
        // A timestamp that goes back is the caller's bug: say so rather than shift frames.
        options.repair_timestamps = false;
        let _guard = runtime().enter();
        let producer = kvs_media::Producer::builder(&self.config.inner, self.stream.clone())
            .tracks(tracks)
            .options(options)
            .start()
            .map_err(|e| to_py(&e, Local::Frame))?;
        let mut rx = producer.events();
        let queue = Arc::clone(&self.events);
        let callback = self.on_event.clone();
        drop(_guard);
        let events = runtime().spawn(async move {
            while let Ok(event) = rx.recv().await {
                let Some(event) = Event::from(&event) else {
                    continue;
                };
                match &callback {
                    Some(cb) => {
                        let cb = Arc::clone(cb);
                        let _ = tokio::task::spawn_blocking(move || {
                            Python::with_gil(|py| {
                                let result = event.to_dict(py).and_then(|d| cb.call1(py, (d,)));
                                if let Err(e) = result {
                                    e.print(py);
                                }
                            })
                        })
                        .await;
                    }
                    None => {
                        if let Ok(mut q) = queue.lock() {
                            if q.len() >= EVENT_BACKLOG {
                                q.pop_front();
                            }
                            q.push_back(event);
                        }
                    }
                }
            }
        });
        Ok(Running {
            producer,
            last_ns: Default::default(),
            events,
        })
    }
}

fn stats_dict<'py>(py: Python<'py>, s: &ProducerStats) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("frames", s.frames)?;
    d.set_item("fragments", s.fragments)?;
    d.set_item("persisted", s.persisted)?;
    d.set_item("bytes_sent", s.bytes_sent)?;
    d.set_item("buffered_fragments", s.buffered_fragments)?;
    d.set_item("buffered_bytes", s.buffered_bytes)?;
    d.set_item("dropped", s.dropped)?;
    d.set_item("errors", s.errors)?;
    d.set_item("reconnects", s.reconnects)?;
    Ok(d)
}
