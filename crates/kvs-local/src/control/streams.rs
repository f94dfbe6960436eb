//! Streams: CreateStream, DescribeStream, ListStreams, DeleteStream, UpdateDataRetention.

use std::collections::BTreeMap;

use kvs_types::{Arn, DataRetention, ResourceKind, StreamName};
use serde::Deserialize;
use serde_json::{Value, json};

use super::common::{NameCondition, NamePage, checked_tags, new_version};
use crate::App;
use crate::clock::now_ms;
use crate::db::{self, StreamRecord};
use crate::error::ApiError;
use crate::protocol::epoch_seconds;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct CreateStreamInput {
    device_name: Option<String>,
    stream_name: Option<String>,
    media_type: Option<String>,
    kms_key_id: Option<String>,
    data_retention_in_hours: Option<i64>,
    #[serde(default)]
    tags: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct StreamSelector {
    stream_name: Option<String>,
    #[serde(rename = "StreamARN")]
    stream_arn: Option<String>,
}

impl StreamSelector {
    fn validate(&self) -> Result<(), ApiError> {
        match (&self.stream_name, &self.stream_arn) {
            (None, None) => Err(ApiError::invalid_argument(
                "StreamName or StreamARN is required",
            )),
            (Some(n), None) => StreamName::new(n.as_str()).map(drop).map_err(Into::into),
            (_, Some(a)) => match Arn::parse(a) {
                Ok(arn) if arn.kind() == ResourceKind::Stream => Ok(()),
                _ => Err(ApiError::new(
                    http::StatusCode::BAD_REQUEST,
                    "InvalidResourceFormatException",
                    format!("StreamARN {a:?} is not a Kinesis Video stream ARN"),
                )),
            },
        }
    }

    fn describe(&self) -> String {
        self.stream_arn
            .clone()
            .or_else(|| self.stream_name.clone())
            .unwrap_or_default()
    }

    pub(super) async fn load(&self, app: &App) -> Result<StreamRecord, ApiError> {
        self.validate()?;
        let (name, arn) = (self.stream_name.clone(), self.stream_arn.clone());
        let what = self.describe();
        app.db
            .tx(move |tx| db::find_stream(tx, name.as_deref(), arn.as_deref()))
            .await?
            .ok_or_else(|| {
                ApiError::not_found(format!("The requested stream {what} was not found."))
            })
    }
}

fn stream_info(s: &StreamRecord) -> Value {
    let mut v = json!({
        "StreamName": s.name,
        "StreamARN": s.arn,
        "KmsKeyId": s.kms_key_id,
        "Version": s.version,
        "Status": s.status,
        "CreationTime": epoch_seconds(s.creation_time_ms),
        "DataRetentionInHours": s.retention_hours,
    });
    if let Some(d) = &s.device_name {
        v["DeviceName"] = json!(d);
    }
    if let Some(m) = &s.media_type {
        v["MediaType"] = json!(m);
    }
    v
}

fn check_media_type(m: &str) -> Result<(), ApiError> {
    let ok_part = |p: &str| {
        !p.is_empty()
            && p.chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '+'))
    };
    let valid = m.len() <= 128
        && m.split(',').all(|t| match t.split_once('/') {
            Some((a, b)) => ok_part(a) && ok_part(b),
            None => false,
        });
    if valid {
        Ok(())
    } else {
        Err(ApiError::invalid_argument(format!(
            "MediaType {m:?} must be type/subtype (e.g. video/h264), comma-separated"
        )))
    }
}

