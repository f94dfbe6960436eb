//! ListFragments.

use serde::Deserialize;
use serde_json::{Value, json};

use super::request::{FragmentSelector, load_stream, timestamp_column};
use crate::App;
use crate::error::ApiError;
use crate::protocol::{
    PageSize, epoch_ms_ceil, epoch_ms_floor, epoch_seconds, parse_position_token, position_token,
    rest_json_body,
};

/// A NextToken is this prefix and the sequence number of the page's last fragment.
const PAGE_TOKEN: &str = "kvslocalfrag";

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

pub(crate) async fn list_fragments(app: &App, body: &[u8]) -> Result<Value, ApiError> {
    let input: ListFragmentsInput = rest_json_body(body)?;
    let limit = PageSize::max_results(1000)
        .archived_media()
        .of(input.max_results)?;
    let after: u64 = parse_position_token(PAGE_TOKEN, input.next_token.as_deref())?;
    let (column, start_ms, end_ms) = match input.fragment_selector {
        None => ("server_ts_ms", i64::MIN, i64::MAX),
        Some(sel) => {
            let column = timestamp_column(
                "FragmentSelectorType",
                sel.fragment_selector_type.as_deref(),
            )?;
            let range = sel.timestamp_range.ok_or_else(|| {
                ApiError::invalid_argument("FragmentSelector needs TimestampRange")
            })?;
            let (start, end) = range.both()?;
            if start > end {
                return Err(ApiError::invalid_argument(
                    "TimestampRange StartTimestamp is after EndTimestamp",
                ));
            }
            (column, epoch_ms_floor(start), epoch_ms_ceil(end))
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
                "ProducerTimestamp": epoch_seconds(f.producer_ts_ms),
                "ServerTimestamp": epoch_seconds(f.server_ts_ms),
                "FragmentLengthInMilliseconds": f.duration_ms,
            })
        })
        .collect();
    let mut out = json!({ "Fragments": fragments });
    if more && let Some(last) = rows.last() {
        out["NextToken"] = json!(position_token(PAGE_TOKEN, last.seq));
    }
    Ok(out)
}
