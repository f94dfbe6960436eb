//! PutMedia: one long-running POST whose body is an MKV stream; the response is a stream of
//! newline-separated JSON acknowledgements (BUFFERING, RECEIVED, PERSISTED, ERROR, IDLE).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http::request::Parts;
use http_body_util::BodyExt;
use kvs_mkv::{Event, Frame, MkvWriter, ParseError, Parser, TrackInfo, WriterConfig};
use serde_json::json;
use tokio::sync::mpsc;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;

use super::store::NewFragment;
use super::{EndReason, ProducerClaim, fragment_number, now_ms};
use crate::App;
use crate::db::{self, StreamRecord};
use crate::error::ApiError;
use crate::protocol::epoch_ms;

/// KVS limits on one fragment.
const MAX_FRAGMENT_BYTES: usize = 50 * 1024 * 1024;
const MAX_FRAGMENT_NS: u64 = 10_000_000_000;
const MAX_TRACKS: usize = 3;
/// An IDLE event is sent after this long without data; the request ends after `IDLE_LIMIT`.
const IDLE_EVERY: Duration = Duration::from_secs(3);
const IDLE_LIMIT: Duration = Duration::from_secs(30);

/// KVS PutMedia error ids (API reference, PutMedia).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ErrorId {
    StreamReadError = 4000,
    MaxFragmentSizeReached = 4001,
    MaxFragmentDurationReached = 4002,
    FragmentTimecodeLesserThanPrevious = 4004,
    InvalidMkvData = 4006,
    StreamHasBeenDeleted = 4008,
    MaxTracksExceeded = 4012,
    FailedToPersist = 5001,
}

impl ErrorId {
    fn code(self) -> &'static str {
        match self {
            Self::StreamReadError => "STREAM_READ_ERROR",
            Self::MaxFragmentSizeReached => "MAX_FRAGMENT_SIZE_REACHED",
            Self::MaxFragmentDurationReached => "MAX_FRAGMENT_DURATION_REACHED",
            Self::FragmentTimecodeLesserThanPrevious => "FRAGMENT_TIMECODE_LESSER_THAN_PREVIOUS",
            Self::InvalidMkvData => "INVALID_MKV_DATA",
            Self::StreamHasBeenDeleted => "STREAM_HAS_BEEN_DELETED",
            Self::MaxTracksExceeded => "MORE_THAN_ALLOWED_TRACKS_FOUND",
            Self::FailedToPersist => "FAILED_TO_PERSIST",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TimecodeType {
    Absolute,
    Relative,
}

struct Request {
    stream: StreamRecord,
    timecode_type: TimecodeType,
    producer_start_ms: i64,
}

fn header<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts.headers.get(name).and_then(|v| v.to_str().ok())
}

async fn read_request(app: &App, parts: &Parts) -> Result<Request, ApiError> {
    let name = header(parts, "x-amzn-stream-name");
    let arn = header(parts, "x-amzn-stream-arn");
    if name.is_some() == arn.is_some() {
        return Err(ApiError::invalid_argument(
            "PutMedia needs exactly one of the x-amzn-stream-name and x-amzn-stream-arn headers",
        ));
    }
    let timecode_type = match header(parts, "x-amzn-fragment-timecode-type") {
        Some("ABSOLUTE") => TimecodeType::Absolute,
        Some("RELATIVE") => TimecodeType::Relative,
        other => {
            return Err(ApiError::invalid_argument(format!(
                "x-amzn-fragment-timecode-type must be ABSOLUTE or RELATIVE, got {other:?}"
            )));
        }
    };
    let producer_start_ms = match header(parts, "x-amzn-producer-start-timestamp") {
        Some(v) => v
            .parse::<f64>()
            .ok()
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(epoch_ms)
            .ok_or_else(|| {
                ApiError::invalid_argument(format!(
                    "x-amzn-producer-start-timestamp {v:?} is not epoch seconds"
                ))
            })?,
        None if timecode_type == TimecodeType::Relative => {
            return Err(ApiError::invalid_argument(
                "RELATIVE timecodes need the x-amzn-producer-start-timestamp header",
            ));
        }
        None => now_ms(),
    };
    if let Some(n) = name {
        kvs_types::StreamName::new(n)?;
    }
    let (name, arn) = (name.map(str::to_owned), arn.map(str::to_owned));
    let what = arn.clone().or_else(|| name.clone()).unwrap_or_default();
    let stream = app
        .db
        .tx(move |tx| db::find_stream(tx, name.as_deref(), arn.as_deref()))
        .await?
        .ok_or_else(|| {
            ApiError::not_found(format!("The requested stream {what} was not found."))
        })?;
    Ok(Request {
        stream,
        timecode_type,
        producer_start_ms,
    })
}

/// Starts ingesting; the response streams the acknowledgements.
pub(crate) async fn put_media(
    app: Arc<App>,
    parts: Parts,
    body: Body,
) -> Result<Response, ApiError> {
    let request = read_request(&app, &parts).await?;
    let claim = app.media.live.claim(&request.stream.arn);
    let (acks, rx) = mpsc::channel::<Bytes>(256);
    tokio::spawn(async move {
        let mut ingest = Ingest::new(app, request, acks);
        ingest.run(body, claim).await;
    });
    let stream = ReceiverStream::new(rx).map(Ok::<_, Infallible>);
    Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .body(Body::from_stream(stream))
        .map_err(ApiError::internal)
}

struct Building {
    seq: u64,
    /// Set when the fragment is already stored (a producer resending after lost acks).
    duplicate: bool,
    timecode: u64,
    start_ns: u64,
    last_ns: u64,
    frames: i64,
    server_ts_ms: i64,
    bytes: Vec<u8>,
}

struct Ingest {
    app: Arc<App>,
    request: Request,
    acks: mpsc::Sender<Bytes>,
    parser: Parser,
    writer: Option<MkvWriter>,
    header_id: Option<i64>,
    fragment: Option<Building>,
    /// Where the stream's newest fragment starts, in producer time (ns). As KVS does (error
    /// 4004, FRAGMENT_TIMECODE_LESSER_THAN_PREVIOUS), a new fragment must start after it; its
    /// frames may overlap the previous fragment's last ones (audio often does).
    last_start_ns: Option<u64>,
    pending_scale: Option<u64>,
}

struct Fail {
    id: ErrorId,
    timecode: Option<u64>,
    number: Option<String>,
}

impl Ingest {
    fn new(app: Arc<App>, request: Request, acks: mpsc::Sender<Bytes>) -> Self {
        Self {
            app,
            request,
            acks,
            parser: Parser::new(),
            writer: None,
            header_id: None,
            fragment: None,
            last_start_ns: None,
            pending_scale: None,
        }
    }

