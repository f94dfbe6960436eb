use aws_sdk_kinesisvideo::types::{
    ChannelNameCondition, ComparisonOperator, SingleMasterConfiguration, Tag,
};
use kvs_types::{Arn, ChannelName, ChannelRef, ChannelType, InvalidValue, TagKey, TagValue};
use serde::Serialize;

use crate::error::{Subject, service};
use crate::{ControlPlane, Error, Result, rfc3339};

/// What a new signaling channel should look like.
#[derive(Debug, Clone)]
pub struct ChannelSpec {
    name: ChannelName,
    channel_type: ChannelType,
    message_ttl_seconds: Option<u32>,
    tags: Vec<(TagKey, TagValue)>,
}

impl ChannelSpec {
    /// A single-master channel named `name`.
    pub fn new(name: ChannelName) -> Self {
        Self {
            name,
            channel_type: ChannelType::SingleMaster,
            message_ttl_seconds: None,
            tags: Vec::new(),
        }
    }

    /// How long (5-120 s) undelivered signaling messages are kept; the service default is 60.
    pub fn message_ttl_seconds(mut self, seconds: u32) -> Result<Self> {
        if !(5..=120).contains(&seconds) {
            return Err(Error::Invalid(InvalidValue::new(
                "MessageTtlSeconds",
                &seconds.to_string(),
                "must be 5 to 120 seconds",
            )));
        }
        self.message_ttl_seconds = Some(seconds);
        Ok(self)
    }

    /// Adds a tag.
    pub fn tag(mut self, key: TagKey, value: TagValue) -> Self {
        self.tags.push((key, value));
        self
    }

    /// The channel's name.
    pub fn name(&self) -> &ChannelName {
        &self.name
    }
}

/// A signaling channel as `DescribeSignalingChannel` reports it (AWS CLI field names).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ChannelInfo {
    /// The channel's name.
    pub channel_name: String,
    /// The channel's ARN.
    #[serde(rename = "ChannelARN")]
    pub channel_arn: String,
    /// SINGLE_MASTER or FULL_MESH.
    pub channel_type: String,
    /// CREATING, ACTIVE, UPDATING or DELETING.
    pub channel_status: String,
    /// When it was created (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub creation_time: Option<String>,
    /// The channel's single-master settings (its message TTL).
    pub single_master_configuration: MasterConfiguration,
    /// The version, which changes with every update.
    pub version: String,
}

/// A channel's single-master settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct MasterConfiguration {
    /// How long a message for a peer that is not connected is kept, in seconds (5 to 120;
    /// 60, the service's default, when the service reports none).
    pub message_ttl_seconds: u32,
}

impl ChannelInfo {
    /// The channel's ARN, parsed.
    pub fn arn(&self) -> Result<Arn> {
        Arn::parse(&self.channel_arn).map_err(|e| {
            Error::Invalid(InvalidValue::new(
                "ChannelARN",
                &self.channel_arn,
                e.to_string(),
            ))
        })
    }

    fn from_sdk(c: &aws_sdk_kinesisvideo::types::ChannelInfo) -> Self {
        Self {
            channel_name: c.channel_name().unwrap_or_default().to_owned(),
            channel_arn: c.channel_arn().unwrap_or_default().to_owned(),
            channel_type: c
                .channel_type()
                .map(|t| t.as_str().to_owned())
                .unwrap_or_default(),
            channel_status: c
                .channel_status()
                .map(|s| s.as_str().to_owned())
                .unwrap_or_default(),
            creation_time: rfc3339(c.creation_time()),
            single_master_configuration: MasterConfiguration {
                message_ttl_seconds: c
                    .single_master_configuration()
                    .and_then(|s| s.message_ttl_seconds())
                    .unwrap_or(60)
                    .max(0) as u32,
            },
            version: c.version().unwrap_or_default().to_owned(),
        }
    }
}

impl ControlPlane {
    /// Creates a signaling channel; [`Error::ChannelExists`] if the name is taken.
    pub async fn create_channel(&self, spec: &ChannelSpec) -> Result<Arn> {
        let name = spec.name.as_str();
        let mut req = self
            .client
            .create_signaling_channel()
            .channel_name(name)
            .channel_type(spec.channel_type.as_str().into());
        if let Some(ttl) = spec.message_ttl_seconds {
            req = req.single_master_configuration(
                SingleMasterConfiguration::builder()
                    .message_ttl_seconds(ttl as i32)
                    .build(),
            );
        }
        for (k, v) in &spec.tags {
            let tag = Tag::builder()
                .key(k.as_str())
                .value(v.as_str())
                .build()
                .map_err(|e| Error::Invalid(InvalidValue::new("Tag", k.as_str(), e.to_string())))?;
            req = req.tags(tag);
        }
        let out = req
            .send()
            .await
            .map_err(|e| service("CreateSignalingChannel", Subject::Channel(name))(e.into()))?;
        let arn = out.channel_arn().unwrap_or_default();
        Arn::parse(arn)
            .map_err(|e| Error::Invalid(InvalidValue::new("ChannelARN", arn, e.to_string())))
    }

    /// The channel, created from `spec` if it does not exist yet.
    pub async fn ensure_channel(&self, spec: &ChannelSpec) -> Result<ChannelInfo> {
        let channel = ChannelRef::Name(spec.name.clone());
        match self.describe_channel(&channel).await {
            Ok(info) => return Ok(info),
            Err(Error::ChannelNotFound(_)) => {}
            Err(e) => return Err(e),
        }
        match self.create_channel(spec).await {
            Ok(_) | Err(Error::ChannelExists(_)) => self.describe_channel(&channel).await,
            Err(e) => Err(e),
        }
    }

    /// Describes a signaling channel.
    pub async fn describe_channel(&self, channel: &ChannelRef) -> Result<ChannelInfo> {
        let req = match channel {
            ChannelRef::Name(n) => self
                .client
                .describe_signaling_channel()
                .channel_name(n.as_str()),
            ChannelRef::Arn(a) => self
                .client
                .describe_signaling_channel()
                .channel_arn(a.as_str()),
        };
        let what = channel.to_string();
        let out = req
            .send()
            .await
            .map_err(|e| service("DescribeSignalingChannel", Subject::Channel(&what))(e.into()))?;
        out.channel_info()
            .map(ChannelInfo::from_sdk)
            .ok_or(Error::ChannelNotFound(what))
    }

    /// Every signaling channel (all pages), optionally only those whose name starts with `prefix`.
    pub async fn list_channels(&self, prefix: Option<&str>) -> Result<Vec<ChannelInfo>> {
        let mut req = self.client.list_signaling_channels();
        if let Some(p) = prefix {
            req = req.channel_name_condition(
                ChannelNameCondition::builder()
                    .comparison_operator(ComparisonOperator::BeginsWith)
                    .comparison_value(p)
                    .build(),
            );
        }
        let mut pages = req.into_paginator().send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page =
                page.map_err(|e| service("ListSignalingChannels", Subject::Other)(e.into()))?;
            out.extend(page.channel_info_list().iter().map(ChannelInfo::from_sdk));
        }
        Ok(out)
    }

    /// Deletes a signaling channel.
    pub async fn delete_channel(&self, channel: &ChannelRef) -> Result<()> {
        let info = self.describe_channel(channel).await?;
        let what = channel.to_string();
        self.client
            .delete_signaling_channel()
            .channel_arn(&info.channel_arn)
            .current_version(&info.version)
            .send()
            .await
            .map_err(|e| service("DeleteSignalingChannel", Subject::Channel(&what))(e.into()))?;
        Ok(())
    }
}
