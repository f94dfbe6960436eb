//! Record operations: PutRecord, PutRecords, GetShardIterator, GetRecords.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::model::{
    GetRecordsInput, GetRecordsOutput, GetShardIteratorInput, GetShardIteratorOutput,
    PutRecordInput, PutRecordOutput, PutRecordsEntry, PutRecordsInput, PutRecordsOutput,
    PutRecordsResultEntry, Record,
};
use super::position::{self, IteratorError, Position};
use super::store::{self, NewRecord, ReadRange, StreamKey, StreamRow};
use super::streams::{self, parse_shard_id, shard_id};
use super::{expired_iterator, hashing, not_found, now_ms};
use crate::App;
use crate::error::ApiError;
use crate::protocol::{PageSize, epoch_ms, epoch_seconds};

/// The largest data blob of one record.
const MAX_RECORD_DATA: usize = 1 << 20;
/// The most records in one PutRecords call.
const MAX_PUT_RECORDS: usize = 500;
/// The most data in one PutRecords call.
const MAX_PUT_RECORDS_DATA: usize = 5 << 20;
/// The most records and data one GetRecords call returns.
const MAX_GET_RECORDS: i64 = 10_000;
const MAX_GET_BYTES: usize = 10 << 20;

/// A record checked and hashed, waiting for its stream's shard count.
struct Checked {
    hash: u128,
    partition_key: String,
    data: Vec<u8>,
}

fn check_entry(e: PutRecordsEntry) -> Result<Checked, ApiError> {
    let partition_key = e
        .partition_key
        .ok_or_else(|| ApiError::invalid_argument("PartitionKey is required"))?;
    if !(1..=256).contains(&partition_key.chars().count()) {
        return Err(ApiError::invalid_argument(
            "PartitionKey must be 1 to 256 characters long",
        ));
    }
    let data = STANDARD
        .decode(
            e.data
                .ok_or_else(|| ApiError::invalid_argument("Data is required"))?,
        )
        .map_err(|err| ApiError::invalid_argument(format!("Data is not valid base64: {err}")))?;
    if data.len() > MAX_RECORD_DATA {
        return Err(ApiError::invalid_argument(format!(
            "Data of {} bytes is over the limit of {MAX_RECORD_DATA} bytes (1 MiB)",
            data.len()
        )));
    }
    let hash = match e.explicit_hash_key {
        Some(k) => hashing::parse_explicit_hash_key(&k).ok_or_else(|| {
            ApiError::invalid_argument(format!(
                "ExplicitHashKey {k:?} must be a decimal integer from 0 to 2^128-1"
            ))
        })?,
        None => hashing::hash_key(&partition_key),
    };
    Ok(Checked {
        hash,
        partition_key,
        data,
    })
}

/// Appends checked records to the stream in one committed transaction; returns
/// `(shard, counter)` per record.
async fn append(
    app: &App,
    stream: &super::model::StreamRef,
    records: Vec<Checked>,
) -> Result<Vec<(u32, i64)>, ApiError> {
    let s = streams::load(app, stream).await?;
    app.db
        .tx(move |tx| {
            // Re-read inside the transaction: the stream may have been deleted meanwhile.
            let s = store::find_stream(tx, StreamKey::Id(s.id))?
                .ok_or_else(|| not_found(format!("Stream {} was deleted.", s.name)))?;
            let shards: Vec<u32> = records
                .iter()
                .map(|r| hashing::shard_for(r.hash, s.shard_count))
                .collect();
            let new = records
                .into_iter()
                .zip(&shards)
                .map(|(r, &shard)| NewRecord {
                    shard,
                    partition_key: r.partition_key,
                    data: r.data,
                })
                .collect();
            let seqs = store::append(tx, &s, new, now_ms())?;
            Ok(shards.into_iter().zip(seqs).collect())
        })
        .await
}

