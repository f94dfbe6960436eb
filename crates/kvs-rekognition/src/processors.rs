//! Face search stream processors: a Kinesis video stream in, a Kinesis data stream out.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_rekognition::types::{
    FaceSearchSettings, KinesisDataStream, KinesisVideoStream, KinesisVideoStreamStartSelector,
    StreamProcessingStartSelector, StreamProcessorInput, StreamProcessorOutput,
    StreamProcessorSettings,
};
use kvs_control::{ControlPlane, StreamSpec};
use kvs_endpoint::KvsConfig;
use kvs_types::{DataRetention, StreamRef};
use serde::Serialize;
use serde_json::{Value, json};

use crate::error::{Subject, service};
use crate::names::{check_collection_id, check_processor_name, check_threshold};
use crate::{Error, Rekognition, Result, rfc3339};

/// The role ARN sent when none is given and the target is not AWS: kvs-local checks that a
/// role is named, not what it allows.
pub const LOCAL_ROLE_ARN: &str = "arn:aws:iam::123456789012:role/kvs-local-rekognition";

/// Rekognition's default face-match threshold.
pub const DEFAULT_THRESHOLD: f32 = 80.0;

/// How often a processor's status is looked at while waiting for it.
const POLL: Duration = Duration::from_millis(500);

/// A stream processor's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(into = "String")]
pub enum ProcessorStatus {
    /// Created or stopped.
    Stopped,
    /// Being started.
    Starting,
    /// Analysing video.
    Running,
    /// Gave up (see the status message).
    Failed,
    /// Being stopped.
    Stopping,
    /// Being updated.
    Updating,
    /// A state this crate does not know.
    Other(String),
}

impl ProcessorStatus {
    fn parse(s: &str) -> Self {
        match s {
            "STOPPED" => Self::Stopped,
            "STARTING" => Self::Starting,
            "RUNNING" => Self::Running,
            "FAILED" => Self::Failed,
            "STOPPING" => Self::Stopping,
            "UPDATING" => Self::Updating,
            other => Self::Other(other.to_owned()),
        }
    }

    /// The service's name for the state, e.g. `RUNNING`.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Stopped => "STOPPED",
            Self::Starting => "STARTING",
            Self::Running => "RUNNING",
            Self::Failed => "FAILED",
            Self::Stopping => "STOPPING",
            Self::Updating => "UPDATING",
            Self::Other(s) => s,
        }
    }

    /// Whether the processor is moving between states (wait for it to settle).
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Starting | Self::Stopping | Self::Updating)
    }
}

impl From<ProcessorStatus> for String {
    fn from(s: ProcessorStatus) -> Self {
        s.as_str().to_owned()
    }
}

impl std::fmt::Display for ProcessorStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a face search processor should do.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessorSpec {
    /// The processor's name.
    pub name: String,
    /// The Kinesis video stream's ARN.
    pub video_stream_arn: String,
    /// The Kinesis data stream's ARN.
    pub data_stream_arn: String,
    /// The face collection searched.
    pub collection_id: String,
    /// The lowest similarity reported as a match (0-100).
    pub threshold: f32,
    /// The IAM role Rekognition acts as; `None` is only accepted off AWS (see
    /// [`LOCAL_ROLE_ARN`]).
    pub role_arn: Option<String>,
}

impl ProcessorSpec {
    /// A processor `name` searching `collection_id` in one stream into another, at the default
    /// threshold (80) and with no role yet.
    pub fn new(
        name: impl Into<String>,
        video_stream_arn: impl Into<String>,
        data_stream_arn: impl Into<String>,
        collection_id: impl Into<String>,
    ) -> Self {
        Self {
            name: name.into(),
            video_stream_arn: video_stream_arn.into(),
            data_stream_arn: data_stream_arn.into(),
            collection_id: collection_id.into(),
            threshold: DEFAULT_THRESHOLD,
            role_arn: None,
        }
    }

    /// A spec for streams named by name or ARN, looked up (not created):
    /// [`Error::VideoStreamNotFound`] or [`Error::DataStreamNotFound`] when one is missing.
    pub async fn resolve(
        config: &kvs_endpoint::KvsConfig,
        name: &str,
        video_stream: &str,
        data_stream: &str,
        collection_id: &str,
    ) -> Result<Self> {
        let video = video_stream_arn(config, video_stream, None).await?;
        let data = if data_stream.starts_with("arn:") {
            data_stream.to_owned()
        } else {
            crate::DataStreams::new(config)
                .describe(data_stream)
                .await?
                .stream_arn
        };
        Ok(Self::new(name, video, data, collection_id))
    }

