//! Tags: of a stream (TagStream, UntagStream, ListTagsForStream) and of any resource by ARN
//! (TagResource, UntagResource, ListTagsForResource).

use std::collections::BTreeMap;

use kvs_types::{Arn, ResourceKind};
use serde::Deserialize;
use serde_json::{Value, json};

use super::common::{TagItem, checked_tag_list, checked_tags};
use super::streams::StreamSelector;
use crate::App;
use crate::db;
use crate::error::ApiError;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct TagStreamInput {
    #[serde(flatten)]
    stream: StreamSelector,
    #[serde(default)]
    tags: BTreeMap<String, String>,
}

pub(super) async fn tag_stream(app: &App, input: TagStreamInput) -> Result<Value, ApiError> {
    let tags = checked_tags(&input.tags)?;
    let s = input.stream.load(app).await?;
    app.db.tx(move |tx| db::add_tags(tx, &s.arn, &tags)).await?;
    Ok(json!({}))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct UntagStreamInput {
    #[serde(flatten)]
    stream: StreamSelector,
    #[serde(default)]
    tag_key_list: Vec<String>,
}

pub(super) async fn untag_stream(app: &App, input: UntagStreamInput) -> Result<Value, ApiError> {
    if input.tag_key_list.is_empty() {
        return Err(ApiError::invalid_argument("TagKeyList must not be empty"));
    }
    let s = input.stream.load(app).await?;
    let keys = input.tag_key_list;
    app.db
        .tx(move |tx| db::remove_tags(tx, &s.arn, &keys))
        .await?;
    Ok(json!({}))
}

pub(super) async fn list_tags_for_stream(
    app: &App,
    input: StreamSelector,
) -> Result<Value, ApiError> {
    let s = input.load(app).await?;
    let tags = app.db.tx(move |tx| db::tags_of(tx, &s.arn)).await?;
    Ok(json!({ "Tags": tags }))
}

async fn resource_arn(app: &App, arn: Option<String>) -> Result<String, ApiError> {
    let arn = arn.ok_or_else(|| ApiError::invalid_argument("ResourceARN is required"))?;
    let parsed = Arn::parse(&arn)
        .map_err(|e| ApiError::invalid_argument(format!("ResourceARN {arn:?}: {e}")))?;
    let exists = {
        let arn = arn.clone();
        app.db
            .tx(move |tx| {
                Ok(match parsed.kind() {
                    ResourceKind::Stream => db::find_stream(tx, None, Some(&arn))?.is_some(),
                    ResourceKind::Channel => db::find_channel(tx, None, Some(&arn))?.is_some(),
                })
            })
            .await?
    };
    if !exists {
        return Err(ApiError::not_found(format!(
            "The requested resource {arn} was not found."
        )));
    }
    Ok(arn)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct TagResourceInput {
    #[serde(rename = "ResourceARN")]
    resource_arn: Option<String>,
    #[serde(default)]
    tags: Vec<TagItem>,
}

pub(super) async fn tag_resource(app: &App, input: TagResourceInput) -> Result<Value, ApiError> {
    let tags = checked_tag_list(input.tags)?;
    let arn = resource_arn(app, input.resource_arn).await?;
    app.db.tx(move |tx| db::add_tags(tx, &arn, &tags)).await?;
    Ok(json!({}))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct UntagResourceInput {
    #[serde(rename = "ResourceARN")]
    resource_arn: Option<String>,
    #[serde(default)]
    tag_key_list: Vec<String>,
}

pub(super) async fn untag_resource(
    app: &App,
    input: UntagResourceInput,
) -> Result<Value, ApiError> {
    let arn = resource_arn(app, input.resource_arn).await?;
    let keys = input.tag_key_list;
    app.db
        .tx(move |tx| db::remove_tags(tx, &arn, &keys))
        .await?;
    Ok(json!({}))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ListTagsForResourceInput {
    #[serde(rename = "ResourceARN")]
    resource_arn: Option<String>,
}

pub(super) async fn list_tags_for_resource(
    app: &App,
    input: ListTagsForResourceInput,
) -> Result<Value, ApiError> {
    let arn = resource_arn(app, input.resource_arn).await?;
    let tags = app.db.tx(move |tx| db::tags_of(tx, &arn)).await?;
    Ok(json!({ "Tags": tags }))
}
