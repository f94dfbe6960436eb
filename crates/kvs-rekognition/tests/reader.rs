//! The record reader and the data stream helpers against a real kvs-local: every shard, a
//! record that is not Rekognition's, LATEST, and resuming from a checkpoint after a restart.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use kvs_endpoint::KvsConfig;
use kvs_rekognition::{Checkpoint, DataStreams, Error, ReadRecord, RecordReader, StartPosition};
use kvs_testkit::LocalKvs;

mod support;
use support::{STREAM, put, record};

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
        .ensure(STREAM, 2, Duration::from_secs(10))
        .await
        .unwrap();
    assert!(created);
    assert_eq!(info.stream_status, "ACTIVE");
    assert_eq!(info.open_shard_count, 2);
    let (_, again) = streams
        .ensure(STREAM, 2, Duration::from_secs(10))
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

    let mut reader = RecordReader::open(&config, STREAM, StartPosition::TrimHorizon)
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
    let mut latest = RecordReader::open(&config, STREAM, StartPosition::Latest)
        .await
        .unwrap()
        .poll_interval(Duration::from_millis(50), Duration::from_millis(200));
    put(&config, "door-faces", record(2, 0, Some("biden"))).await;
    put(&config, "gate", record(2, 1, None)).await;

    let saved = Checkpoint::load(&file).unwrap().unwrap();
    let mut resumed = RecordReader::open(&config, STREAM, StartPosition::After(saved))
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

    let all = RecordReader::open(&config, STREAM, StartPosition::TrimHorizon)
        .await
        .unwrap();
    drop(all);
    streams_gone(&config).await;
}

async fn streams_gone(config: &KvsConfig) {
    let streams = DataStreams::new(config);
    streams.delete(STREAM).await.unwrap();
    let err = streams.describe(STREAM).await.unwrap_err();
    assert!(matches!(err, Error::DataStreamNotFound(_)), "{err}");
    assert!(err.to_string().contains("kvs faces pipeline up"), "{err}");
    let err = RecordReader::open(config, STREAM, StartPosition::Latest)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::DataStreamNotFound(_)), "{err}");
}
