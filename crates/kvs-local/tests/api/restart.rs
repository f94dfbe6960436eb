use kvs_local::{Config, Server};

use crate::start;

#[tokio::test]
async fn streams_and_channels_survive_a_restart() {
    let mut local = start().await;
    let c = local.client.clone();
    let stream_arn = c
        .create_stream()
        .stream_name("kept")
        .data_retention_in_hours(48)
        .tags("k", "v")
        .send()
        .await
        .unwrap()
        .stream_arn
        .unwrap();
    let channel_arn = c
        .create_signaling_channel()
        .channel_name("kept-channel")
        .send()
        .await
        .unwrap()
        .channel_arn
        .unwrap();

    // a second server cannot take the same data directory while the first runs (started by
    // hand: the lock is what is tested)
    let busy = Server::start(Config::new(local.kvs.data_dir()))
        .await
        .err()
        .unwrap();
    assert!(busy.to_string().contains("in use"), "{busy}");

    local.kvs.restart().await;
    let info = c
        .describe_stream()
        .stream_name("kept")
        .send()
        .await
        .unwrap()
        .stream_info
        .unwrap();
    assert_eq!(info.stream_arn(), Some(stream_arn.as_str()));
    assert_eq!(info.data_retention_in_hours(), Some(48));
    let tags = c
        .list_tags_for_stream()
        .stream_name("kept")
        .send()
        .await
        .unwrap();
    assert_eq!(tags.tags().unwrap().get("k").map(String::as_str), Some("v"));
    let ch = c
        .describe_signaling_channel()
        .channel_name("kept-channel")
        .send()
        .await
        .unwrap()
        .channel_info
        .unwrap();
    assert_eq!(ch.channel_arn(), Some(channel_arn.as_str()));
}
