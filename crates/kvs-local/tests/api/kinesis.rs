//! Kinesis Data Streams through the official `aws-sdk-kinesis` client.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use aws_sdk_kinesis::Client;
use aws_sdk_kinesis::client::Waiters;
use aws_sdk_kinesis::error::ProvideErrorMetadata;
use aws_sdk_kinesis::primitives::{Blob, DateTime};
use aws_sdk_kinesis::types::{
    PutRecordsRequestEntry, Record, ShardIteratorType, StreamMode, StreamModeDetails,
};
use kvs_local::Server;

use crate::start;

fn kinesis_for(server: &Server, secret: &str) -> Client {
    let creds = aws_credential_types::Credentials::new(
        server.credentials().access_key_id.clone(),
        secret.to_owned(),
        None,
        None,
        "test",
    );
    let config = aws_sdk_kinesis::Config::builder()
        .behavior_version(aws_sdk_kinesis::config::BehaviorVersion::latest())
        .region(aws_sdk_kinesis::config::Region::new("us-east-1"))
        .credentials_provider(creds)
        .endpoint_url(server.url())
        .build();
    Client::from_conf(config)
}

fn kinesis(server: &Server) -> Client {
    kinesis_for(server, &server.credentials().secret_access_key)
}

async fn create(c: &Client, name: &str, shards: i32) {
    c.create_stream()
        .stream_name(name)
        .shard_count(shards)
        .send()
        .await
        .unwrap();
}

async fn put(c: &Client, stream: &str, key: &str, data: &[u8]) -> (String, String) {
    let out = c
        .put_record()
        .stream_name(stream)
        .partition_key(key)
        .data(Blob::new(data))
        .send()
        .await
        .unwrap();
    (out.shard_id, out.sequence_number)
}

async fn iterator(
    c: &Client,
    stream: &str,
    shard: &str,
    kind: ShardIteratorType,
    seq: Option<&str>,
) -> String {
    c.get_shard_iterator()
        .stream_name(stream)
        .shard_id(shard)
        .shard_iterator_type(kind)
        .set_starting_sequence_number(seq.map(str::to_owned))
        .send()
        .await
        .unwrap()
        .shard_iterator
        .unwrap()
}

/// Reads a shard from `it` until a call returns nothing; returns the records and the iterator
/// to continue from.
async fn drain(c: &Client, mut it: String) -> (Vec<Record>, String) {
    let mut all = Vec::new();
    loop {
        let out = c.get_records().shard_iterator(&it).send().await.unwrap();
        it = out.next_shard_iterator.unwrap();
        if out.records.is_empty() {
            return (all, it);
        }
        all.extend(out.records);
    }
}

fn payloads(records: &[Record]) -> Vec<String> {
    records
        .iter()
        .map(|r| String::from_utf8(r.data.as_ref().to_vec()).unwrap())
        .collect()
}

const SHARD_0: &str = "shardId-000000000000";

