use std::time::Duration;

use gstreamer as gst;
use gstreamer::prelude::*;

use crate::support::{Local, Pipeline, stream_name};

#[test]
fn seed_rtsp_pipeline_streams_a_live_camera() {
    let camera = kvs_testkit::RtspServer::test_pattern();
    let local = Local::start();
    let stream = stream_name("rtsp");
    // The seed's words, with kvs-local's endpoint and credentials. `format=avc` is not a field
    // rtph264depay knows; a capsfilter only adds it to the caps, so it negotiates as written.
    let pipeline = Pipeline::launch(&format!(
        "rtspsrc location={} short-header=TRUE ! rtph264depay \
         ! video/x-h264,format=avc,alignment=au ! h264parse \
         ! video/x-h264,stream-format=avc,alignment=au \
         ! kvssink name=sink stream-name={stream} storage-size=512 {}",
        camera.url(),
        local.sink_properties()
    ));
    pipeline.0.set_state(gst::State::Playing).unwrap();
    std::thread::sleep(Duration::from_secs(10));
    assert!(pipeline.0.send_event(gst::event::Eos::new()));
    pipeline.wait_eos(Duration::from_secs(30));
    pipeline.0.set_state(gst::State::Null).unwrap();

    let listed = local.list_fragments(&stream);
    assert!(listed.len() >= 8, "{} fragments: {listed:?}", listed.len());
    let fragments = local.get_media(&stream);
    let first = &fragments[0].frames[0];
    assert!(
        first.key && first.track == 1,
        "GetMedia starts on a key frame"
    );
    assert_eq!(fragments[0].tracks.len(), 1);
}
