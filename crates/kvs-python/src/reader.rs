//! Reading media back: GetMedia as an iterator of frames, ListFragments, and an MKV parser for
//! bytes from elsewhere (boto3's GetMedia payload, a file).

use std::collections::VecDeque;
use std::sync::Mutex;

use kvs_media::{FragmentReader, MediaClient, StartSelector, TimestampKind};
use kvs_mkv::{Event, Parser};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use crate::config::{Config, stream_ref};
use crate::errors::{InvalidArgumentException, KvsError, Local, to_py};
use crate::runtime::{runtime, wait};

/// One frame read back from a stream.
#[pyclass(module = "kvs_rs._native", frozen, get_all)]
pub(crate) struct Frame {
    /// Track number (1 = video, 2 = audio in KVS's convention).
    track: u64,
    /// Presentation time in epoch seconds.
    timestamp: f64,
    /// Presentation time in epoch nanoseconds (exact).
    timestamp_ns: u64,
    /// Whether it is a key frame.
    key_frame: bool,
    /// The encoded bytes (AVC length-prefixed NAL units for H.264).
    data: Py<PyBytes>,
    /// The number of the fragment it came in (`None` outside GetMedia).
    fragment_number: Option<String>,
}

#[pymethods]
impl Frame {
    fn __repr__(&self) -> String {
        format!(
            "Frame(track={}, timestamp={:.3}, key_frame={}, fragment_number={:?})",
            self.track,
            self.timestamp,
            if self.key_frame { "True" } else { "False" },
            self.fragment_number
        )
    }
}

impl Frame {
    fn new(py: Python<'_>, f: &kvs_mkv::Frame, fragment: Option<&str>) -> Self {
        Self {
            track: f.track,
            timestamp: f.timestamp_ns as f64 / 1e9,
            timestamp_ns: f.timestamp_ns,
            key_frame: f.key,
            data: PyBytes::new(py, &f.data).unbind(),
            fragment_number: fragment.map(str::to_owned),
        }
    }
}

/// Frames of a GetMedia response, in stream order; iterate it. It ends when the service ends
/// the response or after `max_fragments`.
#[pyclass(module = "kvs_rs._native")]
pub(crate) struct MediaReader {
    reader: Mutex<Option<FragmentReader>>,
    ready: VecDeque<(kvs_mkv::Frame, Option<String>)>,
    fragments_left: Option<u64>,
}

#[pymethods]
impl MediaReader {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&mut self, py: Python<'_>) -> PyResult<Option<Frame>> {
        loop {
            if let Some((frame, number)) = self.ready.pop_front() {
                return Ok(Some(Frame::new(py, &frame, number.as_deref())));
            }
            if self.fragments_left == Some(0) {
                return Ok(None);
            }
            let Some(mut reader) = self.reader.lock().ok().and_then(|mut r| r.take()) else {
                return Ok(None);
            };
            let next = wait(py, async move {
                let next = reader.next_fragment().await;
                (reader, next)
            });
            let (reader, next) = next;
            match next.map_err(|e| to_py(&e, Local::Other))? {
                None => return Ok(None),
                Some(fragment) => {
                    if let Ok(mut r) = self.reader.lock() {
                        *r = Some(reader);
                    }
                    self.fragments_left = self.fragments_left.map(|n| n - 1);
                    let number = fragment.number.as_ref().map(|n| n.as_str().to_owned());
                    self.ready
                        .extend(fragment.frames.into_iter().map(|f| (f, number.clone())));
                }
            }
        }
    }
}

fn start_selector(start: &Bound<'_, PyAny>) -> PyResult<StartSelector> {
    if let Ok(text) = start.extract::<String>() {
        return text
            .parse()
            .map_err(|e: kvs_media::StartSelectorParseError| {
                InvalidArgumentException::new_err(e.to_string())
            });
    }
    if let Ok(secs) = start.extract::<f64>() {
        return Ok(StartSelector::ProducerTimestamp(secs));
    }
    Err(InvalidArgumentException::new_err(
        "start is \"earliest\", \"now\", \"fragment:NUMBER\", \"producer:TIME\", \"server:TIME\", \"token:TOKEN\" or epoch seconds (producer time)",
    ))
}

