//! Stream processors: create, describe, list, start, stop, delete.
//!
//! A processor is STOPPED after creation; StartStreamProcessor spawns its [`runner`] and
//! marks it RUNNING; StopStreamProcessor cancels the runner and marks it STOPPED. A runner
//! that cannot go on marks its processor FAILED with the reason.
//!
//! [`runner`]: super::runner

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::model::{CreateProcessorInput, PageInput, ProcessorName, StartProcessorInput};
use super::status;
use super::store::{self, ProcessorRow};
use super::{invalid_parameter, max_results, not_found, now_ms, runner};
use crate::App;
use crate::error::ApiError;
use crate::protocol::epoch_seconds;

/// The runners of started processors, by name.
#[derive(Default)]
pub(crate) struct Running(Mutex<HashMap<String, CancellationToken>>);

impl Running {
    fn insert(&self, name: &str, token: CancellationToken) {
        if let Ok(mut m) = self.0.lock()
            && let Some(old) = m.insert(name.to_owned(), token)
        {
            old.cancel();
        }
    }

    fn stop(&self, name: &str) {
        if let Ok(mut m) = self.0.lock()
            && let Some(token) = m.remove(name)
        {
            token.cancel();
        }
    }

    /// Stops every runner (the server is stopping).
    pub(crate) fn stop_all(&self) {
        if let Ok(mut m) = self.0.lock() {
            for (_, token) in m.drain() {
                token.cancel();
            }
        }
    }
}

fn processor_name(name: Option<String>) -> Result<String, ApiError> {
    let name = name.ok_or_else(|| invalid_parameter("Name is required"))?;
    let valid = (1..=128).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if !valid {
        return Err(invalid_parameter(format!(
            "Name {name:?} is not valid: use 1-128 characters of A-Z, a-z, 0-9, '_', '.', '-'"
        )));
    }
    Ok(name)
}

async fn load(app: &App, name: &str) -> Result<ProcessorRow, ApiError> {
    let key = name.to_owned();
    app.db
        .tx(move |tx| store::find_processor(tx, &key))
        .await?
        .ok_or_else(|| not_found(format!("Stream processor {name} does not exist")))
}

fn definition(row: &ProcessorRow) -> Result<CreateProcessorInput, ApiError> {
    serde_json::from_str(&row.definition).map_err(ApiError::internal)
}

fn arn_of<'a>(arn: &'a Option<super::model::ArnRef>, what: &str) -> Result<&'a str, ApiError> {
    arn.as_ref()
        .and_then(|a| a.arn.as_deref())
        .ok_or_else(|| invalid_parameter(format!("{what}.Arn is required")))
}

pub(super) async fn create(app: &App, input: CreateProcessorInput) -> Result<Value, ApiError> {
    let name = processor_name(input.name.clone())?;
    let video = arn_of(
        &input.input.kinesis_video_stream,
        "Input.KinesisVideoStream",
    )?;
    if !video.starts_with("arn:aws:kinesisvideo:") || !video.contains(":stream/") {
        return Err(invalid_parameter(format!(
            "Input.KinesisVideoStream.Arn {video:?} is not a Kinesis video stream ARN"
        )));
    }
    let data = arn_of(
        &input.output.kinesis_data_stream,
        "Output.KinesisDataStream",
    )?;
    if !data.starts_with("arn:aws:kinesis:") || !data.contains(":stream/") {
        return Err(invalid_parameter(format!(
            "Output.KinesisDataStream.Arn {data:?} is not a Kinesis data stream ARN"
        )));
    }
    let search = input
        .settings
        .face_search
        .as_ref()
        .ok_or_else(|| invalid_parameter("Settings.FaceSearch is required"))?;
    if search.collection_id.is_none() {
        return Err(invalid_parameter(
            "Settings.FaceSearch.CollectionId is required",
        ));
    }
    if input.role_arn.is_none() {
        return Err(invalid_parameter("RoleArn is required"));
    }
    let arn = format!(
        "arn:aws:rekognition:{}:{}:streamprocessor/{name}",
        app.config.region, app.config.account_id
    );
    let now = now_ms();
    let row = ProcessorRow {
        name,
        arn: arn.clone(),
        status: status::STOPPED.to_owned(),
        status_message: String::new(),
        definition: serde_json::to_string(&input).map_err(ApiError::internal)?,
        creation_time_ms: now,
        update_time_ms: now,
    };
    app.db
        .tx(move |tx| {
            if store::find_processor(tx, &row.name)?.is_some() {
                return Err(ApiError::new(
                    http::StatusCode::BAD_REQUEST,
                    "ResourceInUseException",
                    format!("Stream processor {} already exists", row.name),
                ));
            }
            store::insert_processor(tx, &row)
        })
        .await?;
    Ok(json!({ "StreamProcessorArn": arn }))
}

