//! Reading a processor's records from every shard of its Kinesis data stream.

use std::collections::{BTreeMap, VecDeque};
use std::path::Path;
use std::time::{Duration, SystemTime};

use aws_sdk_kinesis::types::ShardIteratorType;
use kvs_endpoint::{KvsConfig, ServiceError};
use serde::{Deserialize, Serialize};

use crate::error::{Subject, service};
use crate::record::{FaceMatch, OutputRecord, parse_record};
use crate::{Error, Result};

/// The most records asked for per GetRecords call (the service's maximum).
const MAX_RECORDS: i32 = 10_000;

/// Where each shard is read from, per shard id: after this sequence number. Serialises as a
/// JSON object, so it can be saved and read back to resume.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Checkpoint(BTreeMap<String, String>);

impl Checkpoint {
    /// The last sequence number handed out from `shard_id`.
    pub fn get(&self, shard_id: &str) -> Option<&str> {
        self.0.get(shard_id).map(String::as_str)
    }

    /// Records that `sequence_number` of `shard_id` has been handled.
    pub fn set(&mut self, shard_id: impl Into<String>, sequence_number: impl Into<String>) {
        self.0.insert(shard_id.into(), sequence_number.into());
    }

    /// Whether no shard has a position yet.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Reads a checkpoint saved with [`Checkpoint::save`]; `None` when the file does not exist.
    pub fn load(path: &Path) -> Result<Option<Self>> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(Error::Io {
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| Error::Io {
                path: path.to_path_buf(),
                source: std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("not a checkpoint ({e}); delete it to start over"),
                ),
            })
    }

    /// Writes the checkpoint to `path`, replacing it whole (a crash never leaves half a file).
    pub fn save(&self, path: &Path) -> Result<()> {
        let io = |source| Error::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".partial");
        let text = serde_json::to_string_pretty(self).map_err(|e| io(std::io::Error::other(e)))?;
        std::fs::write(&tmp, text).map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)
    }
}

/// Where a new reader starts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum StartPosition {
    /// The oldest record each shard still holds.
    TrimHorizon,
    /// Only records written from now on.
    #[default]
    Latest,
    /// After the positions of a checkpoint; shards it does not name from their oldest record.
    After(Checkpoint),
}

/// One record read from the data stream.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadRecord {
    /// The shard it came from.
    pub shard_id: String,
    /// Its sequence number in that shard.
    pub sequence_number: String,
    /// Its partition key.
    pub partition_key: String,
    /// When Kinesis received it.
    pub arrival: Option<SystemTime>,
    /// The record's data, parsed.
    pub record: OutputRecord,
}

impl ReadRecord {
    /// Every match in the record, flattened.
    pub fn matches(&self) -> Vec<FaceMatch> {
        self.record.matches()
    }
}

struct Raw {
    shard_id: String,
    sequence_number: String,
    partition_key: String,
    arrival: Option<SystemTime>,
    data: Vec<u8>,
}

struct ShardCursor {
    id: String,
    iterator: Option<String>,
    /// The last sequence number fetched (not necessarily handed out yet).
    fetched: Option<String>,
}

/// Reads Rekognition output records from every shard of a Kinesis data stream, polling
/// GetRecords and backing off while the stream is quiet.
///
/// [`RecordReader::next`] is cancel-safe: dropping it (e.g. in a `tokio::time::timeout`)
/// loses no record.
pub struct RecordReader {
    client: aws_sdk_kinesis::Client,
    stream: String,
    start: StartPosition,
    shards: Vec<ShardCursor>,
    buffer: VecDeque<Raw>,
    checkpoint: Checkpoint,
    min_poll: Duration,
    max_poll: Duration,
    idle: Duration,
}

impl std::fmt::Debug for RecordReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordReader")
            .field("stream", &self.stream)
            .field("shards", &self.shards.len())
            .field("checkpoint", &self.checkpoint)
            .finish_non_exhaustive()
    }
}