    async fn send(&self, value: serde_json::Value) -> bool {
        let mut line = value.to_string().into_bytes();
        line.push(b'\n');
        self.acks.send(Bytes::from(line)).await.is_ok()
    }

    async fn ack(&self, event: &str, timecode: u64, number: &str) -> bool {
        self.send(
            json!({ "EventType": event, "FragmentTimecode": timecode, "FragmentNumber": number }),
        )
        .await
    }

    fn fail(&self, id: ErrorId) -> Fail {
        Fail {
            id,
            timecode: self.fragment.as_ref().map(|f| f.timecode),
            number: self.fragment.as_ref().map(|f| fragment_number(f.seq)),
        }
    }

    async fn run(&mut self, mut body: Body, claim: ProducerClaim) {
        match self.app.media.last_start_ms(&self.request.stream.arn).await {
            Ok(start) => self.last_start_ns = start.map(|ms| ms.max(0) as u64 * 1_000_000),
            Err(e) => {
                tracing::error!(error = %e, "reading the stream's end failed");
                self.send(
                    json!({ "EventType": "ERROR", "ErrorId": 5000, "ErrorCode": "INTERNAL_ERROR" }),
                )
                .await;
                return;
            }
        }
        let mut idle = Duration::ZERO;
        let outcome: Result<(), Fail> = loop {
            let next = tokio::select! {
                () = claim.cancelled.cancelled() => {
                    break match claim.end_reason() {
                        Some(EndReason::Deleted) => Err(self.fail(ErrorId::StreamHasBeenDeleted)),
                        _ => Ok(()),
                    };
                }
                next = tokio::time::timeout(IDLE_EVERY, body.frame()) => next,
            };
            match next {
                Err(_) => {
                    idle += IDLE_EVERY;
                    if idle >= IDLE_LIMIT || !self.send(json!({ "EventType": "IDLE" })).await {
                        break Ok(());
                    }
                }
                Ok(None) => break self.end_of_body().await,
                Ok(Some(Err(e))) => {
                    tracing::debug!(error = %e, "PutMedia body read failed");
                    break Err(self.fail(ErrorId::StreamReadError));
                }
                Ok(Some(Ok(frame))) => {
                    idle = Duration::ZERO;
                    if let Ok(data) = frame.into_data() {
                        self.parser.feed(&data);
                        if let Err(f) = self.drain().await {
                            break Err(f);
                        }
                    }
                }
            }
        };
        if let Err(f) = outcome {
            let mut ev =
                json!({ "EventType": "ERROR", "ErrorId": f.id as u16, "ErrorCode": f.id.code() });
            if let Some(tc) = f.timecode {
                ev["FragmentTimecode"] = json!(tc);
            }
            if let Some(n) = f.number {
                ev["FragmentNumber"] = json!(n);
            }
            tracing::info!(stream = %self.request.stream.name, error = f.id.code(), "PutMedia error");
            self.send(ev).await;
        }
    }

