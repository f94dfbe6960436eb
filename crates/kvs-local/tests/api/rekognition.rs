//! Rekognition collections, face search and stream processors through `aws-sdk-rekognition`.

use std::path::PathBuf;

use aws_sdk_rekognition::Client;
use aws_sdk_rekognition::error::ProvideErrorMetadata;
use aws_sdk_rekognition::primitives::Blob;
use aws_sdk_rekognition::types::{
    FaceSearchSettings, Image, KinesisDataStream, KinesisVideoStream, StreamProcessorInput,
    StreamProcessorOutput, StreamProcessorSettings, StreamProcessorStatus,
};
use kvs_local::Server;

use crate::start;

fn rekognition(server: &Server) -> Client {
    let creds = aws_credential_types::Credentials::new(
        server.credentials().access_key_id.clone(),
        server.credentials().secret_access_key.clone(),
        None,
        None,
        "test",
    );
    let config = aws_sdk_rekognition::Config::builder()
        .behavior_version(aws_sdk_rekognition::config::BehaviorVersion::latest())
        .region(aws_sdk_rekognition::config::Region::new("us-east-1"))
        .credentials_provider(creds)
        .endpoint_url(server.url())
        .build();
    Client::from_conf(config)
}

/// A test photo installed by scripts/fetch-models.
fn photo(name: &str) -> Image {
    let path: PathBuf = kvs_faces::FaceEngine::default_models_dir()
        .join("test-images")
        .join(name);
    let bytes = std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; run scripts/fetch-models", path.display()));
    Image::builder().bytes(Blob::new(bytes)).build()
}

#[tokio::test]
async fn collections_are_created_described_listed_and_deleted() {
    let local = start().await;
    let c = rekognition(local.server());
    let made = c
        .create_collection()
        .collection_id("faces")
        .send()
        .await
        .unwrap();
    assert_eq!(made.status_code(), Some(200));
    assert_eq!(
        made.collection_arn(),
        Some("arn:aws:rekognition:us-east-1:123456789012:collection/faces")
    );
    let dup = c
        .create_collection()
        .collection_id("faces")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(dup.is_resource_already_exists_exception(), "{dup:?}");
    for id in ["b", "a"] {
        c.create_collection()
            .collection_id(id)
            .send()
            .await
            .unwrap();
    }
    let listed = c.list_collections().max_results(2).send().await.unwrap();
    assert_eq!(listed.collection_ids(), ["a", "b"]);
    let rest = c
        .list_collections()
        .next_token(listed.next_token().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(rest.collection_ids(), ["faces"]);
    let described = c
        .describe_collection()
        .collection_id("faces")
        .send()
        .await
        .unwrap();
    assert_eq!(described.face_count(), Some(0));
    c.delete_collection()
        .collection_id("faces")
        .send()
        .await
        .unwrap();
    let gone = c
        .describe_collection()
        .collection_id("faces")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(gone.is_resource_not_found_exception(), "{gone:?}");
    let bad = c
        .create_collection()
        .collection_id("has space")
        .send()
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Some("InvalidParameterException"));
}

#[tokio::test]
async fn faces_are_indexed_searched_detected_and_deleted() {
    let local = start().await;
    let c = rekognition(local.server());
    c.create_collection()
        .collection_id("people")
        .send()
        .await
        .unwrap();
    let indexed = c
        .index_faces()
        .collection_id("people")
        .external_image_id("obama-1")
        .image(photo("obama.jpg"))
        .send()
        .await
        .unwrap();
    let records = indexed.face_records();
    assert_eq!(records.len(), 1, "{indexed:?}");
    let face = records[0].face().unwrap();
    assert_eq!(face.external_image_id(), Some("obama-1"));
    let bbox = face.bounding_box().unwrap();
    assert!(bbox.width().unwrap() > 0.05 && bbox.left().unwrap() >= 0.0);
    let detail = records[0].face_detail().unwrap();
    assert!(!detail.landmarks().is_empty());
    assert!(detail.pose().is_some() && detail.quality().is_some());
    let face_id = face.face_id().unwrap().to_owned();

    // A different photo of the same person matches; another person does not.
    let same = c
        .search_faces_by_image()
        .collection_id("people")
        .image(photo("obama2.jpg"))
        .send()
        .await
        .unwrap();
    let best = &same.face_matches()[0];
    assert!(best.similarity().unwrap() > 80.0, "{same:?}");
    assert_eq!(best.face().unwrap().external_image_id(), Some("obama-1"));
    let other = c
        .search_faces_by_image()
        .collection_id("people")
        .image(photo("biden.jpg"))
        .send()
        .await
        .unwrap();
    assert!(other.face_matches().is_empty(), "{other:?}");

    let detected = c
        .detect_faces()
        .image(photo("biden.jpg"))
        .send()
        .await
        .unwrap();
    assert_eq!(detected.face_details().len(), 1);

    let listed = c.list_faces().collection_id("people").send().await.unwrap();
    assert_eq!(listed.faces().len(), 1);
    assert_eq!(
        c.describe_collection()
            .collection_id("people")
            .send()
            .await
            .unwrap()
            .face_count(),
        Some(1)
    );

    // Typed errors: not an image, a missing collection.
    let garbage = c
        .index_faces()
        .collection_id("people")
        .image(
            Image::builder()
                .bytes(Blob::new(b"not an image".to_vec()))
                .build(),
        )
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(garbage.is_invalid_image_format_exception(), "{garbage:?}");
    let missing = c
        .index_faces()
        .collection_id("nobody")
        .image(photo("obama.jpg"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(missing.is_resource_not_found_exception(), "{missing:?}");

    let deleted = c
        .delete_faces()
        .collection_id("people")
        .face_ids(&face_id)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.deleted_faces(), [face_id]);
    let after = c
        .search_faces_by_image()
        .collection_id("people")
        .image(photo("obama2.jpg"))
        .send()
        .await
        .unwrap();
    assert!(after.face_matches().is_empty());
}

/// The images that fuzzing found to break the image decoder (fuzz/regressions/image_decode/).
fn decoder_fuzz_findings() -> Vec<(String, Image)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/regressions/image_decode");
    let mut found: Vec<(String, Image)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            let image = Image::builder().bytes(Blob::new(bytes)).build();
            (path.display().to_string(), image)
        })
        .collect();
    found.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(!found.is_empty(), "no inputs in {}", dir.display());
    found
}