pub(super) async fn put_record(
    app: &App,
    input: PutRecordInput,
) -> Result<PutRecordOutput, ApiError> {
    let checked = check_entry(input.entry)?;
    let placed = append(app, &input.stream, vec![checked]).await?;
    let (shard, seq) = placed
        .first()
        .copied()
        .ok_or_else(|| ApiError::internal("PutRecord stored no record"))?;
    Ok(PutRecordOutput {
        shard_id: shard_id(shard),
        sequence_number: position::format_sequence(seq),
        encryption_type: "NONE",
    })
}

pub(super) async fn put_records(
    app: &App,
    input: PutRecordsInput,
) -> Result<PutRecordsOutput, ApiError> {
    let n = input.records.len();
    if !(1..=MAX_PUT_RECORDS).contains(&n) {
        return Err(ApiError::invalid_argument(format!(
            "Records has {n} entries; it must have 1 to {MAX_PUT_RECORDS}"
        )));
    }
    let checked = input
        .records
        .into_iter()
        .map(check_entry)
        .collect::<Result<Vec<_>, _>>()?;
    let total: usize = checked
        .iter()
        .map(|c| c.data.len() + c.partition_key.len())
        .sum();
    if total > MAX_PUT_RECORDS_DATA {
        return Err(ApiError::invalid_argument(format!(
            "Records hold {total} bytes; the limit is {MAX_PUT_RECORDS_DATA} (5 MiB)"
        )));
    }
    let placed = append(app, &input.stream, checked).await?;
    Ok(PutRecordsOutput {
        failed_record_count: 0,
        records: placed
            .into_iter()
            .map(|(shard, seq)| PutRecordsResultEntry {
                shard_id: shard_id(shard),
                sequence_number: position::format_sequence(seq),
            })
            .collect(),
        encryption_type: "NONE",
    })
}

fn sequence_arg(input: &GetShardIteratorInput, kind: &str) -> Result<i64, ApiError> {
    let s = input.starting_sequence_number.as_deref().ok_or_else(|| {
        ApiError::invalid_argument(format!("StartingSequenceNumber is required for {kind}"))
    })?;
    position::parse_sequence(s).ok_or_else(|| {
        ApiError::invalid_argument(format!(
            "StartingSequenceNumber {s:?} is not a sequence number of this stream"
        ))
    })
}

/// The counter after which a new iterator of `kind` starts reading.
async fn start_after(
    app: &App,
    s: &StreamRow,
    shard: u32,
    input: &GetShardIteratorInput,
) -> Result<i64, ApiError> {
    let kind = input
        .shard_iterator_type
        .as_deref()
        .ok_or_else(|| ApiError::invalid_argument("ShardIteratorType is required"))?;
    Ok(match kind {
        "TRIM_HORIZON" => 0,
        "LATEST" => s.last_seq,
        "AT_SEQUENCE_NUMBER" => sequence_arg(input, kind)? - 1,
        "AFTER_SEQUENCE_NUMBER" => sequence_arg(input, kind)?,
        "AT_TIMESTAMP" => {
            let at = input.timestamp.ok_or_else(|| {
                ApiError::invalid_argument("Timestamp is required for AT_TIMESTAMP")
            })?;
            let at_ms = epoch_ms(at);
            let (id, latest) = (s.id, s.last_seq);
            let first = app
                .db
                .tx(move |tx| store::first_at_or_after(tx, id, shard, at_ms))
                .await?;
            // Nothing that recent yet: the next record written is the first read.
            first.map_or(latest, |seq| seq - 1)
        }
        other => {
            return Err(ApiError::invalid_argument(format!(
                "ShardIteratorType {other:?} must be one of AT_SEQUENCE_NUMBER, \
                 AFTER_SEQUENCE_NUMBER, TRIM_HORIZON, LATEST, AT_TIMESTAMP"
            )));
        }
    })
}

