//! The content store: every fragment is held here from its first frame until KVS says it is
//! PERSISTED, in memory or on disk. On disk it survives a producer restart and outages longer
//! than memory allows.
//!
//! Disk layout in the store directory: `SESSION.hdr` holds a session's stream header (EBML,
//! Info, Tracks); each fragment is `SESSION-ID-TIMECODE.part` while it grows and is renamed to
//! `.frag` (after fsync) when complete. A `.part` left by a crash is discarded on open: it may
//! end inside a block.

use std::collections::{BTreeMap, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use bytes::Bytes;
use tokio::sync::Notify;

/// Where fragments wait for their PERSISTED acknowledgement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Storage {
    /// In memory, up to `max_bytes`.
    Memory {
        /// Capacity in bytes (`Storage::default()`: 128 MiB).
        max_bytes: u64,
    },
    /// In files under `dir`, up to `max_bytes`; survives restarts.
    Disk {
        /// The directory (created if missing); give each producer a directory of its own.
        dir: PathBuf,
        /// Capacity in bytes (4 GiB when parsed from `disk:DIR` without a size).
        max_bytes: u64,
    },
}

impl Default for Storage {
    fn default() -> Self {
        Self::Memory {
            max_bytes: 128 * 1024 * 1024,
        }
    }
}

/// Why a buffer storage text did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StorageParseError {
    /// The size part is not a size.
    #[error("{0:?} is not a size like 512MB or 2GB")]
    Size(String),
    /// `disk:` without a directory.
    #[error("disk storage needs a directory: disk:DIR or disk:DIR:SIZE")]
    NoDirectory,
    /// Neither `memory` nor `disk`.
    #[error("{0:?} is not memory, memory:SIZE or disk:DIR[:SIZE]")]
    Kind(String),
}

impl std::str::FromStr for Storage {
    type Err = StorageParseError;

    /// Parses `memory`, `memory:128MB`, `disk:DIR`, `disk:DIR:2GB` (a disk store holds 4 GB
    /// unless a size is given).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let size = |t: &str| parse_size(t).ok_or_else(|| StorageParseError::Size(t.to_owned()));
        if let Some(rest) = s.strip_prefix("memory:") {
            return Ok(Self::Memory {
                max_bytes: size(rest)?,
            });
        }
        if s == "memory" {
            return Ok(Self::default());
        }
        if let Some(rest) = s.strip_prefix("disk:") {
            let (dir, max) = match rest.rsplit_once(':') {
                Some((d, m)) if parse_size(m).is_some() => (d, size(m)?),
                _ => (rest, 4 * 1024 * 1024 * 1024),
            };
            if dir.is_empty() {
                return Err(StorageParseError::NoDirectory);
            }
            return Ok(Self::Disk {
                dir: PathBuf::from(dir),
                max_bytes: max,
            });
        }
        Err(StorageParseError::Kind(s.to_owned()))
    }
}

impl Storage {
    fn max_bytes(&self) -> u64 {
        match self {
            Self::Memory { max_bytes } | Self::Disk { max_bytes, .. } => *max_bytes,
        }
    }
}

fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let upper = s.to_ascii_uppercase();
    let (num, mult) = [
        ("GB", 1u64 << 30),
        ("MB", 1 << 20),
        ("KB", 1 << 10),
        ("B", 1),
    ]
    .iter()
    .find_map(|(suffix, m)| {
        upper
            .strip_suffix(suffix)
            .map(|n| (n.trim().to_owned(), *m))
    })
    .unwrap_or((upper.clone(), 1));
    num.parse::<u64>()
        .ok()?
        .checked_mul(mult)
        .filter(|v| *v > 0)
}

/// What to do when the store is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OverflowPolicy {
    /// Drop the oldest whole fragments (each starts with a key frame), and report it.
    #[default]
    DropOldest,
    /// Make the source wait until acknowledgements free space.
    Block,
}

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The disk store could not be read or written.
    #[error("fragment store {path}: {source}")]
    Io {
        /// The file or directory of the disk store.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
}