fn is_code(e: &ServiceError, codes: &[&str]) -> bool {
    e.code().is_some_and(|c| codes.contains(&c))
}

impl RecordReader {
    /// A reader of `data_stream` (a name or an ARN) from `start`, on every shard.
    pub async fn open(config: &KvsConfig, data_stream: &str, start: StartPosition) -> Result<Self> {
        let mut reader = Self {
            client: aws_sdk_kinesis::Client::new(config.sdk_config()),
            stream: data_stream.to_owned(),
            checkpoint: match &start {
                StartPosition::After(c) => c.clone(),
                _ => Checkpoint::default(),
            },
            start,
            shards: Vec::new(),
            buffer: VecDeque::new(),
            min_poll: Duration::from_millis(200),
            max_poll: Duration::from_secs(2),
            idle: Duration::from_millis(200),
        };
        reader.discover_shards(false).await?;
        Ok(reader)
    }

    /// How long to wait between polls of a quiet stream: `min` at first, doubling to `max`.
    /// The defaults (200 ms to 2 s) stay within the 5 GetRecords calls per second per shard
    /// Kinesis allows.
    pub fn poll_interval(mut self, min: Duration, max: Duration) -> Self {
        self.min_poll = min;
        self.max_poll = max.max(min);
        self.idle = min;
        self
    }

    /// The positions of every record handed out so far (and of the start checkpoint).
    pub fn checkpoint(&self) -> &Checkpoint {
        &self.checkpoint
    }

    /// The data stream read, as given to [`RecordReader::open`] (a name or an ARN).
    pub fn stream(&self) -> &str {
        &self.stream
    }

    /// The next record, waiting for one to arrive. A record that is not Rekognition's output
    /// is [`Error::BadRecord`]; the reader has moved past it and can go on.
    pub async fn next(&mut self) -> Result<ReadRecord> {
        loop {
            if let Some(raw) = self.buffer.pop_front() {
                self.checkpoint
                    .set(raw.shard_id.clone(), raw.sequence_number.clone());
                return match parse_record(&raw.data) {
                    Ok(record) => Ok(ReadRecord {
                        shard_id: raw.shard_id,
                        sequence_number: raw.sequence_number,
                        partition_key: raw.partition_key,
                        arrival: raw.arrival,
                        record,
                    }),
                    Err(source) => Err(Error::BadRecord {
                        shard_id: raw.shard_id,
                        sequence_number: raw.sequence_number,
                        source,
                    }),
                };
            }
            if self.poll_all().await? {
                self.idle = self.min_poll;
            } else {
                tokio::time::sleep(self.idle).await;
                self.idle = (self.idle * 2).min(self.max_poll);
            }
        }
    }

    /// The next record that has at least one match, and its matches.
    pub async fn next_matches(&mut self) -> Result<(ReadRecord, Vec<FaceMatch>)> {
        loop {
            let record = self.next().await?;
            let matches = record.matches();
            if !matches.is_empty() {
                return Ok((record, matches));
            }
        }
    }

    fn with_stream<B>(
        &self,
        builder: B,
        by_name: fn(B, String) -> B,
        by_arn: fn(B, String) -> B,
    ) -> B {
        if self.stream.starts_with("arn:") {
            by_arn(builder, self.stream.clone())
        } else {
            by_name(builder, self.stream.clone())
        }
    }

