use aws_sdk_kinesisvideo::error::ProvideErrorMetadata;
use aws_sdk_kinesisvideo::types::{
    ApiName, ComparisonOperator, StreamNameCondition, UpdateDataRetentionOperation,
};

use crate::start;

#[tokio::test]
async fn stream_lifecycle_through_the_sdk() {
    let l = start().await;
    let c = &l.client;
    let arn = c
        .create_stream()
        .stream_name("cam-1")
        .data_retention_in_hours(24)
        .media_type("video/h264")
        .device_name("front-door")
        .tags("team", "video")
        .send()
        .await
        .unwrap()
        .stream_arn
        .unwrap();
    assert!(
        arn.starts_with("arn:aws:kinesisvideo:us-east-1:123456789012:stream/cam-1/"),
        "{arn}"
    );

    let info = c
        .describe_stream()
        .stream_name("cam-1")
        .send()
        .await
        .unwrap()
        .stream_info
        .unwrap();
    assert_eq!(info.stream_arn(), Some(arn.as_str()));
    assert_eq!(info.data_retention_in_hours(), Some(24));
    assert_eq!(info.media_type(), Some("video/h264"));
    assert_eq!(info.device_name(), Some("front-door"));
    assert_eq!(info.status().map(|s| s.as_str()), Some("ACTIVE"));
    let age = aws_smithy_types_now() - info.creation_time().unwrap().secs();
    assert!((0..60).contains(&age), "creation time {age}s ago");
    let by_arn = c.describe_stream().stream_arn(&arn).send().await.unwrap();
    assert_eq!(by_arn.stream_info.unwrap().stream_name(), Some("cam-1"));

    // retention up and down, with the version check
    let version = info.version().unwrap().to_owned();
    c.update_data_retention()
        .stream_name("cam-1")
        .current_version(&version)
        .operation(UpdateDataRetentionOperation::IncreaseDataRetention)
        .data_retention_change_in_hours(6)
        .send()
        .await
        .unwrap();
    let stale = c
        .update_data_retention()
        .stream_name("cam-1")
        .current_version(&version)
        .operation(UpdateDataRetentionOperation::DecreaseDataRetention)
        .data_retention_change_in_hours(1)
        .send()
        .await
        .unwrap_err();
    assert_eq!(stale.code(), Some("VersionMismatchException"));
    let info = c
        .describe_stream()
        .stream_name("cam-1")
        .send()
        .await
        .unwrap()
        .stream_info
        .unwrap();
    assert_eq!(info.data_retention_in_hours(), Some(30));

    // tags
    c.tag_stream()
        .stream_arn(&arn)
        .tags("site", "lab")
        .send()
        .await
        .unwrap();
    c.untag_stream()
        .stream_name("cam-1")
        .tag_key_list("team")
        .send()
        .await
        .unwrap();
    let tags = c
        .list_tags_for_stream()
        .stream_name("cam-1")
        .send()
        .await
        .unwrap();
    let tags = tags.tags.unwrap();
    assert_eq!(tags.len(), 1);
    assert_eq!(tags.get("site").map(String::as_str), Some("lab"));

    // endpoint: kvs-local serves the data plane itself
    let ep = c
        .get_data_endpoint()
        .stream_name("cam-1")
        .api_name(ApiName::GetClip)
        .send()
        .await
        .unwrap();
    assert_eq!(ep.data_endpoint(), Some(l.server().url()));

    c.delete_stream()
        .stream_arn(&arn)
        .current_version(info.version().unwrap())
        .send()
        .await
        .unwrap();
    let gone = c
        .describe_stream()
        .stream_name("cam-1")
        .send()
        .await
        .unwrap_err();
    assert!(gone.into_service_error().is_resource_not_found_exception());
}

fn aws_smithy_types_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[tokio::test]
async fn list_streams_paginates_and_filters() {
    let l = start().await;
    let c = &l.client;
    for i in 0..7 {
        c.create_stream()
            .stream_name(format!("cam-{i}"))
            .send()
            .await
            .unwrap();
    }
    c.create_stream().stream_name("door").send().await.unwrap();

    let mut names = Vec::new();
    let mut pages = c.list_streams().max_results(3).into_paginator().send();
    let mut page_count = 0;
    while let Some(page) = pages.next().await {
        page_count += 1;
        for s in page.unwrap().stream_info_list() {
            names.push(s.stream_name().unwrap().to_owned());
        }
    }
    assert_eq!(page_count, 3);
    assert_eq!(names.len(), 8);
    assert!(names.windows(2).all(|w| w[0] < w[1]), "sorted: {names:?}");

    let cams = c
        .list_streams()
        .stream_name_condition(
            StreamNameCondition::builder()
                .comparison_operator(ComparisonOperator::BeginsWith)
                .comparison_value("cam-")
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(cams.stream_info_list().len(), 7);
    assert!(cams.next_token().is_none());
}

#[tokio::test]
async fn typed_errors_for_bad_requests() {
    let l = start().await;
    let c = &l.client;
    c.create_stream().stream_name("dup").send().await.unwrap();

    let dup = c
        .create_stream()
        .stream_name("dup")
        .send()
        .await
        .unwrap_err();
    let dup = dup.into_service_error();
    assert!(dup.is_resource_in_use_exception(), "{dup:?}");
    assert!(dup.message().unwrap().contains("dup"));

    let missing = c
        .describe_stream()
        .stream_name("nope")
        .send()
        .await
        .unwrap_err();
    assert!(
        missing
            .into_service_error()
            .is_resource_not_found_exception()
    );

    let bad_name = c
        .create_stream()
        .stream_name("bad name!")
        .send()
        .await
        .unwrap_err();
    let bad_name = bad_name.into_service_error();
    assert!(bad_name.is_invalid_argument_exception(), "{bad_name:?}");
    assert!(bad_name.message().unwrap().contains("StreamName"));

    let too_long = c
        .create_stream()
        .stream_name("long")
        .data_retention_in_hours(87_601)
        .send()
        .await
        .unwrap_err();
    assert!(
        too_long
            .into_service_error()
            .is_invalid_argument_exception()
    );

    let info = c
        .describe_stream()
        .stream_name("dup")
        .send()
        .await
        .unwrap()
        .stream_info
        .unwrap();
    let below_zero = c
        .update_data_retention()
        .stream_name("dup")
        .current_version(info.version().unwrap())
        .operation(UpdateDataRetentionOperation::DecreaseDataRetention)
        .data_retention_change_in_hours(5)
        .send()
        .await
        .unwrap_err();
    assert!(
        below_zero
            .into_service_error()
            .is_invalid_argument_exception()
    );

    let bad_api = c
        .get_data_endpoint()
        .stream_name("dup")
        .api_name(ApiName::from("NOT_AN_API"))
        .send()
        .await
        .unwrap_err();
    assert!(bad_api.into_service_error().is_invalid_argument_exception());

    let mut too_many = c.tag_stream().stream_name("dup");
    for i in 0..51 {
        too_many = too_many.tags(format!("k{i}"), "v");
    }
    let too_many = too_many.send().await.unwrap_err();
    assert!(
        too_many
            .into_service_error()
            .is_tags_per_resource_exceeded_limit_exception()
    );
}
