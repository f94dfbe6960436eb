//! A blocking frame source (a GStreamer pipeline, a file reader, a camera SDK) into a producer:
//! the source runs on its own thread, the PutMedia side on the caller's runtime, joined by a
//! bounded channel (so a slow upload holds the source back instead of queueing without limit).

use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kvs_mkv::Frame;
use tokio::sync::mpsc;

use crate::{Producer, ProducerError};

/// How a source is uploaded: where its timestamps start on the wall clock, and how much of it.
///
/// Build one with [`live`](Self::live) for a source read at real-time pace, or
/// [`ending_now`](Self::ending_now) for a file read faster than that.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct UploadOptions {
    /// Stop after this much media (source time); `None` runs to the end of the source.
    pub duration: Option<Duration>,
    /// The wall-clock time of the source's first frame; its timestamps count from here.
    pub start: SystemTime,
}

impl Default for UploadOptions {
    /// [`live`](Self::live) without a limit.
    fn default() -> Self {
        Self::live(None)
    }
}

impl UploadOptions {
    /// A source read at real-time pace (a camera, or a file played as one would be): its first
    /// frame is now. `duration_limit` stops the upload after that much media.
    pub fn live(duration_limit: Option<Duration>) -> Self {
        Self::starting_at(SystemTime::now(), duration_limit)
    }

    /// A source whose first frame is at `start`; `duration_limit` stops the upload after that
    /// much media.
    pub fn starting_at(start: SystemTime, duration_limit: Option<Duration>) -> Self {
        Self {
            duration: duration_limit,
            start,
        }
    }

    /// A file of `media_length` read faster than real time, placed so that the part uploaded
    /// (all of it, or the first `duration_limit` when that is shorter) ends now.
    ///
    /// Uploaded at its first frame's real time, such a file would end in the future, where
    /// "the last N minutes" (GetClip, HLS, ListFragments) does not find it; ending now puts
    /// all of it in the past.
    pub fn ending_now(media_length: Duration, duration_limit: Option<Duration>) -> Self {
        Self::ending_at(SystemTime::now(), media_length, duration_limit)
    }

    /// As [`ending_now`](Self::ending_now), with the part uploaded ending at `end`.
    pub fn ending_at(
        end: SystemTime,
        media_length: Duration,
        duration_limit: Option<Duration>,
    ) -> Self {
        let uploaded = duration_limit.map_or(media_length, |d| d.min(media_length));
        // Producer timestamps count from the epoch: nothing can start before it.
        let start = end
            .checked_sub(uploaded)
            .map_or(UNIX_EPOCH, |t| t.max(UNIX_EPOCH));
        Self::starting_at(start, duration_limit)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_read_faster_than_real_time_ends_at_the_given_time() {
        let end = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let minute = Duration::from_secs(60);

        let whole = UploadOptions::ending_at(end, minute, None);
        assert_eq!(whole.start, end - minute);
        assert_eq!(whole.duration, None);

        // Only the first 10 s are uploaded: those 10 s end at `end`.
        let part = UploadOptions::ending_at(end, minute, Some(Duration::from_secs(10)));
        assert_eq!(part.start, end - Duration::from_secs(10));
        assert_eq!(part.duration, Some(Duration::from_secs(10)));

        // A limit past the end of the file changes nothing.
        let long = UploadOptions::ending_at(end, minute, Some(10 * minute));
        assert_eq!(long.start, end - minute);

        let early = UploadOptions::ending_at(UNIX_EPOCH, minute, None);
        assert_eq!(early.start, UNIX_EPOCH);
    }

    #[test]
    fn ending_now_and_live_count_from_the_clock() {
        let before = SystemTime::now();
        let file = UploadOptions::ending_now(Duration::from_secs(30), None);
        let live = UploadOptions::live(Some(Duration::from_secs(5)));
        let after = SystemTime::now();
        assert!(file.start >= before - Duration::from_secs(30));
        assert!(file.start <= after - Duration::from_secs(30));
        assert!(live.start >= before && live.start <= after);
        assert_eq!(live.duration, Some(Duration::from_secs(5)));
        assert_eq!(UploadOptions::default().duration, None);
    }
}
