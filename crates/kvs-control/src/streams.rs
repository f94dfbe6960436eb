use std::collections::BTreeMap;

use aws_sdk_kinesisvideo::types::{
    ComparisonOperator, StreamNameCondition, UpdateDataRetentionOperation,
};
use kvs_endpoint::ServiceError;
use kvs_types::{Arn, DataRetention, InvalidValue, StreamName, StreamRef, TagKey, TagValue};
use serde::Serialize;

use crate::error::{Subject, service};
use crate::{ControlPlane, Error, Result, rfc3339};

/// What a new stream should look like.
#[derive(Debug, Clone)]
pub struct StreamSpec {
    name: StreamName,
    retention: DataRetention,
    media_type: Option<String>,
    device_name: Option<String>,
    kms_key_id: Option<String>,
    tags: BTreeMap<TagKey, TagValue>,
}

impl StreamSpec {
    /// A stream named `name` with no retention (live only), until told otherwise.
    pub fn new(name: StreamName) -> Self {
        Self {
            name,
            retention: DataRetention::default(),
            media_type: None,
            device_name: None,
            kms_key_id: None,
            tags: BTreeMap::new(),
        }
    }

    /// How long media is kept; playback (clips, HLS, DASH) needs more than zero.
    pub fn retention(mut self, retention: DataRetention) -> Self {
        self.retention = retention;
        self
    }

    /// The media type, e.g. `video/h264`.
    pub fn media_type(mut self, media_type: impl Into<String>) -> Self {
        self.media_type = Some(media_type.into());
        self
    }

    /// The producing device's name.
    pub fn device_name(mut self, device_name: impl Into<String>) -> Self {
        self.device_name = Some(device_name.into());
        self
    }

    /// A KMS key for encryption at rest (else the service's key).
    pub fn kms_key_id(mut self, kms_key_id: impl Into<String>) -> Self {
        self.kms_key_id = Some(kms_key_id.into());
        self
    }

    /// Adds a tag.
    pub fn tag(mut self, key: TagKey, value: TagValue) -> Self {
        self.tags.insert(key, value);
        self
    }

    /// The stream's name.
    pub fn name(&self) -> &StreamName {
        &self.name
    }
}

/// A stream as `DescribeStream` reports it; serialises with the AWS CLI's field names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct StreamInfo {
    /// The producing device's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_name: Option<String>,
    /// The stream's name.
    pub stream_name: String,
    /// The stream's ARN.
    #[serde(rename = "StreamARN")]
    pub stream_arn: String,
    /// The media type given at creation, e.g. `video/h264`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The KMS key that encrypts the stored media (KVS's own key when none was given).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kms_key_id: Option<String>,
    /// The version, which changes with every update.
    pub version: String,
    /// CREATING, ACTIVE, UPDATING or DELETING.
    pub status: String,
    /// When it was created (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub creation_time: Option<String>,
    /// How long media is kept, in hours (0: not kept, live only).
    pub data_retention_in_hours: u32,
}

impl StreamInfo {
    /// The stream's ARN, parsed.
    pub fn arn(&self) -> Result<Arn> {
        Arn::parse(&self.stream_arn).map_err(|e| {
            Error::Invalid(InvalidValue::new(
                "StreamARN",
                &self.stream_arn,
                e.to_string(),
            ))
        })
    }

    fn from_sdk(s: &aws_sdk_kinesisvideo::types::StreamInfo) -> Self {
        Self {
            device_name: s.device_name().map(str::to_owned),
            stream_name: s.stream_name().unwrap_or_default().to_owned(),
            stream_arn: s.stream_arn().unwrap_or_default().to_owned(),
            media_type: s.media_type().map(str::to_owned),
            kms_key_id: s.kms_key_id().map(str::to_owned),
            version: s.version().unwrap_or_default().to_owned(),
            status: s
                .status()
                .map(|s| s.as_str().to_owned())
                .unwrap_or_default(),
            creation_time: rfc3339(s.creation_time()),
            data_retention_in_hours: s.data_retention_in_hours().unwrap_or(0).max(0) as u32,
        }
    }
}

fn subject(stream: &StreamRef) -> String {
    stream.to_string()
}

impl ControlPlane {
    /// Creates a stream; [`Error::StreamExists`] if the name is taken.
    pub async fn create_stream(&self, spec: &StreamSpec) -> Result<Arn> {
        let name = spec.name.as_str();
        let mut req = self
            .client
            .create_stream()
            .stream_name(name)
            .data_retention_in_hours(spec.retention.hours() as i32)
            .set_media_type(spec.media_type.clone())
            .set_device_name(spec.device_name.clone())
            .set_kms_key_id(spec.kms_key_id.clone());
        for (k, v) in &spec.tags {
            req = req.tags(k.as_str(), v.as_str());
        }
        let out = req
            .send()
            .await
            .map_err(|e| service("CreateStream", Subject::Stream(name))(e.into()))?;
        let arn = out.stream_arn().unwrap_or_default();
        Arn::parse(arn)
            .map_err(|e| Error::Invalid(InvalidValue::new("StreamARN", arn, e.to_string())))
    }

