//! The embedded metadata database (SQLite): streams, channels and tags, media fragment
//! metadata, and Kinesis Data Streams records.
//!
//! One connection behind a mutex, used from blocking threads; WAL with `synchronous=FULL` so a
//! committed change survives a crash of the process or the machine.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OptionalExtension, params};

use crate::error::ApiError;

/// The most tags one resource may carry.
pub(crate) const MAX_TAGS: usize = 50;

const SCHEMA: &[&str] = &[
    // version 1
    "CREATE TABLE streams (
        name TEXT PRIMARY KEY,
        arn TEXT NOT NULL UNIQUE,
        device_name TEXT,
        media_type TEXT,
        kms_key_id TEXT NOT NULL,
        version TEXT NOT NULL,
        status TEXT NOT NULL,
        creation_time_ms INTEGER NOT NULL,
        retention_hours INTEGER NOT NULL
    );
    CREATE TABLE channels (
        name TEXT PRIMARY KEY,
        arn TEXT NOT NULL UNIQUE,
        channel_type TEXT NOT NULL,
        message_ttl_seconds INTEGER NOT NULL,
        version TEXT NOT NULL,
        status TEXT NOT NULL,
        creation_time_ms INTEGER NOT NULL
    );
    CREATE TABLE tags (
        resource_arn TEXT NOT NULL,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (resource_arn, key)
    );",
    // version 2: media
    "CREATE TABLE media_headers (
        id INTEGER PRIMARY KEY,
        stream_arn TEXT NOT NULL,
        bytes BLOB NOT NULL
    );
    CREATE TABLE fragments (
        seq INTEGER PRIMARY KEY,
        stream_arn TEXT NOT NULL,
        producer_ts_ms INTEGER NOT NULL,
        server_ts_ms INTEGER NOT NULL,
        duration_ms INTEGER NOT NULL,
        size INTEGER NOT NULL,
        frames INTEGER NOT NULL,
        header_id INTEGER NOT NULL,
        file TEXT NOT NULL,
        offset INTEGER NOT NULL
    );
    CREATE INDEX fragments_by_stream ON fragments (stream_arn, seq);
    CREATE INDEX fragments_by_producer_ts ON fragments (stream_arn, producer_ts_ms);
    CREATE INDEX fragments_by_server_ts ON fragments (stream_arn, server_ts_ms);",
    // version 3: Kinesis Data Streams (see kinesis/store.rs)
    "CREATE TABLE kinesis_streams (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL UNIQUE,
        arn TEXT NOT NULL UNIQUE,
        status TEXT NOT NULL,
        mode TEXT NOT NULL,
        shard_count INTEGER NOT NULL,
        retention_hours INTEGER NOT NULL,
        creation_time_ms INTEGER NOT NULL,
        last_seq INTEGER NOT NULL
    );
    CREATE TABLE kinesis_records (
        stream_id INTEGER NOT NULL,
        shard INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        arrival_ms INTEGER NOT NULL,
        partition_key TEXT NOT NULL,
        data BLOB NOT NULL,
        UNIQUE (stream_id, shard, seq)
    );
    CREATE INDEX kinesis_records_by_arrival ON kinesis_records (stream_id, shard, arrival_ms);",
    // version 4: Rekognition collections, faces and stream processors (see rekognition/store.rs)
    "CREATE TABLE rek_collections (
        id TEXT PRIMARY KEY,
        arn TEXT NOT NULL UNIQUE,
        creation_time_ms INTEGER NOT NULL
    );
    CREATE TABLE rek_faces (
        face_id TEXT PRIMARY KEY,
        collection_id TEXT NOT NULL,
        image_id TEXT NOT NULL,
        external_image_id TEXT,
        bounding_box TEXT NOT NULL,
        confidence REAL NOT NULL,
        embedding BLOB NOT NULL,
        indexed_ms INTEGER NOT NULL
    );
    CREATE INDEX rek_faces_by_collection ON rek_faces (collection_id, face_id);
    CREATE TABLE rek_processors (
        name TEXT PRIMARY KEY,
        arn TEXT NOT NULL UNIQUE,
        status TEXT NOT NULL,
        status_message TEXT NOT NULL,
        definition TEXT NOT NULL,
        creation_time_ms INTEGER NOT NULL,
        update_time_ms INTEGER NOT NULL
    );",
];

/// A handle on the database; cheap to clone.
#[derive(Clone)]
pub(crate) struct Db {
    conn: Arc<Mutex<Connection>>,
}

/// A stream as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StreamRecord {
    pub(crate) name: String,
    pub(crate) arn: String,
    pub(crate) device_name: Option<String>,
    pub(crate) media_type: Option<String>,
    pub(crate) kms_key_id: String,
    pub(crate) version: String,
    pub(crate) status: String,
    pub(crate) creation_time_ms: i64,
    pub(crate) retention_hours: u32,
}

