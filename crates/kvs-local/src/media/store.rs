//! Append-only segment files plus the fragment index.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use rusqlite::{OptionalExtension, params};

use super::{Live, fragment_number};
use crate::db::{self, Db, StreamRecord, db_err};
use crate::error::ApiError;

/// A segment file is closed and a new one started past this size.
const SEGMENT_BYTES: u64 = 256 * 1024 * 1024;

/// A fragment as indexed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StoredFragment {
    pub(crate) seq: u64,
    pub(crate) stream_arn: String,
    pub(crate) producer_ts_ms: i64,
    pub(crate) server_ts_ms: i64,
    pub(crate) duration_ms: i64,
    pub(crate) size: i64,
    pub(crate) frames: i64,
    pub(crate) header_id: i64,
    pub(crate) file: String,
    pub(crate) offset: i64,
}

impl StoredFragment {
    pub(crate) fn number(&self) -> String {
        fragment_number(self.seq)
    }
}

/// A fragment ready to be stored.
pub(crate) struct NewFragment {
    pub(crate) seq: u64,
    pub(crate) producer_ts_ms: i64,
    pub(crate) server_ts_ms: i64,
    pub(crate) duration_ms: i64,
    pub(crate) frames: i64,
    pub(crate) header_id: i64,
    pub(crate) cluster: Vec<u8>,
}

struct Segment {
    file: File,
    name: String,
    len: u64,
}

/// Media storage shared by all connections.
pub(crate) struct MediaStore {
    root: PathBuf,
    db: Db,
    next_seq: AtomicU64,
    segments: Mutex<HashMap<String, Arc<Mutex<Option<Segment>>>>>,
    headers: Mutex<HashMap<i64, Arc<Vec<u8>>>>,
    pub(crate) live: Live,
}

const COLS: &str = "seq, stream_arn, producer_ts_ms, server_ts_ms, duration_ms, size, frames, header_id, file, offset";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoredFragment> {
    Ok(StoredFragment {
        seq: r.get::<_, i64>(0)? as u64,
        stream_arn: r.get(1)?,
        producer_ts_ms: r.get(2)?,
        server_ts_ms: r.get(3)?,
        duration_ms: r.get(4)?,
        size: r.get(5)?,
        frames: r.get(6)?,
        header_id: r.get(7)?,
        file: r.get(8)?,
        offset: r.get(9)?,
    })
}

/// The directory of a stream's media: its name plus the id in its ARN, so a stream deleted and
/// created again under the same name gets a fresh directory.
fn stream_dir_name(s: &StreamRecord) -> String {
    let id = s.arn.rsplit('/').next().unwrap_or("0");
    format!("{}-{id}", s.name)
}

impl MediaStore {
    pub(crate) async fn open(root: &Path, db: Db) -> Result<Self, ApiError> {
        let max: i64 = db
            .tx(|tx| {
                tx.query_row("SELECT COALESCE(MAX(seq), 0) FROM fragments", [], |r| {
                    r.get(0)
                })
                .map_err(db_err)
            })
            .await?;
        Ok(Self {
            root: root.join("media"),
            db,
            next_seq: AtomicU64::new(max as u64 + 1),
            segments: Mutex::new(HashMap::new()),
            headers: Mutex::new(HashMap::new()),
            live: Live::default(),
        })
    }

    /// Reserves the next sequence number (a fragment number is assigned when a fragment starts).
    pub(crate) fn next_seq(&self) -> u64 {
        self.next_seq.fetch_add(1, Ordering::Relaxed)
    }

