//! Still images from stored video: decode a fragment's frames and encode the picture shown at
//! chosen instants as JPEG or PNG (what GetImages needs).

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app::{AppSink, AppSrc};
use kvs_mkv::{Frame, TrackInfo};

use crate::elements::{build, make};
use crate::error::{Result, SourceError};

/// The encoding of a still image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageFormat {
    /// JPEG at a quality from 1 to 100.
    Jpeg {
        /// Quality.
        quality: u8,
    },
    /// PNG.
    Png,
}

fn pipeline_error(element: &str, message: impl Into<String>) -> SourceError {
    SourceError::Pipeline {
        element: element.to_owned(),
        message: message.into(),
        debug: None,
    }
}

/// Decodes `frames` (one video track's frames, starting with a key frame, in stream order) and
/// returns, for each instant of `at` (absolute ns), the picture shown then, encoded as `format`
/// and scaled to `size` when given; `None` where no picture is shown yet at that instant.
pub fn still_images(
    track: &TrackInfo,
    frames: &[Frame],
    at: &[u64],
    format: ImageFormat,
    size: Option<(u32, u32)>,
) -> Result<Vec<Option<Vec<u8>>>> {
    crate::media::init()?;
    let caps_name = match track.codec_id.as_str() {
        TrackInfo::H264 => ("video/x-h264", "avc"),
        TrackInfo::H265 => ("video/x-h265", "hvc1"),
        other => {
            return Err(SourceError::UnsupportedCodec {
                input: format!("track {}", track.number),
                codec: other.to_owned(),
            });
        }
    };
    let Some(base) = frames
        .iter()
        .filter(|f| f.track == track.number)
        .map(|f| f.timestamp_ns)
        .min()
    else {
        return Ok(vec![None; at.len()]);
    };
    let caps = gst::Caps::builder(caps_name.0)
        .field("stream-format", caps_name.1)
        .field("alignment", "au")
        .field(
            "codec_data",
            gst::Buffer::from_slice(track.codec_private.clone()),
        )
        .build();
    let pipeline = gst::Pipeline::new();
    let src = AppSrc::builder()
        .caps(&caps)
        .format(gst::Format::Time)
        .build();
    let mut raw = gst::Caps::builder("video/x-raw");
    if let Some((w, h)) = size {
        raw = raw.field("width", w as i32).field("height", h as i32);
    }
    let filter = build(
        gst::ElementFactory::make("capsfilter").property("caps", raw.build()),
        "capsfilter",
    )?;
    let encoder = match format {
        ImageFormat::Jpeg { quality } => build(
            gst::ElementFactory::make("jpegenc")
                .property("quality", i32::from(quality.clamp(1, 100))),
            "jpegenc",
        )?,
        ImageFormat::Png => make("pngenc")?,
    };
    let sink = AppSink::builder().sync(false).build();
    let chain = [
        src.clone().upcast::<gst::Element>(),
        make("decodebin")?,
        make("videoconvert")?,
        make("videoscale")?,
        filter,
        encoder,
        sink.clone().upcast(),
    ];
    pipeline
        .add_many(&chain)
        .map_err(|e| pipeline_error("pipeline", e.to_string()))?;
    // decodebin's source pad appears once it knows the stream.
    let convert = chain[2].clone();
    chain[1].connect_pad_added(move |_, pad| {
        if let Some(sink_pad) = convert.static_pad("sink")
            && !sink_pad.is_linked()
        {
            let _ = pad.link(&sink_pad);
        }
    });
    gst::Element::link_many(&chain[..2]).map_err(|e| pipeline_error("appsrc", e.to_string()))?;
    gst::Element::link_many(&chain[2..])
        .map_err(|e| pipeline_error("videoconvert", e.to_string()))?;
    pipeline
        .set_state(gst::State::Playing)
        .map_err(|e| pipeline_error("pipeline", e.to_string()))?;
    let _stop = StopOnDrop(pipeline.clone());

    for f in frames.iter().filter(|f| f.track == track.number) {
        let mut buffer = gst::Buffer::from_slice(f.data.clone());
        if let Some(b) = buffer.get_mut() {
            b.set_pts(gst::ClockTime::from_nseconds(f.timestamp_ns - base));
            if !f.key {
                b.set_flags(gst::BufferFlags::DELTA_UNIT);
            }
        }
        src.push_buffer(buffer)
            .map_err(|e| pipeline_error("appsrc", format!("decoding stopped: {e:?}")))?;
    }
    let _ = src.end_of_stream();

    let mut pictures: Vec<(u64, Vec<u8>)> = Vec::new();
    loop {
        match sink.try_pull_sample(gst::ClockTime::from_seconds(10)) {
            Some(sample) => {
                let Some(buffer) = sample.buffer() else {
                    continue;
                };
                let pts = buffer.pts().map_or(0, |t| t.nseconds());
                let map = buffer
                    .map_readable()
                    .map_err(|e| pipeline_error("appsink", e.to_string()))?;
                pictures.push((base + pts, map.as_slice().to_vec()));
            }
            None if sink.is_eos() => break,
            None => {
                let bus_error = pipeline.bus().and_then(|bus| {
                    bus.pop_filtered(&[gst::MessageType::Error])
                        .and_then(|m| match m.view() {
                            gst::MessageView::Error(e) => Some(e.error().to_string()),
                            _ => None,
                        })
                });
                return Err(pipeline_error(
                    "decodebin",
                    bus_error.unwrap_or_else(|| "no picture decoded within 10 s".into()),
                ));
            }
        }
    }
    pictures.sort_by_key(|(t, _)| *t);
    Ok(at
        .iter()
        .map(|t| {
            pictures
                .iter()
                .take_while(|(pts, _)| pts <= t)
                .last()
                .map(|(_, bytes)| bytes.clone())
        })
        .collect())
}

struct StopOnDrop(gst::Pipeline);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        let _ = self.0.set_state(gst::State::Null);
    }
}