    /// Lists the shards and opens an iterator on each one not read yet; shards that appear
    /// later (children of a split or merge) are read from their oldest record.
    async fn discover_shards(&mut self, later: bool) -> Result<()> {
        let mut token: Option<String> = None;
        let mut ids = Vec::new();
        loop {
            let mut req = self.client.list_shards();
            req = match token.take() {
                Some(t) => req.next_token(t),
                None => self.with_stream(req, |r, s| r.stream_name(s), |r, s| r.stream_arn(s)),
            };
            let page = req
                .send()
                .await
                .map_err(service("ListShards", Subject::DataStream(&self.stream)))?;
            ids.extend(page.shards().iter().map(|s| s.shard_id().to_owned()));
            match page.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_owned()),
                _ => break,
            }
        }
        for id in ids {
            if self.shards.iter().any(|s| s.id == id) {
                continue;
            }
            let iterator = self.iterator(&id, None, later).await?;
            self.shards.push(ShardCursor {
                id,
                iterator: Some(iterator),
                fetched: None,
            });
        }
        Ok(())
    }

    /// A shard iterator after `fetched`, else where the reader was asked to start (the oldest
    /// record when `from_oldest`).
    async fn iterator(
        &self,
        shard_id: &str,
        fetched: Option<&str>,
        from_oldest: bool,
    ) -> Result<String> {
        let after = fetched.or_else(|| self.checkpoint.get(shard_id));
        let mut req = self.with_stream(
            self.client.get_shard_iterator().shard_id(shard_id),
            |r, s| r.stream_name(s),
            |r, s| r.stream_arn(s),
        );
        req = match (after, &self.start) {
            (None, _) if from_oldest => req.shard_iterator_type(ShardIteratorType::TrimHorizon),
            (Some(seq), _) => req
                .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
                .starting_sequence_number(seq),
            (None, StartPosition::Latest) => req.shard_iterator_type(ShardIteratorType::Latest),
            (None, StartPosition::TrimHorizon | StartPosition::After(_)) => {
                req.shard_iterator_type(ShardIteratorType::TrimHorizon)
            }
        };
        let out = req.send().await.map_err(service(
            "GetShardIterator",
            Subject::DataStream(&self.stream),
        ))?;
        out.shard_iterator()
            .map(str::to_owned)
            .ok_or_else(|| Error::Service {
                operation: "GetShardIterator",
                source: ServiceError::new(
                    kvs_endpoint::ErrorKind::Other,
                    None,
                    format!("no iterator for shard {shard_id}"),
                ),
            })
    }

    /// One GetRecords call per open shard; whether any record arrived.
    async fn poll_all(&mut self) -> Result<bool> {
        let mut got = false;
        let mut closed = false;
        for i in 0..self.shards.len() {
            let Some(iterator) = self.shards[i].iterator.clone() else {
                continue;
            };
            let out = match self
                .client
                .get_records()
                .shard_iterator(iterator)
                .limit(MAX_RECORDS)
                .send()
                .await
            {
                Ok(out) => out,
                Err(e) => {
                    let e: ServiceError = e.into();
                    if is_code(&e, &["ExpiredIteratorException"]) {
                        let fetched = self.shards[i].fetched.clone();
                        let id = self.shards[i].id.clone();
                        self.shards[i].iterator =
                            Some(self.iterator(&id, fetched.as_deref(), false).await?);
                        continue;
                    }
                    if is_code(
                        &e,
                        &[
                            "ProvisionedThroughputExceededException",
                            "LimitExceededException",
                            "ThrottlingException",
                        ],
                    ) {
                        tracing::debug!(stream = %self.stream, "GetRecords throttled; backing off");
                        tokio::time::sleep(self.max_poll).await;
                        continue;
                    }
                    return Err(service::<ServiceError>(
                        "GetRecords",
                        Subject::DataStream(&self.stream),
                    )(e));
                }
            };
            let shard = &mut self.shards[i];
            for r in out.records() {
                got = true;
                shard.fetched = Some(r.sequence_number().to_owned());
                self.buffer.push_back(Raw {
                    shard_id: shard.id.clone(),
                    sequence_number: r.sequence_number().to_owned(),
                    partition_key: r.partition_key().unwrap_or_default().to_owned(),
                    arrival: r
                        .approximate_arrival_timestamp()
                        .and_then(|t| SystemTime::try_from(*t).ok()),
                    data: r.data().as_ref().to_vec(),
                });
            }
            shard.iterator = out.next_shard_iterator().map(str::to_owned);
            closed |= shard.iterator.is_none();
        }
        if closed {
            // A closed shard was split or merged: its children hold the newer records.
            self.discover_shards(true).await?;
        }
        Ok(got)
    }
}
