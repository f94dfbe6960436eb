//! Kinesis streams and records in the embedded database (tables `kinesis_streams` and
//! `kinesis_records`, schema version 3). Every function runs inside the caller's transaction.

use rusqlite::{OptionalExtension, Transaction, params};

use crate::db::db_err;
use crate::error::ApiError;

/// A data stream as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StreamRow {
    /// Never reused, so iterators of a deleted stream do not read a new one of the same name.
    pub(crate) id: i64,
    pub(crate) name: String,
    pub(crate) arn: String,
    pub(crate) status: String,
    /// `PROVISIONED` or `ON_DEMAND`.
    pub(crate) mode: String,
    pub(crate) shard_count: u32,
    pub(crate) retention_hours: u32,
    pub(crate) creation_time_ms: i64,
    /// The counter of the newest record (0 when none was ever written).
    pub(crate) last_seq: i64,
}

impl StreamRow {
    /// The oldest arrival time (epoch ms) still inside the retention period at `now_ms`.
    pub(crate) fn retained_since(&self, now_ms: i64) -> i64 {
        now_ms - i64::from(self.retention_hours) * 3_600_000
    }
}

/// A new stream's settings.
pub(crate) struct NewStream<'a> {
    pub(crate) name: &'a str,
    pub(crate) arn: &'a str,
    pub(crate) mode: &'a str,
    pub(crate) shard_count: u32,
    pub(crate) retention_hours: u32,
    pub(crate) now_ms: i64,
}

/// A record to append.
pub(crate) struct NewRecord {
    pub(crate) shard: u32,
    pub(crate) partition_key: String,
    pub(crate) data: Vec<u8>,
}

/// A record as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StoredRecord {
    pub(crate) seq: i64,
    pub(crate) arrival_ms: i64,
    pub(crate) partition_key: String,
    pub(crate) data: Vec<u8>,
}

