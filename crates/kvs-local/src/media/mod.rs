//! Media: PutMedia ingest, durable fragment storage, GetMedia, GetMediaForFragmentList and
//! ListFragments.
//!
//! Layout (see docs/kvs-local.md): each stream has a directory under `media/` holding
//! append-only segment files; each fragment is one Matroska Cluster appended to the stream's
//! current segment and `fdatasync`ed, then indexed in the `fragments` table. The stream header
//! (EBML, Info, Tracks) a producer sent is stored once per connection in `media_headers`.
//! A fragment is acknowledged PERSISTED only after both are durable.

pub(crate) mod clip;
mod frames;
pub(crate) mod get;
pub(crate) mod images;
pub(crate) mod list;
pub(crate) mod playback;
pub(crate) mod put;
mod request;
pub(crate) mod retention;
mod store;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

pub(crate) use crate::clock::now_ms;
pub(crate) use frames::fragment_media;
pub(crate) use store::{MediaStore, StoredFragment};

/// Fragment numbers are this prefix and a zero-padded server-wide sequence number, so they are
/// decimal strings that increase with arrival, as KVS's do.
const FRAGMENT_NUMBER_PREFIX: &str = "9134385233318";

pub(crate) fn fragment_number(seq: u64) -> String {
    format!("{FRAGMENT_NUMBER_PREFIX}{seq:031}")
}

pub(crate) fn fragment_seq(number: &str) -> Option<u64> {
    let rest = number.strip_prefix(FRAGMENT_NUMBER_PREFIX)?;
    if rest.len() != 31 || !rest.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    rest.parse().ok()
}

/// Why a producer connection is being ended from outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EndReason {
    /// A newer PutMedia connection took the stream.
    Replaced,
    /// The stream was deleted.
    Deleted,
}

/// Why a producer was ended, written by whoever ends it.
type EndSlot = Arc<Mutex<Option<EndReason>>>;

/// The connection currently producing into a stream.
struct Producer {
    id: u64,
    cancel: CancellationToken,
    reason: EndSlot,
}

/// What is live about one stream: new-fragment notifications and its producer connection.
pub(crate) struct LiveStream {
    latest: watch::Sender<u64>,
    producer: Mutex<Option<Producer>>,
}

impl LiveStream {
    fn new() -> Self {
        Self {
            latest: watch::channel(0).0,
            producer: Mutex::new(None),
        }
    }

    /// Notified with the newest persisted sequence number.
    pub(crate) fn subscribe(&self) -> watch::Receiver<u64> {
        self.latest.subscribe()
    }

    /// Whether a PutMedia connection is open.
    pub(crate) fn has_producer(&self) -> bool {
        self.producer.lock().map(|p| p.is_some()).unwrap_or(false)
    }

    fn end_producer(&self, reason: EndReason) {
        if let Ok(mut p) = self.producer.lock()
            && let Some(producer) = p.take()
        {
            if let Ok(mut w) = producer.reason.lock() {
                *w = Some(reason);
            }
            producer.cancel.cancel();
        }
    }
}

/// A producer connection's claim on its stream; releases it when dropped.
pub(crate) struct ProducerClaim {
    live: Arc<LiveStream>,
    id: u64,
    pub(crate) cancelled: CancellationToken,
    reason: EndSlot,
}

impl ProducerClaim {
    pub(crate) fn end_reason(&self) -> Option<EndReason> {
        self.reason.lock().ok().and_then(|r| *r)
    }
}

impl Drop for ProducerClaim {
    fn drop(&mut self) {
        if let Ok(mut p) = self.live.producer.lock()
            && p.as_ref().is_some_and(|producer| producer.id == self.id)
        {
            *p = None;
        }
    }
}

/// Live state of every stream, by ARN.
#[derive(Default)]
pub(crate) struct Live {
    streams: Mutex<HashMap<String, Arc<LiveStream>>>,
    next_connection: AtomicU64,
}

impl Live {
    pub(crate) fn stream(&self, arn: &str) -> Arc<LiveStream> {
        let mut streams = self.streams.lock().unwrap_or_else(|p| p.into_inner());
        streams
            .entry(arn.to_owned())
            .or_insert_with(|| Arc::new(LiveStream::new()))
            .clone()
    }

    /// Makes a new connection the stream's producer; the previous one is ended (newest wins).
    pub(crate) fn claim(&self, arn: &str) -> ProducerClaim {
        let live = self.stream(arn);
        live.end_producer(EndReason::Replaced);
        let id = self.next_connection.fetch_add(1, Ordering::Relaxed);
        let token = CancellationToken::new();
        let reason = Arc::new(Mutex::new(None));
        if let Ok(mut p) = live.producer.lock() {
            *p = Some(Producer {
                id,
                cancel: token.clone(),
                reason: reason.clone(),
            });
        }
        ProducerClaim {
            live,
            id,
            cancelled: token,
            reason,
        }
    }

    pub(crate) fn published(&self, arn: &str, seq: u64) {
        self.stream(arn).latest.send_replace(seq);
    }

    /// Ends every producer connection (the server is stopping).
    pub(crate) fn end_all(&self) {
        let streams: Vec<Arc<LiveStream>> = self
            .streams
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect();
        for live in streams {
            live.end_producer(EndReason::Replaced);
        }
    }

    pub(crate) fn deleted(&self, arn: &str) {
        let live = self
            .streams
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(arn);
        if let Some(live) = live {
            live.end_producer(EndReason::Deleted);
        }
    }
}

/// Epoch seconds with millisecond precision, as KVS writes timestamps in tags.
pub(crate) fn seconds_text(ms: i64) -> String {
    format!("{}.{:03}", ms.div_euclid(1000), ms.rem_euclid(1000))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fragment_numbers_round_trip_and_sort() {
        let a = fragment_number(9);
        let b = fragment_number(10);
        assert_eq!(a.len(), 44);
        assert!(a < b);
        assert_eq!(fragment_seq(&b), Some(10));
        assert_eq!(fragment_seq("123"), None);
        assert_eq!(seconds_text(1_700_000_000_123), "1700000000.123");
    }
}
