//! Stream operations: CreateStream, DescribeStream(Summary), ListStreams, ListShards,
//! DeleteStream.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::model::{
    CreateStreamInput, DescribeStreamInput, DescribeStreamOutput, DescribeStreamSummaryOutput,
    EnhancedMetrics, HashKeyRange, ListShardsInput, ListShardsOutput, ListStreamsInput,
    ListStreamsOutput, SequenceNumberRange, Shard, StreamDescription, StreamDescriptionSummary,
    StreamModeDetailsOut, StreamRef, StreamSummary,
};
use super::store::{self, NewStream, StreamKey, StreamRow};
use super::{hashing, not_found, now_ms, position};
use crate::App;
use crate::error::ApiError;
use crate::protocol::{PageSize, epoch_seconds, invalid_next_token};

/// The most shards one stream may have here (AWS's default per-account quota).
const MAX_SHARDS: i64 = 500;
/// The shards an ON_DEMAND stream starts with (AWS starts them with 4 MiB/s of write capacity).
const ON_DEMAND_SHARDS: u32 = 4;
/// Records are kept this long (AWS's default).
const RETENTION_HOURS: u32 = 24;
const PROVISIONED: &str = "PROVISIONED";
const ON_DEMAND: &str = "ON_DEMAND";

fn check_name(name: &str) -> Result<(), ApiError> {
    let valid = (1..=128).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if valid {
        Ok(())
    } else {
        Err(ApiError::invalid_argument(format!(
            "StreamName {name:?} must be 1-128 characters of a-z, A-Z, 0-9, '_', '.' and '-'"
        )))
    }
}

pub(super) fn stream_arn(app: &App, name: &str) -> String {
    format!(
        "arn:aws:kinesis:{}:{}:stream/{name}",
        app.config.region, app.config.account_id
    )
}

/// `shardId-000000000003` for shard 3.
pub(super) fn shard_id(index: u32) -> String {
    format!("shardId-{index:012}")
}

/// The index of a shard id (`shardId-000000000003`, or just `3`) in a stream of `count`.
pub(super) fn parse_shard_id(id: &str, stream: &StreamRow) -> Result<u32, ApiError> {
    let digits = id.strip_prefix("shardId-").unwrap_or(id);
    digits
        .parse::<u32>()
        .ok()
        .filter(|&i| i < stream.shard_count && !digits.is_empty())
        .ok_or_else(|| {
            not_found(format!(
                "Shard {id} in stream {} under account {} does not exist",
                stream.name,
                stream.arn.split(':').nth(4).unwrap_or_default()
            ))
        })
}

/// Loads the stream a request names by StreamName or StreamARN.
pub(super) async fn load(app: &App, r: &StreamRef) -> Result<StreamRow, ApiError> {
    let (name, arn) = (r.stream_name.clone(), r.stream_arn.clone());
    if let Some(n) = &name {
        check_name(n)?;
    }
    let account = app.config.account_id.to_string();
    app.db
        .tx(move |tx| {
            let key = match (&arn, &name) {
                (Some(a), _) => StreamKey::Arn(a),
                (None, Some(n)) => StreamKey::Name(n),
                (None, None) => {
                    return Err(ApiError::invalid_argument(
                        "StreamName or StreamARN is required",
                    ));
                }
            };
            store::find_stream(tx, key)?.ok_or_else(|| {
                let what = arn.or(name).unwrap_or_default();
                not_found(format!("Stream {what} under account {account} not found."))
            })
        })
        .await
}

/// Kinesis's lists hold up to 10000 items a page.
const MAX_PAGE: i64 = 10_000;

fn mode(s: &StreamRow) -> StreamModeDetailsOut {
    StreamModeDetailsOut {
        stream_mode: if s.mode == ON_DEMAND {
            ON_DEMAND
        } else {
            PROVISIONED
        },
    }
}

fn no_metrics() -> Vec<EnhancedMetrics> {
    vec![EnhancedMetrics {
        shard_level_metrics: Vec::new(),
    }]
}

fn shard(index: u32, count: u32) -> Shard {
    let (start, end) = hashing::shard_range(index, count);
    Shard {
        shard_id: shard_id(index),
        hash_key_range: HashKeyRange {
            starting_hash_key: start.to_string(),
            ending_hash_key: end.to_string(),
        },
        sequence_number_range: SequenceNumberRange {
            starting_sequence_number: position::format_sequence(0),
        },
    }
}