/// How a request names its stream.
#[derive(Debug, Clone, Copy)]
pub(crate) enum StreamKey<'a> {
    Name(&'a str),
    Arn(&'a str),
    Id(i64),
}

const STREAM_COLS: &str =
    "id, name, arn, status, mode, shard_count, retention_hours, creation_time_ms, last_seq";

fn stream_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<StreamRow> {
    Ok(StreamRow {
        id: r.get(0)?,
        name: r.get(1)?,
        arn: r.get(2)?,
        status: r.get(3)?,
        mode: r.get(4)?,
        shard_count: r.get(5)?,
        retention_hours: r.get(6)?,
        creation_time_ms: r.get(7)?,
        last_seq: r.get(8)?,
    })
}

pub(crate) fn find_stream(
    tx: &Transaction<'_>,
    key: StreamKey<'_>,
) -> Result<Option<StreamRow>, ApiError> {
    let by = |col: &str| format!("SELECT {STREAM_COLS} FROM kinesis_streams WHERE {col} = ?1");
    match key {
        StreamKey::Name(n) => tx.query_row(&by("name"), [n], stream_row),
        StreamKey::Arn(a) => tx.query_row(&by("arn"), [a], stream_row),
        StreamKey::Id(id) => tx.query_row(&by("id"), [id], stream_row),
    }
    .optional()
    .map_err(db_err)
}

/// Inserts a stream; `None` when one of that name exists.
pub(crate) fn insert_stream(
    tx: &Transaction<'_>,
    s: &NewStream<'_>,
) -> Result<Option<StreamRow>, ApiError> {
    if find_stream(tx, StreamKey::Name(s.name))?.is_some() {
        return Ok(None);
    }
    tx.execute(
        "INSERT INTO kinesis_streams \
         (name, arn, status, mode, shard_count, retention_hours, creation_time_ms, last_seq) \
         VALUES (?1, ?2, 'ACTIVE', ?3, ?4, ?5, ?6, 0)",
        params![
            s.name,
            s.arn,
            s.mode,
            s.shard_count,
            s.retention_hours,
            s.now_ms
        ],
    )
    .map_err(db_err)?;
    find_stream(tx, StreamKey::Name(s.name))
}

/// Streams named after `after`, in name order.
pub(crate) fn list_streams(
    tx: &Transaction<'_>,
    after: &str,
    limit: usize,
) -> Result<Vec<StreamRow>, ApiError> {
    let mut stmt = tx
        .prepare(&format!(
            "SELECT {STREAM_COLS} FROM kinesis_streams WHERE name > ?1 ORDER BY name LIMIT ?2"
        ))
        .map_err(db_err)?;
    let rows = stmt
        .query_map(params![after, limit as i64], stream_row)
        .map_err(db_err)?;
    rows.collect::<Result<_, _>>().map_err(db_err)
}

/// Deletes a stream and all its records.
pub(crate) fn delete_stream(tx: &Transaction<'_>, id: i64) -> Result<(), ApiError> {
    tx.execute("DELETE FROM kinesis_records WHERE stream_id = ?1", [id])
        .map_err(db_err)?;
    tx.execute("DELETE FROM kinesis_streams WHERE id = ?1", [id])
        .map_err(db_err)?;
    Ok(())
}

/// Appends records in order, giving each the next counter of the stream; returns the counters.
pub(crate) fn append(
    tx: &Transaction<'_>,
    stream: &StreamRow,
    records: Vec<NewRecord>,
    now_ms: i64,
) -> Result<Vec<i64>, ApiError> {
    let last: i64 = tx
        .query_row(
            "SELECT last_seq FROM kinesis_streams WHERE id = ?1",
            [stream.id],
            |r| r.get(0),
        )
        .map_err(db_err)?;
    let mut stmt = tx
        .prepare(
            "INSERT INTO kinesis_records (stream_id, shard, seq, arrival_ms, partition_key, data) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .map_err(db_err)?;
    let mut seqs = Vec::with_capacity(records.len());
    let mut seq = last;
    for r in records {
        seq += 1;
        stmt.execute(params![
            stream.id,
            r.shard,
            seq,
            now_ms,
            r.partition_key,
            r.data
        ])
        .map_err(db_err)?;
        seqs.push(seq);
    }
    tx.execute(
        "UPDATE kinesis_streams SET last_seq = ?1 WHERE id = ?2",
        params![seq, stream.id],
    )
    .map_err(db_err)?;
    Ok(seqs)
}

/// Which records of a shard to read.
pub(crate) struct ReadRange {
    pub(crate) stream_id: i64,
    pub(crate) shard: u32,
    /// Only records with a counter above this.
    pub(crate) after: i64,
    /// Only records that arrived at or after this time (epoch ms): the retention period.
    pub(crate) since_ms: i64,
}

/// Up to `limit` records of `range` in order, stopping once `max_bytes` of data are read (at
/// least one record is always returned when there is one).
pub(crate) fn read(
    tx: &Transaction<'_>,
    range: &ReadRange,
    limit: usize,
    max_bytes: usize,
) -> Result<Vec<StoredRecord>, ApiError> {
    let mut stmt = tx
        .prepare(
            "SELECT seq, arrival_ms, partition_key, data FROM kinesis_records \
             WHERE stream_id = ?1 AND shard = ?2 AND seq > ?3 AND arrival_ms >= ?4 \
             ORDER BY seq LIMIT ?5",
        )
        .map_err(db_err)?;
    let mut rows = stmt
        .query(params![
            range.stream_id,
            range.shard,
            range.after,
            range.since_ms,
            limit as i64
        ])
        .map_err(db_err)?;
    let mut out = Vec::new();
    let mut bytes = 0usize;
    while let Some(r) = rows.next().map_err(db_err)? {
        let data: Vec<u8> = r.get(3).map_err(db_err)?;
        bytes += data.len();
        if bytes > max_bytes && !out.is_empty() {
            break;
        }
        out.push(StoredRecord {
            seq: r.get(0).map_err(db_err)?,
            arrival_ms: r.get(1).map_err(db_err)?,
            partition_key: r.get(2).map_err(db_err)?,
            data,
        });
    }
    Ok(out)
}

/// The arrival time of the first record of `range`, if any.
pub(crate) fn next_arrival(
    tx: &Transaction<'_>,
    range: &ReadRange,
) -> Result<Option<i64>, ApiError> {
    tx.query_row(
        "SELECT arrival_ms FROM kinesis_records \
         WHERE stream_id = ?1 AND shard = ?2 AND seq > ?3 AND arrival_ms >= ?4 \
         ORDER BY seq LIMIT 1",
        params![range.stream_id, range.shard, range.after, range.since_ms],
        |r| r.get(0),
    )
    .optional()
    .map_err(db_err)
}

/// The counter of the first record of a shard that arrived at or after `at_ms`, if any.
pub(crate) fn first_at_or_after(
    tx: &Transaction<'_>,
    stream_id: i64,
    shard: u32,
    at_ms: i64,
) -> Result<Option<i64>, ApiError> {
    tx.query_row(
        "SELECT MIN(seq) FROM kinesis_records \
         WHERE stream_id = ?1 AND shard = ?2 AND arrival_ms >= ?3",
        params![stream_id, shard, at_ms],
        |r| r.get(0),
    )
    .map_err(db_err)
}

/// Deletes records past their stream's retention at `now_ms`; returns how many.
pub(crate) fn expire(tx: &Transaction<'_>, now_ms: i64) -> Result<usize, ApiError> {
    let streams = list_streams(tx, "", usize::MAX >> 1)?;
    let mut stmt = tx
        .prepare(
            "DELETE FROM kinesis_records WHERE stream_id = ?1 AND shard = ?2 AND arrival_ms < ?3",
        )
        .map_err(db_err)?;
    let mut deleted = 0;
    for s in &streams {
        for shard in 0..s.shard_count {
            deleted += stmt
                .execute(params![s.id, shard, s.retained_since(now_ms)])
                .map_err(db_err)?;
        }
    }
    Ok(deleted)
}
