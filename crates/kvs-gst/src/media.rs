//! [`MediaSource`]: a running pipeline read as one stream of KVS frames.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use bytes::Bytes;
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app::AppSink;
use kvs_mkv::{Frame, TrackInfo};

use crate::caps::{self, AUDIO_TRACK, VIDEO_TRACK};
use crate::error::{Result, SourceError};
use crate::merge::{Merger, Next};
use crate::pipeline::{self, Built};
use crate::source::{Source, SourceOptions, redact_url};

/// How long [`MediaSource::open`] waits for the stream list and the first frame of each
/// track.
const OPEN_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a pull waits before it checks the bus for errors again.
const POLL: Duration = Duration::from_millis(50);
/// How long a live source (or an offline file) may go without producing a frame.
const STALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Sets the pipeline to `Null` when dropped, so no error path leaves threads running.
struct PipelineGuard(gst::Pipeline);

impl Drop for PipelineGuard {
    fn drop(&mut self) {
        let _ = self.0.set_state(gst::State::Null);
    }
}

/// Asks a [`MediaSource`]'s encoder for a key frame (with SPS and PPS) as soon as it can,
/// as a WebRTC sender does when a viewer reports picture loss. Cheap to clone, usable from
/// any thread while the source is being read.
#[derive(Clone)]
pub struct KeyFrameTrigger {
    /// The video sink: a force-key-unit event sent from it travels upstream to the encoder.
    sink: AppSink,
}

impl KeyFrameTrigger {
    /// Sends the request; `false` if the pipeline did not take it (e.g. it has stopped).
    pub fn request(&self) -> bool {
        // The upstream force-key-unit event of GstVideoEncoder (gst_video_event_new_upstream_
        // force_key_unit), built by hand to avoid a gstreamer-video dependency for one event.
        let structure = gst::Structure::builder("GstForceKeyUnit")
            .field("all-headers", true)
            .field("count", 0u32)
            .build();
        self.sink
            .send_event(gst::event::CustomUpstream::new(structure))
    }
}

impl std::fmt::Debug for KeyFrameTrigger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyFrameTrigger").finish_non_exhaustive()
    }
}

/// A frame pulled from a track, before it is made relative to the stream start.
#[derive(Debug)]
struct Pulled {
    track: u64,
    /// Presentation time (running time), nanoseconds.
    pts: u64,
    key: bool,
    data: Bytes,
}

/// What was read, and how to describe it in errors.
struct Input {
    /// e.g. `file /tmp/a.mkv`, `RTSP stream rtsp://cam/live`.
    description: String,
    source: Source,
    input_element: &'static str,
}

/// A running GStreamer pipeline that yields the frames of a [`Source`] in timestamp order.
///
/// Track 1 is the video (H.264 as AVC length-prefixed access units with an AVCC codec
/// private, or H.265 as hvc1), track 2 the audio when the source has one: AAC (raw frames,
/// AudioSpecificConfig codec private), or with [`AudioCodec::Opus`](crate::AudioCodec::Opus)
/// Opus (one 20 ms packet per frame, `OpusHead` codec private). The first frame is always a video key frame, at
/// timestamp 0; frames before it are dropped. Timestamps are presentation times in
/// nanoseconds from that frame; the caller adds its own base (e.g. the wall clock at start).
///
/// Dropping it stops the pipeline.
pub struct MediaSource {
    sinks: Vec<AppSink>,
    tracks: Vec<TrackInfo>,
    merger: Merger<Pulled>,
    /// Presentation time of the first frame emitted.
    base_pts: Option<u64>,
    input: Input,
    stall_timeout: Option<Duration>,
    finished: bool,
    bus: gst::Bus,
    discovery: std::sync::Arc<pipeline::Discovery>,
    pipeline: PipelineGuard,
}

impl std::fmt::Debug for MediaSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaSource")
            .field("input", &self.input.description)
            .field("tracks", &self.tracks)
            .finish_non_exhaustive()
    }
}

pub(crate) fn init() -> Result<()> {
    static INIT: OnceLock<Result<(), String>> = OnceLock::new();
    INIT.get_or_init(|| gst::init().map_err(|e| e.to_string()))
        .clone()
        .map_err(SourceError::Init)
}

