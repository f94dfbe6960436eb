//! Raw pictures in, H.264 out: for applications that have pixels (OpenCV, a renderer) rather
//! than an encoded stream. `appsrc ! videoconvert ! x264enc ! h264parse ! appsink`, with the
//! encoder settings of the live sources and SPS/PPS in every key frame, so each key frame
//! carries what a KVS track's codec private data needs.

use bytes::Bytes;
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app::{AppSink, AppSrc};

use crate::elements::{add_chain, build, make};
use crate::error::{Result, SourceError};
use crate::pipeline::{appsink, capsfilter, h264_caps, i420, x264enc};

/// The byte order of the pixels given to [`RawVideoEncoder::encode`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PixelFormat {
    /// 3 bytes per pixel, red first.
    Rgb,
    /// 3 bytes per pixel, blue first (OpenCV's order).
    Bgr,
}

impl PixelFormat {
    fn caps_name(self) -> &'static str {
        match self {
            Self::Rgb => "RGB",
            Self::Bgr => "BGR",
        }
    }
}

/// One encoded access unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedFrame {
    /// AVC (4-byte length-prefixed) NAL units; key frames start with SPS and PPS.
    pub data: Bytes,
    /// The timestamp the picture was given, in nanoseconds.
    pub timestamp_ns: u64,
    /// Whether it is an IDR frame.
    pub key: bool,
}

/// An H.264 encoder for raw pictures of one size.
pub struct RawVideoEncoder {
    pipeline: gst::Pipeline,
    src: AppSrc,
    sink: AppSink,
    frame_bytes: usize,
    width: u32,
    height: u32,
    /// The timestamps of pictures given and not yet returned encoded. Zero-latency x264 has
    /// no B-frames, so output order is input order; the encoder's own timestamps may carry
    /// its 1000-hour offset (`min-pts`), so the caller's are handed back instead.
    pending: std::collections::VecDeque<u64>,
}

impl std::fmt::Debug for RawVideoEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawVideoEncoder")
            .field("width", &self.width)
            .field("height", &self.height)
            .finish_non_exhaustive()
    }
}

impl RawVideoEncoder {
    /// An encoder for `width` x `height` pictures in `format` at about `fps` pictures a
    /// second, `bitrate_kbps` kbit/s, a key frame every `key_every` pictures.
    pub fn new(
        format: PixelFormat,
        width: u32,
        height: u32,
        fps: u32,
        bitrate_kbps: u32,
        key_every: u32,
    ) -> Result<Self> {
        crate::media::init()?;
        let invalid = |reason: String| SourceError::Pipeline {
            element: "appsrc".into(),
            message: reason,
            debug: None,
        };
        if width == 0 || height == 0 || width % 2 == 1 || height % 2 == 1 || fps == 0 {
            return Err(invalid(format!(
                "cannot encode {width}x{height} at {fps} fps: width and height must be even and above 0, fps above 0"
            )));
        }
        let as_i32 = |v: u32| i32::try_from(v).unwrap_or(i32::MAX);
        let caps = gst::Caps::builder("video/x-raw")
            .field("format", format.caps_name())
            .field("width", as_i32(width))
            .field("height", as_i32(height))
            .field("framerate", gst::Fraction::new(as_i32(fps), 1))
            .build();
        let src = AppSrc::builder()
            .name("pictures")
            .caps(&caps)
            .format(gst::Format::Time)
            .is_live(false)
            .block(true)
            .max_bytes(8 * u64::from(width) * u64::from(height) * 3)
            .build();
        let sink = appsink("encoded", h264_caps(), false);
        let parse = build(
            gst::ElementFactory::make("h264parse").property("config-interval", -1i32),
            "h264parse",
        )?;
        let pipeline = gst::Pipeline::with_name("kvs-gst-encoder");
        add_chain(
            &pipeline,
            &[
                src.clone().upcast(),
                make("videoconvert")?,
                capsfilter(i420().build())?,
                x264enc(key_every.max(1), bitrate_kbps.max(1))?,
                parse,
                sink.clone().upcast(),
            ],
        )?;
        pipeline
            .set_state(gst::State::Playing)
            .map_err(|e| invalid(format!("the encoder did not start: {e}")))?;
        Ok(Self {
            pipeline,
            src,
            sink,
            frame_bytes: width as usize * height as usize * 3,
            width,
            height,
            pending: std::collections::VecDeque::new(),
        })
    }

