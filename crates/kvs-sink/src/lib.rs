//! `kvssink`: a GStreamer sink element that streams H.264/H.265 video and AAC/G.711 audio to
//! an Amazon Kinesis video stream (or a kvs-local), with the name, pads, properties and signals
//! of the C++ `kvssink` from the AWS producer SDK, so `gst-launch-1.0 ... ! kvssink
//! stream-name=...` scripts run unchanged.
//!
//! PutMedia, MKV packaging, buffering, acknowledgements and reconnects are the kvs-rs producer's
//! (`kvs_media::Producer`); this crate only turns GStreamer buffers into its frames. See the
//! crate README for the properties and the differences from the C++ element.
//!
//! Built as `libgstkvssink.so` (load it with `GST_PLUGIN_PATH`), or linked statically:
//!
//! ```no_run
//! use gstreamer as gst;
//!
//! gst::init()?;
//! gstkvssink::plugin_register_static()?;
//! let sink = gst::ElementFactory::make("kvssink")
//!     .property("stream-name", "my-stream")
//!     .build()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use gstreamer as gst;
use gstreamer::glib;

mod kvssink;
mod runtime;
mod tracks;

#[doc(inline)]
pub use kvssink::{KvsSink, StreamingType};

/// Registers the `kvssink` element with GStreamer from a statically linked build, after
/// `gst::init()`; a plugin loaded from `libgstkvssink.so` through `GST_PLUGIN_PATH` needs no call.
pub use plugin::plugin_register_static;

fn plugin_init(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    kvssink::register(plugin)
}

// The macro's items (`plugin_desc`, `plugin_register_static`) carry no docs and cannot be given
// any; they live in this private module and the function is re-exported, documented, above.
mod plugin {
    #![allow(missing_docs)]

    use super::plugin_init;
    use gstreamer as gst;

    // GStreamer only loads plugins whose license is in its own list, which has no "Apache 2.0";
    // the crate's license is Apache-2.0 (see Cargo.toml), so the plugin says "unknown", as
    // GStreamer asks for licenses outside its list.
    gst::plugin_define!(
        kvssink,
        env!("CARGO_PKG_DESCRIPTION"),
        plugin_init,
        concat!(env!("CARGO_PKG_VERSION"), "-", env!("COMMIT_ID")),
        "unknown",
        env!("CARGO_PKG_NAME"),
        env!("CARGO_PKG_NAME"),
        env!("CARGO_PKG_REPOSITORY"),
        env!("BUILD_REL_DATE")
    );
}
