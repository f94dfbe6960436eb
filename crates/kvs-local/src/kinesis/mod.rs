//! Amazon Kinesis Data Streams (awsJson1.1: `POST /` with
//! `X-Amz-Target: Kinesis_20131202.<Operation>`), the stream Rekognition stream processors write
//! their results to.
//!
//! Streams go ACTIVE at once; records are committed to the database before PutRecord(s)
//! answers, so they survive a restart. Partition keys map to shards by MD5 as on AWS.

mod hashing;
mod model;
mod position;
mod records;
pub(crate) use records::{put_internal, stream_exists};
mod store;
mod streams;

use std::sync::Arc;
use std::time::Duration;

use axum::response::Response;
use http::StatusCode;

use crate::App;
use crate::clock::now_ms;
use crate::error::ApiError;
use crate::protocol::{aws_json_body, aws_json_reply};

/// The `X-Amz-Target` prefix of this service.
pub(crate) const TARGET_PREFIX: &str = "Kinesis_20131202";

/// The largest request body: PutRecords carries up to 5 MiB of data, base64-encoded.
pub(crate) const MAX_REQUEST_BODY: usize = 8 << 20;

/// The operations served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Operation {
    CreateStream,
    DescribeStream,
    DescribeStreamSummary,
    ListStreams,
    ListShards,
    DeleteStream,
    PutRecord,
    PutRecords,
    GetShardIterator,
    GetRecords,
}

impl Operation {
    /// The operation named in an `X-Amz-Target` after the prefix.
    pub(crate) fn from_target(name: &str) -> Option<Self> {
        Some(match name {
            "CreateStream" => Self::CreateStream,
            "DescribeStream" => Self::DescribeStream,
            "DescribeStreamSummary" => Self::DescribeStreamSummary,
            "ListStreams" => Self::ListStreams,
            "ListShards" => Self::ListShards,
            "DeleteStream" => Self::DeleteStream,
            "PutRecord" => Self::PutRecord,
            "PutRecords" => Self::PutRecords,
            "GetShardIterator" => Self::GetShardIterator,
            "GetRecords" => Self::GetRecords,
            _ => return None,
        })
    }

    /// The name requests are counted under (distinct from the KVS operations of the same name).
    pub(crate) fn stats_name(self) -> &'static str {
        match self {
            Self::CreateStream => "Kinesis.CreateStream",
            Self::DescribeStream => "Kinesis.DescribeStream",
            Self::DescribeStreamSummary => "Kinesis.DescribeStreamSummary",
            Self::ListStreams => "Kinesis.ListStreams",
            Self::ListShards => "Kinesis.ListShards",
            Self::DeleteStream => "Kinesis.DeleteStream",
            Self::PutRecord => "Kinesis.PutRecord",
            Self::PutRecords => "Kinesis.PutRecords",
            Self::GetShardIterator => "Kinesis.GetShardIterator",
            Self::GetRecords => "Kinesis.GetRecords",
        }
    }
}

/// Runs one operation on a verified request body.
pub(crate) async fn handle(app: &App, op: Operation, body: &[u8]) -> Result<Response, ApiError> {
    match op {
        Operation::CreateStream => {
            streams::create(app, aws_json_body(body)?).await?;
            Ok(aws_json_reply(&serde_json::json!({})))
        }
        Operation::DescribeStream => Ok(aws_json_reply(
            &streams::describe(app, aws_json_body(body)?).await?,
        )),
        Operation::DescribeStreamSummary => Ok(aws_json_reply(
            &streams::describe_summary(app, aws_json_body(body)?).await?,
        )),
        Operation::ListStreams => Ok(aws_json_reply(
            &streams::list(app, aws_json_body(body)?).await?,
        )),
        Operation::ListShards => Ok(aws_json_reply(
            &streams::list_shards(app, aws_json_body(body)?).await?,
        )),
        Operation::DeleteStream => {
            streams::delete(app, aws_json_body(body)?).await?;
            Ok(aws_json_reply(&serde_json::json!({})))
        }
        Operation::PutRecord => Ok(aws_json_reply(
            &records::put_record(app, aws_json_body(body)?).await?,
        )),
        Operation::PutRecords => Ok(aws_json_reply(
            &records::put_records(app, aws_json_body(body)?).await?,
        )),
        Operation::GetShardIterator => Ok(aws_json_reply(
            &records::get_shard_iterator(app, aws_json_body(body)?).await?,
        )),
        Operation::GetRecords => Ok(aws_json_reply(
            &records::get_records(app, aws_json_body(body)?).await?,
        )),
    }
}

/// Deletes records past their stream's retention, every `every`.
pub(crate) async fn retention_sweep(app: Arc<App>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let now = now_ms();
        match app.db.tx(move |tx| store::expire(tx, now)).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(records = n, "expired Kinesis records deleted"),
            Err(e) => tracing::warn!(error = %e, "Kinesis retention sweep failed"),
        }
    }
}

// Kinesis answers every client error with 400, ResourceNotFoundException included.

fn not_found(message: impl Into<String>) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "ResourceNotFoundException",
        message,
    )
}

fn expired_iterator(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "ExpiredIteratorException", message)
}