impl MediaSource {
    /// Builds and starts the pipeline for `source`, and waits (at most 15 s) until every
    /// track's format is known and the first video key frame has arrived.
    pub fn open(source: &Source, options: SourceOptions) -> Result<Self> {
        init()?;
        if let Source::File(path) = source {
            if !path.exists() {
                return Err(SourceError::FileNotFound { path: path.clone() });
            }
            if !path.is_file() {
                return Err(SourceError::NotMedia {
                    path: path.clone(),
                    reason: "it is not a regular file".into(),
                });
            }
        }
        let input = Input {
            description: source.to_string(),
            source: source.clone(),
            input_element: "",
        };
        let Built {
            pipeline,
            discovery,
            input_element,
        } = pipeline::build_pipeline(source, options, &input.description)?;
        let input = Input {
            input_element,
            ..input
        };
        let bus = pipeline.bus().ok_or_else(|| SourceError::Pipeline {
            element: pipeline.name().to_string(),
            message: "the pipeline has no bus".into(),
            debug: None,
        })?;
        let pipeline = PipelineGuard(pipeline);
        let stall_timeout = match source {
            Source::File(_) if options.realtime => None,
            _ => Some(STALL_TIMEOUT),
        };
        let mut this = Self {
            sinks: Vec::new(),
            tracks: Vec::new(),
            merger: Merger::new(0),
            base_pts: None,
            input,
            stall_timeout,
            finished: false,
            bus,
            discovery,
            pipeline,
        };
        if this.pipeline.0.set_state(gst::State::Playing).is_err() {
            // The reason is on the bus.
            this.check_bus()?;
            return Err(SourceError::Pipeline {
                element: this.pipeline.0.name().to_string(),
                message: "the pipeline could not start".into(),
                debug: None,
            });
        }
        this.discover(Instant::now() + OPEN_TIMEOUT)?;
        Ok(this)
    }

    /// The tracks: the video track (number 1), then the audio track (number 2) if any.
    pub fn tracks(&self) -> &[TrackInfo] {
        &self.tracks
    }

    /// A handle that asks the video encoder for a key frame, for sources that encode
    /// ([`Source::encodes`]); `None` for files and RTSP cameras, whose key frames come when
    /// they come.
    pub fn key_frame_trigger(&self) -> Option<KeyFrameTrigger> {
        if !self.input.source.encodes() {
            return None;
        }
        self.sinks
            .first()
            .cloned()
            .map(|sink| KeyFrameTrigger { sink })
    }

    /// The media's length, when the source knows it (files do; live sources do not).
    pub fn duration(&self) -> Option<Duration> {
        self.pipeline
            .0
            .query_duration::<gst::ClockTime>()
            .map(|d| Duration::from_nanos(d.nseconds()))
            .filter(|d| !d.is_zero())
    }

    /// The next frame of any track, in timestamp order; blocks until one is available.
    /// `Ok(None)` at the end of the stream (a file's end, a finite test pattern, or an RTSP
    /// server ending the session).
    pub fn next_frame(&mut self) -> Result<Option<Frame>> {
        if self.finished {
            return Ok(None);
        }
        loop {
            match self.merger.next() {
                Next::Need(i) => {
                    let deadline = self.stall_timeout.map(|t| Instant::now() + t);
                    let pulled = self.pull(i, Wait::Frame { deadline })?;
                    self.merger.offer(i, pulled.map(|p| (p.order, p.frame)));
                }
                Next::Item(pulled) => {
                    if let Some(frame) = self.emit(pulled) {
                        return Ok(Some(frame));
                    }
                }
                Next::End => {
                    self.finished = true;
                    return Ok(None);
                }
            }
        }
    }

    /// Makes a pulled frame relative to the stream start, or drops it when no video key frame
    /// has been emitted yet (a KVS fragment must start with one).
    fn emit(&mut self, pulled: Pulled) -> Option<Frame> {
        let base = match self.base_pts {
            Some(base) => base,
            None if pulled.track == VIDEO_TRACK && pulled.key => *self.base_pts.insert(pulled.pts),
            None => return None,
        };
        Some(Frame {
            track: pulled.track,
            timestamp_ns: pulled.pts.saturating_sub(base),
            key: pulled.key,
            data: pulled.data,
        })
    }

