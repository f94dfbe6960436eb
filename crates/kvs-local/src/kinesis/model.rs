//! The Kinesis Data Streams wire shapes (awsJson1.1: PascalCase members, blobs as base64,
//! timestamps as epoch seconds). Unknown request members are ignored, as the service does for
//! members newer than this server.

use serde::{Deserialize, Serialize};

// ---- requests ------------------------------------------------------------------------------

/// The members every stream-addressed request has.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct StreamRef {
    pub(crate) stream_name: Option<String>,
    #[serde(rename = "StreamARN")]
    pub(crate) stream_arn: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct StreamModeDetails {
    pub(crate) stream_mode: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct CreateStreamInput {
    pub(crate) stream_name: Option<String>,
    pub(crate) shard_count: Option<i64>,
    pub(crate) stream_mode_details: Option<StreamModeDetails>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct DescribeStreamInput {
    #[serde(flatten)]
    pub(crate) stream: StreamRef,
    pub(crate) limit: Option<i64>,
    pub(crate) exclusive_start_shard_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ListStreamsInput {
    pub(crate) limit: Option<i64>,
    pub(crate) exclusive_start_stream_name: Option<String>,
    pub(crate) next_token: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ListShardsInput {
    #[serde(flatten)]
    pub(crate) stream: StreamRef,
    pub(crate) next_token: Option<String>,
    pub(crate) exclusive_start_shard_id: Option<String>,
    pub(crate) max_results: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct PutRecordInput {
    #[serde(flatten)]
    pub(crate) stream: StreamRef,
    #[serde(flatten)]
    pub(crate) entry: PutRecordsEntry,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct PutRecordsEntry {
    /// Base64, as awsJson sends blobs.
    pub(crate) data: Option<String>,
    pub(crate) partition_key: Option<String>,
    pub(crate) explicit_hash_key: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct PutRecordsInput {
    #[serde(flatten)]
    pub(crate) stream: StreamRef,
    #[serde(default)]
    pub(crate) records: Vec<PutRecordsEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct GetShardIteratorInput {
    #[serde(flatten)]
    pub(crate) stream: StreamRef,
    pub(crate) shard_id: Option<String>,
    pub(crate) shard_iterator_type: Option<String>,
    pub(crate) starting_sequence_number: Option<String>,
    /// Epoch seconds.
    pub(crate) timestamp: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct GetRecordsInput {
    pub(crate) shard_iterator: Option<String>,
    pub(crate) limit: Option<i64>,
}

// ---- responses -----------------------------------------------------------------------------

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct StreamModeDetailsOut {
    pub(crate) stream_mode: &'static str,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct EnhancedMetrics {
    pub(crate) shard_level_metrics: Vec<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct HashKeyRange {
    pub(crate) starting_hash_key: String,
    pub(crate) ending_hash_key: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct SequenceNumberRange {
    pub(crate) starting_sequence_number: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Shard {
    pub(crate) shard_id: String,
    pub(crate) hash_key_range: HashKeyRange,
    pub(crate) sequence_number_range: SequenceNumberRange,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct StreamDescription {
    pub(crate) stream_name: String,
    #[serde(rename = "StreamARN")]
    pub(crate) stream_arn: String,
    pub(crate) stream_status: String,
    pub(crate) stream_mode_details: StreamModeDetailsOut,
    pub(crate) shards: Vec<Shard>,
    pub(crate) has_more_shards: bool,
    pub(crate) retention_period_hours: u32,
    /// Epoch seconds.
    pub(crate) stream_creation_timestamp: f64,
    pub(crate) enhanced_monitoring: Vec<EnhancedMetrics>,
    pub(crate) encryption_type: &'static str,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct DescribeStreamOutput {
    pub(crate) stream_description: StreamDescription,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct StreamDescriptionSummary {
    pub(crate) stream_name: String,
    #[serde(rename = "StreamARN")]
    pub(crate) stream_arn: String,
    pub(crate) stream_status: String,
    pub(crate) stream_mode_details: StreamModeDetailsOut,
    pub(crate) retention_period_hours: u32,
    pub(crate) stream_creation_timestamp: f64,
    pub(crate) enhanced_monitoring: Vec<EnhancedMetrics>,
    pub(crate) encryption_type: &'static str,
    pub(crate) open_shard_count: u32,
    pub(crate) consumer_count: u32,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct DescribeStreamSummaryOutput {
    pub(crate) stream_description_summary: StreamDescriptionSummary,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct StreamSummary {
    pub(crate) stream_name: String,
    #[serde(rename = "StreamARN")]
    pub(crate) stream_arn: String,
    pub(crate) stream_status: String,
    pub(crate) stream_mode_details: StreamModeDetailsOut,
    pub(crate) stream_creation_timestamp: f64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ListStreamsOutput {
    pub(crate) stream_names: Vec<String>,
    pub(crate) has_more_streams: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) next_token: Option<String>,
    pub(crate) stream_summaries: Vec<StreamSummary>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ListShardsOutput {
    pub(crate) shards: Vec<Shard>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) next_token: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct PutRecordOutput {
    pub(crate) shard_id: String,
    pub(crate) sequence_number: String,
    pub(crate) encryption_type: &'static str,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct PutRecordsResultEntry {
    pub(crate) shard_id: String,
    pub(crate) sequence_number: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct PutRecordsOutput {
    pub(crate) failed_record_count: u32,
    pub(crate) records: Vec<PutRecordsResultEntry>,
    pub(crate) encryption_type: &'static str,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct GetShardIteratorOutput {
    pub(crate) shard_iterator: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Record {
    pub(crate) sequence_number: String,
    pub(crate) approximate_arrival_timestamp: f64,
    /// Base64.
    pub(crate) data: String,
    pub(crate) partition_key: String,
    pub(crate) encryption_type: &'static str,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct GetRecordsOutput {
    pub(crate) records: Vec<Record>,
    pub(crate) next_shard_iterator: String,
    pub(crate) millis_behind_latest: i64,
}
