//! The `kvssink` element.

use gstreamer as gst;
use gstreamer::glib;
use gstreamer::prelude::*;

mod imp;
mod settings;

glib::wrapper! {
    /// The `kvssink` element: request pads `video_%u` and `audio_%u` in, PutMedia out.
    pub struct KvsSink(ObjectSubclass<imp::KvsSink>) @extends gst::Element, gst::Object;
}

/// The `streaming-type` property, as the C++ element names its values.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Hash, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstKvsSinkStreamingType")]
pub enum StreamingType {
    /// Live: when the fragment store is full, the oldest fragments are dropped.
    #[default]
    #[enum_value(name = "streaming type realtime", nick = "realtime")]
    Realtime = 0,
    /// Live with a relaxed latency; the same as `realtime` in this implementation.
    #[enum_value(name = "streaming type near realtime", nick = "near-realtime")]
    NearRealtime = 1,
    /// Files and other non-live input: when the fragment store is full, the element blocks
    /// upstream until acknowledgements make room (nothing is dropped).
    #[enum_value(name = "streaming type offline", nick = "offline")]
    Offline = 2,
}

pub(crate) fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "kvssink",
        gst::Rank::NONE,
        KvsSink::static_type(),
    )
}
