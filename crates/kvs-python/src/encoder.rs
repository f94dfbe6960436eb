//! `kvs_rs.H264Encoder`: raw pictures (OpenCV's BGR arrays) to H.264 access units with
//! GStreamer's x264, for `Producer.put_frame`.

use std::sync::Mutex;

use kvs_gst::{EncodedFrame, PixelFormat, RawVideoEncoder};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::config::epoch_ns;
use crate::errors::{InvalidArgumentException, KvsError, Local, to_py};

/// Encodes raw pictures (3 bytes per pixel, `format` "BGR" as OpenCV gives them, or "RGB")
/// to H.264 with GStreamer's x264 (zero-latency tuning, a key frame every `key_every`
/// pictures, default one a second). `encode` returns `(data, timestamp, key_frame)` tuples
/// ready for `Producer.put_frame`; key frames carry SPS and PPS.
#[pyclass(module = "kvs_rs._native", subclass, frozen)]
pub(crate) struct H264Encoder {
    inner: Mutex<RawVideoEncoder>,
}

type Encoded = (Py<PyBytes>, f64, bool);

fn to_py_frames(py: Python<'_>, frames: Vec<EncodedFrame>) -> Vec<Encoded> {
    frames
        .into_iter()
        .map(|f| {
            (
                PyBytes::new(py, &f.data).unbind(),
                (f.timestamp_ns / 1000) as f64 / 1e6,
                f.key,
            )
        })
        .collect()
}

#[pymethods]
impl H264Encoder {
    #[new]
    #[pyo3(signature = (width, height, *, fps=25, bitrate_kbps=2000, key_every=None, format="BGR"))]
    fn new(
        width: u32,
        height: u32,
        fps: u32,
        bitrate_kbps: u32,
        key_every: Option<u32>,
        format: &str,
    ) -> PyResult<Self> {
        let format = match format {
            "BGR" | "bgr" => PixelFormat::Bgr,
            "RGB" | "rgb" => PixelFormat::Rgb,
            other => {
                return Err(InvalidArgumentException::new_err(format!(
                    "format {other:?} is not \"BGR\" or \"RGB\""
                )));
            }
        };
        let inner = RawVideoEncoder::new(
            format,
            width,
            height,
            fps,
            bitrate_kbps,
            key_every.unwrap_or(fps),
        )
        .map_err(|e| to_py(&e, Local::Config))?;
        Ok(Self {
            inner: Mutex::new(inner),
        })
    }

    /// Encodes one picture taken at `timestamp` (epoch seconds); returns the access units
    /// ready now.
    fn encode(&self, py: Python<'_>, pixels: &[u8], timestamp: f64) -> PyResult<Vec<Encoded>> {
        let ns = epoch_ns(timestamp);
        let frames = py.allow_threads(|| {
            self.inner
                .lock()
                .map_err(|_| KvsError::new_err("the encoder failed earlier"))?
                .encode(pixels, ns)
                .map_err(|e| to_py(&e, Local::Frame))
        })?;
        Ok(to_py_frames(py, frames))
    }

    /// Ends the input; returns the access units still in the encoder.
    fn finish(&self, py: Python<'_>) -> PyResult<Vec<Encoded>> {
        let frames = py.allow_threads(|| {
            self.inner
                .lock()
                .map_err(|_| KvsError::new_err("the encoder failed earlier"))?
                .finish()
                .map_err(|e| to_py(&e, Local::Frame))
        })?;
        Ok(to_py_frames(py, frames))
    }
}
