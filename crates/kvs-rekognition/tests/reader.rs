//! The record reader and the data stream helpers against a real kvs-local: every shard, a
//! record that is not Rekognition's, LATEST, and resuming from a checkpoint after a restart.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use aws_sdk_kinesis::primitives::Blob;
use kvs_endpoint::KvsConfig;
use kvs_rekognition::{Checkpoint, DataStreams, Error, ReadRecord, RecordReader, StartPosition};
use kvs_testkit::LocalKvs;

/// A record as a processor writes it, for frame `n` of fragment `fragment`.
fn record(fragment: u32, n: u32, who: Option<&str>) -> Vec<u8> {
    let matched = who.map_or(String::new(), |who| {
        format!(
            r#"{{"Similarity":97.5,"Face":{{"BoundingBox":{{"Width":0.5,"Height":0.5,"Left":0.2,"Top":0.2}},
               "FaceId":"face-{who}","Confidence":99.9,"ImageId":"img-{who}","ExternalImageId":"{who}"}}}}"#
        )
    });
    format!(
        r#"{{"InputInformation":{{"KinesisVideo":{{"StreamArn":"arn:aws:kinesisvideo:us-east-1:123456789012:stream/cam/1",
           "FragmentNumber":"9134385233318143239268206260774392014619735{fragment:04}",
           "ServerTimestamp":1700000000.5,"ProducerTimestamp":1700000000.25,"FrameOffsetInSeconds":{}}}}},
           "StreamProcessorInformation":{{"Status":"RUNNING"}},
           "FaceSearchResponse":[{{"DetectedFace":{{"BoundingBox":{{"Width":0.1,"Height":0.2,"Left":0.3,"Top":0.4}},
             "Confidence":99.0,"Landmarks":[],"Pose":{{"Pitch":0,"Roll":0,"Yaw":0}},
             "Quality":{{"Brightness":50,"Sharpness":50}}}},"MatchedFaces":[{matched}]}}]}}"#,
        f64::from(n) * 0.2
    )
    .into_bytes()
}

async fn put(config: &KvsConfig, key: &str, data: Vec<u8>) {
    aws_sdk_kinesis::Client::new(config.sdk_config())
        .put_record()
        .stream_name("kvs-ml")
        .partition_key(key)
        .data(Blob::new(data))
        .send()
        .await
        .unwrap();
}

async fn read(reader: &mut RecordReader, n: usize) -> Vec<Result<ReadRecord, Error>> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(
            tokio::time::timeout(Duration::from_secs(10), reader.next())
                .await
                .expect("a record within 10 s"),
        );
    }
    out
}

#[tokio::test]
async fn the_reader_reads_every_shard_skips_bad_records_and_resumes_after_a_restart() {
    let mut local = LocalKvs::start().await;
    let config = local.config().clone();
    let streams = DataStreams::new(&config);
    let (info, created) = streams
        .ensure("kvs-ml", 2, Duration::from_secs(10))
        .await
        .unwrap();
    assert!(created);
    assert_eq!(info.stream_status, "ACTIVE");
    assert_eq!(info.open_shard_count, 2);
    let (_, again) = streams
        .ensure("kvs-ml", 2, Duration::from_secs(10))
        .await
        .unwrap();
    assert!(!again, "an existing stream is kept");

    // Partition keys spread over both shards.
    for (i, key) in ["door-faces", "yard-faces", "gate", "a", "b", "c"]
        .iter()
        .enumerate()
    {
        let who = (i % 2 == 0).then_some("obama");
        put(&config, key, record(1, i as u32, who)).await;
    }
    put(&config, "junk", b"not json".to_vec()).await;

    let mut reader = RecordReader::open(&config, "kvs-ml", StartPosition::TrimHorizon)
        .await
        .unwrap()
        .poll_interval(Duration::from_millis(50), Duration::from_millis(200));
    let got = read(&mut reader, 7).await;
    let bad: Vec<_> = got.iter().filter(|r| r.is_err()).collect();
    assert_eq!(bad.len(), 1, "{got:?}");
    assert!(matches!(bad[0], Err(e) if e.is_per_record()));
    let good: Vec<&ReadRecord> = got.iter().filter_map(|r| r.as_ref().ok()).collect();
    let shards: std::collections::BTreeSet<_> = good.iter().map(|r| r.shard_id.clone()).collect();
    assert_eq!(shards.len(), 2, "records from both shards");
    let matches: Vec<_> = good.iter().flat_map(|r| r.matches()).collect();
    assert_eq!(matches.len(), 3);
    assert!(
        matches
            .iter()
            .all(|m| m.who() == "obama" && m.similarity > 90.0)
    );
    assert!(matches[0].fragment_number.ends_with("0001"));

    // Nothing more yet: next() waits (and a timeout loses nothing).
    assert!(
        tokio::time::timeout(Duration::from_millis(500), reader.next())
            .await
            .is_err()
    );
    let checkpoint = reader.checkpoint().clone();
    let file = local.scratch_dir().join("watch.checkpoint");
    checkpoint.save(&file).unwrap();
    assert_eq!(Checkpoint::load(&file).unwrap(), Some(checkpoint.clone()));
    assert_eq!(
        Checkpoint::load(&local.scratch_dir().join("none")).unwrap(),
        None
    );
    drop(reader);

    // Restart: the records are still there and a reader resumes after its checkpoint.
    local.restart().await;
    let mut latest = RecordReader::open(&config, "kvs-ml", StartPosition::Latest)
        .await
        .unwrap()
        .poll_interval(Duration::from_millis(50), Duration::from_millis(200));
    put(&config, "door-faces", record(2, 0, Some("biden"))).await;
    put(&config, "gate", record(2, 1, None)).await;

    let saved = Checkpoint::load(&file).unwrap().unwrap();
    let mut resumed = RecordReader::open(&config, "kvs-ml", StartPosition::After(saved))
        .await
        .unwrap()
        .poll_interval(Duration::from_millis(50), Duration::from_millis(200));
    let after: Vec<ReadRecord> = read(&mut resumed, 2)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert!(after.iter().all(|r| {
        r.record
            .kinesis_video()
            .unwrap()
            .fragment_number
            .ends_with("0002")
    }));
    assert!(
        tokio::time::timeout(Duration::from_millis(500), resumed.next())
            .await
            .is_err(),
        "only the records written after the checkpoint"
    );
    let (_, m) = tokio::time::timeout(Duration::from_secs(10), latest.next_matches())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(m[0].who(), "biden");

    let all = RecordReader::open(&config, "kvs-ml", StartPosition::TrimHorizon)
        .await
        .unwrap();
    drop(all);
    streams_gone(&config).await;
}

async fn streams_gone(config: &KvsConfig) {
    let streams = DataStreams::new(config);
    streams.delete("kvs-ml").await.unwrap();
    let err = streams.describe("kvs-ml").await.unwrap_err();
    assert!(matches!(err, Error::DataStreamNotFound(_)), "{err}");
    assert!(err.to_string().contains("kvs faces pipeline up"), "{err}");
    let err = RecordReader::open(config, "kvs-ml", StartPosition::Latest)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::DataStreamNotFound(_)), "{err}");
}
