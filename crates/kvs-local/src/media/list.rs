//! ListFragments.

use serde::Deserialize;
use serde_json::{Value, json};

use super::get::load_stream;
use crate::App;
use crate::error::ApiError;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TimestampRange {
    start_timestamp: Option<f64>,
    end_timestamp: Option<f64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct FragmentSelector {
    fragment_selector_type: Option<String>,
    timestamp_range: Option<TimestampRange>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListFragmentsInput {
    stream_name: Option<String>,
    #[serde(rename = "StreamARN")]
    stream_arn: Option<String>,
    max_results: Option<i64>,
    next_token: Option<String>,
    fragment_selector: Option<FragmentSelector>,
}

fn seconds(v: f64) -> Option<f64> {
    Some(v).filter(|v| v.is_finite())
}

pub(crate) async fn list_fragments(app: &App, body: &[u8]) -> Result<Value, ApiError> {
    let input: ListFragmentsInput =
        serde_json::from_slice(if body.is_empty() { b"{}" } else { body })
            .map_err(|e| ApiError::invalid_argument(format!("malformed request body: {e}")))?;
    let limit = match input.max_results {
        None => 1000,
        Some(n) if (1..=1000).contains(&n) => n as usize,
        Some(n) => {
            return Err(ApiError::invalid_argument(format!(
                "MaxResults {n} must be 1 to 1000"
            )));
        }
    };
    let after = match input.next_token.as_deref() {
        None => 0,
        Some(t) => t
            .strip_prefix("kvslocalfrag")
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or_else(|| ApiError::invalid_argument(format!("NextToken {t:?} is not valid")))?,
    };
    let (column, start_ms, end_ms) = match input.fragment_selector {
        None => ("server_ts_ms", i64::MIN, i64::MAX),
        Some(sel) => {
            let column = super::timestamp_column(
                "FragmentSelectorType",
                sel.fragment_selector_type.as_deref(),
            )?;
            let range = sel.timestamp_range.ok_or_else(|| {
                ApiError::invalid_argument("FragmentSelector needs TimestampRange")
            })?;
            let (Some(start), Some(end)) = (
                range.start_timestamp.and_then(seconds),
                range.end_timestamp.and_then(seconds),
            ) else {
                return Err(ApiError::invalid_argument(
                    "TimestampRange needs StartTimestamp and EndTimestamp",
                ));
            };
            if start > end {
                return Err(ApiError::invalid_argument(
                    "TimestampRange StartTimestamp is after EndTimestamp",
                ));
            }
            (
                column,
                (start * 1000.0).floor() as i64,
                (end * 1000.0).ceil() as i64,
            )
        }
    };
    let stream = load_stream(app, input.stream_name, input.stream_arn).await?;
    let mut rows = app
        .media
        .fragments_in_range(&stream.arn, column, start_ms, end_ms, after, limit + 1)
        .await?;
    let more = rows.len() > limit;
    rows.truncate(limit);
    let fragments: Vec<Value> = rows
        .iter()
        .map(|f| {
            json!({
                "FragmentNumber": f.number(),
                "FragmentSizeInBytes": f.size,
                "ProducerTimestamp": f.producer_ts_ms as f64 / 1000.0,
                "ServerTimestamp": f.server_ts_ms as f64 / 1000.0,
                "FragmentLengthInMilliseconds": f.duration_ms,
            })
        })
        .collect();
    let mut out = json!({ "Fragments": fragments });
    if more && let Some(last) = rows.last() {
        out["NextToken"] = json!(format!("kvslocalfrag{}", last.seq));
    }
    Ok(out)
}