/// What a store operation dropped to make room.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Dropped {
    /// Whole fragments dropped.
    pub fragments: u64,
    /// Their size in bytes.
    pub bytes: u64,
}

enum Body {
    /// The fragment's parts as the producer gave them (shared, not copied), each with its
    /// offset in the fragment. No part is empty.
    Memory(Vec<(u64, Bytes)>),
    Disk {
        path: PathBuf,
        file: Option<File>,
    },
}

struct Entry {
    id: u64,
    session: u64,
    timecode: u64,
    len: u64,
    complete: bool,
    /// When the fragment's last frame arrived (for time-to-PERSISTED).
    completed_at: Option<std::time::Instant>,
    body: Body,
}

struct Inner {
    headers: BTreeMap<u64, Bytes>,
    fragments: VecDeque<Entry>,
    bytes: u64,
    next_id: u64,
    session: u64,
    closed: bool,
    sending: Option<u64>,
    /// Fragments acknowledged PERSISTED so far (counted here, with the removal, so a reader of
    /// the count never sees a drained store with the last acknowledgement uncounted).
    persisted: u64,
}

/// Where a connection is in the store.
#[derive(Debug, Clone, Default)]
pub(crate) struct Cursor {
    session: Option<u64>,
    id: u64,
    offset: u64,
}

/// The content store. Shared by the producer (writes) and the sender (reads, acks).
pub(crate) struct Store {
    inner: Mutex<Inner>,
    changed: Notify,
    dir: Option<PathBuf>,
    max_bytes: u64,
    /// The longest span of fragment timecodes held, first to last, if bounded.
    max_span: Option<u64>,
    policy: OverflowPolicy,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

const CHUNK: u64 = 256 * 1024;

impl Store {
    /// Opens the store; a disk store reloads the complete fragments a previous run left.
    pub(crate) fn open(storage: &Storage, policy: OverflowPolicy) -> Result<Self, StoreError> {
        let mut inner = Inner {
            headers: BTreeMap::new(),
            fragments: VecDeque::new(),
            bytes: 0,
            next_id: 1,
            session: 0,
            closed: false,
            sending: None,
            persisted: 0,
        };
        let dir = match storage {
            Storage::Memory { .. } => None,
            Storage::Disk { dir, .. } => {
                std::fs::create_dir_all(dir).map_err(io_err(dir))?;
                reload(dir, &mut inner)?;
                Some(dir.clone())
            }
        };
        Ok(Self {
            inner: Mutex::new(inner),
            changed: Notify::new(),
            dir,
            max_bytes: storage.max_bytes(),
            max_span: None,
            policy,
        })
    }

    /// Also counts the store as full while the fragments it holds span more than `max_span`
    /// (in fragment timecode units) from the first one's start to the last one's.
    pub(crate) fn with_max_span(mut self, max_span: Option<u64>) -> Self {
        self.max_span = max_span;
        self
    }

