//! Following a processor's data stream the way `kvs faces watch` does: records as they arrive,
//! records that are not Rekognition's skipped and reported, a checkpoint file kept current so
//! that a restart resumes where the last run stopped, and a deadline or a signal to stop.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::time::Duration;

use kvs_endpoint::KvsConfig;
use tokio::time::Instant;

use crate::reader::{Checkpoint, ReadRecord, RecordReader, StartPosition};
use crate::record::{FaceMatch, RecordError};
use crate::{Error, Result};

type Stop = Pin<Box<dyn Future<Output = ()> + Send>>;

/// What [`Watch::next`] hands out.
#[derive(Debug)]
#[non_exhaustive]
pub enum WatchEvent {
    /// A record: one analysed frame, with or without faces ([`ReadRecord::matches`]).
    Record(ReadRecord),
    /// A record that is not Rekognition's output. The watch has moved past it (and its
    /// checkpoint with it): the next call reads on.
    Skipped(SkippedRecord),
}

/// A record on the data stream that is not a Rekognition output record.
#[derive(Debug, thiserror::Error)]
#[error("record {sequence_number} on shard {shard_id} is not a Rekognition record: {reason}")]
#[non_exhaustive]
pub struct SkippedRecord {
    /// The shard.
    pub shard_id: String,
    /// The record's sequence number.
    pub sequence_number: String,
    /// Why it could not be read.
    #[source]
    pub reason: RecordError,
}

/// What a watch has handed out so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WatchStats {
    /// Records read (skipped ones not included).
    pub records: u64,
    /// Matches in those records.
    pub matches: u64,
    /// Records skipped because they are not Rekognition's output.
    pub skipped: u64,
}

/// Settings of a [`Watch`]; made by [`Watch::builder`].
#[must_use = "a builder does nothing until `open` is called"]
pub struct WatchBuilder {
    data_stream: String,
    from: StartPosition,
    checkpoint_file: Option<PathBuf>,
    stop_after: Option<Duration>,
    stop_when: Option<Stop>,
    poll_interval: Option<(Duration, Duration)>,
}

impl std::fmt::Debug for WatchBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WatchBuilder")
            .field("data_stream", &self.data_stream)
            .field("from", &self.from)
            .field("checkpoint_file", &self.checkpoint_file)
            .field("stop_after", &self.stop_after)
            .field("stop_when", &self.stop_when.is_some())
            .finish_non_exhaustive()
    }
}

impl WatchBuilder {
    /// Where to start when there is no checkpoint file to resume from (default:
    /// [`StartPosition::Latest`], only records written from now on).
    pub fn from(mut self, start: StartPosition) -> Self {
        self.from = start;
        self
    }

    /// Resumes after the positions saved in `path` when it exists (shards it does not name are
    /// read from their oldest record), and keeps it current: once a record is handled (the
    /// next call to [`Watch::next`], or [`Watch::close`]) the file names it. A crash while
    /// handling a record therefore reads that record again after a restart, never loses it.
    pub fn checkpoint_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.checkpoint_file = Some(path.into());
        self
    }

    /// Stops this long after [`open`](Self::open): [`Watch::next`] then returns `None`.
    pub fn stop_after(mut self, duration: Duration) -> Self {
        self.stop_after = Some(duration);
        self
    }

    /// Stops when `signal` completes (e.g. Ctrl-C): [`Watch::next`] then returns `None`.
    pub fn stop_when(mut self, signal: impl Future<Output = ()> + Send + 'static) -> Self {
        self.stop_when = Some(Box::pin(signal));
        self
    }

    /// How often a quiet stream is polled, as [`RecordReader::poll_interval`].
    pub fn poll_interval(mut self, min: Duration, max: Duration) -> Self {
        self.poll_interval = Some((min, max));
        self
    }

    /// Loads the checkpoint file (if any) and opens a reader on every shard of the stream.
    pub async fn open(self, config: &KvsConfig) -> Result<Watch> {
        let saved = match &self.checkpoint_file {
            Some(path) => Checkpoint::load(path)?,
            None => None,
        };
        let start = saved.map_or(self.from, StartPosition::After);
        let mut reader = RecordReader::open(config, &self.data_stream, start).await?;
        if let Some((min, max)) = self.poll_interval {
            reader = reader.poll_interval(min, max);
        }
        Ok(Watch {
            reader,
            checkpoint_file: self.checkpoint_file,
            deadline: self.stop_after.map(|d| Instant::now() + d),
            stop_when: self.stop_when,
            stopped: false,
            unsaved: false,
            stats: WatchStats::default(),
        })
    }
}

