use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gstreamer as gst;
use gstreamer::prelude::*;
use kvs_mkv::{Event, Parser};

use crate::support::{Local, Pipeline, stream_name};

/// Frames per track in an MKV file, read with the kvs-mkv parser.
fn frames_per_track(path: &std::path::Path) -> BTreeMap<u64, usize> {
    let mut parser = Parser::new();
    parser.feed(&std::fs::read(path).unwrap());
    let mut counts = BTreeMap::new();
    let mut count = |event: Event| {
        if let Event::Frame(f) = event {
            *counts.entry(f.track).or_insert(0) += 1;
        }
    };
    while let Some(event) = parser.next_event().unwrap() {
        count(event);
    }
    for event in parser.finish().unwrap() {
        count(event);
    }
    counts
}

#[test]
fn seed_file_pipeline_uploads_every_frame_of_both_tracks() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.mkv");
    kvs_testkit::make_mkv(&input, 4);
    let in_file = frames_per_track(&input);
    assert_eq!(in_file.get(&1), Some(&120), "{in_file:?}");
    let audio_frames = *in_file.get(&2).expect("the MKV has audio");

    let local = Local::start();
    let stream = stream_name("file");
    // The seed's words, with kvs-local's endpoint and credentials.
    let pipeline = Pipeline::launch(&format!(
        "filesrc location={} ! matroskademux name=demux ! queue ! h264parse ! kvssink name=sink \
         stream-name={stream} streaming-type=offline {} \
         demux. ! queue ! aacparse ! sink.",
        input.display(),
        local.sink_properties()
    ));
    let sink = pipeline.sink();
    let pads: Vec<String> = sink
        .sink_pads()
        .iter()
        .map(|p| p.name().to_string())
        .collect();
    assert_eq!(pads, ["video_0", "audio_0"]);

    let acks: Arc<Mutex<Vec<(u64, String, String)>>> = Arc::default();
    sink.connect("ack", false, {
        let acks = acks.clone();
        move |values| {
            let timecode = values[1].get::<u64>().unwrap();
            let event = values[2].get::<String>().unwrap();
            let number = values[3].get::<String>().unwrap();
            acks.lock().unwrap().push((timecode, event, number));
            None
        }
    });
    let metrics: Arc<Mutex<Vec<gst::Structure>>> = Arc::default();
    sink.connect("metric", false, {
        let metrics = metrics.clone();
        move |values| {
            metrics
                .lock()
                .unwrap()
                .push(values[1].get::<gst::Structure>().unwrap());
            None
        }
    });

    pipeline.0.set_state(gst::State::Playing).unwrap();
    pipeline.wait_eos(Duration::from_secs(60));
    pipeline.0.set_state(gst::State::Null).unwrap();

    let fragments = local.get_media(&stream);
    assert!(!fragments.is_empty());
    let tracks = &fragments[0].tracks;
    assert_eq!(tracks.len(), 2, "{tracks:?}");
    assert_eq!(tracks[0].codec_id, kvs_mkv::TrackInfo::H264);
    assert_eq!(tracks[1].codec_id, kvs_mkv::TrackInfo::AAC);
    let frames: Vec<_> = fragments.iter().flat_map(|f| f.frames.iter()).collect();
    let video = frames.iter().filter(|f| f.track == 1).count();
    let audio = frames.iter().filter(|f| f.track == 2).count();
    assert_eq!((video, audio), (120, audio_frames));
    assert!(
        frames[0].key && frames[0].track == 1,
        "starts on a key frame"
    );
    // A key frame a second: four fragments.
    assert_eq!(fragments.len(), 4);

    // The ack signal reported every fragment PERSISTED, with its fragment number.
    let acks = acks.lock().unwrap();
    let persisted: Vec<_> = acks.iter().filter(|a| a.1 == "PERSISTED").collect();
    assert_eq!(persisted.len(), 4, "{acks:?}");
    let numbers: Vec<&str> = fragments
        .iter()
        .map(|f| f.number.as_ref().unwrap().as_str())
        .collect();
    for (_, _, number) in &persisted {
        assert!(
            numbers.contains(&number.as_str()),
            "{number} not in {numbers:?}"
        );
    }
    assert!(
        persisted
            .iter()
            .all(|a| a.0 == fragments[0].timecode || a.0 > 0)
    );
    let last = metrics
        .lock()
        .unwrap()
        .last()
        .cloned()
        .expect("metric signals");
    assert_eq!(last.get::<u64>("persisted").unwrap(), 4);
    assert_eq!(
        last.get::<u64>("frames").unwrap(),
        120 + audio_frames as u64
    );
}