    /// The lowest similarity reported as a match (0-100; default 80).
    pub fn threshold(mut self, threshold: f32) -> Self {
        self.threshold = threshold;
        self
    }

    /// The IAM role Rekognition acts as: required on AWS; without one, kvs-local is sent
    /// [`LOCAL_ROLE_ARN`].
    pub fn role_arn(mut self, role_arn: impl Into<String>) -> Self {
        self.role_arn = Some(role_arn.into());
        self
    }
}

/// Where a started processor begins reading.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum StartAt {
    /// The video that arrives from now on (the only choice AWS offers face search).
    #[default]
    Now,
    /// At a fragment.
    FragmentNumber(String),
    /// At the fragment with this producer timestamp.
    ProducerTimestamp(SystemTime),
}

/// A processor as `DescribeStreamProcessor` reports it; serialises with the AWS CLI's fields.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ProcessorInfo {
    /// The processor's name.
    pub name: String,
    /// The processor's ARN.
    pub stream_processor_arn: String,
    /// Its state: STOPPED, STARTING, RUNNING, FAILED or STOPPING.
    pub status: ProcessorStatus,
    /// Why it failed, when it did.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub status_message: String,
    /// When it was created (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub creation_timestamp: Option<String>,
    /// When it last changed (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_update_timestamp: Option<String>,
    /// `{"KinesisVideoStream": {"Arn": ...}}`.
    pub input: Value,
    /// `{"KinesisDataStream": {"Arn": ...}}`.
    pub output: Value,
    /// The IAM role Rekognition acts as.
    pub role_arn: String,
    /// `{"FaceSearch": {"CollectionId": ..., "FaceMatchThreshold": ...}}`.
    pub settings: Value,
    #[serde(skip)]
    spec: ProcessorSpec,
}

impl ProcessorInfo {
    /// What the processor does, as a spec.
    pub fn spec(&self) -> &ProcessorSpec {
        &self.spec
    }

    /// How the processor differs from `want`, e.g. `["threshold 80 -> 90"]`; empty when it
    /// does what `want` asks. A `want` without a role matches any role.
    pub fn differences(&self, want: &ProcessorSpec) -> Vec<String> {
        let have = &self.spec;
        let mut out = Vec::new();
        let mut cmp = |what: &str, a: &str, b: &str| {
            if a != b {
                out.push(format!("{what} {a} -> {b}"));
            }
        };
        cmp(
            "video stream",
            &have.video_stream_arn,
            &want.video_stream_arn,
        );
        cmp("data stream", &have.data_stream_arn, &want.data_stream_arn);
        cmp("collection", &have.collection_id, &want.collection_id);
        if let Some(role) = &want.role_arn {
            cmp("role", have.role_arn.as_deref().unwrap_or_default(), role);
        }
        if (have.threshold - want.threshold).abs() > 0.001 {
            out.push(format!(
                "threshold {} -> {}",
                have.threshold, want.threshold
            ));
        }
        out
    }
}

/// A processor as `ListStreamProcessors` names it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ProcessorSummary {
    /// The processor's name.
    pub name: String,
    /// Its state: STOPPED, STARTING, RUNNING, FAILED or STOPPING.
    pub status: ProcessorStatus,
}

impl Rekognition {
    /// The role to create `spec` with: its own, else the placeholder off AWS.
    pub(crate) fn role_for(&self, spec: &ProcessorSpec) -> Result<String> {
        match &spec.role_arn {
            Some(role) => Ok(role.clone()),
            None if self.on_aws => Err(Error::RoleArnRequired {
                processor: spec.name.clone(),
                video_stream: spec.video_stream_arn.clone(),
                data_stream: spec.data_stream_arn.clone(),
            }),
            None => Ok(LOCAL_ROLE_ARN.to_owned()),
        }
    }

