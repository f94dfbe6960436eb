//! The Kinesis data stream a processor writes its records to.

use std::time::Duration;

use kvs_endpoint::KvsConfig;
use serde::Serialize;

use crate::error::{Subject, service};
use crate::names::check_data_stream_name;
use crate::{Error, Result};

/// How often a stream's status is looked at while waiting for it.
const POLL: Duration = Duration::from_millis(500);

/// A data stream as `DescribeStreamSummary` reports it; AWS CLI field names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DataStreamInfo {
    /// The data stream's name.
    pub stream_name: String,
    /// The data stream's ARN (`arn:aws:kinesis:REGION:ACCOUNT:stream/NAME`).
    #[serde(rename = "StreamARN")]
    pub stream_arn: String,
    /// CREATING, ACTIVE, UPDATING or DELETING.
    pub stream_status: String,
    /// How many shards are open.
    pub open_shard_count: i32,
}

/// Kinesis Data Streams operations the pipeline needs.
#[derive(Debug, Clone)]
pub struct DataStreams {
    client: aws_sdk_kinesis::Client,
}

impl DataStreams {
    /// A client talking to wherever `config` points.
    pub fn new(config: &KvsConfig) -> Self {
        Self {
            client: aws_sdk_kinesis::Client::new(config.sdk_config()),
        }
    }

    /// Describes a data stream by name.
    pub async fn describe(&self, name: &str) -> Result<DataStreamInfo> {
        check_data_stream_name(name)?;
        let out = self
            .client
            .describe_stream_summary()
            .stream_name(name)
            .send()
            .await
            .map_err(service("DescribeStreamSummary", Subject::DataStream(name)))?;
        let s = out
            .stream_description_summary()
            .ok_or_else(|| Error::DataStreamNotFound(name.to_owned()))?;
        Ok(DataStreamInfo {
            stream_name: s.stream_name().to_owned(),
            stream_arn: s.stream_arn().to_owned(),
            stream_status: s.stream_status().as_str().to_owned(),
            open_shard_count: s.open_shard_count(),
        })
    }

    /// The stream, created with `shards` shards if it does not exist, once it is ACTIVE (at
    /// most `timeout` later). Says whether it was created.
    pub async fn ensure(
        &self,
        name: &str,
        shards: u32,
        timeout: Duration,
    ) -> Result<(DataStreamInfo, bool)> {
        let created = match self.describe(name).await {
            Ok(info) if info.stream_status == "ACTIVE" => return Ok((info, false)),
            Ok(_) => false,
            Err(Error::DataStreamNotFound(_)) => {
                match self
                    .client
                    .create_stream()
                    .stream_name(name)
                    .shard_count(shards.clamp(1, i32::MAX as u32) as i32)
                    .send()
                    .await
                    .map_err(service("CreateStream", Subject::DataStream(name)))
                {
                    Ok(_) => true,
                    // Someone else created it meanwhile: wait for theirs.
                    Err(Error::Service { source, .. })
                        if source.kind() == kvs_endpoint::ErrorKind::InUse =>
                    {
                        false
                    }
                    Err(e) => return Err(e),
                }
            }
            Err(e) => return Err(e),
        };
        Ok((self.wait_active(name, timeout).await?, created))
    }

    async fn wait_active(&self, name: &str, timeout: Duration) -> Result<DataStreamInfo> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let info = self.describe(name).await?;
            if info.stream_status == "ACTIVE" {
                return Ok(info);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(Error::Timeout {
                    what: format!("Kinesis data stream {name}"),
                    wanted: "ACTIVE",
                    status: info.stream_status,
                    waited: timeout,
                });
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Deletes a data stream and its records.
    pub async fn delete(&self, name: &str) -> Result<()> {
        check_data_stream_name(name)?;
        self.client
            .delete_stream()
            .stream_name(name)
            .enforce_consumer_deletion(true)
            .send()
            .await
            .map_err(service("DeleteStream", Subject::DataStream(name)))?;
        Ok(())
    }
}