/// A signaling channel as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ChannelRecord {
    pub(crate) name: String,
    pub(crate) arn: String,
    pub(crate) channel_type: String,
    pub(crate) message_ttl_seconds: u32,
    pub(crate) version: String,
    pub(crate) status: String,
    pub(crate) creation_time_ms: i64,
}

pub(crate) fn db_err(e: rusqlite::Error) -> ApiError {
    ApiError::internal(format!("database: {e}"))
}

impl Db {
    /// Opens (creating and migrating as needed) the database file.
    pub(crate) fn open(path: &Path) -> Result<Self, rusqlite::Error> {
        let mut conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        let version: usize = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        for (i, step) in SCHEMA.iter().enumerate().skip(version) {
            let tx = conn.transaction()?;
            tx.execute_batch(step)?;
            tx.pragma_update(None, "user_version", i + 1)?;
            tx.commit()?;
        }
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Runs `f` on a blocking thread with the connection inside one transaction, committed when
    /// `f` returns `Ok`.
    pub(crate) async fn tx<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Transaction<'_>) -> Result<T, ApiError> + Send + 'static,
    {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = conn
                .lock()
                .map_err(|_| ApiError::internal("database lock poisoned"))?;
            let tx = conn.transaction().map_err(db_err)?;
            let out = f(&tx)?;
            tx.commit().map_err(db_err)?;
            Ok(out)
        })
        .await
        .map_err(ApiError::internal)?
    }
}

const STREAM_COLS: &str = "name, arn, device_name, media_type, kms_key_id, version, status, creation_time_ms, retention_hours";

fn stream_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<StreamRecord> {
    Ok(StreamRecord {
        name: r.get(0)?,
        arn: r.get(1)?,
        device_name: r.get(2)?,
        media_type: r.get(3)?,
        kms_key_id: r.get(4)?,
        version: r.get(5)?,
        status: r.get(6)?,
        creation_time_ms: r.get(7)?,
        retention_hours: r.get(8)?,
    })
}

const CHANNEL_COLS: &str =
    "name, arn, channel_type, message_ttl_seconds, version, status, creation_time_ms";

fn channel_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ChannelRecord> {
    Ok(ChannelRecord {
        name: r.get(0)?,
        arn: r.get(1)?,
        channel_type: r.get(2)?,
        message_ttl_seconds: r.get(3)?,
        version: r.get(4)?,
        status: r.get(5)?,
        creation_time_ms: r.get(6)?,
    })
}

/// Finds a stream by name or ARN.
pub(crate) fn find_stream(
    tx: &rusqlite::Transaction<'_>,
    name: Option<&str>,
    arn: Option<&str>,
) -> Result<Option<StreamRecord>, ApiError> {
    let (col, val) = match (name, arn) {
        (_, Some(arn)) => ("arn", arn),
        (Some(name), None) => ("name", name),
        (None, None) => return Ok(None),
    };
    tx.query_row(
        &format!("SELECT {STREAM_COLS} FROM streams WHERE {col} = ?1"),
        [val],
        stream_row,
    )
    .optional()
    .map_err(db_err)
}

pub(crate) fn insert_stream(
    tx: &rusqlite::Transaction<'_>,
    s: &StreamRecord,
) -> Result<(), ApiError> {
    tx.execute(
        &format!("INSERT INTO streams ({STREAM_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"),
        params![
            s.name,
            s.arn,
            s.device_name,
            s.media_type,
            s.kms_key_id,
            s.version,
            s.status,
            s.creation_time_ms,
            s.retention_hours
        ],
    )
    .map_err(db_err)?;
    Ok(())
}

/// Streams after `after` in name order whose name starts with `prefix`.
pub(crate) fn list_streams(
    tx: &rusqlite::Transaction<'_>,
    after: &str,
    prefix: &str,
    limit: usize,
) -> Result<Vec<StreamRecord>, ApiError> {
    let mut stmt = tx
        .prepare(&format!(
            "SELECT {STREAM_COLS} FROM streams WHERE name > ?1 AND substr(name, 1, ?2) = ?3 \
             ORDER BY name LIMIT ?4"
        ))
        .map_err(db_err)?;
    let rows = stmt
        .query_map(
            params![after, prefix.len() as i64, prefix, limit as i64],
            stream_row,
        )
        .map_err(db_err)?;
    rows.collect::<Result<_, _>>().map_err(db_err)
}

