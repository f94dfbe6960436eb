//! Building the GStreamer pipeline of each source kind, ending in one appsink per track.
//!
//! Files and RTSP streams reveal their streams at run time (`pad-added`), so their branches
//! are built in a callback that fills a shared [`Found`]; the test pattern and devices have
//! fixed pipelines.

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app::AppSink;

use crate::caps::{self, StreamKind};
use crate::elements::{self, add_chain, build, make, sync_chain};
use crate::error::{Result, SourceError};
use crate::source::{AudioCodec, Source, SourceOptions, TestPattern};

/// Buffers an appsink holds before it blocks its branch (back-pressure on offline files).
const APPSINK_MAX_BUFFERS: u32 = 32;

/// The streams a pipeline has exposed so far.
#[derive(Debug, Default)]
pub(crate) struct Found {
    /// The appsink of the video track.
    pub(crate) video: Option<AppSink>,
    /// The appsink of the audio track.
    pub(crate) audio: Option<AppSink>,
    /// Every stream has been exposed (`no-more-pads`; rtspsrc and fixed pipelines).
    pub(crate) complete: bool,
    /// Streams exposed so far.
    pub(crate) pads: usize,
    /// Streams to expect, from parsebin's stream collection (parsebin emits no
    /// `no-more-pads`).
    pub(crate) expected_pads: Option<usize>,
    /// The track list is fixed: streams that appear from now on are discarded.
    pub(crate) closed: bool,
    /// The first error raised while exposing a stream.
    pub(crate) error: Option<SourceError>,
    /// A description of every stream seen, for error messages.
    pub(crate) streams: Vec<String>,
}

/// [`Found`] shared with the `pad-added` callbacks.
#[derive(Debug, Default)]
pub(crate) struct Discovery(Mutex<Found>);

impl Found {
    /// Whether every stream of the source has been exposed.
    pub(crate) fn is_complete(&self) -> bool {
        self.complete || self.expected_pads.is_some_and(|n| self.pads >= n)
    }
}

