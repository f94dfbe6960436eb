use std::time::{Duration, Instant};

use gstreamer as gst;
use gstreamer::prelude::*;

use crate::support::{Local, Pipeline, stream_name};

#[test]
fn stopping_without_eos_is_quick_and_keeps_what_was_sent() {
    let local = Local::start();
    let stream = stream_name("stop");
    let pipeline = Pipeline::launch(&format!(
        "videotestsrc is-live=true ! video/x-raw,width=160,height=120,framerate=15/1 \
         ! x264enc tune=zerolatency key-int-max=15 ! h264parse \
         ! kvssink name=sink stream-name={stream} {}",
        local.sink_properties()
    ));
    pipeline.0.set_state(gst::State::Playing).unwrap();
    std::thread::sleep(Duration::from_secs(3));
    let started = Instant::now();
    pipeline.0.set_state(gst::State::Null).unwrap();
    let took = started.elapsed();
    assert!(took < Duration::from_secs(8), "stopping took {took:?}");
    let listed = local.list_fragments(&stream);
    assert!(listed.len() >= 2, "{listed:?}");
}