    /// Creates a stopped face search processor; [`Error::ProcessorExists`] if the name is
    /// taken. Returns its ARN.
    pub async fn create_processor(&self, spec: &ProcessorSpec) -> Result<String> {
        check_processor_name(&spec.name)?;
        check_collection_id(&spec.collection_id)?;
        check_threshold(spec.threshold)?;
        let role = self.role_for(spec)?;
        let out = self
            .client
            .create_stream_processor()
            .name(&spec.name)
            .input(
                StreamProcessorInput::builder()
                    .kinesis_video_stream(
                        KinesisVideoStream::builder()
                            .arn(&spec.video_stream_arn)
                            .build(),
                    )
                    .build(),
            )
            .output(
                StreamProcessorOutput::builder()
                    .kinesis_data_stream(
                        KinesisDataStream::builder()
                            .arn(&spec.data_stream_arn)
                            .build(),
                    )
                    .build(),
            )
            .settings(
                StreamProcessorSettings::builder()
                    .face_search(
                        FaceSearchSettings::builder()
                            .collection_id(&spec.collection_id)
                            .face_match_threshold(spec.threshold)
                            .build(),
                    )
                    .build(),
            )
            .role_arn(role)
            .send()
            .await
            .map_err(service(
                "CreateStreamProcessor",
                Subject::Processor(&spec.name),
            ))?;
        Ok(out.stream_processor_arn().unwrap_or_default().to_owned())
    }

    /// Describes a processor.
    pub async fn describe_processor(&self, name: &str) -> Result<ProcessorInfo> {
        check_processor_name(name)?;
        let out = self
            .client
            .describe_stream_processor()
            .name(name)
            .send()
            .await
            .map_err(service("DescribeStreamProcessor", Subject::Processor(name)))?;
        let video = out
            .input()
            .and_then(|i| i.kinesis_video_stream())
            .and_then(|k| k.arn())
            .unwrap_or_default();
        let data = out
            .output()
            .and_then(|o| o.kinesis_data_stream())
            .and_then(|k| k.arn())
            .unwrap_or_default();
        let search = out.settings().and_then(|s| s.face_search());
        let collection = search.and_then(|s| s.collection_id()).unwrap_or_default();
        let threshold = search
            .and_then(|s| s.face_match_threshold())
            .unwrap_or(DEFAULT_THRESHOLD);
        let role = out.role_arn().unwrap_or_default();
        Ok(ProcessorInfo {
            name: out.name().unwrap_or(name).to_owned(),
            stream_processor_arn: out.stream_processor_arn().unwrap_or_default().to_owned(),
            status: ProcessorStatus::parse(out.status().map_or("", |s| s.as_str())),
            status_message: out.status_message().unwrap_or_default().to_owned(),
            creation_timestamp: rfc3339(out.creation_timestamp()),
            last_update_timestamp: rfc3339(out.last_update_timestamp()),
            input: json!({ "KinesisVideoStream": { "Arn": video } }),
            output: json!({ "KinesisDataStream": { "Arn": data } }),
            role_arn: role.to_owned(),
            settings: json!({ "FaceSearch": {
                "CollectionId": collection,
                "FaceMatchThreshold": threshold,
            }}),
            spec: ProcessorSpec {
                name: name.to_owned(),
                video_stream_arn: video.to_owned(),
                data_stream_arn: data.to_owned(),
                collection_id: collection.to_owned(),
                threshold,
                role_arn: Some(role.to_owned()),
            },
        })
    }

