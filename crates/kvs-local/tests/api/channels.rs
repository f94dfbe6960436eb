use aws_sdk_kinesisvideo::error::ProvideErrorMetadata;
use aws_sdk_kinesisvideo::types::{
    ChannelProtocol, ChannelRole, SingleMasterChannelEndpointConfiguration,
    SingleMasterConfiguration, Tag,
};

use crate::start;

#[tokio::test]
async fn channel_lifecycle_through_the_sdk() {
    let l = start().await;
    let c = &l.client;
    let arn = c
        .create_signaling_channel()
        .channel_name("door")
        .single_master_configuration(
            SingleMasterConfiguration::builder()
                .message_ttl_seconds(30)
                .build(),
        )
        .tags(Tag::builder().key("site").value("lab").build().unwrap())
        .send()
        .await
        .unwrap()
        .channel_arn
        .unwrap();
    assert!(arn.contains(":channel/door/"), "{arn}");

    let info = c
        .describe_signaling_channel()
        .channel_name("door")
        .send()
        .await
        .unwrap()
        .channel_info
        .unwrap();
    assert_eq!(info.channel_arn(), Some(arn.as_str()));
    assert_eq!(info.channel_type().unwrap().as_str(), "SINGLE_MASTER");
    assert_eq!(
        info.single_master_configuration()
            .unwrap()
            .message_ttl_seconds(),
        Some(30)
    );

    let list = c.list_signaling_channels().send().await.unwrap();
    assert_eq!(list.channel_info_list().len(), 1);

    let tags = c
        .list_tags_for_resource()
        .resource_arn(&arn)
        .send()
        .await
        .unwrap();
    assert_eq!(
        tags.tags().unwrap().get("site").map(String::as_str),
        Some("lab")
    );
    c.tag_resource()
        .resource_arn(&arn)
        .tags(Tag::builder().key("floor").value("2").build().unwrap())
        .send()
        .await
        .unwrap();
    c.untag_resource()
        .resource_arn(&arn)
        .tag_key_list("site")
        .send()
        .await
        .unwrap();
    let tags = c
        .list_tags_for_resource()
        .resource_arn(&arn)
        .send()
        .await
        .unwrap();
    assert_eq!(tags.tags().unwrap().len(), 1);

    let eps = c
        .get_signaling_channel_endpoint()
        .channel_arn(&arn)
        .single_master_channel_endpoint_configuration(
            SingleMasterChannelEndpointConfiguration::builder()
                .protocols(ChannelProtocol::Wss)
                .protocols(ChannelProtocol::Https)
                .role(ChannelRole::Viewer)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let list = eps.resource_endpoint_list();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0].protocol().unwrap().as_str(), "WSS");
    assert!(
        list[0]
            .resource_endpoint()
            .unwrap()
            .starts_with("ws://127.0.0.1:")
    );
    assert_eq!(list[1].resource_endpoint(), Some(l.server().url()));

    let dup = c
        .create_signaling_channel()
        .channel_name("door")
        .send()
        .await
        .unwrap_err();
    assert!(dup.into_service_error().is_resource_in_use_exception());

    c.delete_signaling_channel()
        .channel_arn(&arn)
        .send()
        .await
        .unwrap();
    let gone = c
        .describe_signaling_channel()
        .channel_name("door")
        .send()
        .await
        .unwrap_err();
    assert_eq!(gone.code(), Some("ResourceNotFoundException"));
}

#[tokio::test]
async fn channel_bad_input_is_refused() {
    let l = start().await;
    let c = &l.client;
    let bad = c
        .create_signaling_channel()
        .channel_name("bad/name")
        .send()
        .await
        .unwrap_err();
    assert!(bad.into_service_error().is_invalid_argument_exception());
    let ttl = c
        .create_signaling_channel()
        .channel_name("ok")
        .single_master_configuration(
            SingleMasterConfiguration::builder()
                .message_ttl_seconds(500)
                .build(),
        )
        .send()
        .await
        .unwrap_err();
    assert!(ttl.into_service_error().is_invalid_argument_exception());
}