    /// The stream, created from `spec` if it does not exist yet. An existing stream is returned
    /// as it is (its retention and tags are not changed).
    pub async fn ensure_stream(&self, spec: &StreamSpec) -> Result<StreamInfo> {
        let stream = StreamRef::Name(spec.name.clone());
        match self.describe_stream(&stream).await {
            Ok(info) => return Ok(info),
            Err(Error::StreamNotFound(_)) => {}
            Err(e) => return Err(e),
        }
        match self.create_stream(spec).await {
            Ok(_) | Err(Error::StreamExists(_)) => self.describe_stream(&stream).await,
            Err(e) => Err(e),
        }
    }

    /// Describes a stream.
    pub async fn describe_stream(&self, stream: &StreamRef) -> Result<StreamInfo> {
        let req = match stream {
            StreamRef::Name(n) => self.client.describe_stream().stream_name(n.as_str()),
            StreamRef::Arn(a) => self.client.describe_stream().stream_arn(a.as_str()),
        };
        let what = subject(stream);
        let out = req
            .send()
            .await
            .map_err(|e| service("DescribeStream", Subject::Stream(&what))(e.into()))?;
        out.stream_info()
            .map(StreamInfo::from_sdk)
            .ok_or(Error::StreamNotFound(what))
    }

    /// Every stream (all pages), optionally only those whose name starts with `prefix`.
    pub async fn list_streams(&self, prefix: Option<&str>) -> Result<Vec<StreamInfo>> {
        let mut req = self.client.list_streams();
        if let Some(p) = prefix {
            req = req.stream_name_condition(
                StreamNameCondition::builder()
                    .comparison_operator(ComparisonOperator::BeginsWith)
                    .comparison_value(p)
                    .build(),
            );
        }
        let mut pages = req.into_paginator().send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| service("ListStreams", Subject::Other)(e.into()))?;
            out.extend(page.stream_info_list().iter().map(StreamInfo::from_sdk));
        }
        Ok(out)
    }

    /// Deletes a stream and its media.
    pub async fn delete_stream(&self, stream: &StreamRef) -> Result<()> {
        let info = self.describe_stream(stream).await?;
        let what = subject(stream);
        self.client
            .delete_stream()
            .stream_arn(&info.stream_arn)
            .current_version(&info.version)
            .send()
            .await
            .map_err(|e| service("DeleteStream", Subject::Stream(&what))(e.into()))?;
        Ok(())
    }

    /// Sets the retention to `retention`, raising or lowering it as needed; returns the stream
    /// as it is afterwards.
    pub async fn set_retention(
        &self,
        stream: &StreamRef,
        retention: DataRetention,
    ) -> Result<StreamInfo> {
        let info = self.describe_stream(stream).await?;
        let current = i64::from(info.data_retention_in_hours);
        let wanted = i64::from(retention.hours());
        if current == wanted {
            return Ok(info);
        }
        let (op, change) = if wanted > current {
            (
                UpdateDataRetentionOperation::IncreaseDataRetention,
                wanted - current,
            )
        } else {
            (
                UpdateDataRetentionOperation::DecreaseDataRetention,
                current - wanted,
            )
        };
        let what = subject(stream);
        self.client
            .update_data_retention()
            .stream_arn(&info.stream_arn)
            .current_version(&info.version)
            .operation(op)
            .data_retention_change_in_hours(change as i32)
            .send()
            .await
            .map_err(|e| service("UpdateDataRetention", Subject::Stream(&what))(e.into()))?;
        self.describe_stream(stream).await
    }

    /// Adds or replaces tags on a stream.
    pub async fn tag_stream(
        &self,
        stream: &StreamRef,
        tags: &BTreeMap<TagKey, TagValue>,
    ) -> Result<()> {
        let mut req = match stream {
            StreamRef::Name(n) => self.client.tag_stream().stream_name(n.as_str()),
            StreamRef::Arn(a) => self.client.tag_stream().stream_arn(a.as_str()),
        };
        for (k, v) in tags {
            req = req.tags(k.as_str(), v.as_str());
        }
        let what = subject(stream);
        req.send()
            .await
            .map_err(|e| service("TagStream", Subject::Stream(&what))(e.into()))?;
        Ok(())
    }

    /// Removes tags from a stream.
    pub async fn untag_stream(&self, stream: &StreamRef, keys: &[TagKey]) -> Result<()> {
        let mut req = match stream {
            StreamRef::Name(n) => self.client.untag_stream().stream_name(n.as_str()),
            StreamRef::Arn(a) => self.client.untag_stream().stream_arn(a.as_str()),
        };
        for k in keys {
            req = req.tag_key_list(k.as_str());
        }
        let what = subject(stream);
        req.send()
            .await
            .map_err(|e| service("UntagStream", Subject::Stream(&what))(e.into()))?;
        Ok(())
    }

    /// A stream's tags (all pages).
    pub async fn stream_tags(&self, stream: &StreamRef) -> Result<BTreeMap<String, String>> {
        let what = subject(stream);
        let mut tags = BTreeMap::new();
        let mut token: Option<String> = None;
        loop {
            let req = match stream {
                StreamRef::Name(n) => self.client.list_tags_for_stream().stream_name(n.as_str()),
                StreamRef::Arn(a) => self.client.list_tags_for_stream().stream_arn(a.as_str()),
            };
            let out = req.set_next_token(token.take()).send().await.map_err(|e| {
                service("ListTagsForStream", Subject::Stream(&what))(ServiceError::from(e))
            })?;
            if let Some(t) = out.tags() {
                tags.extend(t.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
            match out.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_owned()),
                _ => return Ok(tags),
            }
        }
    }
}
