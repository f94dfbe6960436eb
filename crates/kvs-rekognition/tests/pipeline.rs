//! The pipeline against a real kvs-local with its face engine: up (idempotent, replacing a
//! stopped processor whose settings changed), matches read from the data stream, the matched
//! frame and a clip around it, typed errors, and down.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use kvs_archive::{ArchiveClient, StillFormat};
use kvs_endpoint::KvsConfig;
use kvs_mkv::{Frame, TrackInfo};
use kvs_rekognition::{
    Error, FaceSearchPipeline, IndexStatus, ProcessorAction, ProcessorSpec, ProcessorStatus,
    RecordReader, Rekognition, StartPosition, Teardown, clip_around, frame_image,
};
use kvs_testkit::LocalKvs;
use kvs_types::StreamRef;

fn photos() -> PathBuf {
    let dir = kvs_faces::FaceEngine::default_models_dir().join("test-images");
    assert!(
        dir.join("obama.jpg").exists(),
        "{} has no test photos: run scripts/fetch-models (make test does)",
        dir.display()
    );
    dir
}

/// 3 s of 30 fps H.264 showing `photo`, a key frame a second, as KVS-ready frames.
fn video_of(photo: &Path, dir: &Path) -> (Vec<TrackInfo>, Vec<Frame>) {
    let path = dir.join("video.mkv");
    kvs_testkit::video_of_photo(photo, (416, 800), 90, &path);
    kvs_testkit::video::read_mkv(&path)
}