pub(crate) fn update_stream_retention(
    tx: &rusqlite::Transaction<'_>,
    name: &str,
    hours: u32,
    version: &str,
) -> Result<(), ApiError> {
    tx.execute(
        "UPDATE streams SET retention_hours = ?1, version = ?2 WHERE name = ?3",
        params![hours, version, name],
    )
    .map_err(db_err)?;
    Ok(())
}

pub(crate) fn delete_stream(
    tx: &rusqlite::Transaction<'_>,
    s: &StreamRecord,
) -> Result<(), ApiError> {
    tx.execute("DELETE FROM streams WHERE name = ?1", [&s.name])
        .map_err(db_err)?;
    tx.execute("DELETE FROM tags WHERE resource_arn = ?1", [&s.arn])
        .map_err(db_err)?;
    Ok(())
}

pub(crate) fn find_channel(
    tx: &rusqlite::Transaction<'_>,
    name: Option<&str>,
    arn: Option<&str>,
) -> Result<Option<ChannelRecord>, ApiError> {
    let (col, val) = match (name, arn) {
        (_, Some(arn)) => ("arn", arn),
        (Some(name), None) => ("name", name),
        (None, None) => return Ok(None),
    };
    tx.query_row(
        &format!("SELECT {CHANNEL_COLS} FROM channels WHERE {col} = ?1"),
        [val],
        channel_row,
    )
    .optional()
    .map_err(db_err)
}

pub(crate) fn insert_channel(
    tx: &rusqlite::Transaction<'_>,
    c: &ChannelRecord,
) -> Result<(), ApiError> {
    tx.execute(
        &format!("INSERT INTO channels ({CHANNEL_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"),
        params![
            c.name,
            c.arn,
            c.channel_type,
            c.message_ttl_seconds,
            c.version,
            c.status,
            c.creation_time_ms
        ],
    )
    .map_err(db_err)?;
    Ok(())
}

pub(crate) fn list_channels(
    tx: &rusqlite::Transaction<'_>,
    after: &str,
    prefix: &str,
    limit: usize,
) -> Result<Vec<ChannelRecord>, ApiError> {
    let mut stmt = tx
        .prepare(&format!(
            "SELECT {CHANNEL_COLS} FROM channels WHERE name > ?1 AND substr(name, 1, ?2) = ?3 \
             ORDER BY name LIMIT ?4"
        ))
        .map_err(db_err)?;
    let rows = stmt
        .query_map(
            params![after, prefix.len() as i64, prefix, limit as i64],
            channel_row,
        )
        .map_err(db_err)?;
    rows.collect::<Result<_, _>>().map_err(db_err)
}

pub(crate) fn delete_channel(
    tx: &rusqlite::Transaction<'_>,
    c: &ChannelRecord,
) -> Result<(), ApiError> {
    tx.execute("DELETE FROM channels WHERE name = ?1", [&c.name])
        .map_err(db_err)?;
    tx.execute("DELETE FROM tags WHERE resource_arn = ?1", [&c.arn])
        .map_err(db_err)?;
    Ok(())
}

pub(crate) fn tags_of(
    tx: &rusqlite::Transaction<'_>,
    arn: &str,
) -> Result<BTreeMap<String, String>, ApiError> {
    let mut stmt = tx
        .prepare("SELECT key, value FROM tags WHERE resource_arn = ?1 ORDER BY key")
        .map_err(db_err)?;
    let rows = stmt
        .query_map([arn], |r| Ok((r.get(0)?, r.get(1)?)))
        .map_err(db_err)?;
    rows.collect::<Result<_, _>>().map_err(db_err)
}

/// Adds or replaces tags, refusing to go over [`MAX_TAGS`].
pub(crate) fn add_tags(
    tx: &rusqlite::Transaction<'_>,
    arn: &str,
    tags: &BTreeMap<String, String>,
) -> Result<(), ApiError> {
    let mut all = tags_of(tx, arn)?;
    all.extend(tags.iter().map(|(k, v)| (k.clone(), v.clone())));
    if all.len() > MAX_TAGS {
        return Err(ApiError::too_many_tags());
    }
    for (k, v) in tags {
        tx.execute(
            "INSERT INTO tags (resource_arn, key, value) VALUES (?1, ?2, ?3) \
             ON CONFLICT (resource_arn, key) DO UPDATE SET value = excluded.value",
            params![arn, k, v],
        )
        .map_err(db_err)?;
    }
    Ok(())
}

pub(crate) fn remove_tags(
    tx: &rusqlite::Transaction<'_>,
    arn: &str,
    keys: &[String],
) -> Result<(), ApiError> {
    for k in keys {
        tx.execute(
            "DELETE FROM tags WHERE resource_arn = ?1 AND key = ?2",
            params![arn, k],
        )
        .map_err(db_err)?;
    }
    Ok(())
}