impl Discovery {
    pub(crate) fn lock(&self) -> MutexGuard<'_, Found> {
        // A panic in a callback cannot leave `Found` half-updated in a way that matters.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A built, not yet started, pipeline.
pub(crate) struct Built {
    pub(crate) pipeline: gst::Pipeline,
    pub(crate) discovery: Arc<Discovery>,
    /// Name of the element that reads the input (`filesrc`, `rtspsrc`, `v4l2src`), whose
    /// errors are about the input itself.
    pub(crate) input_element: &'static str,
}

/// Builds the pipeline for `source`; `input` describes it in error messages.
pub(crate) fn build_pipeline(
    source: &Source,
    options: SourceOptions,
    input: &str,
) -> Result<Built> {
    // Files in real time are paced by the appsinks' clock sync; live sources are paced by
    // themselves, and syncing them again would only add latency.
    let sync = options.realtime && !source.is_live();
    match source {
        Source::File(path) => file(path, sync, options.audio, input),
        Source::Rtsp { url, tcp } => rtsp(url, *tcp, options.audio, input),
        Source::TestPattern(pattern) => test_pattern(pattern, options.audio),
        Source::Device(path) => device(path),
    }
}

pub(crate) fn appsink(name: &str, caps: gst::Caps, sync: bool) -> AppSink {
    AppSink::builder()
        .name(name)
        .caps(&caps)
        .sync(sync)
        .max_buffers(APPSINK_MAX_BUFFERS)
        .drop(false)
        .enable_last_sample(false)
        .build()
}

pub(crate) fn h264_caps() -> gst::Caps {
    gst::Caps::builder("video/x-h264")
        .field("stream-format", "avc")
        .field("alignment", "au")
        .build()
}

fn h265_caps() -> gst::Caps {
    gst::Caps::builder("video/x-h265")
        .field("stream-format", "hvc1")
        .field("alignment", "au")
        .build()
}

fn aac_caps() -> gst::Caps {
    gst::Caps::builder("audio/mpeg")
        .field("stream-format", "raw")
        .build()
}

fn opus_caps() -> gst::Caps {
    gst::Caps::builder("audio/x-opus")
        .field("channel-mapping-family", 0i32)
        .build()
}

fn file(path: &Path, sync: bool, audio: AudioCodec, input: &str) -> Result<Built> {
    let location = path.to_str().ok_or_else(|| SourceError::NotMedia {
        path: path.to_owned(),
        reason: "the path is not valid UTF-8".into(),
    })?;
    let pipeline = gst::Pipeline::with_name("kvs-gst-file");
    let src = build(
        gst::ElementFactory::make("filesrc")
            .name("filesrc")
            .property("location", location),
        "filesrc",
    )?;
    let parse = build(
        gst::ElementFactory::make("parsebin").name("parsebin"),
        "parsebin",
    )?;
    // parsebin would put h264parse/h265parse after the demuxer, and those insert the codec
    // data's parameter sets in front of the first key frame. Demuxed access units that are
    // already length-prefixed are exposed as they are, so the stored bytes equal the file's.
    parse.connect("autoplug-continue", false, |args| {
        let ready = args
            .get(2)
            .and_then(|caps| caps.get::<gst::Caps>().ok())
            .is_some_and(|caps| is_length_prefixed_au(&caps));
        Some((!ready).to_value())
    });
    add_chain(&pipeline, &[src, parse.clone()])?;
    let discovery = Arc::new(Discovery::default());
    let branch = Branch {
        sync,
        audio,
        rtp: false,
    };
    connect_dynamic(&pipeline, &parse, &discovery, branch, input);
    Ok(Built {
        pipeline,
        discovery,
        input_element: "filesrc",
    })
}

fn rtsp(url: &str, tcp: bool, audio: AudioCodec, input: &str) -> Result<Built> {
    let lower = url.to_ascii_lowercase();
    if !["rtsp://", "rtsps://", "rtspt://", "rtspu://"]
        .iter()
        .any(|scheme| lower.starts_with(scheme))
    {
        return Err(SourceError::InvalidSettings(format!(
            "{input}: the URL must start with rtsp:// (or rtsps://)"
        )));
    }
    let pipeline = gst::Pipeline::with_name("kvs-gst-rtsp");
    let mut src = gst::ElementFactory::make("rtspsrc")
        .name("rtspsrc")
        .property("location", url);
    if tcp {
        src = src.property_from_str("protocols", "tcp");
    }
    let src = build(src, "rtspsrc")?;
    pipeline.add(&src).map_err(|e| SourceError::Pipeline {
        element: "rtspsrc".into(),
        message: e.to_string(),
        debug: None,
    })?;
    let discovery = Arc::new(Discovery::default());
    let branch = Branch {
        sync: false,
        audio,
        rtp: true,
    };
    connect_dynamic(&pipeline, &src, &discovery, branch, input);
    Ok(Built {
        pipeline,
        discovery,
        input_element: "rtspsrc",
    })
}

/// How to build the branch of a stream that appears at run time.
#[derive(Debug, Clone, Copy)]
struct Branch {
    /// The appsinks sync on the clock (files in real time).
    sync: bool,
    /// The codec the audio track is delivered in.
    audio: AudioCodec,
    /// The streams are RTP (rtspsrc) and need depayloading.
    rtp: bool,
}

/// Builds a branch for each stream `element` exposes, and marks the list complete on
/// `no-more-pads`.
fn connect_dynamic(
    pipeline: &gst::Pipeline,
    element: &gst::Element,
    discovery: &Arc<Discovery>,
    branch: Branch,
    input: &str,
) {
    let weak = pipeline.downgrade();
    let found = Arc::clone(discovery);
    let input = input.to_owned();
    element.connect_pad_added(move |_, pad| {
        let Some(pipeline) = weak.upgrade() else {
            return;
        };
        let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
        let kind = if branch.rtp {
            caps::classify_rtp(&caps)
        } else {
            caps::classify(&caps)
        };
        let mut found = found.lock();
        found.pads += 1;
        if let Err(e) = add_stream(&pipeline, pad, &kind, &mut found, branch, &input) {
            tracing::warn!(error = %e, "kvs-gst: cannot use stream {kind:?} of {input}");
            found.error.get_or_insert(e);
        }
    });
    let found = Arc::clone(discovery);
    element.connect_no_more_pads(move |_| found.lock().complete = true);
}

fn add_stream(
    pipeline: &gst::Pipeline,
    pad: &gst::Pad,
    kind: &StreamKind,
    found: &mut Found,
    branch: Branch,
    input: &str,
) -> Result<()> {
    let Branch { sync, audio, rtp } = branch;
    found.streams.push(match kind {
        StreamKind::H264 => "H.264 video".into(),
        StreamKind::H265 => "H.265 video".into(),
        StreamKind::Aac => "AAC audio".into(),
        StreamKind::OtherVideo(name) | StreamKind::Other(name) => name.clone(),
    });
    let free = |slot: &Option<AppSink>| slot.is_none() && !found.closed;
    let chain = match kind {
        StreamKind::H264 | StreamKind::H265 if free(&found.video) => {
            let h264 = *kind == StreamKind::H264;
            let mut chain = vec![elements::queue()?];
            if rtp {
                let depay = if h264 { "rtph264depay" } else { "rtph265depay" };
                chain.push(build(
                    gst::ElementFactory::make(depay).property("request-keyframe", true),
                    depay,
                )?);
            }
            // Input that is already length-prefixed access units (a demuxed MKV or MP4) passes
            // through untouched: a parser would rewrite the first access unit.
            let ready = !rtp
                && pad
                    .current_caps()
                    .is_some_and(|caps| is_length_prefixed_au(&caps));
            if !ready {
                chain.push(make(if h264 { "h264parse" } else { "h265parse" })?);
            }
            let caps = if h264 { h264_caps() } else { h265_caps() };
            let sink = appsink("video", caps, sync);
            chain.push(sink.clone().upcast());
            link_branch(pipeline, pad, &chain)?;
            found.video = Some(sink);
            return Ok(());
        }
        StreamKind::Aac if free(&found.audio) => {
            let mut chain = vec![elements::queue()?];
            if rtp {
                let caps = pad.current_caps();
                let latm = caps
                    .as_ref()
                    .and_then(|c| c.structure(0))
                    .and_then(|s| s.get::<&str>("encoding-name").ok())
                    .is_some_and(|e| e.eq_ignore_ascii_case("MP4A-LATM"));
                // MP4A-LATM (RFC 6416) and MPEG4-GENERIC (RFC 3640) need different depayloaders.
                chain.push(make(if latm { "rtpmp4adepay" } else { "rtpmp4gdepay" })?);
            }
            chain.push(make("aacparse")?);
            let caps = match audio {
                AudioCodec::Aac => aac_caps(),
                AudioCodec::Opus => {
                    chain.push(make(elements::aac_decoder()?)?);
                    chain.extend(elements::opus_encoder_chain()?);
                    opus_caps()
                }
            };
            let sink = appsink("audio", caps, sync);
            chain.push(sink.clone().upcast());
            link_branch(pipeline, pad, &chain)?;
            found.audio = Some(sink);
            return Ok(());
        }
        StreamKind::OtherVideo(name) if free(&found.video) => {
            // Reported by `open`; the stream still gets a sink so the demuxer does not fail
            // with a less helpful not-linked error first.
            found.error.get_or_insert(SourceError::UnsupportedCodec {
                input: input.to_owned(),
                codec: name.clone(),
            });
            vec![fakesink()?]
        }
        _ => {
            let why = if found.closed {
                "it appeared after the track list was fixed"
            } else if kind.is_video() || *kind == StreamKind::Aac {
                "only the first video and the first audio stream are used"
            } else {
                match audio {
                    AudioCodec::Aac => {
                        "kvs-gst passes through H.264/H.265 video and AAC audio only"
                    }
                    AudioCodec::Opus => {
                        "kvs-gst passes through H.264/H.265 video and transcodes AAC audio only"
                    }
                }
            };
            tracing::warn!("kvs-gst: ignoring stream {kind:?} of {input}: {why}");
            vec![fakesink()?]
        }
    };
    link_branch(pipeline, pad, &chain)
}

/// Whether `caps` are H.264 (`avc`) or H.265 (`hvc1`) access units with codec data: what
/// the video appsink takes, so no parser is needed.
fn is_length_prefixed_au(caps: &gst::CapsRef) -> bool {
    caps.structure(0).is_some_and(|s| {
        let format = match s.name().as_str() {
            "video/x-h264" => "avc",
            "video/x-h265" => "hvc1",
            _ => return false,
        };
        s.get::<&str>("stream-format").ok() == Some(format)
            && s.get::<&str>("alignment").ok() == Some("au")
            && s.has_field("codec_data")
    })
}

/// A sink for streams that are not used.
fn fakesink() -> Result<gst::Element> {
    build(
        gst::ElementFactory::make("fakesink")
            .property("sync", false)
            .property("async", false),
        "fakesink",
    )
}

fn link_branch(pipeline: &gst::Pipeline, pad: &gst::Pad, chain: &[gst::Element]) -> Result<()> {
    add_chain(pipeline, chain)?;
    sync_chain(chain)?;
    let first = chain.first().and_then(|e| e.static_pad("sink"));
    let result = match first {
        Some(sink) => pad.link(&sink).map(|_| ()).map_err(|e| format!("{e:?}")),
        None => Err("the branch has no sink pad".into()),
    };
    result.map_err(|message| SourceError::Pipeline {
        element: pad
            .parent_element()
            .map(|e| e.name().to_string())
            .unwrap_or_default(),
        message: format!("linking pad {} failed: {message}", pad.name()),
        debug: None,
    })
}

/// An x264 encoder with a fixed key frame interval: scene-cut key frames are off, because
/// each key frame starts a KVS fragment and KVS accepts at most 5 fragments per second.
pub(crate) fn x264enc(key_int_max: u32, bitrate_kbps: u32) -> Result<gst::Element> {
    build(
        gst::ElementFactory::make("x264enc")
            .property_from_str("tune", "zerolatency")
            .property("option-string", "scenecut=0")
            .property_from_str("speed-preset", "veryfast")
            .property("key-int-max", key_int_max)
            .property("bitrate", bitrate_kbps),
        "x264enc",
    )
}

pub(crate) fn capsfilter(caps: gst::Caps) -> Result<gst::Element> {
    build(
        gst::ElementFactory::make("capsfilter").property("caps", caps),
        "capsfilter",
    )
}

/// Raw video caps x264enc takes as 4:2:0 (High profile, not High 4:4:4, which players and
/// KVS HLS reject).
pub(crate) fn i420() -> gst::caps::Builder<gst::caps::NoFeature> {
    gst::Caps::builder("video/x-raw").field("format", "I420")
}

fn test_pattern(pattern: &TestPattern, audio: AudioCodec) -> Result<Built> {
    pattern.validate()?;
    let pipeline = gst::Pipeline::with_name("kvs-gst-test-pattern");
    let as_i32 = |v: u32| i32::try_from(v).unwrap_or(i32::MAX);
    let mut src = gst::ElementFactory::make("videotestsrc").property("is-live", true);
    if let Some(n) = pattern.video_buffers() {
        src = src.property("num-buffers", n);
    }
    let raw = i420()
        .field("width", as_i32(pattern.width))
        .field("height", as_i32(pattern.height))
        .field("framerate", gst::Fraction::new(as_i32(pattern.fps), 1))
        .build();
    let video = appsink("video", h264_caps(), false);
    add_chain(
        &pipeline,
        &[
            build(src, "videotestsrc")?,
            capsfilter(raw)?,
            x264enc(pattern.key_int_max(), pattern.bitrate_kbps)?,
            make("h264parse")?,
            video.clone().upcast(),
        ],
    )?;
    let mut found = Found {
        video: Some(video),
        complete: true,
        ..Found::default()
    };
    if pattern.audio {
        let mut src = gst::ElementFactory::make("audiotestsrc")
            .property("is-live", true)
            .property(
                "samplesperbuffer",
                as_i32(TestPattern::AUDIO_SAMPLES_PER_BUFFER),
            )
            .property("volume", 0.1f64);
        if let Some(n) = pattern.audio_buffers() {
            src = src.property("num-buffers", n);
        }
        let raw = gst::Caps::builder("audio/x-raw")
            .field("rate", as_i32(TestPattern::AUDIO_RATE))
            .field("channels", 2i32)
            .build();
        let mut chain = vec![build(src, "audiotestsrc")?, capsfilter(raw)?];
        let caps = match audio {
            AudioCodec::Aac => {
                chain.extend([
                    make("audioconvert")?,
                    make(elements::aac_encoder()?)?,
                    make("aacparse")?,
                ]);
                aac_caps()
            }
            AudioCodec::Opus => {
                chain.extend(elements::opus_encoder_chain()?);
                opus_caps()
            }
        };
        let sink = appsink("audio", caps, false);
        chain.push(sink.clone().upcast());
        add_chain(&pipeline, &chain)?;
        found.audio = Some(sink);
    }
    Ok(Built {
        pipeline,
        discovery: Arc::new(Discovery(Mutex::new(found))),
        input_element: "videotestsrc",
    })
}

fn device(path: &Path) -> Result<Built> {
    let device_error = |reason: &str| SourceError::Device {
        path: path.to_owned(),
        reason: reason.to_owned(),
    };
    if !path.exists() {
        return Err(device_error("does not exist"));
    }
    let location = path
        .to_str()
        .ok_or_else(|| device_error("the path is not valid UTF-8"))?;
    let defaults = TestPattern::default();
    let pipeline = gst::Pipeline::with_name("kvs-gst-device");
    let video = appsink("video", h264_caps(), false);
    add_chain(
        &pipeline,
        &[
            build(
                gst::ElementFactory::make("v4l2src")
                    .name("v4l2src")
                    .property("device", location),
                "v4l2src",
            )?,
            make("videoconvert")?,
            capsfilter(i420().build())?,
            x264enc(defaults.key_int_max(), defaults.bitrate_kbps)?,
            make("h264parse")?,
            video.clone().upcast(),
        ],
    )?;
    let found = Found {
        video: Some(video),
        complete: true,
        ..Found::default()
    };
    Ok(Built {
        pipeline,
        discovery: Arc::new(Discovery(Mutex::new(found))),
        input_element: "v4l2src",
    })
}
