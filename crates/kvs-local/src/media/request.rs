//! What the media APIs' requests share: the stream they name (`StreamName` or `StreamARN`) and
//! the timestamps they select fragments by.

use serde::Deserialize;

use crate::App;
use crate::db::{self, StreamRecord};
use crate::error::ApiError;

/// The stream a request names by `StreamName` or `StreamARN` (one of them).
pub(crate) async fn load_stream(
    app: &App,
    name: Option<String>,
    arn: Option<String>,
) -> Result<StreamRecord, ApiError> {
    match (&name, &arn) {
        (None, None) => {
            return Err(ApiError::invalid_argument(
                "StreamName or StreamARN is required",
            ));
        }
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid_argument(
                "give StreamName or StreamARN, not both",
            ));
        }
        (Some(n), None) => {
            kvs_types::StreamName::new(n.as_str())?;
        }
        (None, Some(_)) => {}
    }
    let what = arn.clone().or_else(|| name.clone()).unwrap_or_default();
    app.db
        .tx(move |tx| db::find_stream(tx, name.as_deref(), arn.as_deref()))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("The requested stream {what} was not found.")))
}

/// The index column a `FragmentSelectorType` / `ImageSelectorType` (`field` names it in the
/// error) selects on.
pub(crate) fn timestamp_column(field: &str, value: Option<&str>) -> Result<&'static str, ApiError> {
    match value {
        Some("PRODUCER_TIMESTAMP") => Ok("producer_ts_ms"),
        Some("SERVER_TIMESTAMP") => Ok("server_ts_ms"),
        other => Err(ApiError::invalid_argument(format!(
            "{field} {other:?} must be PRODUCER_TIMESTAMP or SERVER_TIMESTAMP"
        ))),
    }
}

/// `FragmentSelector`, `ClipFragmentSelector`, `HLSFragmentSelector`, `DASHFragmentSelector`:
/// which timestamps, and a range of them.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct FragmentSelector {
    pub(crate) fragment_selector_type: Option<String>,
    pub(crate) timestamp_range: Option<TimestampRange>,
}

/// `TimestampRange`: epoch seconds.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct TimestampRange {
    start_timestamp: Option<f64>,
    end_timestamp: Option<f64>,
}

impl TimestampRange {
    /// `StartTimestamp`, when it is a finite number.
    pub(crate) fn start(&self) -> Option<f64> {
        self.start_timestamp.filter(|t| t.is_finite())
    }

    /// `EndTimestamp`, when it is a finite number.
    pub(crate) fn end(&self) -> Option<f64> {
        self.end_timestamp.filter(|t| t.is_finite())
    }

    /// Both ends, which ListFragments and GetClip require.
    pub(crate) fn both(&self) -> Result<(f64, f64), ApiError> {
        match (self.start(), self.end()) {
            (Some(start), Some(end)) => Ok((start, end)),
            _ => Err(ApiError::invalid_argument(
                "TimestampRange needs StartTimestamp and EndTimestamp",
            )),
        }
    }
}