    /// Every processor (all pages).
    pub async fn list_processors(&self) -> Result<Vec<ProcessorSummary>> {
        let mut pages = self.client.list_stream_processors().into_paginator().send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(service("ListStreamProcessors", Subject::Other))?;
            out.extend(page.stream_processors().iter().map(|p| ProcessorSummary {
                name: p.name().unwrap_or_default().to_owned(),
                status: ProcessorStatus::parse(p.status().map_or("", |s| s.as_str())),
            }));
        }
        Ok(out)
    }

    /// Starts a processor; returns the session id.
    pub async fn start_processor(&self, name: &str, at: &StartAt) -> Result<String> {
        check_processor_name(name)?;
        let selector = match at {
            StartAt::Now => None,
            StartAt::FragmentNumber(n) => {
                Some(KinesisVideoStreamStartSelector::builder().fragment_number(n))
            }
            StartAt::ProducerTimestamp(t) => {
                let ms = t
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis().min(i64::MAX as u128) as i64);
                Some(KinesisVideoStreamStartSelector::builder().producer_timestamp(ms))
            }
        };
        let out = self
            .client
            .start_stream_processor()
            .name(name)
            .set_start_selector(selector.map(|s| {
                StreamProcessingStartSelector::builder()
                    .kvs_stream_start_selector(s.build())
                    .build()
            }))
            .send()
            .await
            .map_err(|e| self.state_error("StartStreamProcessor", name, e.into()))?;
        Ok(out.session_id().unwrap_or_default().to_owned())
    }

    /// Stops a running processor.
    pub async fn stop_processor(&self, name: &str) -> Result<()> {
        check_processor_name(name)?;
        self.client
            .stop_stream_processor()
            .name(name)
            .send()
            .await
            .map_err(|e| self.state_error("StopStreamProcessor", name, e.into()))?;
        Ok(())
    }

    /// Deletes a processor (AWS wants it stopped first).
    pub async fn delete_processor(&self, name: &str) -> Result<()> {
        check_processor_name(name)?;
        self.client
            .delete_stream_processor()
            .name(name)
            .send()
            .await
            .map_err(|e| self.state_error("DeleteStreamProcessor", name, e.into()))?;
        Ok(())
    }

    fn state_error(
        &self,
        operation: &'static str,
        name: &str,
        source: kvs_endpoint::ServiceError,
    ) -> Error {
        if source.kind() == kvs_endpoint::ErrorKind::InUse {
            let hint = match operation {
                "StartStreamProcessor" => format!(
                    "it is running or changing state already; to restart it, stop it with \
                     `kvs faces processor stop {name}` first"
                ),
                "StopStreamProcessor" => "it is not running, so there is nothing to stop".into(),
                _ => format!(
                    "stop it with `kvs faces processor stop {name}` and wait until it is STOPPED"
                ),
            };
            return Error::ProcessorBusy {
                name: name.to_owned(),
                operation,
                message: source.message().to_owned(),
                hint,
            };
        }
        service::<kvs_endpoint::ServiceError>(operation, Subject::Processor(name))(source)
    }

    /// Waits until the processor is no longer starting, stopping or updating.
    pub async fn wait_processor_settled(
        &self,
        name: &str,
        timeout: Duration,
    ) -> Result<ProcessorInfo> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let info = self.describe_processor(name).await?;
            if !info.status.is_transient() {
                return Ok(info);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(Error::Timeout {
                    what: format!("stream processor {name}"),
                    wanted: "settled (not STARTING, STOPPING or UPDATING)",
                    status: info.status.to_string(),
                    waited: timeout,
                });
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

/// The ARN of a video stream named by name or ARN; a missing stream is created with
/// `create_with` retention when given, else [`Error::VideoStreamNotFound`]. Here rather than in
/// the pipeline, which builds on this module, so that [`ProcessorSpec::resolve`] can use it too.
pub(crate) async fn video_stream_arn(
    config: &KvsConfig,
    video: &str,
    create_with: Option<DataRetention>,
) -> Result<String> {
    let control = ControlPlane::new(config);
    let stream = StreamRef::parse(video)
        .map_err(|e| Error::invalid("video stream", video, e.reason().to_owned()))?;
    let info = match (stream, create_with) {
        (StreamRef::Name(name), Some(retention)) => {
            control
                .ensure_stream(&StreamSpec::new(name).retention(retention))
                .await?
        }
        (stream, _) => match control.describe_stream(&stream).await {
            Err(kvs_control::Error::StreamNotFound(_)) => {
                return Err(Error::VideoStreamNotFound(video.to_owned()));
            }
            other => other?,
        },
    };
    Ok(info.stream_arn)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(spec: ProcessorSpec) -> ProcessorInfo {
        ProcessorInfo {
            name: spec.name.clone(),
            stream_processor_arn: String::new(),
            status: ProcessorStatus::Stopped,
            status_message: String::new(),
            creation_timestamp: None,
            last_update_timestamp: None,
            input: Value::Null,
            output: Value::Null,
            role_arn: String::new(),
            settings: Value::Null,
            spec,
        }
    }

    #[test]
    fn differences_name_what_changed() {
        let have = ProcessorSpec::new("p", "v", "d", "faces").role_arn("r1");
        let same = ProcessorSpec::new("p", "v", "d", "faces");
        assert!(info(have.clone()).differences(&same).is_empty());
        let want = ProcessorSpec::new("p", "v", "d", "people")
            .threshold(90.0)
            .role_arn("r2");
        assert_eq!(
            info(have).differences(&want),
            [
                "collection faces -> people",
                "role r1 -> r2",
                "threshold 80 -> 90"
            ]
        );
    }

    #[test]
    fn statuses_round_trip() {
        for s in [
            "STOPPED", "STARTING", "RUNNING", "FAILED", "STOPPING", "UPDATING", "NEW",
        ] {
            assert_eq!(ProcessorStatus::parse(s).as_str(), s);
        }
        assert!(ProcessorStatus::Stopping.is_transient());
        assert!(!ProcessorStatus::Failed.is_transient());
    }
}