/// Up to `limit` shards after `after` (an index), and whether more follow.
fn shards_page(s: &StreamRow, after: Option<u32>, limit: usize) -> (Vec<Shard>, bool) {
    let first = after.map_or(0, |a| a.saturating_add(1));
    let shards: Vec<Shard> = (first..s.shard_count)
        .take(limit)
        .map(|i| shard(i, s.shard_count))
        .collect();
    let last = first.saturating_add(shards.len() as u32);
    (shards, last < s.shard_count)
}

pub(super) async fn create(app: &App, input: CreateStreamInput) -> Result<(), ApiError> {
    let name = input
        .stream_name
        .ok_or_else(|| ApiError::invalid_argument("StreamName is required"))?;
    check_name(&name)?;
    let mode = input
        .stream_mode_details
        .map_or(PROVISIONED.to_owned(), |m| m.stream_mode);
    let shard_count = match (mode.as_str(), input.shard_count) {
        (ON_DEMAND, _) => ON_DEMAND_SHARDS,
        (PROVISIONED, None) => 1,
        (PROVISIONED, Some(n @ 1..=MAX_SHARDS)) => n as u32,
        (PROVISIONED, Some(n)) => {
            return Err(ApiError::invalid_argument(format!(
                "ShardCount {n} must be between 1 and {MAX_SHARDS}"
            )));
        }
        (other, _) => {
            return Err(ApiError::invalid_argument(format!(
                "StreamMode {other:?} must be PROVISIONED or ON_DEMAND"
            )));
        }
    };
    let arn = stream_arn(app, &name);
    let account = app.config.account_id.to_string();
    app.db
        .tx(move |tx| {
            let new = NewStream {
                name: &name,
                arn: &arn,
                mode: &mode,
                shard_count,
                retention_hours: RETENTION_HOURS,
                now_ms: now_ms(),
            };
            match store::insert_stream(tx, &new)? {
                Some(_) => Ok(()),
                None => Err(ApiError::in_use(format!(
                    "Stream {name} under account {account} already exists."
                ))),
            }
        })
        .await
}

pub(super) async fn describe(
    app: &App,
    input: DescribeStreamInput,
) -> Result<DescribeStreamOutput, ApiError> {
    let s = load(app, &input.stream).await?;
    let limit = PageSize::max_results(MAX_PAGE)
        .member("Limit")
        .or(100)
        .of(input.limit)?;
    let after = input
        .exclusive_start_shard_id
        .as_deref()
        .map(|id| parse_shard_id(id, &s))
        .transpose()?;
    let (shards, has_more_shards) = shards_page(&s, after, limit);
    Ok(DescribeStreamOutput {
        stream_description: StreamDescription {
            stream_mode_details: mode(&s),
            shards,
            has_more_shards,
            retention_period_hours: s.retention_hours,
            stream_creation_timestamp: epoch_seconds(s.creation_time_ms),
            enhanced_monitoring: no_metrics(),
            encryption_type: "NONE",
            stream_name: s.name,
            stream_arn: s.arn,
            stream_status: s.status,
        },
    })
}

pub(super) async fn describe_summary(
    app: &App,
    input: StreamRef,
) -> Result<DescribeStreamSummaryOutput, ApiError> {
    let s = load(app, &input).await?;
    Ok(DescribeStreamSummaryOutput {
        stream_description_summary: StreamDescriptionSummary {
            stream_mode_details: mode(&s),
            retention_period_hours: s.retention_hours,
            stream_creation_timestamp: epoch_seconds(s.creation_time_ms),
            enhanced_monitoring: no_metrics(),
            encryption_type: "NONE",
            open_shard_count: s.shard_count,
            consumer_count: 0,
            stream_name: s.name,
            stream_arn: s.arn,
            stream_status: s.status,
        },
    })
}

fn page_token(parts: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("kl1:{parts}"))
}

fn parse_page_token(token: &str) -> Result<String, ApiError> {
    URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.strip_prefix("kl1:").map(str::to_owned))
        .ok_or_else(|| invalid_next_token(token))
}