    async fn end_of_body(&mut self) -> Result<(), Fail> {
        match self.parser.finish() {
            Ok(events) => {
                for e in events {
                    self.event(e).await?;
                }
                self.complete().await
            }
            Err(ParseError::Truncated { .. }) => Err(self.fail(ErrorId::StreamReadError)),
            Err(_) => Err(self.fail(ErrorId::InvalidMkvData)),
        }
    }

    async fn drain(&mut self) -> Result<(), Fail> {
        loop {
            match self.parser.next_event() {
                Ok(Some(e)) => self.event(e).await?,
                Ok(None) => return Ok(()),
                Err(e) => {
                    tracing::debug!(error = %e, "PutMedia MKV rejected");
                    return Err(self.fail(ErrorId::InvalidMkvData));
                }
            }
        }
    }

    fn scale(&self) -> u64 {
        self.writer
            .as_ref()
            .map_or(1_000_000, |w| w.config().timecode_scale_ns)
    }

    async fn event(&mut self, event: Event) -> Result<(), Fail> {
        match event {
            Event::Info(info) => {
                // A new document (Info, then Tracks) replaces the previous header.
                self.complete().await?;
                self.writer = None;
                self.header_id = None;
                self.pending_scale = Some(info.timecode_scale_ns);
            }
            Event::Tracks(tracks) => {
                self.complete().await?;
                if tracks.len() > MAX_TRACKS {
                    return Err(self.fail(ErrorId::MaxTracksExceeded));
                }
                self.set_tracks(tracks)?;
            }
            Event::ClusterStart { timecode, .. } => {
                self.complete().await?;
                let scale = self.scale();
                let start_ns = match self.request.timecode_type {
                    TimecodeType::Absolute => timecode.saturating_mul(scale),
                    TimecodeType::Relative => (self.request.producer_start_ms.max(0) as u64)
                        .saturating_mul(1_000_000)
                        .saturating_add(timecode.saturating_mul(scale)),
                };
                if self.writer.is_none() {
                    return Err(self.fail(ErrorId::InvalidMkvData));
                }
                let existing = self
                    .app
                    .media
                    .fragment_starting_at(&self.request.stream.arn, (start_ns / 1_000_000) as i64)
                    .await
                    .map_err(|_| self.fail(ErrorId::FailedToPersist))?;
                let (seq, duplicate) = match &existing {
                    Some(f) => (f.seq, true),
                    None => (self.app.media.next_seq(), false),
                };
                let number = fragment_number(seq);
                if !duplicate
                    && let Some(last) = self.last_start_ns
                    && start_ns <= last
                {
                    return Err(Fail {
                        id: ErrorId::FragmentTimecodeLesserThanPrevious,
                        timecode: Some(timecode),
                        number: Some(number),
                    });
                }
                let mut bytes = Vec::new();
                if let Some(w) = self.writer.as_mut() {
                    w.start_cluster(timecode.saturating_mul(scale), &mut bytes);
                }
                self.fragment = Some(Building {
                    seq,
                    duplicate,
                    timecode,
                    start_ns,
                    last_ns: start_ns,
                    frames: 0,
                    server_ts_ms: now_ms(),
                    bytes,
                });
                if !self.ack("BUFFERING", timecode, &number).await {
                    return Err(self.fail(ErrorId::StreamReadError));
                }
            }
            Event::Frame(frame) => self.frame(frame)?,
            Event::ClusterEnd | Event::SegmentEnd => self.complete().await?,
            Event::SegmentStart | Event::Tags(_) => {}
        }
        Ok(())
    }