    /// Waits for the stream list, fixes the tracks and pulls the first frame of each.
    fn discover(&mut self, deadline: Instant) -> Result<()> {
        loop {
            self.check_bus()?;
            {
                let found = self.discovery.lock();
                if found.is_complete() {
                    break;
                }
                if Instant::now() >= deadline {
                    // A stream announced in the SDP that never sends would hold `complete`
                    // back forever; go on with what has arrived if there is video.
                    if found.video.is_some() {
                        tracing::warn!(
                            "kvs-gst: {}: not every stream started within {} s; going on with \
                             the streams found: {}",
                            self.input.description,
                            OPEN_TIMEOUT.as_secs(),
                            found.streams.join(", ")
                        );
                        break;
                    }
                    return Err(self.timeout("the list of streams"));
                }
            }
            // Sleeps until a message or the poll interval, whichever comes first.
            if let Some(message) = self
                .bus
                .timed_pop(gst::ClockTime::from_nseconds(POLL.as_nanos() as u64))
            {
                self.handle_message(&message)?;
            }
        }
        let (video, audio) = {
            let mut found = self.discovery.lock();
            found.closed = true;
            // Raised by the stream callback between the last bus check and now.
            if let Some(e) = found.error.take() {
                return Err(e);
            }
            let Some(video) = found.video.clone() else {
                let streams = if found.streams.is_empty() {
                    "none".to_owned()
                } else {
                    found.streams.join(", ")
                };
                return Err(SourceError::NoVideo {
                    input: self.input.description.clone(),
                    found: streams,
                });
            };
            (video, found.audio.clone())
        };
        self.sinks.push(video);
        self.sinks.extend(audio);

        // The first video key frame: its caps give the track, and it may carry the SPS/PPS
        // the caps lack.
        let (video_sample, first_video) = loop {
            let Some((sample, pulled)) = self.pull_sample(
                0,
                Wait::Open {
                    deadline,
                    what: "a video key frame",
                },
            )?
            else {
                return Err(self.ended_early("video"));
            };
            if pulled.frame.key {
                break (sample, pulled);
            }
        };
        let caps = video_sample.caps().ok_or_else(|| self.no_caps("video"))?;
        self.tracks.push(caps::video_track(
            caps,
            &first_video.frame.data,
            &self.input.description,
        )?);
        let mut first = vec![Some(first_video)];
        if self.sinks.len() > 1 {
            match self.pull_sample(
                1,
                Wait::Open {
                    deadline,
                    what: "the first audio frame",
                },
            )? {
                Some((sample, pulled)) => {
                    let caps = sample.caps().ok_or_else(|| self.no_caps("audio"))?;
                    self.tracks
                        .push(caps::audio_track(caps, &self.input.description)?);
                    first.push(Some(pulled));
                }
                None => {
                    tracing::warn!(
                        "kvs-gst: {}: the audio stream ended before its first frame; using \
                         video only",
                        self.input.description
                    );
                    self.sinks.truncate(1);
                }
            }
        }
        self.merger = Merger::new(self.sinks.len());
        for (i, pulled) in first.into_iter().enumerate() {
            self.merger.offer(i, pulled.map(|p| (p.order, p.frame)));
        }
        Ok(())
    }

    /// The next frame of sink `index` with its merge key; `None` at the sink's end.
    fn pull(&mut self, index: usize, wait: Wait) -> Result<Option<Keyed>> {
        Ok(self.pull_sample(index, wait)?.map(|(_, keyed)| keyed))
    }

    /// The next sample of sink `index`, checking the bus for errors while it waits.
    fn pull_sample(&mut self, index: usize, wait: Wait) -> Result<Option<(gst::Sample, Keyed)>> {
        let sink = self.sinks[index].clone();
        let track = if index == 0 { VIDEO_TRACK } else { AUDIO_TRACK };
        loop {
            self.check_bus()?;
            if let Some(sample) =
                sink.try_pull_sample(gst::ClockTime::from_nseconds(POLL.as_nanos() as u64))
            {
                let keyed = self.to_frame(track, &sample)?;
                return Ok(Some((sample, keyed)));
            }
            if sink.is_eos() {
                // An error that ended the stream is posted before EOS reaches the sink.
                self.check_bus()?;
                return Ok(None);
            }
            match wait {
                Wait::Open { deadline, what } if Instant::now() >= deadline => {
                    return Err(self.timeout(what));
                }
                Wait::Frame {
                    deadline: Some(deadline),
                } if Instant::now() >= deadline => {
                    return Err(SourceError::Stalled {
                        input: self.input.description.clone(),
                        seconds: STALL_TIMEOUT.as_secs(),
                    });
                }
                _ => {}
            }
        }
    }

    /// Converts a sample to a frame with its merge key (decoding time if known, else
    /// presentation time, both as running time).
    fn to_frame(&self, track: u64, sample: &gst::Sample) -> Result<Keyed> {
        let missing = || SourceError::MissingTimestamp {
            input: self.input.description.clone(),
            track,
        };
        let buffer = sample.buffer_owned().ok_or_else(missing)?;
        let segment = sample
            .segment()
            .and_then(|s| s.downcast_ref::<gst::ClockTime>());
        let running = |t: Option<gst::ClockTime>| {
            let t = t?;
            Some(
                segment
                    .and_then(|s| s.to_running_time(t))
                    .unwrap_or(t)
                    .nseconds(),
            )
        };
        let pts = running(buffer.pts());
        let dts = running(buffer.dts());
        let pts = pts.or(dts).ok_or_else(missing)?;
        let key = !buffer.flags().contains(gst::BufferFlags::DELTA_UNIT);
        let data = match buffer.into_mapped_buffer_readable() {
            Ok(mapped) => Bytes::from_owner(mapped),
            Err(buffer) => {
                return Err(SourceError::Pipeline {
                    element: self
                        .sinks
                        .first()
                        .map(|s| s.name().to_string())
                        .unwrap_or_default(),
                    message: format!("a buffer of {} bytes could not be read", buffer.size()),
                    debug: None,
                });
            }
        };
        Ok(Keyed {
            order: dts.unwrap_or(pts),
            frame: Pulled {
                track,
                pts,
                key,
                data,
            },
        })
    }