pub(super) async fn list(
    app: &App,
    input: ListStreamsInput,
) -> Result<ListStreamsOutput, ApiError> {
    let limit = PageSize::max_results(MAX_PAGE)
        .member("Limit")
        .or(100)
        .of(input.limit)?;
    let after = match (&input.next_token, input.exclusive_start_stream_name) {
        (Some(t), _) => parse_page_token(t)?,
        (None, Some(name)) => name,
        (None, None) => String::new(),
    };
    let mut rows = app
        .db
        .tx(move |tx| store::list_streams(tx, &after, limit + 1))
        .await?;
    let has_more_streams = rows.len() > limit;
    rows.truncate(limit);
    let next_token = match rows.last() {
        Some(last) if has_more_streams => Some(page_token(&last.name)),
        _ => None,
    };
    Ok(ListStreamsOutput {
        stream_names: rows.iter().map(|s| s.name.clone()).collect(),
        has_more_streams,
        next_token,
        stream_summaries: rows
            .into_iter()
            .map(|s| StreamSummary {
                stream_mode_details: mode(&s),
                stream_creation_timestamp: epoch_seconds(s.creation_time_ms),
                stream_name: s.name,
                stream_arn: s.arn,
                stream_status: s.status,
            })
            .collect(),
    })
}

pub(super) async fn list_shards(
    app: &App,
    input: ListShardsInput,
) -> Result<ListShardsOutput, ApiError> {
    let limit = PageSize::max_results(MAX_PAGE)
        .or(1000)
        .of(input.max_results)?;
    // A NextToken names the stream itself: `<stream id>:<last shard index>`.
    let (stream, after) = match &input.next_token {
        Some(t) => {
            let bad = || invalid_next_token(t);
            let parts = parse_page_token(t)?;
            let (id, last) = parts.split_once(':').ok_or_else(bad)?;
            let id: i64 = id.parse().map_err(|_| bad())?;
            let last: u32 = last.parse().map_err(|_| bad())?;
            let stream = app
                .db
                .tx(move |tx| store::find_stream(tx, StreamKey::Id(id)))
                .await?
                .ok_or_else(|| not_found("The stream of this NextToken no longer exists."))?;
            (stream, Some(last))
        }
        None => {
            let stream = load(app, &input.stream).await?;
            let after = input
                .exclusive_start_shard_id
                .as_deref()
                .map(|id| parse_shard_id(id, &stream))
                .transpose()?;
            (stream, after)
        }
    };
    let (shards, more) = shards_page(&stream, after, limit);
    let last = after.map_or(0, |a| a + 1) + shards.len() as u32;
    Ok(ListShardsOutput {
        next_token: more.then(|| page_token(&format!("{}:{}", stream.id, last - 1))),
        shards,
    })
}

pub(super) async fn delete(app: &App, input: StreamRef) -> Result<(), ApiError> {
    let s = load(app, &input).await?;
    app.db.tx(move |tx| store::delete_stream(tx, s.id)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(count: u32) -> StreamRow {
        StreamRow {
            id: 1,
            name: "s".into(),
            arn: "arn:aws:kinesis:us-east-1:123456789012:stream/s".into(),
            status: "ACTIVE".into(),
            mode: PROVISIONED.into(),
            shard_count: count,
            retention_hours: 24,
            creation_time_ms: 0,
            last_seq: 0,
        }
    }

    #[test]
    fn shard_ids_round_trip_and_are_checked_against_the_stream() {
        let s = stream(3);
        assert_eq!(shard_id(2), "shardId-000000000002");
        assert_eq!(parse_shard_id("shardId-000000000002", &s), Ok(2));
        assert_eq!(parse_shard_id("1", &s), Ok(1));
        for bad in ["shardId-000000000003", "shardId-", "x", "-1", ""] {
            let e = parse_shard_id(bad, &s).unwrap_err();
            assert_eq!(e.code(), "ResourceNotFoundException", "{bad}");
        }
    }

    #[test]
    fn shard_pages_say_whether_more_follow() {
        let s = stream(5);
        let (page, more) = shards_page(&s, None, 2);
        assert_eq!(page.len(), 2);
        assert!(more);
        let (page, more) = shards_page(&s, Some(2), 10);
        assert_eq!(
            page.iter().map(|p| p.shard_id.as_str()).collect::<Vec<_>>(),
            ["shardId-000000000003", "shardId-000000000004"]
        );
        assert!(!more);
        assert!(shards_page(&s, Some(4), 10).0.is_empty());
    }

    #[test]
    fn stream_names_follow_the_kinesis_pattern() {
        assert!(check_name("a.b_c-1").is_ok());
        assert!(check_name("").is_err());
        assert!(check_name("a/b").is_err());
        assert!(check_name(&"a".repeat(129)).is_err());
    }
}