async fn upload(config: &KvsConfig, stream: &str, (tracks, frames): (Vec<TrackInfo>, Vec<Frame>)) {
    let producer = kvs_media::Producer::builder(config, StreamRef::parse(stream).unwrap())
        .tracks(tracks)
        .options(kvs_media::ProducerConfig::default())
        .start()
        .unwrap();
    let mut frames = frames.into_iter();
    kvs_media::upload(
        move || Ok::<_, std::io::Error>(frames.next()),
        &producer,
        kvs_media::UploadOptions::starting_at(SystemTime::now() - Duration::from_secs(3), None),
        std::future::pending(),
    )
    .await
    .unwrap();
    let stats = producer.finish(Duration::from_secs(30)).await.unwrap();
    assert_eq!(stats.persisted, stats.fragments);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipeline_comes_up_finds_the_face_and_goes_down() {
    let local = LocalKvs::start().await;
    let config = local.config();
    let d = local.scratch_dir();
    let faces = d.join("faces");
    std::fs::create_dir(&faces).unwrap();
    std::fs::copy(photos().join("obama.jpg"), faces.join("obama.jpg")).unwrap();
    let pipeline = FaceSearchPipeline::new(config)
        .collection("faces")
        .index_folder(&faces)
        .video_stream("door")
        .data_stream("kvs-ml")
        .processor("door-faces");

    let up = pipeline.up().await.unwrap();
    assert!(up.collection_created && up.data_stream_created);
    assert_eq!(up.indexed.len(), 1);
    assert_eq!(up.indexed[0].external_image_id, "obama");
    assert_eq!(up.indexed[0].status, IndexStatus::Indexed);
    assert_eq!(up.processor.status, ProcessorStatus::Running);
    assert_eq!(up.processor_action, ProcessorAction::Created);
    let again = pipeline.up().await.unwrap();
    assert_eq!(again.indexed[0].status, IndexStatus::AlreadyIndexed);
    assert_eq!(again.indexed[0].face_ids, up.indexed[0].face_ids);
    assert_eq!(again.processor_action, ProcessorAction::AlreadyRunning);
    assert_eq!(again.collection.face_count, 1);
    let err = pipeline.clone().threshold(95.0).up().await.unwrap_err();
    assert!(
        matches!(&err, Error::ProcessorDiffers { differences, .. } if differences == "threshold 80 -> 95"),
        "{err}"
    );

    // A match read from the data stream leads to its frame and a clip around it.
    let mut reader = RecordReader::open(config, "kvs-ml", StartPosition::Latest)
        .await
        .unwrap();
    upload(config, "door", video_of(&photos().join("obama2.jpg"), d)).await;
    let (record, matches) = tokio::time::timeout(Duration::from_secs(30), reader.next_matches())
        .await
        .expect("a match within 30 s")
        .unwrap();
    assert_eq!(record.partition_key, "door-faces");
    let m = &matches[0];
    assert_eq!(m.who(), "obama");
    assert!(m.similarity >= 80.0, "{m:?}");
    assert_eq!(m.stream_arn, up.video_stream_arn);
    let archive = ArchiveClient::new(config);
    let jpeg = frame_image(&archive, m, StillFormat::Jpeg(80))
        .await
        .unwrap();
    assert_eq!(&jpeg[..2], [0xFF, 0xD8], "a JPEG");
    let clip = d.join("clip.mp4");
    let summary = clip_around(
        &archive,
        m,
        Duration::from_secs(1),
        Duration::from_secs(1),
        &clip,
        false,
    )
    .await
    .unwrap();
    assert!(summary.bytes > 1000);
    assert_eq!(&std::fs::read(&clip).unwrap()[4..8], b"ftyp");

    // Typed errors name the resource.
    let rek = Rekognition::new(config);
    let spec = ProcessorSpec::new(
        "door-faces",
        &up.video_stream_arn,
        &up.data_stream.stream_arn,
        "faces",
    );
    assert!(
        matches!(rek.create_processor(&spec).await, Err(Error::ProcessorExists(n)) if n == "door-faces")
    );
    assert!(
        matches!(rek.describe_collection("nobody").await, Err(Error::CollectionNotFound(n)) if n == "nobody")
    );
    assert!(matches!(
        rek.create_collection("faces").await,
        Err(Error::CollectionExists(_))
    ));
    let junk = rek
        .index_image("faces", b"not a photo".to_vec(), "junk")
        .await;
    assert!(
        matches!(&junk, Err(Error::InvalidImage { external_image_id, .. }) if external_image_id == "junk"),
        "{junk:?}"
    );
    let missing = ProcessorSpec::resolve(config, "p2", "no-such-video", "kvs-ml", "faces").await;
    assert!(
        matches!(missing, Err(Error::VideoStreamNotFound(_))),
        "{missing:?}"
    );

    // A stopped processor whose settings changed is replaced.
    rek.stop_processor("door-faces").await.unwrap();
    let replaced = pipeline.clone().threshold(95.0).up().await.unwrap();
    assert_eq!(replaced.processor_action, ProcessorAction::Replaced);
    assert_eq!(replaced.processor.spec().threshold, 95.0);
    assert_eq!(replaced.processor.status, ProcessorStatus::Running);

    let all = Teardown {
        delete_collection: true,
        delete_data_stream: true,
    };
    let down = pipeline.down_with(all).await.unwrap();
    assert!(down.processor_stopped && down.processor_deleted);
    assert!(down.collection_deleted && down.data_stream_deleted);
    let again = pipeline.down_with(all).await.unwrap();
    assert_eq!(again, Default::default(), "nothing left to remove");
}

#[tokio::test]
async fn aws_needs_a_role_and_every_setting_before_anything_is_created() {
    let sdk = aws_config::SdkConfig::builder()
        .region(aws_config::Region::new("eu-west-1"))
        .behavior_version(aws_config::BehaviorVersion::latest())
        .build();
    let aws = KvsConfig::from_sdk_config(sdk);
    let pipeline = FaceSearchPipeline::new(&aws)
        .collection("faces")
        .video_stream("door")
        .data_stream("kvs-ml");
    let err = pipeline.up().await.unwrap_err();
    assert!(
        matches!(err, Error::Missing("the stream processor", _)),
        "{err}"
    );
    let err = pipeline.processor("door-faces").up().await.unwrap_err();
    assert!(matches!(err, Error::RoleArnRequired { .. }), "{err}");
    assert!(err.to_string().contains("--role-arn"), "{err}");
    let spec = ProcessorSpec::new("p", "v", "d", "faces");
    let err = Rekognition::new(&aws)
        .create_processor(&spec)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::RoleArnRequired { .. }), "{err}");
}
