//! Making GStreamer elements, with the Debian package to install when one is missing.

use gstreamer as gst;

use crate::error::{Result, SourceError};

/// The Debian 12 package that ships the element factory `factory`.
pub(crate) fn debian_package(factory: &str) -> &'static str {
    match factory {
        "filesrc" | "queue" | "capsfilter" | "fakesink" | "typefind" => "libgstreamer1.0-0",
        "parsebin" | "appsink" | "videotestsrc" | "audiotestsrc" | "videoconvert"
        | "audioconvert" | "audioresample" | "opusenc" => "gstreamer1.0-plugins-base",
        "aacparse" | "rtspsrc" | "rtph264depay" | "rtph265depay" | "rtpmp4gdepay"
        | "rtpmp4adepay" | "v4l2src" | "qtdemux" | "matroskademux" => "gstreamer1.0-plugins-good",
        "h264parse" | "h265parse" | "voaacenc" | "faad" | "opusparse" => "gstreamer1.0-plugins-bad",
        "x264enc" => "gstreamer1.0-plugins-ugly",
        f if f.starts_with("avenc_") || f.starts_with("avdec_") => "gstreamer1.0-libav",
        _ => "gstreamer1.0-plugins-good gstreamer1.0-plugins-bad",
    }
}

/// The error for a missing element factory.
pub(crate) fn missing(factory: &str) -> SourceError {
    SourceError::MissingElement {
        element: factory.to_owned(),
        package: debian_package(factory),
    }
}

/// The first installed AAC encoder.
pub(crate) fn aac_encoder() -> Result<&'static str> {
    ["avenc_aac", "voaacenc"]
        .into_iter()
        .find(|f| gst::ElementFactory::find(f).is_some())
        .ok_or(SourceError::MissingElement {
            element: "avenc_aac or voaacenc".into(),
            package: "gstreamer1.0-libav",
        })
}

/// The first installed AAC decoder (for transcoding to Opus).
pub(crate) fn aac_decoder() -> Result<&'static str> {
    ["avdec_aac", "faad"]
        .into_iter()
        .find(|f| gst::ElementFactory::find(f).is_some())
        .ok_or(SourceError::MissingElement {
            element: "avdec_aac or faad".into(),
            package: "gstreamer1.0-libav",
        })
}

/// Opus bitrate in bit/s: transparent for speech and fair for music, well within what a
/// WebRTC audio track is given.
const OPUS_BITRATE: i32 = 64_000;

/// The raw audio Opus takes with channel mapping family 0 (what WebRTC and `OpusHead` from
/// [`kvs_mkv::codec::opus_head`] describe): 48 kHz, mono or stereo.
pub(crate) fn opus_input_caps() -> gst::Caps {
    gst::Caps::builder("audio/x-raw")
        .field("rate", 48_000i32)
        .field("channels", gst::IntRange::new(1i32, 2))
        .build()
}

/// The elements that turn raw audio of any rate and layout into Opus packets of 20 ms, one
/// per buffer: `audioconvert ! audioresample ! capsfilter ! opusenc ! opusparse`.
pub(crate) fn opus_encoder_chain() -> Result<Vec<gst::Element>> {
    Ok(vec![
        make("audioconvert")?,
        make("audioresample")?,
        build(
            gst::ElementFactory::make("capsfilter").property("caps", opus_input_caps()),
            "capsfilter",
        )?,
        build(
            gst::ElementFactory::make("opusenc")
                .property_from_str("frame-size", "20")
                .property("bitrate", OPUS_BITRATE),
            "opusenc",
        )?,
        make("opusparse")?,
    ])
}

/// Builds an element, mapping a missing factory (or a wrong property, a bug) to an error.
pub(crate) fn build(
    builder: gst::element_factory::ElementBuilder<'_>,
    factory: &str,
) -> Result<gst::Element> {
    builder.build().map_err(|e| {
        if gst::ElementFactory::find(factory).is_none() {
            missing(factory)
        } else {
            SourceError::Pipeline {
                element: factory.to_owned(),
                message: e.to_string(),
                debug: None,
            }
        }
    })
}

/// Makes an element with no properties set.
pub(crate) fn make(factory: &str) -> Result<gst::Element> {
    build(gst::ElementFactory::make(factory), factory)
}

/// A queue that decouples a stream's branch from the demuxer or source thread; bounded in
/// bytes and time so a badly interleaved file stalls instead of eating memory.
pub(crate) fn queue() -> Result<gst::Element> {
    build(
        gst::ElementFactory::make("queue")
            .property("max-size-buffers", 0u32)
            .property("max-size-bytes", 64u32 * 1024 * 1024)
            .property("max-size-time", 10 * gst::ClockTime::SECOND.nseconds()),
        "queue",
    )
}

/// Adds `chain` to `pipeline`, links it in order and starts it.
pub(crate) fn add_chain(pipeline: &gst::Pipeline, chain: &[gst::Element]) -> Result<()> {
    use gst::prelude::*;
    pipeline
        .add_many(chain)
        .map_err(|e| link_error("adding", e))?;
    gst::Element::link_many(chain).map_err(|e| link_error("linking", e))?;
    Ok(())
}

/// Brings freshly added elements to the pipeline's state (for branches added while running).
pub(crate) fn sync_chain(chain: &[gst::Element]) -> Result<()> {
    use gst::prelude::*;
    for element in chain {
        element
            .sync_state_with_parent()
            .map_err(|e| link_error("starting", e))?;
    }
    Ok(())
}

fn link_error(what: &str, e: gst::glib::BoolError) -> SourceError {
    SourceError::Pipeline {
        element: "pipeline".into(),
        message: format!("{what} elements failed: {e}"),
        debug: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packages_are_known() {
        assert_eq!(debian_package("x264enc"), "gstreamer1.0-plugins-ugly");
        assert_eq!(debian_package("h264parse"), "gstreamer1.0-plugins-bad");
        assert_eq!(debian_package("avenc_aac"), "gstreamer1.0-libav");
        assert_eq!(debian_package("avdec_aac"), "gstreamer1.0-libav");
        assert_eq!(debian_package("opusenc"), "gstreamer1.0-plugins-base");
        assert_eq!(debian_package("opusparse"), "gstreamer1.0-plugins-bad");
        let e = missing("x264enc").to_string();
        assert!(e.contains("x264enc") && e.contains("apt-get install gstreamer1.0-plugins-ugly"));
    }
}