    /// Returns the first error raised while exposing streams or posted on the bus, logging
    /// warnings on the way.
    fn check_bus(&self) -> Result<()> {
        // A stream refused while exposing it explains more than what the pipeline reports next.
        if let Some(e) = self.discovery.lock().error.take() {
            return Err(e);
        }
        while let Some(message) = self.bus.pop() {
            self.handle_message(&message)?;
        }
        Ok(())
    }

    fn handle_message(&self, message: &gst::Message) -> Result<()> {
        match message.view() {
            gst::MessageView::Error(err) => Err(self.error_from(
                message.src(),
                &err.error(),
                err.debug().map(|d| d.to_string()),
            )),
            gst::MessageView::StreamCollection(c)
                if message.src().is_some_and(|s| s.name() == "parsebin") =>
            {
                self.discovery.lock().expected_pads = Some(c.stream_collection().len());
                Ok(())
            }
            gst::MessageView::Warning(w) => {
                tracing::warn!(
                    "kvs-gst: {}: {}: {}",
                    self.input.description,
                    message
                        .src()
                        .map(|s| s.name().to_string())
                        .unwrap_or_default(),
                    w.error()
                );
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Maps a GStreamer error to the most helpful [`SourceError`].
    fn error_from(
        &self,
        src: Option<&gst::Object>,
        error: &gst::glib::Error,
        debug: Option<String>,
    ) -> SourceError {
        let element = src.map(|s| s.name().to_string()).unwrap_or_default();
        let message = error.to_string();
        let from_input = !self.input.input_element.is_empty()
            && src.is_some_and(|s| is_or_is_inside(s, self.input.input_element));
        match &self.input.source {
            Source::File(path)
                if from_input
                    || error.matches(gst::StreamError::TypeNotFound)
                    || error.matches(gst::StreamError::WrongType)
                    || error.matches(gst::StreamError::Demux) =>
            {
                SourceError::NotMedia {
                    path: path.clone(),
                    reason: message,
                }
            }
            Source::Rtsp { url, .. } if from_input => SourceError::Rtsp {
                url: redact_url(url),
                reason: with_detail(&message, debug.as_deref().map(redact_url).as_deref()),
            },
            Source::Device(path) if from_input => SourceError::Device {
                path: path.clone(),
                reason: with_detail(&message, debug.as_deref()),
            },
            _ => SourceError::Pipeline {
                element,
                message,
                debug,
            },
        }
    }

    fn timeout(&self, what: &str) -> SourceError {
        SourceError::Timeout {
            input: self.input.description.clone(),
            what: what.to_owned(),
            seconds: OPEN_TIMEOUT.as_secs(),
        }
    }

    fn no_caps(&self, what: &str) -> SourceError {
        SourceError::CodecData {
            input: self.input.description.clone(),
            reason: format!("the {what} stream has no caps"),
        }
    }

    fn ended_early(&self, what: &str) -> SourceError {
        SourceError::CodecData {
            input: self.input.description.clone(),
            reason: format!("the {what} stream ended before its first key frame"),
        }
    }
}

/// How long a pull may wait.
#[derive(Debug, Clone, Copy)]
enum Wait {
    /// While opening: until `deadline`, then [`SourceError::Timeout`] for `what`.
    Open {
        deadline: Instant,
        what: &'static str,
    },
    /// While running: until `deadline` if any, then [`SourceError::Stalled`].
    Frame { deadline: Option<Instant> },
}

/// A pulled frame with its merge key.
#[derive(Debug)]
struct Keyed {
    order: u64,
    frame: Pulled,
}

/// Whether `object` is the element named `name` or inside it (rtspsrc's internal elements).
fn is_or_is_inside(object: &gst::Object, name: &str) -> bool {
    let mut current = Some(object.clone());
    while let Some(o) = current {
        if o.name() == name {
            return true;
        }
        current = o.parent();
    }
    false
}

/// `message` followed by the useful part of GStreamer's debug string, if any.
fn with_detail(message: &str, debug: Option<&str>) -> String {
    match debug.map(crate::error::debug_detail) {
        Some(detail) if !detail.is_empty() && detail != message => format!("{message} ({detail})"),
        _ => message.to_owned(),
    }
}