    fn set_tracks(&mut self, tracks: Vec<TrackInfo>) -> Result<(), Fail> {
        let mut config = WriterConfig::default();
        config.timecode_scale_ns = self.pending_scale.unwrap_or(1_000_000);
        let writer =
            MkvWriter::new(config, tracks).map_err(|_| self.fail(ErrorId::InvalidMkvData))?;
        self.writer = Some(writer);
        self.header_id = None;
        Ok(())
    }

    fn frame(&mut self, frame: Frame) -> Result<(), Fail> {
        let relative_base = match self.request.timecode_type {
            TimecodeType::Absolute => 0,
            TimecodeType::Relative => {
                (self.request.producer_start_ms.max(0) as u64).saturating_mul(1_000_000)
            }
        };
        let Some(frag) = self.fragment.as_mut() else {
            return Err(self.fail(ErrorId::InvalidMkvData));
        };
        let Some(writer) = self.writer.as_mut() else {
            return Err(self.fail(ErrorId::InvalidMkvData));
        };
        let ts = relative_base.saturating_add(frame.timestamp_ns);
        frag.last_ns = frag.last_ns.max(ts);
        frag.frames += 1;
        if frag.duplicate {
            return Ok(());
        }
        if writer.write_frame(&frame, &mut frag.bytes).is_err() {
            return Err(self.fail(ErrorId::InvalidMkvData));
        }
        if frag.bytes.len() > MAX_FRAGMENT_BYTES {
            return Err(self.fail(ErrorId::MaxFragmentSizeReached));
        }
        if frag.last_ns.saturating_sub(frag.start_ns) > MAX_FRAGMENT_NS {
            return Err(self.fail(ErrorId::MaxFragmentDurationReached));
        }
        Ok(())
    }

    /// Finishes the open fragment: RECEIVED, stored durably, PERSISTED.
    async fn complete(&mut self) -> Result<(), Fail> {
        let Some(mut frag) = self.fragment.take() else {
            return Ok(());
        };
        let number = fragment_number(frag.seq);
        if frag.frames == 0 {
            // An empty cluster is not a fragment; KVS ignores it.
            return Ok(());
        }
        if !self.ack("RECEIVED", frag.timecode, &number).await {
            return Err(Fail {
                id: ErrorId::StreamReadError,
                timecode: Some(frag.timecode),
                number: Some(number),
            });
        }
        if frag.duplicate {
            self.last_start_ns = self.last_start_ns.max(Some(frag.start_ns));
            self.ack("PERSISTED", frag.timecode, &number).await;
            return Ok(());
        }
        let persisted = self.persist(&mut frag).await;
        if let Err(e) = persisted {
            tracing::error!(error = %e, "persisting a fragment failed");
            return Err(Fail {
                id: ErrorId::FailedToPersist,
                timecode: Some(frag.timecode),
                number: Some(number),
            });
        }
        self.last_start_ns = self.last_start_ns.max(Some(frag.start_ns));
        self.ack("PERSISTED", frag.timecode, &number).await;
        Ok(())
    }

    async fn persist(&mut self, frag: &mut Building) -> Result<(), ApiError> {
        let header_id = match self.header_id {
            Some(id) => id,
            None => {
                let mut header = Vec::new();
                if let Some(w) = &self.writer {
                    w.write_header(&mut header);
                }
                let id = self
                    .app
                    .media
                    .save_header(&self.request.stream.arn, header)
                    .await?;
                self.header_id = Some(id);
                id
            }
        };
        // A fragment's producer timestamp is its cluster's start, as KVS reports it.
        let producer_ts_ms = (frag.start_ns / 1_000_000) as i64;
        let duration_ms = (frag.last_ns.saturating_sub(frag.start_ns) / 1_000_000) as i64;
        self.app
            .media
            .persist(
                &self.request.stream,
                NewFragment {
                    seq: frag.seq,
                    producer_ts_ms,
                    server_ts_ms: frag.server_ts_ms,
                    duration_ms,
                    frames: frag.frames,
                    header_id,
                    // Moved, not copied: the fragment is done with its bytes.
                    cluster: std::mem::take(&mut frag.bytes),
                },
            )
            .await
            .map(drop)
    }
}
