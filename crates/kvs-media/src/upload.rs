//! A blocking frame source (a GStreamer pipeline, a file reader, a camera SDK) into a producer:
//! the source runs on its own thread, the PutMedia side on the caller's runtime, joined by a
//! bounded channel (so a slow upload holds the source back instead of queueing without limit).

use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kvs_mkv::Frame;
use tokio::sync::mpsc;

use crate::{Producer, ProducerError};

/// How a source is uploaded.
#[derive(Debug, Clone, Copy)]
pub struct UploadOptions {
    /// Stop after this much media (source time); `None` runs to the end of the source.
    pub duration: Option<Duration>,
    /// The wall-clock time of the source's first frame; its timestamps count from here.
    pub start: SystemTime,
}

impl Default for UploadOptions {
    fn default() -> Self {
        Self {
            duration: None,
            start: SystemTime::now(),
        }
    }
}

/// What an upload read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UploadSummary {
    /// Frames handed to the producer.
    pub frames: u64,
    /// Media time covered (source time of the last frame).
    pub media: Duration,
    /// Whether it stopped because `stop` fired (rather than the source ending or the duration).
    pub interrupted: bool,
}

/// Why an upload stopped early.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UploadError<E: std::error::Error + 'static> {
    /// The source failed.
    #[error(transparent)]
    Source(E),
    /// The producer refused a frame.
    #[error(transparent)]
    Producer(#[from] ProducerError),
}

/// Reads frames from `next_frame` (blocking; `Ok(None)` at the end; timestamps relative to the
/// source's start) into `producer` until the source ends, `options.duration` of media has been
/// read, or `stop` completes. Does not finish the producer: call `Producer::finish` after to
/// wait for the acknowledgements.
pub async fn upload<E>(
    mut next_frame: impl FnMut() -> Result<Option<Frame>, E> + Send + 'static,
    producer: &Producer,
    options: UploadOptions,
    stop: impl Future<Output = ()>,
) -> Result<UploadSummary, UploadError<E>>
where
    E: std::error::Error + Send + 'static,
{
    let base_ns = options
        .start
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos() as u64;
    let (tx, mut rx) = mpsc::channel::<Result<Frame, E>>(64);
    let reader = tokio::task::spawn_blocking(move || {
        loop {
            let next = next_frame();
            let done = !matches!(next, Ok(Some(_)));
            let item = match next {
                Ok(Some(f)) => Ok(f),
                Ok(None) => break,
                Err(e) => Err(e),
            };
            if tx.blocking_send(item).is_err() || done {
                break;
            }
        }
    });
    let limit_ns = options.duration.map(|d| d.as_nanos() as u64);
    let mut summary = UploadSummary::default();
    tokio::pin!(stop);
    let result = loop {
        let item = tokio::select! {
            () = &mut stop => {
                summary.interrupted = true;
                break Ok(());
            }
            item = rx.recv() => item,
        };
        let frame = match item {
            None => break Ok(()),
            Some(Err(e)) => break Err(UploadError::Source(e)),
            Some(Ok(f)) => f,
        };
        if limit_ns.is_some_and(|l| frame.timestamp_ns >= l) {
            break Ok(());
        }
        summary.media = summary.media.max(Duration::from_nanos(frame.timestamp_ns));
        let absolute = Frame {
            timestamp_ns: base_ns.saturating_add(frame.timestamp_ns),
            ..frame
        };
        if let Err(e) = producer.push(absolute).await {
            break Err(UploadError::Producer(e));
        }
        summary.frames += 1;
    };
    // The reader ends at its next send; a live source may take one frame interval to get there.
    drop(rx);
    let _ = reader.await;
    result.map(|()| summary)
}