pub(super) async fn create_stream(app: &App, input: CreateStreamInput) -> Result<Value, ApiError> {
    let name = StreamName::new(
        input
            .stream_name
            .ok_or_else(|| ApiError::invalid_argument("StreamName is required"))?,
    )?;
    let retention = DataRetention::from_hours(input.data_retention_in_hours.unwrap_or(0))?;
    if let Some(m) = &input.media_type {
        check_media_type(m)?;
    }
    if let Some(d) = &input.device_name
        && (d.is_empty() || d.len() > 128)
    {
        return Err(ApiError::invalid_argument(
            "DeviceName must be 1 to 128 characters long",
        ));
    }
    let tags = checked_tags(&input.tags)?;
    let created = now_ms();
    let arn = app.arn(ResourceKind::Stream, name.as_str(), created)?;
    let record = StreamRecord {
        name: name.to_string(),
        arn: arn.to_string(),
        device_name: input.device_name,
        media_type: input.media_type,
        kms_key_id: input.kms_key_id.unwrap_or_else(|| {
            format!(
                "arn:aws:kms:{}:{}:alias/aws/kinesisvideo",
                app.config.region, app.config.account_id
            )
        }),
        version: new_version(),
        status: "ACTIVE".into(),
        creation_time_ms: created,
        retention_hours: retention.hours(),
    };
    let arn_out = record.arn.clone();
    app.db
        .tx(move |tx| {
            if db::find_stream(tx, Some(&record.name), None)?.is_some() {
                return Err(ApiError::in_use(format!(
                    "The stream {} already exists.",
                    record.name
                )));
            }
            db::insert_stream(tx, &record)?;
            db::add_tags(tx, &record.arn, &tags)
        })
        .await?;
    Ok(json!({ "StreamARN": arn_out }))
}

pub(super) async fn describe_stream(app: &App, input: StreamSelector) -> Result<Value, ApiError> {
    let s = input.load(app).await?;
    Ok(json!({ "StreamInfo": stream_info(&s) }))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ListStreamsInput {
    max_results: Option<i64>,
    next_token: Option<String>,
    stream_name_condition: Option<NameCondition>,
}

pub(super) async fn list_streams(app: &App, input: ListStreamsInput) -> Result<Value, ApiError> {
    let page = NamePage::new(
        input.max_results,
        input.next_token.as_deref(),
        input.stream_name_condition.as_ref(),
    )?;
    let (rows, next) = page.fetch(app, db::list_streams, |s| &s.name).await?;
    let mut out = json!({ "StreamInfoList": rows.iter().map(stream_info).collect::<Vec<_>>() });
    if let Some(next) = next {
        out["NextToken"] = json!(next);
    }
    Ok(out)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct DeleteStreamInput {
    #[serde(rename = "StreamARN")]
    stream_arn: Option<String>,
    current_version: Option<String>,
}

pub(super) async fn delete_stream(app: &App, input: DeleteStreamInput) -> Result<Value, ApiError> {
    let arn = input
        .stream_arn
        .ok_or_else(|| ApiError::invalid_argument("StreamARN is required"))?;
    let s = StreamSelector {
        stream_name: None,
        stream_arn: Some(arn),
    }
    .load(app)
    .await?;
    if let Some(v) = &input.current_version
        && *v != s.version
    {
        return Err(ApiError::version_mismatch(format!(
            "CurrentVersion {v} does not match the stream's version {}",
            s.version
        )));
    }
    app.media.delete_stream(&s).await?;
    app.db.tx(move |tx| db::delete_stream(tx, &s)).await?;
    Ok(json!({}))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct UpdateDataRetentionInput {
    #[serde(flatten)]
    stream: StreamSelector,
    current_version: Option<String>,
    operation: Option<String>,
    data_retention_change_in_hours: Option<i64>,
}

pub(super) async fn update_data_retention(
    app: &App,
    input: UpdateDataRetentionInput,
) -> Result<Value, ApiError> {
    let current_version = input
        .current_version
        .ok_or_else(|| ApiError::invalid_argument("CurrentVersion is required"))?;
    let change = input
        .data_retention_change_in_hours
        .ok_or_else(|| ApiError::invalid_argument("DataRetentionChangeInHours is required"))?;
    if change < 1 {
        return Err(ApiError::invalid_argument(
            "DataRetentionChangeInHours must be at least 1",
        ));
    }
    let sign = match input.operation.as_deref() {
        Some("INCREASE_DATA_RETENTION") => 1,
        Some("DECREASE_DATA_RETENTION") => -1,
        other => {
            return Err(ApiError::invalid_argument(format!(
                "Operation {other:?} must be INCREASE_DATA_RETENTION or DECREASE_DATA_RETENTION"
            )));
        }
    };
    let s = input.stream.load(app).await?;
    if current_version != s.version {
        return Err(ApiError::version_mismatch(format!(
            "CurrentVersion {current_version} does not match the stream's version {}",
            s.version
        )));
    }
    let new_hours = DataRetention::from_hours(i64::from(s.retention_hours) + sign * change)?;
    let version = new_version();
    app.db
        .tx(move |tx| db::update_stream_retention(tx, &s.name, new_hours.hours(), &version))
        .await?;
    Ok(json!({}))
}