#[tokio::test]
async fn images_that_broke_the_decoder_are_invalid_and_the_server_keeps_serving() {
    let local = start().await;
    let c = rekognition(local.server());
    c.create_collection()
        .collection_id("people")
        .send()
        .await
        .unwrap();
    for (name, image) in decoder_fuzz_findings() {
        let indexed = c
            .index_faces()
            .collection_id("people")
            .image(image.clone())
            .send()
            .await
            .unwrap_err()
            .into_service_error();
        assert!(
            indexed.is_invalid_image_format_exception(),
            "{name}: {indexed:?}"
        );
        let searched = c
            .search_faces_by_image()
            .collection_id("people")
            .image(image)
            .send()
            .await
            .unwrap_err()
            .into_service_error();
        assert!(
            searched.is_invalid_image_format_exception(),
            "{name}: {searched:?}"
        );
    }
    let indexed = c
        .index_faces()
        .collection_id("people")
        .image(photo("obama.jpg"))
        .send()
        .await
        .unwrap();
    assert_eq!(indexed.face_records().len(), 1, "{indexed:?}");
}

#[tokio::test]
async fn stream_processors_are_created_started_stopped_and_deleted() {
    let local = start().await;
    let c = rekognition(local.server());
    c.create_collection()
        .collection_id("door-faces")
        .send()
        .await
        .unwrap();
    let video = local
        .client
        .create_stream()
        .stream_name("door")
        .data_retention_in_hours(1)
        .send()
        .await
        .unwrap()
        .stream_arn()
        .unwrap()
        .to_owned();
    let creds = local.server().credentials();
    let kinesis = aws_sdk_kinesis::Client::from_conf(
        aws_sdk_kinesis::Config::builder()
            .behavior_version(aws_sdk_kinesis::config::BehaviorVersion::latest())
            .region(aws_sdk_kinesis::config::Region::new("us-east-1"))
            .credentials_provider(aws_credential_types::Credentials::new(
                creds.access_key_id.clone(),
                creds.secret_access_key.clone(),
                None,
                None,
                "test",
            ))
            .endpoint_url(local.server().url())
            .build(),
    );
    kinesis
        .create_stream()
        .stream_name("kvs-ml")
        .shard_count(1)
        .send()
        .await
        .unwrap();
    let data = kinesis
        .describe_stream_summary()
        .stream_name("kvs-ml")
        .send()
        .await
        .unwrap()
        .stream_description_summary()
        .unwrap()
        .stream_arn()
        .to_owned();

    let create = || {
        c.create_stream_processor()
            .name("door-watch")
            .input(
                StreamProcessorInput::builder()
                    .kinesis_video_stream(KinesisVideoStream::builder().arn(&video).build())
                    .build(),
            )
            .output(
                StreamProcessorOutput::builder()
                    .kinesis_data_stream(KinesisDataStream::builder().arn(&data).build())
                    .build(),
            )
            .settings(
                StreamProcessorSettings::builder()
                    .face_search(
                        FaceSearchSettings::builder()
                            .collection_id("door-faces")
                            .face_match_threshold(85.0)
                            .build(),
                    )
                    .build(),
            )
            .role_arn("arn:aws:iam::123456789012:role/rekognition")
            .send()
    };
    let arn = create()
        .await
        .unwrap()
        .stream_processor_arn()
        .unwrap()
        .to_owned();
    assert!(arn.ends_with(":streamprocessor/door-watch"), "{arn}");
    let dup = create().await.unwrap_err().into_service_error();
    assert!(dup.is_resource_in_use_exception(), "{dup:?}");

    let status = |c: Client| async move {
        c.describe_stream_processor()
            .name("door-watch")
            .send()
            .await
            .unwrap()
            .status()
            .cloned()
    };
    assert_eq!(
        status(c.clone()).await,
        Some(StreamProcessorStatus::Stopped)
    );
    let described = c
        .describe_stream_processor()
        .name("door-watch")
        .send()
        .await
        .unwrap();
    let settings = described.settings().unwrap().face_search().unwrap();
    assert_eq!(settings.collection_id(), Some("door-faces"));
    assert_eq!(settings.face_match_threshold(), Some(85.0));

    c.start_stream_processor()
        .name("door-watch")
        .send()
        .await
        .unwrap();
    assert_eq!(
        status(c.clone()).await,
        Some(StreamProcessorStatus::Running)
    );
    let again = c
        .start_stream_processor()
        .name("door-watch")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(again.is_resource_in_use_exception(), "{again:?}");
    let listed = c.list_stream_processors().send().await.unwrap();
    assert_eq!(listed.stream_processors().len(), 1);
    c.stop_stream_processor()
        .name("door-watch")
        .send()
        .await
        .unwrap();
    assert_eq!(
        status(c.clone()).await,
        Some(StreamProcessorStatus::Stopped)
    );
    c.delete_stream_processor()
        .name("door-watch")
        .send()
        .await
        .unwrap();
    let gone = c
        .describe_stream_processor()
        .name("door-watch")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(gone.is_resource_not_found_exception(), "{gone:?}");
}
