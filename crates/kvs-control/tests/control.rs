//! The typed control plane against a real kvs-local.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use kvs_control::{ChannelSpec, ControlPlane, Error, StreamSpec};
use kvs_testkit::LocalKvs;
use kvs_types::{ChannelName, ChannelRef, DataRetention, StreamName, StreamRef, TagKey, TagValue};

async fn local() -> (LocalKvs, ControlPlane) {
    let local = LocalKvs::start().await;
    let cp = ControlPlane::new(local.config());
    (local, cp)
}

fn name(s: &str) -> StreamName {
    StreamName::new(s).unwrap()
}

#[tokio::test]
async fn ensure_stream_is_idempotent_and_retention_moves_both_ways() {
    let (local, cp) = local().await;
    let spec = StreamSpec::new(name("cam"))
        .retention(DataRetention::from_hours(24).unwrap())
        .media_type("video/h264")
        .tag(
            TagKey::new("team").unwrap(),
            TagValue::new("video").unwrap(),
        );
    let first = cp.ensure_stream(&spec).await.unwrap();
    let second = cp.ensure_stream(&spec).await.unwrap();
    assert_eq!(first, second);
    assert_eq!(local.server().calls("CreateStream"), 1);
    assert_eq!(first.data_retention_in_hours, 24);
    assert_eq!(first.arn().unwrap().resource_name(), "cam");

    let stream = StreamRef::Name(name("cam"));
    let up = cp
        .set_retention(&stream, DataRetention::from_hours(72).unwrap())
        .await
        .unwrap();
    assert_eq!(up.data_retention_in_hours, 72);
    let down = cp
        .set_retention(&stream, DataRetention::from_hours(2).unwrap())
        .await
        .unwrap();
    assert_eq!(down.data_retention_in_hours, 2);
    assert_ne!(down.version, up.version);

    let by_arn = StreamRef::Arn(down.arn().unwrap());
    let mut tags = BTreeMap::new();
    tags.insert(TagKey::new("site").unwrap(), TagValue::new("lab").unwrap());
    cp.tag_stream(&by_arn, &tags).await.unwrap();
    cp.untag_stream(&stream, &[TagKey::new("team").unwrap()])
        .await
        .unwrap();
    let got = cp.stream_tags(&stream).await.unwrap();
    assert_eq!(got, BTreeMap::from([("site".to_owned(), "lab".to_owned())]));

    assert_eq!(cp.list_streams(None).await.unwrap().len(), 1);
    assert_eq!(cp.list_streams(Some("nope")).await.unwrap().len(), 0);
    cp.delete_stream(&stream).await.unwrap();
    assert!(
        matches!(cp.describe_stream(&stream).await, Err(Error::StreamNotFound(s)) if s == "cam")
    );
}

#[tokio::test]
async fn typed_errors() {
    let (_local, cp) = local().await;
    let spec = StreamSpec::new(name("dup"));
    cp.create_stream(&spec).await.unwrap();
    assert!(matches!(cp.create_stream(&spec).await, Err(Error::StreamExists(s)) if s == "dup"));
    let missing = StreamRef::Name(name("missing"));
    let err = cp.delete_stream(&missing).await.unwrap_err();
    assert!(matches!(err, Error::StreamNotFound(_)));
    assert!(
        err.to_string().contains("kvs stream create missing"),
        "{err}"
    );
    assert!(
        ChannelSpec::new(ChannelName::new("c").unwrap())
            .message_ttl_seconds(1)
            .is_err()
    );
}

#[tokio::test]
async fn channels_ensure_list_delete() {
    let (_local, cp) = local().await;
    let spec = ChannelSpec::new(ChannelName::new("door").unwrap())
        .message_ttl_seconds(30)
        .unwrap()
        .tag(TagKey::new("site").unwrap(), TagValue::new("lab").unwrap());
    let a = cp.ensure_channel(&spec).await.unwrap();
    let b = cp.ensure_channel(&spec).await.unwrap();
    assert_eq!(a, b);
    assert_eq!(a.single_master_configuration.message_ttl_seconds, 30);
    assert_eq!(a.channel_type, "SINGLE_MASTER");
    assert_eq!(cp.list_channels(Some("do")).await.unwrap().len(), 1);
    let by_arn = ChannelRef::Arn(a.arn().unwrap());
    cp.delete_channel(&by_arn).await.unwrap();
    assert!(matches!(
        cp.describe_channel(&by_arn).await,
        Err(Error::ChannelNotFound(_))
    ));
    assert!(matches!(cp.create_channel(&spec).await.map(|_| ()), Ok(())));
    assert!(matches!(
        cp.create_channel(&spec).await,
        Err(Error::ChannelExists(_))
    ));
}