pub(super) async fn describe(app: &App, input: ProcessorName) -> Result<Value, ApiError> {
    let name = processor_name(input.name)?;
    let row = load(app, &name).await?;
    let def = definition(&row)?;
    Ok(json!({
        "Name": row.name,
        "StreamProcessorArn": row.arn,
        "Status": row.status,
        "StatusMessage": row.status_message,
        "CreationTimestamp": epoch_seconds(row.creation_time_ms),
        "LastUpdateTimestamp": epoch_seconds(row.update_time_ms),
        "Input": def.input,
        "Output": def.output,
        "RoleArn": def.role_arn,
        "Settings": def.settings,
    }))
}

pub(super) async fn list(app: &App, input: PageInput) -> Result<Value, ApiError> {
    let limit = max_results(10_000).of(input.max_results)?;
    let after = input.next_token.unwrap_or_default();
    let mut rows = app
        .db
        .tx(move |tx| store::list_processors(tx, &after, limit + 1))
        .await?;
    let next = (rows.len() > limit).then(|| {
        rows.truncate(limit);
        rows.last().map(|r| r.name.clone()).unwrap_or_default()
    });
    let list: Vec<Value> = rows
        .iter()
        .map(|r| json!({ "Name": r.name, "Status": r.status }))
        .collect();
    let mut out = json!({ "StreamProcessors": list });
    if let Some(next) = next {
        out["NextToken"] = next.into();
    }
    Ok(out)
}

pub(super) async fn start(app: &Arc<App>, input: StartProcessorInput) -> Result<Value, ApiError> {
    let name = processor_name(input.name)?;
    let row = load(app, &name).await?;
    if row.status == status::RUNNING {
        return Err(ApiError::new(
            http::StatusCode::BAD_REQUEST,
            "ResourceInUseException",
            format!("Stream processor {name} is already running"),
        ));
    }
    launch(app, &row, input.start_selector.unwrap_or_default()).await?;
    Ok(json!({ "SessionId": super::uuid() }))
}

async fn launch(
    app: &Arc<App>,
    row: &ProcessorRow,
    start: super::model::StartSelector,
) -> Result<(), ApiError> {
    let plan = runner::Plan::resolve(app, &definition(row)?, start).await?;
    status::set(app, &row.name, status::RUNNING, "").await?;
    let token = CancellationToken::new();
    app.processors.insert(&row.name, token.clone());
    tokio::spawn(runner::run(app.clone(), row.name.clone(), plan, token));
    Ok(())
}

/// Starts again every processor marked RUNNING (after a restart of the server).
pub(super) async fn resume_all(app: &Arc<App>) -> Result<(), ApiError> {
    let rows = app
        .db
        .tx(|tx| store::list_processors(tx, "", usize::MAX >> 1))
        .await?;
    for row in rows.iter().filter(|r| r.status == status::RUNNING) {
        if let Err(e) = launch(app, row, Default::default()).await {
            status::set(app, &row.name, status::FAILED, &e.to_string()).await?;
        }
    }
    Ok(())
}

pub(super) async fn stop(app: &App, input: ProcessorName) -> Result<Value, ApiError> {
    let name = processor_name(input.name)?;
    let row = load(app, &name).await?;
    if row.status != status::RUNNING {
        return Err(ApiError::new(
            http::StatusCode::BAD_REQUEST,
            "ResourceInUseException",
            format!(
                "Stream processor {name} is not running (it is {})",
                row.status
            ),
        ));
    }
    app.processors.stop(&name);
    status::set(app, &name, status::STOPPED, "").await?;
    Ok(json!({}))
}

pub(super) async fn delete(app: &App, input: ProcessorName) -> Result<Value, ApiError> {
    let name = processor_name(input.name)?;
    load(app, &name).await?;
    app.processors.stop(&name);
    app.db
        .tx(move |tx| store::delete_processor(tx, &name))
        .await?;
    Ok(json!({}))
}