pub(super) async fn get_shard_iterator(
    app: &App,
    input: GetShardIteratorInput,
) -> Result<GetShardIteratorOutput, ApiError> {
    let s = streams::load(app, &input.stream).await?;
    let id = input
        .shard_id
        .as_deref()
        .ok_or_else(|| ApiError::invalid_argument("ShardId is required"))?;
    let shard = parse_shard_id(id, &s)?;
    let after = start_after(app, &s, shard, &input).await?;
    let pos = Position {
        stream_id: s.id,
        shard,
        after,
    };
    Ok(GetShardIteratorOutput {
        shard_iterator: position::encode_iterator(
            &app.session_key,
            pos,
            now_ms() + position::ITERATOR_LIFETIME_MS,
        ),
    })
}

pub(super) async fn get_records(
    app: &App,
    input: GetRecordsInput,
) -> Result<GetRecordsOutput, ApiError> {
    let limit = PageSize::max_results(MAX_GET_RECORDS)
        .member("Limit")
        .of(input.limit)?;
    let iterator = input
        .shard_iterator
        .ok_or_else(|| ApiError::invalid_argument("ShardIterator is required"))?;
    let now = now_ms();
    let pos = position::decode_iterator(&app.session_key, &iterator, now).map_err(|e| match e {
        IteratorError::Invalid => ApiError::invalid_argument("Invalid ShardIterator."),
        IteratorError::Expired => expired_iterator(format!(
            "Iterator expired. Shard iterators are valid for {} seconds.",
            position::ITERATOR_LIFETIME_MS / 1000
        )),
    })?;
    let (records, next, behind_since) = app
        .db
        .tx(move |tx| {
            let s = store::find_stream(tx, StreamKey::Id(pos.stream_id))?
                .ok_or_else(|| not_found("The stream of this shard iterator no longer exists."))?;
            let mut range = ReadRange {
                stream_id: s.id,
                shard: pos.shard,
                after: pos.after,
                since_ms: s.retained_since(now),
            };
            let records = store::read(tx, &range, limit, MAX_GET_BYTES)?;
            if let Some(last) = records.last() {
                range.after = last.seq;
            }
            let behind_since = store::next_arrival(tx, &range)?;
            Ok((records, range.after, behind_since))
        })
        .await?;
    let next_pos = Position { after: next, ..pos };
    Ok(GetRecordsOutput {
        records: records
            .into_iter()
            .map(|r| Record {
                sequence_number: position::format_sequence(r.seq),
                approximate_arrival_timestamp: epoch_seconds(r.arrival_ms),
                data: STANDARD.encode(&r.data),
                partition_key: r.partition_key,
                encryption_type: "NONE",
            })
            .collect(),
        next_shard_iterator: position::encode_iterator(
            &app.session_key,
            next_pos,
            now + position::ITERATOR_LIFETIME_MS,
        ),
        millis_behind_latest: behind_since.map_or(0, |t| (now - t).max(0)),
    })
}

/// Appends one record from inside kvs-local (a stream processor's output), durably, as
/// PutRecord would.
pub(crate) async fn put_internal(
    app: &App,
    stream_arn: &str,
    partition_key: &str,
    data: Vec<u8>,
) -> Result<(), ApiError> {
    let entry = Checked {
        hash: hashing::hash_key(partition_key),
        partition_key: partition_key.to_owned(),
        data,
    };
    let stream = super::model::StreamRef {
        stream_name: None,
        stream_arn: Some(stream_arn.to_owned()),
    };
    append(app, &stream, vec![entry]).await.map(drop)
}

/// Whether the data stream with this ARN exists.
pub(crate) async fn stream_exists(app: &App, stream_arn: &str) -> Result<bool, ApiError> {
    let stream = super::model::StreamRef {
        stream_name: None,
        stream_arn: Some(stream_arn.to_owned()),
    };
    match streams::load(app, &stream).await {
        Ok(_) => Ok(true),
        Err(e) if e.code() == "ResourceNotFoundException" => Ok(false),
        Err(e) => Err(e),
    }
}
