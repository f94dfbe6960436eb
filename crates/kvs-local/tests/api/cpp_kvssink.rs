//! The PutMedia body AWS's C++ kvssink sent, recorded once (fixtures/cpp-kvssink/README.md):
//! kvs-local persists every fragment and GetMedia gives every frame back unchanged.

use aws_sdk_kinesisvideomedia::types::StartSelectorType;
use kvs_mkv::Event;

use crate::media::{frames_of, get_media, parse_all, put_media, selector};
use crate::start;

const RECORDED: &[u8] = include_bytes!("fixtures/cpp-kvssink/putmedia.mkv");

#[tokio::test]
async fn the_cpp_kvssinks_recorded_put_media_is_persisted_and_read_back_unchanged() {
    let local = start().await;
    let server = local.server();
    local.kvs.create_stream("cpp-rec").await;
    let sent = parse_all(RECORDED);
    let fragments = sent
        .iter()
        .filter(|e| matches!(e, Event::ClusterStart { .. }))
        .count();
    let sent_frames = frames_of(&sent);
    assert_eq!(fragments, 4, "the recording: 4 s cut on key frames");
    assert!(sent_frames.iter().any(|f| f.track == 2), "and AAC audio");

    // As the element sent it: ABSOLUTE timecodes, the body streamed in chunks.
    let acks = put_media(server, "cpp-rec", RECORDED.to_vec(), "ABSOLUTE").await;
    let kinds: Vec<&str> = acks
        .iter()
        .filter_map(|a| a["EventType"].as_str())
        .collect();
    assert!(!kinds.contains(&"ERROR"), "{acks:?}");
    assert_eq!(
        kinds.iter().filter(|k| **k == "PERSISTED").count(),
        fragments,
        "{acks:?}"
    );

    let back = get_media(
        server,
        "cpp-rec",
        selector(StartSelectorType::Earliest).build().unwrap(),
    )
    .await;
    assert_eq!(frames_of(&back), sent_frames);
}