#[tokio::test]
async fn kinesis_stream_lifecycle_through_the_sdk() {
    let l = start().await;
    let c = kinesis(l.server());

    c.create_stream()
        .stream_name("results")
        .send()
        .await
        .unwrap();
    c.wait_until_stream_exists()
        .stream_name("results")
        .wait(Duration::from_secs(10))
        .await
        .unwrap();
    let d = c
        .describe_stream()
        .stream_name("results")
        .send()
        .await
        .unwrap()
        .stream_description
        .unwrap();
    assert_eq!(
        d.stream_arn,
        "arn:aws:kinesis:us-east-1:123456789012:stream/results"
    );
    assert_eq!(d.stream_status.as_str(), "ACTIVE");
    assert_eq!(d.retention_period_hours, 24);
    assert!(!d.has_more_shards);
    let age =
        DateTime::from(std::time::SystemTime::now()).secs() - d.stream_creation_timestamp.secs();
    assert!((0..60).contains(&age), "created {age}s ago");
    assert_eq!(d.shards.len(), 1, "one shard by default");
    let range = d.shards[0].hash_key_range.as_ref().unwrap();
    assert_eq!(range.starting_hash_key, "0");
    assert_eq!(range.ending_hash_key, u128::MAX.to_string());
    assert_eq!(d.shards[0].shard_id, SHARD_0);

    // by ARN too, and the summary
    let s = c
        .describe_stream_summary()
        .stream_arn(&d.stream_arn)
        .send()
        .await
        .unwrap()
        .stream_description_summary
        .unwrap();
    assert_eq!(s.stream_name, "results");
    assert_eq!(s.open_shard_count, 1);
    assert_eq!(
        s.stream_mode_details.unwrap().stream_mode,
        StreamMode::Provisioned
    );

    // ON_DEMAND streams start with 4 shards
    c.create_stream()
        .stream_name("auto")
        .stream_mode_details(
            StreamModeDetails::builder()
                .stream_mode(StreamMode::OnDemand)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let auto = c
        .describe_stream()
        .stream_name("auto")
        .send()
        .await
        .unwrap()
        .stream_description
        .unwrap();
    assert_eq!(auto.shards.len(), 4);
    assert_eq!(
        auto.stream_mode_details.unwrap().stream_mode,
        StreamMode::OnDemand
    );
    // DescribeStream pages shards too
    let first = c
        .describe_stream()
        .stream_name("auto")
        .limit(3)
        .send()
        .await
        .unwrap()
        .stream_description
        .unwrap();
    assert_eq!(first.shards.len(), 3);
    assert!(first.has_more_shards);
    let rest = c
        .describe_stream()
        .stream_name("auto")
        .exclusive_start_shard_id(&first.shards[2].shard_id)
        .send()
        .await
        .unwrap()
        .stream_description
        .unwrap();
    assert_eq!(rest.shards.len(), 1);
    assert_eq!(rest.shards[0].shard_id, "shardId-000000000003");

    // ListShards with a page size and NextToken
    let page = c
        .list_shards()
        .stream_name("auto")
        .max_results(3)
        .send()
        .await
        .unwrap();
    assert_eq!(page.shards().len(), 3);
    let next = c
        .list_shards()
        .next_token(page.next_token.unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(next.shards().len(), 1);
    assert_eq!(next.shards()[0].shard_id, "shardId-000000000003");
    assert!(next.next_token.is_none());
    let all = c.list_shards().stream_name("auto").send().await.unwrap();
    let ranges: Vec<_> = all
        .shards()
        .iter()
        .map(|s| s.hash_key_range.clone().unwrap())
        .collect();
    assert_eq!(ranges[0].starting_hash_key, "0");
    assert_eq!(ranges[3].ending_hash_key, u128::MAX.to_string());
    for w in ranges.windows(2) {
        let end: u128 = w[0].ending_hash_key.parse().unwrap();
        assert_eq!(w[1].starting_hash_key, (end + 1).to_string());
    }

    // ListStreams, one per page through the SDK's paginator
    create(&c, "zeta", 2).await;
    let pages: Vec<_> = c
        .list_streams()
        .limit(1)
        .into_paginator()
        .send()
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let names: Vec<String> = pages.iter().flat_map(|p| p.stream_names.clone()).collect();
    assert_eq!(names, ["auto", "results", "zeta"]);
    assert!(pages[0].has_more_streams);
    assert!(!pages.last().unwrap().has_more_streams);
    let summaries = c.list_streams().send().await.unwrap().stream_summaries;
    assert_eq!(
        summaries.unwrap()[2].stream_arn,
        "arn:aws:kinesis:us-east-1:123456789012:stream/zeta"
    );

    // the KVS streams of the same server are a different namespace
    assert!(
        l.client
            .list_streams()
            .send()
            .await
            .unwrap()
            .stream_info_list()
            .is_empty()
    );

    c.delete_stream()
        .stream_name("results")
        .send()
        .await
        .unwrap();
    c.wait_until_stream_not_exists()
        .stream_name("results")
        .wait(Duration::from_secs(10))
        .await
        .unwrap();
    let err = c
        .describe_stream()
        .stream_name("results")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_resource_not_found_exception(), "{err:?}");
    assert_eq!(l.server().calls("Kinesis.CreateStream"), 3);
    assert_eq!(l.server().calls("CreateStream"), 0);
}

#[tokio::test]
async fn kinesis_errors_are_typed() {
    let l = start().await;
    let c = kinesis(l.server());
    create(&c, "s", 1).await;

    let dup = c
        .create_stream()
        .stream_name("s")
        .shard_count(1)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(dup.is_resource_in_use_exception(), "{dup:?}");

    let e = c
        .describe_stream()
        .stream_name("missing")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(e.is_resource_not_found_exception(), "{e:?}");
    assert!(e.message().unwrap().contains("missing"), "{e:?}");
    let e = c
        .put_record()
        .stream_name("missing")
        .partition_key("k")
        .data(Blob::new("x"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(e.is_resource_not_found_exception(), "{e:?}");
    let e = c
        .get_shard_iterator()
        .stream_name("missing")
        .shard_id(SHARD_0)
        .shard_iterator_type(ShardIteratorType::TrimHorizon)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(e.is_resource_not_found_exception(), "{e:?}");
    let e = c
        .get_shard_iterator()
        .stream_name("s")
        .shard_id("shardId-000000000001")
        .shard_iterator_type(ShardIteratorType::TrimHorizon)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(e.is_resource_not_found_exception(), "{e:?}");
    let e = c
        .delete_stream()
        .stream_name("missing")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(e.is_resource_not_found_exception(), "{e:?}");

    // bad input
    let e = c
        .create_stream()
        .stream_name("t")
        .shard_count(0)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(e.is_invalid_argument_exception(), "{e:?}");
    let e = c
        .put_record()
        .stream_name("s")
        .partition_key("k")
        .data(Blob::new(vec![0u8; (1 << 20) + 1]))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(e.is_invalid_argument_exception(), "{e:?}");
    // exactly 1 MiB is allowed
    c.put_record()
        .stream_name("s")
        .partition_key("k")
        .data(Blob::new(vec![7u8; 1 << 20]))
        .send()
        .await
        .unwrap();
    let e = c
        .put_record()
        .stream_name("s")
        .partition_key("k")
        .explicit_hash_key("not-a-number")
        .data(Blob::new("x"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(e.is_invalid_argument_exception(), "{e:?}");
    let e = c
        .get_shard_iterator()
        .stream_name("s")
        .shard_id(SHARD_0)
        .shard_iterator_type(ShardIteratorType::from("SOMEWHERE"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(e.is_invalid_argument_exception(), "{e:?}");
    let e = c
        .get_shard_iterator()
        .stream_name("s")
        .shard_id(SHARD_0)
        .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(e.is_invalid_argument_exception(), "{e:?}");
    let e = c
        .get_records()
        .shard_iterator("bm90LWFuLWl0ZXJhdG9y")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(e.is_invalid_argument_exception(), "{e:?}");
    let it = iterator(&c, "s", SHARD_0, ShardIteratorType::TrimHorizon, None).await;
    let e = c
        .get_records()
        .shard_iterator(&it)
        .limit(0)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(e.is_invalid_argument_exception(), "{e:?}");

    // an iterator of a deleted stream does not read the new stream of the same name
    c.delete_stream().stream_name("s").send().await.unwrap();
    create(&c, "s", 1).await;
    let e = c
        .get_records()
        .shard_iterator(&it)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(e.is_resource_not_found_exception(), "{e:?}");

    // SigV4 is checked as for every other operation
    let wrong = kinesis_for(l.server(), "not-the-secret");
    let e = wrong.list_streams().send().await.unwrap_err();
    assert_eq!(e.code(), Some("InvalidSignatureException"));
    assert_eq!(e.raw_response().unwrap().status().as_u16(), 403);
}

#[tokio::test]
async fn kinesis_errors_carry_the_code_in_the_body_for_the_aws_cli() {
    // botocore's awsJson parser reads only `__type` from the body.
    let l = start().await;
    let resp = reqwest::Client::new()
        .post(format!("{}/", l.server().url()))
        .header("x-amz-target", "Kinesis_20131202.ListStreams")
        .header("content-type", "application/x-amz-json-1.1")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 403);
    let header = resp.headers()["x-amzn-ErrorType"]
        .to_str()
        .unwrap()
        .to_owned();
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["__type"], header.as_str());
    assert!(body["message"].as_str().is_some(), "{body}");

    let resp = reqwest::Client::new()
        .post(format!("{}/", l.server().url()))
        .header("x-amz-target", "Kinesis_20131202.NoSuchThing")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["__type"], "UnknownOperationException");
}

#[tokio::test]
async fn kinesis_records_spread_over_shards_by_partition_key() {
    let l = start().await;
    let c = kinesis(l.server());
    create(&c, "spread", 4).await;

    // MD5("abc") = 900150983cd24fb0..., in the third quarter of the hash space
    assert_eq!(
        put(&c, "spread", "abc", b"x").await.0,
        "shardId-000000000002"
    );

    let mut by_key = BTreeMap::new();
    let mut by_shard: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for i in 0..40 {
        let key = format!("camera-{i}");
        let (shard, _) = put(&c, "spread", &key, key.as_bytes()).await;
        by_key.insert(key.clone(), shard.clone());
        by_shard.entry(shard).or_default().push(key);
    }
    assert!(by_shard.len() >= 2, "{by_shard:?}");
    // the same key always goes to the same shard
    for key in ["camera-1", "camera-7"] {
        assert_eq!(put(&c, "spread", key, key.as_bytes()).await.0, by_key[key]);
    }
    // and PutRecords routes the same way
    let entries: Vec<_> = (0..10)
        .map(|i| {
            let key = format!("camera-{i}");
            PutRecordsRequestEntry::builder()
                .partition_key(&key)
                .data(Blob::new(key.clone()))
                .build()
                .unwrap()
        })
        .collect();
    let out = c
        .put_records()
        .stream_name("spread")
        .set_records(Some(entries))
        .send()
        .await
        .unwrap();
    assert_eq!(out.failed_record_count, Some(0));
    for (i, r) in out.records.iter().enumerate() {
        assert_eq!(
            r.shard_id.as_deref(),
            Some(by_key[&format!("camera-{i}")].as_str())
        );
    }

    // ExplicitHashKey overrides the partition key's hash
    let d = c
        .describe_stream()
        .stream_name("spread")
        .send()
        .await
        .unwrap()
        .stream_description
        .unwrap();
    let last = d.shards[3].hash_key_range.as_ref().unwrap();
    let out = c
        .put_record()
        .stream_name("spread")
        .partition_key("abc")
        .explicit_hash_key(&last.starting_hash_key)
        .data(Blob::new("explicit"))
        .send()
        .await
        .unwrap();
    assert_eq!(out.shard_id, "shardId-000000000003");

    // each shard holds exactly the records routed to it
    for (shard, keys) in &by_shard {
        let it = iterator(&c, "spread", shard, ShardIteratorType::TrimHorizon, None).await;
        let (records, _) = drain(&c, it).await;
        let got: BTreeSet<String> = records
            .iter()
            .map(|r| r.partition_key().unwrap().to_owned())
            .collect();
        for key in keys {
            assert!(got.contains(key), "{key} not in {shard}");
        }
        for r in &records {
            let key = r.partition_key().unwrap();
            if key.starts_with("camera-") {
                assert_eq!(&by_key[key], shard);
            }
        }
    }
}

#[tokio::test]
async fn kinesis_every_iterator_type_starts_in_the_right_place() {
    let l = start().await;
    let c = kinesis(l.server());
    create(&c, "it", 1).await;
    let latest = iterator(&c, "it", SHARD_0, ShardIteratorType::Latest, None).await;

    let mut seqs = Vec::new();
    for i in 0..5 {
        seqs.push(put(&c, "it", "k", format!("a{i}").as_bytes()).await.1);
    }
    for w in seqs.windows(2) {
        assert_eq!(w[0].len(), w[1].len());
        assert!(w[0] < w[1], "{} then {}", w[0], w[1]);
        // decimal digits of one length: string order is big-integer order
        assert!(w[1].bytes().all(|b| b.is_ascii_digit()), "{}", w[1]);
    }
    tokio::time::sleep(Duration::from_millis(30)).await;
    let between = DateTime::from(std::time::SystemTime::now());
    tokio::time::sleep(Duration::from_millis(30)).await;
    for i in 0..2 {
        seqs.push(put(&c, "it", "k", format!("b{i}").as_bytes()).await.1);
    }

    let (records, _) = drain(&c, latest).await;
    assert_eq!(
        payloads(&records),
        ["a0", "a1", "a2", "a3", "a4", "b0", "b1"]
    );

    let trim = iterator(&c, "it", SHARD_0, ShardIteratorType::TrimHorizon, None).await;
    assert_eq!(drain(&c, trim).await.0.len(), 7);

    let at = iterator(
        &c,
        "it",
        SHARD_0,
        ShardIteratorType::AtSequenceNumber,
        Some(&seqs[2]),
    )
    .await;
    let (records, _) = drain(&c, at).await;
    assert_eq!(payloads(&records), ["a2", "a3", "a4", "b0", "b1"]);
    assert_eq!(records[0].sequence_number, seqs[2]);

    let after = iterator(
        &c,
        "it",
        SHARD_0,
        ShardIteratorType::AfterSequenceNumber,
        Some(&seqs[2]),
    )
    .await;
    assert_eq!(
        payloads(&drain(&c, after).await.0),
        ["a3", "a4", "b0", "b1"]
    );

    let at_time = c
        .get_shard_iterator()
        .stream_name("it")
        .shard_id(SHARD_0)
        .shard_iterator_type(ShardIteratorType::AtTimestamp)
        .timestamp(between)
        .send()
        .await
        .unwrap()
        .shard_iterator
        .unwrap();
    assert_eq!(payloads(&drain(&c, at_time).await.0), ["b0", "b1"]);

    // LATEST now: only what comes next, and the same iterator keeps following the shard
    let latest = iterator(&c, "it", SHARD_0, ShardIteratorType::Latest, None).await;
    let (nothing, latest) = drain(&c, latest).await;
    assert!(nothing.is_empty());
    put(&c, "it", "k", b"c0").await;
    assert_eq!(payloads(&drain(&c, latest).await.0), ["c0"]);
}

#[tokio::test]
async fn kinesis_get_records_pages_with_limit() {
    let l = start().await;
    let c = kinesis(l.server());
    create(&c, "pages", 1).await;
    let entries: Vec<_> = (0..25)
        .map(|i| {
            PutRecordsRequestEntry::builder()
                .partition_key(format!("k{i}"))
                .data(Blob::new(format!("r{i:02}")))
                .build()
                .unwrap()
        })
        .collect();
    let put = c
        .put_records()
        .stream_name("pages")
        .set_records(Some(entries))
        .send()
        .await
        .unwrap();
    assert_eq!(put.records.len(), 25);
    tokio::time::sleep(Duration::from_millis(20)).await;

    let mut it = iterator(&c, "pages", SHARD_0, ShardIteratorType::TrimHorizon, None).await;
    let mut sizes = Vec::new();
    let mut all = Vec::new();
    loop {
        let out = c
            .get_records()
            .shard_iterator(&it)
            .limit(10)
            .send()
            .await
            .unwrap();
        it = out.next_shard_iterator.clone().unwrap();
        let behind = out.millis_behind_latest.unwrap();
        sizes.push(out.records.len());
        if out.records.is_empty() {
            assert_eq!(behind, 0, "caught up");
            break;
        }
        if all.len() + out.records.len() < 25 {
            assert!(
                behind > 0,
                "more to read, but MillisBehindLatest is {behind}"
            );
        } else {
            assert_eq!(behind, 0, "last page");
        }
        all.extend(out.records);
    }
    assert_eq!(sizes, [10, 10, 5, 0]);
    let expected: Vec<String> = (0..25).map(|i| format!("r{i:02}")).collect();
    assert_eq!(payloads(&all), expected);
    assert_eq!(all[3].partition_key(), Some("k3"));
    let sent: Vec<_> = put
        .records
        .iter()
        .map(|r| r.sequence_number.clone().unwrap())
        .collect();
    let read: Vec<_> = all.iter().map(|r| r.sequence_number.clone()).collect();
    assert_eq!(sent, read);
    let now = DateTime::from(std::time::SystemTime::now()).secs();
    let arrived = all[0].approximate_arrival_timestamp.unwrap().secs();
    assert!(
        (0..60).contains(&(now - arrived)),
        "arrived {arrived}, now {now}"
    );
}

#[tokio::test]
async fn kinesis_records_survive_a_restart_and_a_reader_resumes_after_its_last_sequence_number() {
    let mut l = start().await;
    let c = kinesis(l.server());
    create(&c, "durable", 2).await;
    let mut sent = Vec::new();
    for i in 0..6 {
        let (shard, seq) = put(&c, "durable", "one-key", format!("m{i}").as_bytes()).await;
        sent.push((shard, seq));
    }
    let shard = sent[0].0.clone();
    assert!(sent.iter().all(|(s, _)| *s == shard));

    // a reader takes the first three and remembers where it stopped
    let it = iterator(&c, "durable", &shard, ShardIteratorType::TrimHorizon, None).await;
    let out = c
        .get_records()
        .shard_iterator(&it)
        .limit(3)
        .send()
        .await
        .unwrap();
    assert_eq!(payloads(&out.records), ["m0", "m1", "m2"]);
    let checkpoint = out.records[2].sequence_number.clone();
    let old_iterator = out.next_shard_iterator.unwrap();
    l.kvs.restart().await;

    let c = kinesis(l.server());
    let d = c
        .describe_stream()
        .stream_name("durable")
        .send()
        .await
        .unwrap()
        .stream_description
        .unwrap();
    assert_eq!(d.shards.len(), 2);
    let resumed = iterator(
        &c,
        "durable",
        &shard,
        ShardIteratorType::AfterSequenceNumber,
        Some(&checkpoint),
    )
    .await;
    let (rest, _) = drain(&c, resumed).await;
    assert_eq!(payloads(&rest), ["m3", "m4", "m5"]);
    assert_eq!(rest[2].sequence_number, sent[5].1);
    // an iterator issued before the restart still reads (it has not expired)
    assert_eq!(
        payloads(&drain(&c, old_iterator).await.0),
        ["m3", "m4", "m5"]
    );
    // new records continue the sequence
    let (_, next) = put(&c, "durable", "one-key", b"m6").await;
    assert!(next > sent[5].1, "{next} after {}", sent[5].1);
    let trim = iterator(&c, "durable", &shard, ShardIteratorType::TrimHorizon, None).await;
    assert_eq!(drain(&c, trim).await.0.len(), 7);
}
