//! The Kinesis Video Streams control plane (restJson1: `POST /createStream`, ...).

use std::collections::BTreeMap;

use axum::Json;
use axum::response::{IntoResponse, Response};
use kvs_types::{
    ApiName, Arn, ChannelName, ChannelProtocol, ChannelRole, ChannelType, DataRetention,
    ResourceKind, StreamName, TagKey, TagValue,
};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::App;
use crate::clock::now_ms;
use crate::db::{self, ChannelRecord, StreamRecord};
use crate::error::ApiError;

/// The control-plane operations, by the path the SDKs post to.
pub(crate) fn operation_for_path(path: &str) -> Option<&'static str> {
    Some(match path {
        "/createStream" => "CreateStream",
        "/describeStream" => "DescribeStream",
        "/listStreams" => "ListStreams",
        "/deleteStream" => "DeleteStream",
        "/updateDataRetention" => "UpdateDataRetention",
        "/tagStream" => "TagStream",
        "/untagStream" => "UntagStream",
        "/listTagsForStream" => "ListTagsForStream",
        "/getDataEndpoint" => "GetDataEndpoint",
        "/createSignalingChannel" => "CreateSignalingChannel",
        "/describeSignalingChannel" => "DescribeSignalingChannel",
        "/listSignalingChannels" => "ListSignalingChannels",
        "/deleteSignalingChannel" => "DeleteSignalingChannel",
        "/getSignalingChannelEndpoint" => "GetSignalingChannelEndpoint",
        "/TagResource" => "TagResource",
        "/UntagResource" => "UntagResource",
        "/ListTagsForResource" => "ListTagsForResource",
        _ => return None,
    })
}

/// Runs one control-plane operation on a verified request body.
pub(crate) async fn handle(app: &App, operation: &str, body: &[u8]) -> Result<Response, ApiError> {
    let out = match operation {
        "CreateStream" => create_stream(app, parse(body)?).await?,
        "DescribeStream" => describe_stream(app, parse(body)?).await?,
        "ListStreams" => list_streams(app, parse(body)?).await?,
        "DeleteStream" => delete_stream(app, parse(body)?).await?,
        "UpdateDataRetention" => update_data_retention(app, parse(body)?).await?,
        "TagStream" => tag_stream(app, parse(body)?).await?,
        "UntagStream" => untag_stream(app, parse(body)?).await?,
        "ListTagsForStream" => list_tags_for_stream(app, parse(body)?).await?,
        "GetDataEndpoint" => get_data_endpoint(app, parse(body)?).await?,
        "CreateSignalingChannel" => create_channel(app, parse(body)?).await?,
        "DescribeSignalingChannel" => describe_channel(app, parse(body)?).await?,
        "ListSignalingChannels" => list_channels(app, parse(body)?).await?,
        "DeleteSignalingChannel" => delete_channel(app, parse(body)?).await?,
        "GetSignalingChannelEndpoint" => get_signaling_endpoint(app, parse(body)?).await?,
        "TagResource" => tag_resource(app, parse(body)?).await?,
        "UntagResource" => untag_resource(app, parse(body)?).await?,
        "ListTagsForResource" => list_tags_for_resource(app, parse(body)?).await?,
        other => {
            return Err(ApiError::invalid_argument(format!(
                "unknown operation {other}"
            )));
        }
    };
    Ok(Json(out).into_response())
}

fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let body = if body.is_empty() {
        b"{}".as_slice()
    } else {
        body
    };
    serde_json::from_slice(body)
        .map_err(|e| ApiError::invalid_argument(format!("malformed request body: {e}")))
}

fn new_version() -> String {
    use rand::Rng;
    use rand::distr::Alphanumeric;
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(20)
        .map(char::from)
        .collect()
}

fn epoch_seconds(ms: i64) -> f64 {
    ms as f64 / 1000.0
}

fn checked_tags(tags: &BTreeMap<String, String>) -> Result<BTreeMap<String, String>, ApiError> {
    if tags.len() > db::MAX_TAGS {
        return Err(ApiError::too_many_tags());
    }
    for (k, v) in tags {
        TagKey::new(k.as_str())?;
        TagValue::new(v.as_str())?;
    }
    Ok(tags.clone())
}

fn page_token(last: &str) -> String {
    format!("kvslocal1{}", hex::encode(last))
}

fn parse_page_token(token: Option<&str>) -> Result<String, ApiError> {
    let Some(token) = token else {
        return Ok(String::new());
    };
    token
        .strip_prefix("kvslocal1")
        .and_then(|h| hex::decode(h).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| ApiError::invalid_argument(format!("NextToken {token:?} is not valid")))
}

fn page_size(max: Option<i64>, cap: i64) -> Result<usize, ApiError> {
    match max {
        None => Ok(cap as usize),
        Some(n) if (1..=cap).contains(&n) => Ok(n as usize),
        Some(n) => Err(ApiError::invalid_argument(format!(
            "MaxResults {n} must be between 1 and {cap}"
        ))),
    }
}