    /// Whether `n` more bytes would overfill it, by size or by span. The span starts at the
    /// oldest fragment that is not being sent: that one cannot be dropped, so counting it
    /// would make room by dropping every fragment after it.
    fn over(&self, inner: &Inner, n: u64) -> bool {
        let first = inner.fragments.iter().find(|e| Some(e.id) != inner.sending);
        let span = match (first, inner.fragments.back()) {
            (Some(first), Some(last)) => last.timecode.saturating_sub(first.timecode),
            _ => 0,
        };
        inner.bytes + n > self.max_bytes || self.max_span.is_some_and(|max| span > max)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts a new session (a stream header); later fragments belong to it.
    pub(crate) fn begin_session(&self, header: Bytes) -> Result<u64, StoreError> {
        let mut inner = self.lock();
        inner.session += 1;
        let session = inner.session;
        if let Some(dir) = &self.dir {
            let path = dir.join(format!("{session:016}.hdr"));
            let tmp = path.with_extension("tmp");
            std::fs::write(&tmp, &header).map_err(io_err(&tmp))?;
            File::open(&tmp)
                .and_then(|f| f.sync_all())
                .map_err(io_err(&tmp))?;
            std::fs::rename(&tmp, &path).map_err(io_err(&path))?;
        }
        inner.headers.insert(session, header);
        Ok(session)
    }

    /// Room for `n` more bytes, dropping or waiting by policy.
    pub(crate) async fn make_room(&self, n: u64) -> Dropped {
        loop {
            let notified = self.changed.notified();
            if let Some(dropped) = self.try_make_room(n) {
                return dropped;
            }
            notified.await;
        }
    }

    /// Room for `n` more bytes now, dropping the oldest fragments under
    /// [`OverflowPolicy::DropOldest`]; `None` when [`OverflowPolicy::Block`] must wait for acks.
    pub(crate) fn try_make_room(&self, n: u64) -> Option<Dropped> {
        let mut dropped = Dropped::default();
        let mut inner = self.lock();
        if !self.over(&inner, n) {
            return Some(dropped);
        }
        match self.policy {
            OverflowPolicy::DropOldest => {
                while self.over(&inner, n) {
                    let sending = inner.sending;
                    let Some(pos) = inner
                        .fragments
                        .iter()
                        .position(|e| e.complete && Some(e.id) != sending)
                    else {
                        // Only the fragment being built or sent is left: let it grow.
                        break;
                    };
                    if let Some(e) = inner.fragments.remove(pos) {
                        inner.bytes -= e.len;
                        dropped.fragments += 1;
                        dropped.bytes += e.len;
                        remove_body(e.body);
                    }
                }
                drop(inner);
                if dropped.fragments > 0 {
                    self.changed.notify_waiters();
                }
                Some(dropped)
            }
            // Nothing complete to wait for: the open fragment may grow past the limit.
            OverflowPolicy::Block => {
                (!inner.fragments.iter().any(|e| e.complete)).then_some(dropped)
            }
        }
    }

    /// Starts a fragment with its first bytes (`parts`, in order); the previous one is complete.
    pub(crate) fn start_fragment(&self, timecode: u64, parts: &[Bytes]) -> Result<(), StoreError> {
        let mut inner = self.lock();
        self.complete_last(&mut inner)?;
        let id = inner.next_id;
        inner.next_id += 1;
        let session = inner.session;
        let len = parts_len(parts);
        let body = match &self.dir {
            None => {
                let mut held = Vec::with_capacity(parts.len());
                hold(&mut held, 0, parts);
                Body::Memory(held)
            }
            Some(dir) => {
                let path = dir.join(format!("{session:016}-{id:016}-{timecode}.part"));
                let mut file = OpenOptions::new()
                    .create(true)
                    .truncate(true)
                    .read(true)
                    .write(true)
                    .open(&path)
                    .map_err(io_err(&path))?;
                write_parts(&mut file, parts).map_err(io_err(&path))?;
                Body::Disk {
                    path,
                    file: Some(file),
                }
            }
        };
        inner.fragments.push_back(Entry {
            id,
            session,
            timecode,
            len,
            complete: false,
            completed_at: None,
            body,
        });
        inner.bytes += len;
        drop(inner);
        self.changed.notify_waiters();
        Ok(())
    }

    /// Appends `parts` to the open fragment.
    pub(crate) fn append(&self, parts: &[Bytes]) -> Result<(), StoreError> {
        let mut inner = self.lock();
        let Some(e) = inner.fragments.back_mut().filter(|e| !e.complete) else {
            return Ok(());
        };
        match &mut e.body {
            Body::Memory(held) => hold(held, e.len, parts),
            Body::Disk { path, file } => {
                if let Some(f) = file {
                    write_parts(f, parts).map_err(io_err(path))?;
                }
            }
        }
        let len = parts_len(parts);
        e.len += len;
        inner.bytes += len;
        drop(inner);
        self.changed.notify_waiters();
        Ok(())
    }

    fn complete_last(&self, inner: &mut Inner) -> Result<(), StoreError> {
        let Some(e) = inner.fragments.back_mut().filter(|e| !e.complete) else {
            return Ok(());
        };
        e.complete = true;
        e.completed_at = Some(std::time::Instant::now());
        if let Body::Disk { path, file } = &mut e.body {
            if let Some(f) = file.take() {
                f.sync_data().map_err(io_err(path))?;
            }
            let done = path.with_extension("frag");
            std::fs::rename(&*path, &done).map_err(io_err(path))?;
            *path = done;
            if let Some(dir) = &self.dir {
                File::open(dir)
                    .and_then(|d| d.sync_all())
                    .map_err(io_err(dir))?;
            }
        }
        Ok(())
    }

    /// Marks the end of input: the open fragment is complete.
    pub(crate) fn close(&self) -> Result<(), StoreError> {
        let mut inner = self.lock();
        self.complete_last(&mut inner)?;
        inner.closed = true;
        drop(inner);
        self.changed.notify_waiters();
        Ok(())
    }

    /// Removes the fragment acknowledged PERSISTED (matched by timecode, not by order); returns
    /// how long after its completion the acknowledgement came, or `None` if no such fragment.
    pub(crate) fn persisted(&self, timecode: u64) -> Option<std::time::Duration> {
        let mut inner = self.lock();
        let pos = inner
            .fragments
            .iter()
            .position(|e| e.timecode == timecode && e.complete)?;
        let e = inner.fragments.remove(pos)?;
        let latency = e.completed_at.map(|t| t.elapsed()).unwrap_or_default();
        inner.persisted += 1;
        inner.bytes -= e.len;
        remove_body(e.body);
        // Forget headers no fragment needs any more (but keep the current session's).
        let current = inner.session;
        let needed: Vec<u64> = inner.fragments.iter().map(|e| e.session).collect();
        let stale: Vec<u64> = inner
            .headers
            .keys()
            .copied()
            .filter(|s| *s != current && !needed.contains(s))
            .collect();
        for s in stale {
            inner.headers.remove(&s);
            if let Some(dir) = &self.dir {
                let _ = std::fs::remove_file(dir.join(format!("{s:016}.hdr")));
            }
        }
        drop(inner);
        self.changed.notify_waiters();
        Some(latency)
    }

    /// Drops the oldest fragment (one the service keeps refusing); returns its timecode.
    pub(crate) fn drop_first(&self) -> Option<(u64, u64)> {
        let mut inner = self.lock();
        let pos = inner.fragments.iter().position(|e| e.complete)?;
        let e = inner.fragments.remove(pos)?;
        inner.bytes -= e.len;
        let out = (e.timecode, e.len);
        remove_body(e.body);
        drop(inner);
        self.changed.notify_waiters();
        Some(out)
    }

    /// Fragments acknowledged PERSISTED.
    pub(crate) fn persisted_count(&self) -> u64 {
        self.lock().persisted
    }

    /// Fragments held and their bytes.
    pub(crate) fn usage(&self) -> (usize, u64) {
        let inner = self.lock();
        (inner.fragments.len(), inner.bytes)
    }

    /// Whether input has ended and every fragment was acknowledged.
    pub(crate) fn drained(&self) -> bool {
        let inner = self.lock();
        inner.closed && inner.fragments.is_empty()
    }

    /// Waits for any change.
    pub(crate) async fn changed(&self) {
        self.changed.notified().await;
    }

    /// The next bytes a connection at `cursor` must send; `None` once input has ended and
    /// everything was sent.
    pub(crate) async fn next_chunk(
        &self,
        cursor: &mut Cursor,
    ) -> Result<Option<Bytes>, StoreError> {
        loop {
            let notified = self.changed.notified();
            {
                let mut inner = self.lock();
                let next = inner
                    .fragments
                    .iter()
                    .find(|e| e.id >= cursor.id)
                    .map(|e| (e.id, e.session, e.len, e.complete));
                match next {
                    None if inner.closed => {
                        inner.sending = None;
                        return Ok(None);
                    }
                    None => inner.sending = None,
                    Some((id, session, len, complete)) => {
                        if id != cursor.id {
                            cursor.id = id;
                            cursor.offset = 0;
                        }
                        if cursor.session != Some(session) {
                            cursor.session = Some(session);
                            if let Some(h) = inner.headers.get(&session) {
                                return Ok(Some(h.clone()));
                            }
                        }
                        if cursor.offset < len {
                            inner.sending = Some(id);
                            let end = (cursor.offset + CHUNK).min(len);
                            let bytes = read_range(&mut inner, id, cursor.offset, end)?;
                            cursor.offset += bytes.len() as u64;
                            return Ok(Some(bytes));
                        }
                        if complete {
                            cursor.id = id + 1;
                            cursor.offset = 0;
                            continue;
                        }
                    }
                }
            }
            notified.await;
        }
    }
}

fn parts_len(parts: &[Bytes]) -> u64 {
    parts.iter().map(|p| p.len() as u64).sum()
}

/// Keeps `parts` (not copies of them) after `held`, which ends at offset `len`.
fn hold(held: &mut Vec<(u64, Bytes)>, mut len: u64, parts: &[Bytes]) {
    for p in parts.iter().filter(|p| !p.is_empty()) {
        held.push((len, p.clone()));
        len += p.len() as u64;
    }
}

fn write_parts(file: &mut File, parts: &[Bytes]) -> std::io::Result<()> {
    parts.iter().try_for_each(|p| file.write_all(p))
}

/// Bytes `start..end` of fragment `id`, or fewer from the start: a fragment in memory gives
/// a slice of the part that holds `start` (no copy), so a chunk never spans two parts.
fn read_range(inner: &mut Inner, id: u64, start: u64, end: u64) -> Result<Bytes, StoreError> {
    let Some(e) = inner.fragments.iter().find(|e| e.id == id) else {
        return Ok(Bytes::new());
    };
    match &e.body {
        Body::Memory(held) => {
            let i = held
                .partition_point(|(at, _)| *at <= start)
                .saturating_sub(1);
            Ok(held.get(i).map_or_else(Bytes::new, |(at, part)| {
                let from = (start - at) as usize;
                let to = ((end - at) as usize).min(part.len());
                part.slice(from..to)
            }))
        }
        Body::Disk { path, .. } => {
            let mut f = File::open(path).map_err(io_err(path))?;
            f.seek(SeekFrom::Start(start)).map_err(io_err(path))?;
            let mut buf = vec![0; (end - start) as usize];
            f.read_exact(&mut buf).map_err(io_err(path))?;
            Ok(Bytes::from(buf))
        }
    }
}

fn remove_body(body: Body) {
    if let Body::Disk { path, file } = body {
        drop(file);
        let _ = std::fs::remove_file(path);
    }
}

fn reload(dir: &Path, inner: &mut Inner) -> Result<(), StoreError> {
    let mut frags = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(stem) = name.strip_suffix(".hdr") {
            if let Ok(session) = stem.parse::<u64>() {
                let bytes = std::fs::read(&path).map_err(io_err(&path))?;
                inner.headers.insert(session, Bytes::from(bytes));
                inner.session = inner.session.max(session);
            }
        } else if name.ends_with(".part") || name.ends_with(".tmp") {
            tracing::warn!(file = %path.display(), "discarding a fragment cut short by a crash");
            let _ = std::fs::remove_file(&path);
        } else if let Some(stem) = name.strip_suffix(".frag") {
            let parts: Vec<&str> = stem.split('-').collect();
            if let [s, i, t] = parts[..]
                && let (Ok(session), Ok(id), Ok(timecode)) = (s.parse(), i.parse(), t.parse())
            {
                let len = entry.metadata().map_err(io_err(&path))?.len();
                frags.push(Entry {
                    id,
                    session,
                    timecode,
                    len,
                    complete: true,
                    completed_at: None,
                    body: Body::Disk { path, file: None },
                });
            }
        }
    }
    frags.sort_by_key(|e| (e.session, e.id));
    frags.retain(|e| inner.headers.contains_key(&e.session));
    for e in frags {
        inner.next_id = inner.next_id.max(e.id + 1);
        inner.bytes += e.len;
        inner.fragments.push_back(e);
    }
    if !inner.fragments.is_empty() {
        tracing::info!(
            fragments = inner.fragments.len(),
            bytes = inner.bytes,
            "resuming unacknowledged fragments from the disk store"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_specs() {
        assert_eq!(
            "memory:128MB".parse::<Storage>(),
            Ok(Storage::Memory {
                max_bytes: 128 << 20
            })
        );
        assert_eq!(
            "disk:/var/kvs:2GB".parse::<Storage>(),
            Ok(Storage::Disk {
                dir: "/var/kvs".into(),
                max_bytes: 2 << 30
            })
        );
        assert!(matches!(
            "disk:/var/kvs".parse::<Storage>(),
            Ok(Storage::Disk { .. })
        ));
        assert!("tape:1".parse::<Storage>().is_err());
        assert!("memory:lots".parse::<Storage>().is_err());
    }

    async fn drain_all(store: &Store) -> Vec<u8> {
        let mut c = Cursor::default();
        let mut out = Vec::new();
        while let Some(b) = store.next_chunk(&mut c).await.unwrap() {
            out.extend_from_slice(&b);
        }
        out
    }

    #[tokio::test]
    async fn sends_headers_and_fragments_and_forgets_persisted_ones() {
        let store = Store::open(&Storage::default(), OverflowPolicy::DropOldest).unwrap();
        store.begin_session(Bytes::from_static(b"H1")).unwrap();
        store
            .start_fragment(10, &[Bytes::from_static(b"a")])
            .unwrap();
        store.append(&[Bytes::from_static(b"b")]).unwrap();
        store
            .start_fragment(20, &[Bytes::from_static(b"c")])
            .unwrap();
        store.close().unwrap();
        assert_eq!(drain_all(&store).await, b"H1abc");
        assert!(store.persisted(20).is_some());
        assert!(store.persisted(20).is_none());
        assert_eq!(drain_all(&store).await, b"H1ab");
        assert!(store.persisted(10).is_some());
        assert!(store.drained());
    }

    #[tokio::test]
    async fn a_memory_store_sends_the_producers_bytes_without_copying_them() {
        let store = Store::open(&Storage::default(), OverflowPolicy::DropOldest).unwrap();
        let header = Bytes::from_static(b"HEADER");
        let big = Bytes::from(vec![7u8; CHUNK as usize + 100]);
        let small = Bytes::from_static(b"tail");
        store.begin_session(header.clone()).unwrap();
        store
            .start_fragment(1, &[Bytes::from_static(b"cluster"), Bytes::new()])
            .unwrap();
        store.append(&[big.clone(), small.clone()]).unwrap();
        store.close().unwrap();
        let mut c = Cursor::default();
        let mut chunks = Vec::new();
        while let Some(b) = store.next_chunk(&mut c).await.unwrap() {
            chunks.push(b);
        }
        let lens: Vec<usize> = chunks.iter().map(Bytes::len).collect();
        assert_eq!(lens, [6, 7, CHUNK as usize, 100, 4]);
        assert_eq!(chunks[0].as_ptr(), header.as_ptr());
        assert_eq!(chunks[2].as_ptr(), big.as_ptr());
        assert_eq!(chunks[3].as_ptr(), big[CHUNK as usize..].as_ptr());
        assert_eq!(chunks[4].as_ptr(), small.as_ptr());
    }

    #[tokio::test]
    async fn a_span_bound_counts_as_full() {
        let store = Store::open(&Storage::default(), OverflowPolicy::DropOldest)
            .unwrap()
            .with_max_span(Some(4_000));
        store.begin_session(Bytes::new()).unwrap();
        for t in (0..=10_000u64).step_by(2_000) {
            store.make_room(4).await;
            store
                .start_fragment(t, &[Bytes::from_static(b"1234")])
                .unwrap();
        }
        // Before each new fragment the held ones span at most 4,000: 0 and 2,000 were dropped
        // to make room for 8,000 and 10,000.
        let (fragments, _) = store.usage();
        assert_eq!(fragments, 4, "fragments at 4,000 to 10,000 are kept");

        let blocking = Store::open(&Storage::default(), OverflowPolicy::Block)
            .unwrap()
            .with_max_span(Some(4_000));
        blocking.begin_session(Bytes::new()).unwrap();
        for t in [0, 2_000, 4_000, 6_000] {
            blocking
                .start_fragment(t, &[Bytes::from_static(b"1234")])
                .unwrap();
        }
        assert_eq!(blocking.try_make_room(4), None, "waits for acks");
        assert!(blocking.persisted(0).is_some());
        assert_eq!(blocking.try_make_room(4), Some(Dropped::default()));

        // The fragment being sent stays, and only what the span needs goes after it.
        let sending = Store::open(&Storage::default(), OverflowPolicy::DropOldest)
            .unwrap()
            .with_max_span(Some(4_000));
        sending.begin_session(Bytes::from_static(b"H")).unwrap();
        for t in [0, 2_000, 4_000, 6_000] {
            sending
                .start_fragment(t, &[Bytes::from_static(b"1234")])
                .unwrap();
        }
        let mut cursor = Cursor::default();
        assert_eq!(
            &sending.next_chunk(&mut cursor).await.unwrap().unwrap()[..],
            b"H"
        );
        assert_eq!(
            &sending.next_chunk(&mut cursor).await.unwrap().unwrap()[..],
            b"1234"
        );
        let dropped = sending.make_room(4).await;
        sending
            .start_fragment(8_000, &[Bytes::from_static(b"1234")])
            .unwrap();
        assert_eq!(
            dropped,
            Dropped::default(),
            "2,000 to 6,000 is within the span"
        );
        let dropped = sending.make_room(4).await;
        assert_eq!(
            dropped,
            Dropped {
                fragments: 1,
                bytes: 4
            },
            "only 2,000 goes; 0 is being sent"
        );
        assert_eq!(sending.usage(), (4, 16));
    }

    #[tokio::test]
    async fn drop_oldest_keeps_within_capacity() {
        let store = Store::open(
            &Storage::Memory { max_bytes: 10 },
            OverflowPolicy::DropOldest,
        )
        .unwrap();
        store.begin_session(Bytes::new()).unwrap();
        for t in 0..3u64 {
            let d = store.make_room(4).await;
            store
                .start_fragment(t, &[Bytes::from_static(b"1234")])
                .unwrap();
            if t == 2 {
                assert_eq!(
                    d,
                    Dropped {
                        fragments: 1,
                        bytes: 4
                    }
                );
            }
        }
        assert_eq!(store.usage(), (2, 8));
    }

    #[tokio::test]
    async fn disk_store_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::Disk {
            dir: dir.path().to_path_buf(),
            max_bytes: 1 << 20,
        };
        {
            let store = Store::open(&storage, OverflowPolicy::Block).unwrap();
            store.begin_session(Bytes::from_static(b"HDR")).unwrap();
            store
                .start_fragment(1, &[Bytes::from_static(b"one")])
                .unwrap();
            store
                .start_fragment(2, &[Bytes::from_static(b"two")])
                .unwrap();
            store
                .start_fragment(3, &[Bytes::from_static(b"thr")])
                .unwrap(); // still open: lost in the "crash"
            assert!(store.persisted(1).is_some());
        }
        let store = Store::open(&storage, OverflowPolicy::Block).unwrap();
        assert_eq!(store.usage(), (1, 3));
        store.close().unwrap();
        assert_eq!(drain_all(&store).await, b"HDRtwo");
        let next = store.begin_session(Bytes::from_static(b"NEW")).unwrap();
        assert_eq!(next, 2);
    }
}