    /// Encodes one picture (`width * height * 3` bytes) taken at `timestamp_ns`; returns the
    /// access units that are ready (x264's zero-latency tuning makes that this picture's,
    /// usually).
    pub fn encode(&mut self, pixels: &[u8], timestamp_ns: u64) -> Result<Vec<EncodedFrame>> {
        if pixels.len() != self.frame_bytes {
            return Err(SourceError::Pipeline {
                element: "appsrc".into(),
                message: format!(
                    "a {}x{} picture is {} bytes, got {}",
                    self.width,
                    self.height,
                    self.frame_bytes,
                    pixels.len()
                ),
                debug: None,
            });
        }
        let mut buffer = gst::Buffer::from_slice(pixels.to_vec());
        if let Some(b) = buffer.get_mut() {
            b.set_pts(gst::ClockTime::from_nseconds(timestamp_ns));
        }
        self.src.push_buffer(buffer).map_err(|e| self.failed(e))?;
        self.pending.push_back(timestamp_ns);
        Ok(self.ready(gst::ClockTime::ZERO))
    }

    /// Ends the input and returns the access units still in the encoder.
    pub fn finish(&mut self) -> Result<Vec<EncodedFrame>> {
        self.src.end_of_stream().map_err(|e| self.failed(e))?;
        Ok(self.ready(gst::ClockTime::from_seconds(5)))
    }

    fn ready(&mut self, wait: gst::ClockTime) -> Vec<EncodedFrame> {
        let mut out = Vec::new();
        while let Some(sample) = self.sink.try_pull_sample(wait) {
            if let Some(frame) = to_frame(&sample) {
                let timestamp_ns = self.pending.pop_front().unwrap_or(frame.timestamp_ns);
                out.push(EncodedFrame {
                    timestamp_ns,
                    ..frame
                });
            }
        }
        out
    }

    fn failed(&self, flow: gst::FlowError) -> SourceError {
        let bus_error = self.pipeline.bus().and_then(|bus| {
            bus.pop_filtered(&[gst::MessageType::Error])
                .and_then(|m| match m.view() {
                    gst::MessageView::Error(e) => Some(e.error().to_string()),
                    _ => None,
                })
        });
        SourceError::Pipeline {
            element: "x264enc".into(),
            message: bus_error.unwrap_or_else(|| format!("the encoder stopped ({flow:?})")),
            debug: None,
        }
    }
}

fn to_frame(sample: &gst::Sample) -> Option<EncodedFrame> {
    let buffer = sample.buffer()?;
    let map = buffer.map_readable().ok()?;
    Some(EncodedFrame {
        data: Bytes::copy_from_slice(map.as_slice()),
        timestamp_ns: buffer.pts().map_or(0, |t| t.nseconds()),
        key: !buffer.flags().contains(gst::BufferFlags::DELTA_UNIT),
    })
}

impl Drop for RawVideoEncoder {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn pictures_become_h264_with_parameter_sets_in_each_key_frame() {
        let (w, h) = (64u32, 48u32);
        let mut enc = RawVideoEncoder::new(PixelFormat::Bgr, w, h, 25, 500, 10).unwrap();
        let mut frames = Vec::new();
        for i in 0..30u64 {
            let pixels: Vec<u8> = (0..w * h * 3)
                .map(|p| ((p as u64 + i * 7) % 251) as u8)
                .collect();
            frames.extend(enc.encode(&pixels, i * 40_000_000).unwrap());
        }
        frames.extend(enc.finish().unwrap());
        assert_eq!(frames.len(), 30);
        let keys: Vec<usize> = (0..30).filter(|&i| frames[i].key).collect();
        assert_eq!(keys, vec![0, 10, 20]);
        for k in keys {
            let types: Vec<u8> = kvs_mkv::codec::avc_nal_units(&frames[k].data)
                .iter()
                .filter_map(|u| kvs_mkv::codec::h264_nal_type(u))
                .collect();
            assert!(types.contains(&7) && types.contains(&8), "{types:?}");
        }
        assert_eq!(frames[29].timestamp_ns, 29 * 40_000_000);
        let sps = kvs_mkv::codec::avc_nal_units(&frames[0].data)
            .into_iter()
            .find(|u| kvs_mkv::codec::h264_nal_type(u) == Some(7))
            .unwrap();
        assert_eq!(kvs_mkv::codec::h264_sps_dimensions(sps), Some((64, 48)));
    }

    #[test]
    fn a_picture_of_the_wrong_size_is_refused() {
        let mut enc = RawVideoEncoder::new(PixelFormat::Rgb, 64, 48, 25, 500, 10).unwrap();
        let e = enc.encode(&[0; 10], 0).unwrap_err().to_string();
        assert!(e.contains("9216 bytes, got 10"), "{e}");
        assert!(RawVideoEncoder::new(PixelFormat::Rgb, 63, 48, 25, 500, 10).is_err());
    }
}