/// A resumable follower of a stream processor's Kinesis data stream.
///
/// ```no_run
/// # async fn f(config: &kvs_endpoint::KvsConfig) -> kvs_rekognition::Result<()> {
/// use kvs_rekognition::{Watch, WatchEvent};
///
/// let mut watch = Watch::builder("kvs-ml")
///     .checkpoint_file("kvs-ml.checkpoint")
///     .stop_when(async {
///         let _ = tokio::signal::ctrl_c().await;
///     })
///     .open(config)
///     .await?;
/// while let Some(event) = watch.next().await? {
///     match event {
///         WatchEvent::Record(record) => {
///             for m in record.matches() {
///                 println!("{} {:.1}%", m.who(), m.similarity);
///             }
///         }
///         WatchEvent::Skipped(bad) => eprintln!("skipping: {bad}"),
///         _ => {}
///     }
/// }
/// # Ok(()) }
/// ```
pub struct Watch {
    reader: RecordReader,
    checkpoint_file: Option<PathBuf>,
    deadline: Option<Instant>,
    stop_when: Option<Stop>,
    stopped: bool,
    /// Whether a record was handed out since the checkpoint file was last written.
    unsaved: bool,
    stats: WatchStats,
}

impl std::fmt::Debug for Watch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watch")
            .field("reader", &self.reader)
            .field("checkpoint_file", &self.checkpoint_file)
            .field("deadline", &self.deadline)
            .field("stopped", &self.stopped)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Watch {
    /// Settings for watching `data_stream` (a name or an ARN).
    pub fn builder(data_stream: impl Into<String>) -> WatchBuilder {
        WatchBuilder {
            data_stream: data_stream.into(),
            from: StartPosition::default(),
            checkpoint_file: None,
            stop_after: None,
            stop_when: None,
            poll_interval: None,
        }
    }

    /// The next record, waiting for one to arrive; `None` once the deadline has passed or the
    /// stop signal has fired (and from then on). Saves the checkpoint file first, so that it
    /// names every record handed out before.
    ///
    /// Cancel-safe: dropping the future (e.g. in a `tokio::time::timeout`) loses no record.
    pub async fn next(&mut self) -> Result<Option<WatchEvent>> {
        self.save_checkpoint()?;
        if self.stopped {
            return Ok(None);
        }
        let deadline = self.deadline;
        let until_deadline = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        let stop_when = &mut self.stop_when;
        let signal = async {
            match stop_when.as_mut() {
                Some(s) => s.await,
                None => std::future::pending().await,
            }
        };
        let got = tokio::select! {
            biased;
            () = signal => None,
            () = until_deadline => None,
            got = self.reader.next() => Some(got),
        };
        let Some(got) = got else {
            self.stopped = true;
            self.stop_when = None;
            return Ok(None);
        };
        let event = match got {
            Ok(record) => {
                self.stats.records += 1;
                self.stats.matches += record.matches().len() as u64;
                WatchEvent::Record(record)
            }
            Err(Error::BadRecord {
                shard_id,
                sequence_number,
                source,
            }) => {
                self.stats.skipped += 1;
                WatchEvent::Skipped(SkippedRecord {
                    shard_id,
                    sequence_number,
                    reason: source,
                })
            }
            Err(e) => return Err(e),
        };
        self.unsaved = true;
        Ok(Some(event))
    }

    /// The next record that has at least one match, and its matches; `None` once stopped.
    /// Records without a match are passed over, and records that are not Rekognition's are
    /// skipped with a warning (`tracing`) and counted in [`stats`](Self::stats).
    pub async fn next_matches(&mut self) -> Result<Option<(ReadRecord, Vec<FaceMatch>)>> {
        loop {
            match self.next().await? {
                None => return Ok(None),
                Some(WatchEvent::Record(record)) => {
                    let matches = record.matches();
                    if !matches.is_empty() {
                        return Ok(Some((record, matches)));
                    }
                }
                Some(WatchEvent::Skipped(bad)) => {
                    tracing::warn!(stream = %self.stream(), "skipping a record: {bad}");
                }
            }
        }
    }

    /// Writes the checkpoint file (when there is one and a record was handed out since it
    /// was last written). [`next`](Self::next) and [`close`](Self::close) call it.
    pub fn save_checkpoint(&mut self) -> Result<()> {
        if let (Some(path), true) = (&self.checkpoint_file, self.unsaved) {
            self.reader.checkpoint().save(path)?;
        }
        self.unsaved = false;
        Ok(())
    }

    /// Ends the watch: saves the checkpoint file, so that it names every record handed out,
    /// and returns what was read.
    pub fn close(mut self) -> Result<WatchStats> {
        self.save_checkpoint()?;
        Ok(self.stats)
    }

    /// What has been handed out so far.
    pub fn stats(&self) -> WatchStats {
        self.stats
    }

    /// The positions of every record handed out so far (and of the start checkpoint).
    pub fn checkpoint(&self) -> &Checkpoint {
        self.reader.checkpoint()
    }

    /// The data stream watched.
    pub fn stream(&self) -> &str {
        self.reader.stream()
    }
}
