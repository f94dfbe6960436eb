//! Archived media: clips, HLS and DASH session URLs, still images.

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kvs_archive::{ArchiveClient, HlsOptions, PlaybackMode, StillFormat};
use kvs_types::TimeRange;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::config::{Config, stream_ref};
use crate::errors::{InvalidArgumentException, Local, to_py};
use crate::runtime::wait;

fn instant(secs: f64) -> PyResult<SystemTime> {
    Duration::try_from_secs_f64(secs)
        .map(|d| UNIX_EPOCH + d)
        .map_err(|_| {
            InvalidArgumentException::new_err(format!("{secs} is not a time in epoch seconds"))
        })
}

fn range(start: f64, end: f64) -> PyResult<TimeRange> {
    TimeRange::between(instant(start)?, instant(end)?)
        .map_err(|e| InvalidArgumentException::new_err(e.to_string()))
}

/// GetClip: the MP4 of `stream` between `start` and `end` (epoch seconds, producer time),
/// written to `path` (replaced if it exists); returns a dict with `path` and `bytes`.
#[pyfunction]
pub(crate) fn clip<'py>(
    py: Python<'py>,
    stream: &str,
    config: &Config,
    start: f64,
    end: f64,
    path: PathBuf,
) -> PyResult<Bound<'py, PyDict>> {
    let stream = stream_ref(stream)?;
    let range = range(start, end)?;
    let client = ArchiveClient::new(&config.inner);
    let target = path.clone();
    let summary = wait(py, async move {
        client
            .clip(&stream, range)
            .overwrite(true)
            .to_file(&target)
            .await
    })
    .map_err(|e| to_py(&e, Local::Other))?;
    let d = PyDict::new(py);
    d.set_item("path", path)?;
    d.set_item("bytes", summary.bytes)?;
    Ok(d)
}

fn session_options(
    mode: &str,
    start: Option<f64>,
    end: Option<f64>,
    expires: Option<f64>,
) -> PyResult<HlsOptions> {
    let mut options = HlsOptions::default();
    options.mode = match mode {
        "LIVE" => PlaybackMode::Live,
        "LIVE_REPLAY" => PlaybackMode::LiveReplay,
        "ON_DEMAND" => PlaybackMode::OnDemand,
        other => {
            return Err(InvalidArgumentException::new_err(format!(
                "mode {other:?} is not LIVE, LIVE_REPLAY or ON_DEMAND"
            )));
        }
    };
    options.range = match (start, end) {
        (Some(s), Some(e)) => Some(range(s, e)?),
        (Some(s), None) => Some(range(s, s + 86_400.0)?),
        _ => None,
    };
    options.expires = expires.map(Duration::from_secs_f64);
    Ok(options)
}

/// GetHLSStreamingSessionURL (`protocol` "HLS") or GetDASHStreamingSessionURL ("DASH"): a URL
/// players open (`mode` LIVE, LIVE_REPLAY or ON_DEMAND; `range` the (start, end) epoch seconds,
/// producer time, either may be None). Python's `kvs_rs.hls_url` and `kvs_rs.dash_url`.
#[pyfunction]
#[pyo3(signature = (stream, config, protocol, mode="LIVE", range=(None, None), expires=None))]
pub(crate) fn session_url(
    py: Python<'_>,
    stream: &str,
    config: &Config,
    protocol: &str,
    mode: &str,
    range: (Option<f64>, Option<f64>),
    expires: Option<f64>,
) -> PyResult<String> {
    let (start, end) = range;
    let stream = stream_ref(stream)?;
    let options = session_options(mode, start, end, expires)?;
    let dash = match protocol {
        "HLS" => false,
        "DASH" => true,
        other => {
            return Err(InvalidArgumentException::new_err(format!(
                "protocol {other:?} is not HLS or DASH"
            )));
        }
    };
    let client = ArchiveClient::new(&config.inner);
    wait(py, async move {
        if dash {
            client.dash_url(&stream, &options).await
        } else {
            client.hls_url(&stream, &options).await
        }
    })
    .map_err(|e| to_py(&e, Local::Other))
}

/// GetImages: stills of `stream` every `every` seconds between `start` and `end` (epoch
/// seconds, producer time), as a list of `(timestamp, jpeg_bytes_or_None)`.
#[pyfunction]
#[pyo3(signature = (stream, config, start, end, every=1.0, width=None))]
pub(crate) fn images(
    py: Python<'_>,
    stream: &str,
    config: &Config,
    start: f64,
    end: f64,
    every: f64,
    width: Option<u32>,
) -> PyResult<Vec<(f64, Option<Py<pyo3::types::PyBytes>>)>> {
    let stream = stream_ref(stream)?;
    let range = range(start, end)?;
    let every = Duration::try_from_secs_f64(every)
        .map_err(|_| InvalidArgumentException::new_err("every is a positive number of seconds"))?;
    let client = ArchiveClient::new(&config.inner);
    let stills = wait(py, async move {
        let mut req = client
            .images(&stream, range)
            .every(every)
            .format(StillFormat::Jpeg(80));
        if let Some(w) = width {
            req = req.width(w);
        }
        req.fetch().await
    })
    .map_err(|e| to_py(&e, Local::Other))?;
    Ok(stills
        .into_iter()
        .map(|s| {
            let t = s
                .timestamp
                .duration_since(UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64());
            let image = s
                .image
                .ok()
                .map(|b| pyo3::types::PyBytes::new(py, &b).unbind());
            (t, image)
        })
        .collect())
}