fn name_prefix(condition: Option<&NameCondition>) -> Result<String, ApiError> {
    match condition {
        None => Ok(String::new()),
        Some(c) => {
            if let Some(op) = &c.comparison_operator
                && op != "BEGINS_WITH"
            {
                return Err(ApiError::invalid_argument(format!(
                    "ComparisonOperator {op:?} is not valid; use BEGINS_WITH"
                )));
            }
            Ok(c.comparison_value.clone().unwrap_or_default())
        }
    }
}

// ---- streams -------------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateStreamInput {
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
struct StreamSelector {
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

    async fn load(&self, app: &App) -> Result<StreamRecord, ApiError> {
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

async fn create_stream(app: &App, input: CreateStreamInput) -> Result<Value, ApiError> {
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

async fn describe_stream(app: &App, input: StreamSelector) -> Result<Value, ApiError> {
    let s = input.load(app).await?;
    Ok(json!({ "StreamInfo": stream_info(&s) }))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct NameCondition {
    comparison_operator: Option<String>,
    comparison_value: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListStreamsInput {
    max_results: Option<i64>,
    next_token: Option<String>,
    stream_name_condition: Option<NameCondition>,
}

async fn list_streams(app: &App, input: ListStreamsInput) -> Result<Value, ApiError> {
    let limit = page_size(input.max_results, 10_000)?;
    let after = parse_page_token(input.next_token.as_deref())?;
    let prefix = name_prefix(input.stream_name_condition.as_ref())?;
    let mut rows = app
        .db
        .tx(move |tx| db::list_streams(tx, &after, &prefix, limit + 1))
        .await?;
    let more = rows.len() > limit;
    rows.truncate(limit);
    let mut out = json!({ "StreamInfoList": rows.iter().map(stream_info).collect::<Vec<_>>() });
    if more && let Some(last) = rows.last() {
        out["NextToken"] = json!(page_token(&last.name));
    }
    Ok(out)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DeleteStreamInput {
    #[serde(rename = "StreamARN")]
    stream_arn: Option<String>,
    current_version: Option<String>,
}

async fn delete_stream(app: &App, input: DeleteStreamInput) -> Result<Value, ApiError> {
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
struct UpdateDataRetentionInput {
    #[serde(flatten)]
    stream: StreamSelector,
    current_version: Option<String>,
    operation: Option<String>,
    data_retention_change_in_hours: Option<i64>,
}

async fn update_data_retention(
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

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TagStreamInput {
    #[serde(flatten)]
    stream: StreamSelector,
    #[serde(default)]
    tags: BTreeMap<String, String>,
}

async fn tag_stream(app: &App, input: TagStreamInput) -> Result<Value, ApiError> {
    let tags = checked_tags(&input.tags)?;
    let s = input.stream.load(app).await?;
    app.db.tx(move |tx| db::add_tags(tx, &s.arn, &tags)).await?;
    Ok(json!({}))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UntagStreamInput {
    #[serde(flatten)]
    stream: StreamSelector,
    #[serde(default)]
    tag_key_list: Vec<String>,
}

async fn untag_stream(app: &App, input: UntagStreamInput) -> Result<Value, ApiError> {
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

async fn list_tags_for_stream(app: &App, input: StreamSelector) -> Result<Value, ApiError> {
    let s = input.load(app).await?;
    let tags = app.db.tx(move |tx| db::tags_of(tx, &s.arn)).await?;
    Ok(json!({ "Tags": tags }))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GetDataEndpointInput {
    #[serde(flatten)]
    stream: StreamSelector,
    #[serde(rename = "APIName")]
    api_name: Option<String>,
}

async fn get_data_endpoint(app: &App, input: GetDataEndpointInput) -> Result<Value, ApiError> {
    let api = input
        .api_name
        .ok_or_else(|| ApiError::invalid_argument("APIName is required"))?;
    ApiName::ALL
        .iter()
        .find(|a| a.as_str() == api)
        .ok_or_else(|| ApiError::invalid_argument(format!("APIName {api:?} is not valid")))?;
    input.stream.load(app).await?;
    Ok(json!({ "DataEndpoint": app.config.public_url }))
}

// ---- signaling channels --------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TagItem {
    key: String,
    value: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SingleMasterConfiguration {
    message_ttl_seconds: Option<i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateChannelInput {
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

async fn create_channel(app: &App, input: CreateChannelInput) -> Result<Value, ApiError> {
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
    let tags: BTreeMap<String, String> = input.tags.into_iter().map(|t| (t.key, t.value)).collect();
    let tags = checked_tags(&tags)?;
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

async fn describe_channel(app: &App, input: ChannelSelector) -> Result<Value, ApiError> {
    let c = input.load(app).await?;
    Ok(json!({ "ChannelInfo": channel_info(&c) }))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListChannelsInput {
    max_results: Option<i64>,
    next_token: Option<String>,
    channel_name_condition: Option<NameCondition>,
}

async fn list_channels(app: &App, input: ListChannelsInput) -> Result<Value, ApiError> {
    let limit = page_size(input.max_results, 10_000)?;
    let after = parse_page_token(input.next_token.as_deref())?;
    let prefix = name_prefix(input.channel_name_condition.as_ref())?;
    let mut rows = app
        .db
        .tx(move |tx| db::list_channels(tx, &after, &prefix, limit + 1))
        .await?;
    let more = rows.len() > limit;
    rows.truncate(limit);
    let mut out = json!({ "ChannelInfoList": rows.iter().map(channel_info).collect::<Vec<_>>() });
    if more && let Some(last) = rows.last() {
        out["NextToken"] = json!(page_token(&last.name));
    }
    Ok(out)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DeleteChannelInput {
    #[serde(rename = "ChannelARN")]
    channel_arn: Option<String>,
    current_version: Option<String>,
}

async fn delete_channel(app: &App, input: DeleteChannelInput) -> Result<Value, ApiError> {
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

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct EndpointConfiguration {
    #[serde(default)]
    protocols: Vec<String>,
    role: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GetSignalingEndpointInput {
    #[serde(rename = "ChannelARN")]
    channel_arn: Option<String>,
    single_master_channel_endpoint_configuration: Option<EndpointConfiguration>,
}

async fn get_signaling_endpoint(
    app: &App,
    input: GetSignalingEndpointInput,
) -> Result<Value, ApiError> {
    let arn = input
        .channel_arn
        .ok_or_else(|| ApiError::invalid_argument("ChannelARN is required"))?;
    let config = input.single_master_channel_endpoint_configuration;
    let (protocols, role) = match &config {
        Some(c) => (c.protocols.clone(), c.role.clone()),
        None => (Vec::new(), None),
    };
    let role = role.unwrap_or_else(|| "MASTER".into());
    role.parse::<ChannelRole>()
        .ok()
        .filter(|r| r.as_str() == role)
        .ok_or_else(|| {
            ApiError::invalid_argument(format!("Role {role:?} must be MASTER or VIEWER"))
        })?;
    let protocols: Vec<ChannelProtocol> = if protocols.is_empty() {
        vec![ChannelProtocol::Wss, ChannelProtocol::Https]
    } else {
        protocols
            .iter()
            .map(|p| {
                p.parse::<ChannelProtocol>()
                    .ok()
                    .filter(|q| q.as_str() == p)
                    .ok_or_else(|| {
                        ApiError::invalid_argument(format!(
                            "Protocol {p:?} must be WSS, HTTPS or WEBRTC"
                        ))
                    })
            })
            .collect::<Result<_, _>>()?
    };
    ChannelSelector::by_arn(arn).load(app).await?;
    let mut list = Vec::new();
    for p in protocols {
        let endpoint = match p {
            ChannelProtocol::Wss => app.config.public_url.replacen("http", "ws", 1),
            ChannelProtocol::Https => app.config.public_url.clone(),
            ChannelProtocol::Webrtc => {
                return Err(ApiError::invalid_argument(
                    "The WEBRTC protocol needs a channel with media storage, which kvs-local does not offer",
                ));
            }
        };
        list.push(json!({ "Protocol": p.as_str(), "ResourceEndpoint": endpoint }));
    }
    Ok(json!({ "ResourceEndpointList": list }))
}

// ---- tags on any resource ------------------------------------------------------------------

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
struct TagResourceInput {
    #[serde(rename = "ResourceARN")]
    resource_arn: Option<String>,
    #[serde(default)]
    tags: Vec<TagItem>,
}

async fn tag_resource(app: &App, input: TagResourceInput) -> Result<Value, ApiError> {
    let tags: BTreeMap<String, String> = input.tags.into_iter().map(|t| (t.key, t.value)).collect();
    let tags = checked_tags(&tags)?;
    let arn = resource_arn(app, input.resource_arn).await?;
    app.db.tx(move |tx| db::add_tags(tx, &arn, &tags)).await?;
    Ok(json!({}))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UntagResourceInput {
    #[serde(rename = "ResourceARN")]
    resource_arn: Option<String>,
    #[serde(default)]
    tag_key_list: Vec<String>,
}

async fn untag_resource(app: &App, input: UntagResourceInput) -> Result<Value, ApiError> {
    let arn = resource_arn(app, input.resource_arn).await?;
    let keys = input.tag_key_list;
    app.db
        .tx(move |tx| db::remove_tags(tx, &arn, &keys))
        .await?;
    Ok(json!({}))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListTagsForResourceInput {
    #[serde(rename = "ResourceARN")]
    resource_arn: Option<String>,
}

async fn list_tags_for_resource(
    app: &App,
    input: ListTagsForResourceInput,
) -> Result<Value, ApiError> {
    let arn = resource_arn(app, input.resource_arn).await?;
    let tags = app.db.tx(move |tx| db::tags_of(tx, &arn)).await?;
    Ok(json!({ "Tags": tags }))
}
