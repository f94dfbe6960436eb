//! Signaling channels: CreateSignalingChannel, DescribeSignalingChannel,
//! ListSignalingChannels, DeleteSignalingChannel.

use kvs_types::{Arn, ChannelName, ChannelType, ResourceKind};
use serde::Deserialize;
use serde_json::{Value, json};

use super::common::{NameCondition, NamePage, TagItem, checked_tag_list, new_version};
use crate::App;
use crate::clock::now_ms;
use crate::db::{self, ChannelRecord};
use crate::error::ApiError;
use crate::protocol::epoch_seconds;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SingleMasterConfiguration {
    message_ttl_seconds: Option<i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct CreateChannelInput {
    channel_name: Option<String>,
    channel_type: Option<String>,
    single_master_configuration: Option<SingleMasterConfiguration>,
    #[serde(default)]
    tags: Vec<TagItem>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ChannelSelector {
    channel_name: Option<String>,
    #[serde(rename = "ChannelARN")]
    channel_arn: Option<String>,
}

impl ChannelSelector {
    pub(crate) fn by_arn(arn: impl Into<String>) -> Self {
        Self {
            channel_name: None,
            channel_arn: Some(arn.into()),
        }
    }

    pub(crate) async fn load(&self, app: &App) -> Result<ChannelRecord, ApiError> {
        match (&self.channel_name, &self.channel_arn) {
            (None, None) => {
                return Err(ApiError::invalid_argument(
                    "ChannelName or ChannelARN is required",
                ));
            }
            (Some(n), None) => {
                ChannelName::new(n.as_str())?;
            }
            (_, Some(a)) => match Arn::parse(a) {
                Ok(arn) if arn.kind() == ResourceKind::Channel => {}
                _ => {
                    return Err(ApiError::invalid_argument(format!(
                        "ChannelARN {a:?} is not a Kinesis Video signaling channel ARN"
                    )));
                }
            },
        }
        let (name, arn) = (self.channel_name.clone(), self.channel_arn.clone());
        let what = arn.clone().or_else(|| name.clone()).unwrap_or_default();
        app.db
            .tx(move |tx| db::find_channel(tx, name.as_deref(), arn.as_deref()))
            .await?
            .ok_or_else(|| {
                ApiError::not_found(format!("The requested channel {what} was not found."))
            })
    }
}

fn channel_info(c: &ChannelRecord) -> Value {
    json!({
        "ChannelName": c.name,
        "ChannelARN": c.arn,
        "ChannelType": c.channel_type,
        "ChannelStatus": c.status,
        "CreationTime": epoch_seconds(c.creation_time_ms),
        "SingleMasterConfiguration": { "MessageTtlSeconds": c.message_ttl_seconds },
        "Version": c.version,
    })
}

pub(super) async fn create_channel(
    app: &App,
    input: CreateChannelInput,
) -> Result<Value, ApiError> {
    let name = ChannelName::new(
        input
            .channel_name
            .ok_or_else(|| ApiError::invalid_argument("ChannelName is required"))?,
    )?;
    let channel_type = match input.channel_type.as_deref() {
        None => ChannelType::SingleMaster,
        Some(t) => t
            .parse::<ChannelType>()
            .ok()
            .filter(|p| p.as_str() == t)
            .ok_or_else(|| {
                ApiError::invalid_argument(format!(
                    "ChannelType {t:?} must be SINGLE_MASTER or FULL_MESH"
                ))
            })?,
    };
    let ttl = input
        .single_master_configuration
        .and_then(|c| c.message_ttl_seconds)
        .unwrap_or(60);
    if !(5..=120).contains(&ttl) {
        return Err(ApiError::invalid_argument(format!(
            "MessageTtlSeconds {ttl} must be between 5 and 120"
        )));
    }
    let tags = checked_tag_list(input.tags)?;
    let created = now_ms();
    let arn = app.arn(ResourceKind::Channel, name.as_str(), created)?;
    let record = ChannelRecord {
        name: name.to_string(),
        arn: arn.to_string(),
        channel_type: channel_type.as_str().into(),
        message_ttl_seconds: ttl as u32,
        version: new_version(),
        status: "ACTIVE".into(),
        creation_time_ms: created,
    };
    let arn_out = record.arn.clone();
    app.db
        .tx(move |tx| {
            if db::find_channel(tx, Some(&record.name), None)?.is_some() {
                return Err(ApiError::in_use(format!(
                    "The signaling channel {} already exists.",
                    record.name
                )));
            }
            db::insert_channel(tx, &record)?;
            db::add_tags(tx, &record.arn, &tags)
        })
        .await?;
    Ok(json!({ "ChannelARN": arn_out }))
}

pub(super) async fn describe_channel(app: &App, input: ChannelSelector) -> Result<Value, ApiError> {
    let c = input.load(app).await?;
    Ok(json!({ "ChannelInfo": channel_info(&c) }))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ListChannelsInput {
    max_results: Option<i64>,
    next_token: Option<String>,
    channel_name_condition: Option<NameCondition>,
}

pub(super) async fn list_channels(app: &App, input: ListChannelsInput) -> Result<Value, ApiError> {
    let page = NamePage::new(
        input.max_results,
        input.next_token.as_deref(),
        input.channel_name_condition.as_ref(),
    )?;
    let (rows, next) = page.fetch(app, db::list_channels, |c| &c.name).await?;
    let mut out = json!({ "ChannelInfoList": rows.iter().map(channel_info).collect::<Vec<_>>() });
    if let Some(next) = next {
        out["NextToken"] = json!(next);
    }
    Ok(out)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct DeleteChannelInput {
    #[serde(rename = "ChannelARN")]
    channel_arn: Option<String>,
    current_version: Option<String>,
}

pub(super) async fn delete_channel(
    app: &App,
    input: DeleteChannelInput,
) -> Result<Value, ApiError> {
    let arn = input
        .channel_arn
        .ok_or_else(|| ApiError::invalid_argument("ChannelARN is required"))?;
    let c = ChannelSelector::by_arn(arn).load(app).await?;
    if let Some(v) = &input.current_version
        && *v != c.version
    {
        return Err(ApiError::version_mismatch(format!(
            "CurrentVersion {v} does not match the channel's version {}",
            c.version
        )));
    }
    let arn = c.arn.clone();
    app.db.tx(move |tx| db::delete_channel(tx, &c)).await?;
    app.signaling.channel_deleted(&arn);
    Ok(json!({}))
}
