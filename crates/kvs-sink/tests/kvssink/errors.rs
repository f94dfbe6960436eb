use gstreamer as gst;
use gstreamer::prelude::*;

use crate::support::{Local, Pipeline, init};

/// A short H.264 source in front of kvssink with `properties`.
fn pipeline(properties: &str) -> Pipeline {
    Pipeline::launch(&format!(
        "videotestsrc num-buffers=10 ! video/x-raw,width=160,height=120 ! x264enc \
         ! h264parse ! kvssink name=sink {properties}"
    ))
}

/// Starting fails, and the bus error names `property`.
fn assert_refused(properties: &str, property: &str) {
    let p = pipeline(properties);
    assert!(
        p.0.set_state(gst::State::Playing).is_err(),
        "{properties} started"
    );
    let message = p.error_message();
    assert!(
        message.contains(property),
        "{message:?} does not name {property}"
    );
}

#[test]
fn invalid_stream_name_is_refused() {
    assert_refused(
        r#"stream-name="bad name!" endpoint-url=http://127.0.0.1:9"#,
        "stream-name",
    );
}

#[test]
fn missing_stream_name_is_refused() {
    assert_refused("endpoint-url=http://127.0.0.1:9", "stream-name");
}

#[test]
fn unsupported_timecode_scale_is_refused() {
    assert_refused(
        "stream-name=ok timecode-scale=5 endpoint-url=http://127.0.0.1:9",
        "timecode-scale=5",
    );
}

#[test]
fn half_credentials_are_refused() {
    assert_refused(
        "stream-name=ok access-key=AKID endpoint-url=http://127.0.0.1:9",
        "secret-key",
    );
}

#[test]
fn invalid_streaming_type_is_refused_by_the_parser() {
    init();
    let err = gst::parse::launch("fakesrc ! kvssink stream-name=ok streaming-type=fastest")
        .expect_err("an unknown streaming-type is refused");
    assert!(err.to_string().contains("streaming-type"), "{err}");
}

#[test]
fn missing_stream_without_create_permission_is_refused() {
    let local = Local::start();
    assert_refused(
        &format!(
            "stream-name=absent allow-create-stream=false {}",
            local.sink_properties()
        ),
        "allow-create-stream=false",
    );
}

#[test]
fn streaming_type_nicks_and_defaults() {
    init();
    let sink = gst::ElementFactory::make("kvssink")
        .property_from_str("streaming-type", "offline")
        .build()
        .unwrap();
    let value = sink.property_value("streaming-type");
    assert_eq!(
        value.get::<gstkvssink::StreamingType>().unwrap(),
        gstkvssink::StreamingType::Offline
    );
    assert_eq!(sink.property::<u32>("storage-size"), 128);
    assert_eq!(sink.property::<u32>("fragment-duration"), 2000);
    assert_eq!(sink.property::<String>("aws-region"), "us-west-2");
    assert!(sink.element_flags().contains(gst::ElementFlags::SINK));
    // Only one video and one audio pad, like the C++ element's tracks.
    assert!(sink.request_pad_simple("video_%u").is_some());
    assert!(sink.request_pad_simple("video_%u").is_none());
    assert!(sink.request_pad_simple("audio_%u").is_some());
}
