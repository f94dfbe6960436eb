//! Embeds the commit id and release date GStreamer's plugin description reports.

fn main() {
    gst_plugin_version_helper::info()
}
