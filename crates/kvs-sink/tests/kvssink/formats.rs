use std::time::Duration;

use gstreamer as gst;
use gstreamer::prelude::*;
use kvs_mkv::TrackInfo;

use crate::support::{Local, Pipeline, stream_name};

#[test]
fn alaw_audio_links_to_the_audio_pad() {
    let local = Local::start();
    let stream = stream_name("alaw");
    let pipeline = Pipeline::launch(&format!(
        "videotestsrc num-buffers=50 ! video/x-raw,width=160,height=120,framerate=25/1 \
         ! x264enc key-int-max=25 tune=zerolatency ! h264parse \
         ! kvssink name=sink stream-name={stream} streaming-type=offline {} \
         audiotestsrc num-buffers=20 samplesperbuffer=800 ! audio/x-raw,rate=8000,channels=1 \
         ! alawenc ! sink.",
        local.sink_properties()
    ));
    pipeline.0.set_state(gst::State::Playing).unwrap();
    pipeline.wait_eos(Duration::from_secs(30));
    pipeline.0.set_state(gst::State::Null).unwrap();

    let fragments = local.get_media(&stream);
    let tracks = &fragments[0].tracks;
    assert_eq!(tracks.len(), 2);
    assert_eq!(tracks[1].codec_id, TrackInfo::PCM_ACM);
    assert_eq!(&tracks[1].codec_private[..4], &[6, 0, 1, 0]);
    let frames: Vec<_> = fragments.iter().flat_map(|f| f.frames.iter()).collect();
    assert_eq!(frames.iter().filter(|f| f.track == 1).count(), 50);
    assert_eq!(frames.iter().filter(|f| f.track == 2).count(), 20);
    // Both tracks in one timeline: frames never go back across tracks.
    assert!(
        frames
            .windows(2)
            .all(|w| w[1].timestamp_ns >= w[0].timestamp_ns)
    );
}

#[test]
fn h265_video_is_streamed_as_hevc() {
    let local = Local::start();
    let stream = stream_name("h265");
    let pipeline = Pipeline::launch(&format!(
        "videotestsrc num-buffers=30 ! video/x-raw,width=320,height=240,framerate=30/1 \
         ! x265enc key-int-max=15 speed-preset=ultrafast ! h265parse \
         ! kvssink name=sink stream-name={stream} streaming-type=offline {}",
        local.sink_properties()
    ));
    pipeline.0.set_state(gst::State::Playing).unwrap();
    pipeline.wait_eos(Duration::from_secs(30));
    pipeline.0.set_state(gst::State::Null).unwrap();

    let fragments = local.get_media(&stream);
    assert_eq!(fragments[0].tracks.len(), 1);
    assert_eq!(fragments[0].tracks[0].codec_id, TrackInfo::H265);
    assert_eq!(fragments[0].tracks[0].codec_private[0], 1, "an hvcC record");
    let frames: usize = fragments.iter().map(|f| f.frames.len()).sum();
    assert_eq!(frames, 30);
    assert!(fragments[0].frames[0].key);
}