    /// Stores a connection's stream header (EBML, Info, Tracks).
    pub(crate) async fn save_header(
        &self,
        stream_arn: &str,
        bytes: Vec<u8>,
    ) -> Result<i64, ApiError> {
        let arn = stream_arn.to_owned();
        let shared = Arc::new(bytes);
        let to_db = shared.clone();
        let id = self
            .db
            .tx(move |tx| {
                tx.execute(
                    "INSERT INTO media_headers (stream_arn, bytes) VALUES (?1, ?2)",
                    params![arn, to_db.as_slice()],
                )
                .map_err(db_err)?;
                Ok(tx.last_insert_rowid())
            })
            .await?;
        self.headers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, shared);
        Ok(id)
    }

    pub(crate) async fn header(&self, id: i64) -> Result<Arc<Vec<u8>>, ApiError> {
        if let Some(h) = self
            .headers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&id)
        {
            return Ok(h.clone());
        }
        let bytes: Vec<u8> = self
            .db
            .tx(move |tx| {
                tx.query_row("SELECT bytes FROM media_headers WHERE id = ?1", [id], |r| {
                    r.get(0)
                })
                .map_err(db_err)
            })
            .await?;
        let shared = Arc::new(bytes);
        self.headers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, shared.clone());
        Ok(shared)
    }

    /// Appends the fragment to the stream's segment file, syncs it, then indexes it.
    pub(crate) async fn persist(
        &self,
        stream: &StreamRecord,
        frag: NewFragment,
    ) -> Result<StoredFragment, ApiError> {
        let segment = self
            .segments
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(stream.arn.clone())
            .or_default()
            .clone();
        let dir = self.root.join(stream_dir_name(stream));
        let dir_name = stream_dir_name(stream);
        let cluster = frag.cluster;
        let size = cluster.len() as i64;
        let (file, offset) =
            tokio::task::spawn_blocking(move || -> std::io::Result<(String, u64)> {
                let mut seg = segment.lock().unwrap_or_else(|p| p.into_inner());
                if seg.as_ref().is_none_or(|s| s.len >= SEGMENT_BYTES) {
                    std::fs::create_dir_all(&dir)?;
                    let name = format!("{:020}.kvsseg", frag.seq);
                    let file = OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(dir.join(&name))?;
                    let len = file.metadata()?.len();
                    // Make the new file's directory entry durable too.
                    File::open(&dir)?.sync_all()?;
                    *seg = Some(Segment { file, name, len });
                }
                let s = seg
                    .as_mut()
                    .ok_or_else(|| std::io::Error::other("no segment"))?;
                let offset = s.len;
                s.file.write_all(&cluster)?;
                s.file.sync_data()?;
                s.len += cluster.len() as u64;
                Ok((format!("{dir_name}/{}", s.name), offset))
            })
            .await
            .map_err(ApiError::internal)?
            .map_err(|e| ApiError::internal(format!("writing media: {e}")))?;

        let stored = StoredFragment {
            seq: frag.seq,
            stream_arn: stream.arn.clone(),
            producer_ts_ms: frag.producer_ts_ms,
            server_ts_ms: frag.server_ts_ms,
            duration_ms: frag.duration_ms,
            size,
            frames: frag.frames,
            header_id: frag.header_id,
            file,
            offset: offset as i64,
        };
        let insert = stored.clone();
        self.db
            .tx(move |tx| {
                tx.execute(
                    &format!("INSERT INTO fragments ({COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"),
                    params![
                        insert.seq as i64,
                        insert.stream_arn,
                        insert.producer_ts_ms,
                        insert.server_ts_ms,
                        insert.duration_ms,
                        insert.size,
                        insert.frames,
                        insert.header_id,
                        insert.file,
                        insert.offset
                    ],
                )
                .map_err(db_err)?;
                Ok(())
            })
            .await?;
        self.live.published(&stream.arn, stored.seq);
        Ok(stored)
    }

    /// The fragment's Cluster bytes.
    pub(crate) async fn read_cluster(&self, f: &StoredFragment) -> Result<Vec<u8>, ApiError> {
        let path = self.root.join(&f.file);
        let (offset, size) = (f.offset as u64, f.size as usize);
        tokio::task::spawn_blocking(move || -> std::io::Result<Vec<u8>> {
            let mut file = File::open(path)?;
            file.seek(SeekFrom::Start(offset))?;
            // Read into spare capacity: no zero-fill first, and the exact capacity lets the
            // buffer become `Bytes` without a copy.
            let mut buf = Vec::with_capacity(size);
            file.take(size as u64).read_to_end(&mut buf)?;
            if buf.len() != size {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            Ok(buf)
        })
        .await
        .map_err(ApiError::internal)?
        .map_err(|e| ApiError::internal(format!("reading media: {e}")))
    }

    /// Fragments of a stream with `seq > after`, oldest first.
    pub(crate) async fn fragments_after(
        &self,
        arn: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<StoredFragment>, ApiError> {
        let arn = arn.to_owned();
        self.db
            .tx(move |tx| {
                let mut stmt = tx
                    .prepare(&format!(
                        "SELECT {COLS} FROM fragments WHERE stream_arn = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3"
                    ))
                    .map_err(db_err)?;
                let rows = stmt
                    .query_map(params![arn, after as i64, limit as i64], row)
                    .map_err(db_err)?;
                rows.collect::<Result<_, _>>().map_err(db_err)
            })
            .await
    }

    /// One fragment by sequence number, if it belongs to the stream.
    pub(crate) async fn fragment(
        &self,
        arn: &str,
        seq: u64,
    ) -> Result<Option<StoredFragment>, ApiError> {
        let arn = arn.to_owned();
        self.db
            .tx(move |tx| {
                tx.query_row(
                    &format!("SELECT {COLS} FROM fragments WHERE stream_arn = ?1 AND seq = ?2"),
                    params![arn, seq as i64],
                    row,
                )
                .optional()
                .map_err(db_err)
            })
            .await
    }

    /// The fragment of a stream that starts at `start_ms` (producer time), if stored.
    pub(crate) async fn fragment_starting_at(
        &self,
        arn: &str,
        start_ms: i64,
    ) -> Result<Option<StoredFragment>, ApiError> {
        let arn = arn.to_owned();
        self.db
            .tx(move |tx| {
                tx.query_row(
                    &format!("SELECT {COLS} FROM fragments WHERE stream_arn = ?1 AND producer_ts_ms = ?2 LIMIT 1"),
                    params![arn, start_ms],
                    row,
                )
                .optional()
                .map_err(db_err)
            })
            .await
    }

    /// Where the stream's newest stored fragment starts (producer time, ms).
    pub(crate) async fn last_start_ms(&self, arn: &str) -> Result<Option<i64>, ApiError> {
        let arn = arn.to_owned();
        self.db
            .tx(move |tx| {
                tx.query_row(
                    "SELECT MAX(producer_ts_ms) FROM fragments WHERE stream_arn = ?1",
                    [arn],
                    |r| r.get::<_, Option<i64>>(0),
                )
                .map_err(db_err)
            })
            .await
    }

    /// The last fragment of a stream.
    pub(crate) async fn last_seq(&self, arn: &str) -> Result<u64, ApiError> {
        let arn = arn.to_owned();
        self.db
            .tx(move |tx| {
                tx.query_row(
                    "SELECT COALESCE(MAX(seq), 0) FROM fragments WHERE stream_arn = ?1",
                    [arn],
                    |r| r.get::<_, i64>(0),
                )
                .map(|v| v as u64)
                .map_err(db_err)
            })
            .await
    }

    /// Fragments whose `column` timestamp is in `[start_ms, end_ms]`, after `after_seq`.
    pub(crate) async fn fragments_in_range(
        &self,
        arn: &str,
        column: &'static str,
        start_ms: i64,
        end_ms: i64,
        after_seq: u64,
        limit: usize,
    ) -> Result<Vec<StoredFragment>, ApiError> {
        let arn = arn.to_owned();
        self.db
            .tx(move |tx| {
                let mut stmt = tx
                    .prepare(&format!(
                        "SELECT {COLS} FROM fragments WHERE stream_arn = ?1 AND {column} >= ?2 \
                         AND {column} <= ?3 AND seq > ?4 ORDER BY seq LIMIT ?5"
                    ))
                    .map_err(db_err)?;
                let rows = stmt
                    .query_map(
                        params![arn, start_ms, end_ms, after_seq as i64, limit as i64],
                        row,
                    )
                    .map_err(db_err)?;
                rows.collect::<Result<_, _>>().map_err(db_err)
            })
            .await
    }

    /// Fragments that overlap `[start_ms, end_ms]` on `column`, oldest first.
    pub(crate) async fn fragments_overlapping(
        &self,
        arn: &str,
        column: &'static str,
        start_ms: i64,
        end_ms: i64,
        limit: usize,
    ) -> Result<Vec<StoredFragment>, ApiError> {
        let arn = arn.to_owned();
        self.db
            .tx(move |tx| {
                let mut stmt = tx
                    .prepare(&format!(
                        "SELECT {COLS} FROM fragments WHERE stream_arn = ?1 AND {column} <= ?3 \
                         AND {column} + duration_ms >= ?2 ORDER BY {column}, seq LIMIT ?4"
                    ))
                    .map_err(db_err)?;
                let rows = stmt
                    .query_map(params![arn, start_ms, end_ms, limit as i64], row)
                    .map_err(db_err)?;
                rows.collect::<Result<_, _>>().map_err(db_err)
            })
            .await
    }

    /// The first fragment whose span ends at or after `ts_ms` on `column`.
    pub(crate) async fn first_from(
        &self,
        arn: &str,
        column: &'static str,
        ts_ms: i64,
    ) -> Result<Option<StoredFragment>, ApiError> {
        let arn = arn.to_owned();
        self.db
            .tx(move |tx| {
                tx.query_row(
                    &format!(
                        "SELECT {COLS} FROM fragments WHERE stream_arn = ?1 AND {column} + duration_ms >= ?2 \
                         ORDER BY seq LIMIT 1"
                    ),
                    params![arn, ts_ms],
                    row,
                )
                .optional()
                .map_err(db_err)
            })
            .await
    }

    /// Deletes every fragment of a stream and its directory.
    pub(crate) async fn delete_stream(&self, stream: &StreamRecord) -> Result<(), ApiError> {
        self.live.deleted(&stream.arn);
        self.segments
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&stream.arn);
        let arn = stream.arn.clone();
        self.db
            .tx(move |tx| {
                tx.execute("DELETE FROM fragments WHERE stream_arn = ?1", [&arn])
                    .map_err(db_err)?;
                tx.execute("DELETE FROM media_headers WHERE stream_arn = ?1", [&arn])
                    .map_err(db_err)?;
                Ok(())
            })
            .await?;
        let dir = self.root.join(stream_dir_name(stream));
        let _ = tokio::task::spawn_blocking(move || std::fs::remove_dir_all(dir)).await;
        Ok(())
    }

    /// Deletes fragments that are past their stream's retention, and the segment files no
    /// longer referenced. Streams with no retention keep media for `zero_retention_ms` so live
    /// readers can still catch up.
    pub(crate) async fn expire(
        &self,
        now_ms: i64,
        zero_retention_ms: i64,
    ) -> Result<u64, ApiError> {
        let open: Vec<String> = {
            let segs = self.segments.lock().unwrap_or_else(|p| p.into_inner());
            segs.values()
                .filter_map(|s| {
                    s.lock()
                        .ok()
                        .and_then(|s| s.as_ref().map(|s| s.name.clone()))
                })
                .collect()
        };
        let (deleted, files) = self
            .db
            .tx(move |tx| {
                let streams = db::list_streams(tx, "", "", usize::MAX >> 1)?;
                let mut deleted = 0u64;
                let mut files = Vec::new();
                for s in streams {
                    let keep_ms = if s.retention_hours == 0 {
                        zero_retention_ms
                    } else {
                        i64::from(s.retention_hours) * 3_600_000
                    };
                    let cutoff = now_ms - keep_ms;
                    let mut stmt = tx
                        .prepare("SELECT DISTINCT file FROM fragments WHERE stream_arn = ?1 AND server_ts_ms < ?2")
                        .map_err(db_err)?;
                    let candidates: Vec<String> = stmt
                        .query_map(params![s.arn, cutoff], |r| r.get(0))
                        .map_err(db_err)?
                        .collect::<Result<_, _>>()
                        .map_err(db_err)?;
                    deleted += tx
                        .execute(
                            "DELETE FROM fragments WHERE stream_arn = ?1 AND server_ts_ms < ?2",
                            params![s.arn, cutoff],
                        )
                        .map_err(db_err)? as u64;
                    for f in candidates {
                        let still: i64 = tx
                            .query_row("SELECT COUNT(*) FROM fragments WHERE file = ?1", [&f], |r| r.get(0))
                            .map_err(db_err)?;
                        if still == 0 {
                            files.push(f);
                        }
                    }
                }
                Ok((deleted, files))
            })
            .await?;
        let root = self.root.clone();
        let files: Vec<String> = files
            .into_iter()
            .filter(|f| !open.iter().any(|o| f.ends_with(o.as_str())))
            .collect();
        let _ = tokio::task::spawn_blocking(move || {
            for f in files {
                let _ = std::fs::remove_file(root.join(f));
            }
        })
        .await;
        Ok(deleted)
    }
}