/// GetMedia on `stream` from `start`; returns an iterator of `Frame`s.
#[pyfunction]
#[pyo3(signature = (stream, config, start=None, max_fragments=None))]
pub(crate) fn get_media(
    py: Python<'_>,
    stream: &str,
    config: &Config,
    start: Option<&Bound<'_, PyAny>>,
    max_fragments: Option<u64>,
) -> PyResult<MediaReader> {
    let selector = match start {
        Some(s) => start_selector(s)?,
        None => StartSelector::Earliest,
    };
    let stream = stream_ref(stream)?;
    let client = MediaClient::new(&config.inner);
    let reader = wait(py, async move {
        runtime()
            .spawn(async move { client.get_media(&stream, &selector).await })
            .await
    })
    .map_err(|e| KvsError::new_err(e.to_string()))?
    .map_err(|e| to_py(&e, Local::Other))?;
    Ok(MediaReader {
        reader: Mutex::new(Some(reader)),
        ready: VecDeque::new(),
        fragments_left: max_fragments,
    })
}

/// ListFragments: every fragment of `stream` (or those whose producer timestamps lie in
/// `[start, end]`, epoch seconds), sorted by fragment number, as dicts.
#[pyfunction]
#[pyo3(signature = (stream, config, start=None, end=None))]
pub(crate) fn list_fragments<'py>(
    py: Python<'py>,
    stream: &str,
    config: &Config,
    start: Option<f64>,
    end: Option<f64>,
) -> PyResult<Vec<Bound<'py, PyDict>>> {
    let stream = stream_ref(stream)?;
    let range = match (start, end) {
        (Some(s), Some(e)) => Some((TimestampKind::Producer, s, e)),
        (None, None) => None,
        _ => {
            return Err(InvalidArgumentException::new_err(
                "give both start and end, or neither",
            ));
        }
    };
    let client = MediaClient::new(&config.inner);
    let list = wait(
        py,
        async move { client.list_fragments(&stream, range).await },
    )
    .map_err(|e| to_py(&e, Local::Other))?;
    list.iter()
        .map(|f| {
            let d = PyDict::new(py);
            d.set_item("fragment_number", f.number.as_str())?;
            d.set_item("size_bytes", f.size_bytes)?;
            d.set_item("producer_timestamp", f.producer_timestamp)?;
            d.set_item("server_timestamp", f.server_timestamp)?;
            d.set_item("length_ms", f.length_ms)?;
            Ok(d)
        })
        .collect()
}

/// The frames of MKV `data` (e.g. boto3's GetMedia payload read whole, or a file's bytes).
#[pyfunction]
pub(crate) fn read_mkv(py: Python<'_>, data: &[u8]) -> PyResult<Vec<Frame>> {
    let mut parser = Parser::new();
    parser.feed(data);
    let mut frames = Vec::new();
    let mut fragment: Option<String> = None;
    let take = |event: Event, fragment: &mut Option<String>, frames: &mut Vec<Frame>| match event {
        Event::Frame(f) => frames.push(Frame::new(py, &f, fragment.as_deref())),
        Event::Tags(tags) => {
            if let Some(t) = tags
                .iter()
                .find(|t| t.name == "AWS_KINESISVIDEO_FRAGMENT_NUMBER")
            {
                *fragment = Some(t.value.clone());
            }
        }
        _ => {}
    };
    loop {
        match parser.next_event() {
            Ok(Some(event)) => take(event, &mut fragment, &mut frames),
            Ok(None) => break,
            Err(e) => return Err(crate::errors::FrameError::new_err(format!("not MKV: {e}"))),
        }
    }
    for event in parser
        .finish()
        .map_err(|e| crate::errors::FrameError::new_err(format!("MKV cut short: {e}")))?
    {
        take(event, &mut fragment, &mut frames);
    }
    Ok(frames)
}
