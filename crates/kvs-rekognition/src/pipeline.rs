//! A whole face search pipeline brought up and down in one call: collection, indexed faces,
//! video stream, data stream and a running processor.

use std::path::{Path, PathBuf};
use std::time::Duration;

use kvs_endpoint::KvsConfig;
use kvs_types::DataRetention;
use serde::{Deserialize, Serialize};

use crate::collections::{CollectionInfo, IndexOutcome};
use crate::data_stream::{DataStreamInfo, DataStreams};
use crate::names::{
    check_collection_id, check_data_stream_name, check_processor_name, check_threshold,
};
use crate::processors::{
    DEFAULT_THRESHOLD, ProcessorInfo, ProcessorSpec, ProcessorStatus, StartAt, video_stream_arn,
};
use crate::{Error, Rekognition, Result};

/// The pipeline as a small TOML file:
///
/// ```toml
/// collection = "faces"
/// faces_dir = "faces"          # relative to the file; optional
/// video_stream = "door"
/// data_stream = "kvs-ml"
/// processor = "door-faces"
/// threshold = 85               # optional, default 80
/// role_arn = "arn:aws:iam::111122223333:role/rekognition-kvs"  # AWS only
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct PipelineConfig {
    /// The face collection searched (created if missing).
    pub collection: String,
    /// A folder of face photos to index (external id = file name without extension).
    #[serde(default)]
    pub faces_dir: Option<PathBuf>,
    /// The Kinesis video stream (created with 24 h retention if missing).
    pub video_stream: String,
    /// The Kinesis data stream for the results (created if missing).
    pub data_stream: String,
    /// The stream processor's name.
    pub processor: String,
    /// The face-match threshold (0-100).
    #[serde(default = "default_threshold")]
    pub threshold: f32,
    /// The IAM role Rekognition acts as (required on AWS).
    #[serde(default)]
    pub role_arn: Option<String>,
}

fn default_threshold() -> f32 {
    DEFAULT_THRESHOLD
}

impl PipelineConfig {
    /// Reads a config from TOML text; a relative `faces_dir` stays relative.
    pub fn from_toml(text: &str) -> Result<Self> {
        toml::from_str(text).map_err(|e| Error::Config {
            path: PathBuf::new(),
            reason: e.to_string(),
        })
    }

    /// Reads a config file; a relative `faces_dir` is taken relative to the file's folder.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let mut config: Self = toml::from_str(&text).map_err(|e| Error::Config {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        if let Some(dir) = &config.faces_dir
            && dir.is_relative()
        {
            let base = path.parent().unwrap_or_else(|| Path::new(""));
            config.faces_dir = Some(base.join(dir));
        }
        Ok(config)
    }
}

/// What [`FaceSearchPipeline::down_with`] removes besides the processor.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Teardown {
    /// Delete the face collection and its faces too.
    pub delete_collection: bool,
    /// Delete the Kinesis data stream and its records too.
    pub delete_data_stream: bool,
}

/// What happened to the processor in [`FaceSearchPipeline::up`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ProcessorAction {
    /// It was created and started.
    Created,
    /// It had other settings and was stopped, so it was deleted, created again and started.
    Replaced,
    /// It existed with these settings and was started.
    Started,
    /// It was running with these settings already.
    AlreadyRunning,
}

/// Everything [`FaceSearchPipeline::up`] ensured; serialises with PascalCase field names.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PipelineStatus {
    /// The face collection, as described after indexing.
    pub collection: CollectionInfo,
    /// Whether `up` created the collection (false: it existed).
    pub collection_created: bool,
    /// What became of each photo of the faces folder.
    pub indexed: Vec<IndexOutcome>,
    /// The video stream's ARN.
    pub video_stream_arn: String,
    /// The Kinesis data stream the processor writes to.
    pub data_stream: DataStreamInfo,
    /// Whether `up` created the data stream (false: it existed).
    pub data_stream_created: bool,
    /// The processor, as it is after starting.
    pub processor: ProcessorInfo,
    /// What `up` did to the processor.
    pub processor_action: ProcessorAction,
}

/// What [`FaceSearchPipeline::down_with`] removed; PascalCase field names.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DownStatus {
    /// The processor was stopped.
    pub processor_stopped: bool,
    /// The processor was deleted (false: it did not exist).
    pub processor_deleted: bool,
    /// The collection was deleted.
    pub collection_deleted: bool,
    /// The data stream was deleted.
    pub data_stream_deleted: bool,
}

/// A face search pipeline: configure it, then [`up`](Self::up) (idempotent) and
/// [`down`](Self::down).
///
/// ```no_run
/// # async fn f(config: &kvs_endpoint::KvsConfig) -> kvs_rekognition::Result<()> {
/// let pipeline = kvs_rekognition::FaceSearchPipeline::new(config)
///     .collection("faces")
///     .index_folder("faces/")
///     .video_stream("door")
///     .data_stream("kvs-ml")
///     .processor("door-faces")
///     .threshold(85.0);
/// let status = pipeline.up().await?;
/// println!("{} is {}", status.processor.name, status.processor.status);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct FaceSearchPipeline {
    config: KvsConfig,
    collection: Option<String>,
    faces_dir: Option<PathBuf>,
    video_stream: Option<String>,
    data_stream: Option<String>,
    processor: Option<String>,
    threshold: f32,
    role_arn: Option<String>,
    shards: u32,
    video_retention_hours: i64,
    start_at: StartAt,
    timeout: Duration,
}

impl FaceSearchPipeline {
    /// A pipeline with nothing set yet, talking to wherever `config` points.
    pub fn new(config: &KvsConfig) -> Self {
        Self {
            config: config.clone(),
            collection: None,
            faces_dir: None,
            video_stream: None,
            data_stream: None,
            processor: None,
            threshold: DEFAULT_THRESHOLD,
            role_arn: None,
            shards: 1,
            video_retention_hours: 24,
            start_at: StartAt::Now,
            timeout: Duration::from_secs(120),
        }
    }

    /// A pipeline as a config file describes it.
    pub fn from_config(config: &KvsConfig, file: &PipelineConfig) -> Self {
        let mut p = Self::new(config)
            .collection(&file.collection)
            .video_stream(&file.video_stream)
            .data_stream(&file.data_stream)
            .processor(&file.processor)
            .threshold(file.threshold);
        if let Some(dir) = &file.faces_dir {
            p = p.index_folder(dir);
        }
        if let Some(role) = &file.role_arn {
            p = p.role_arn(role);
        }
        p
    }

    /// The face collection searched (created if missing).
    pub fn collection(mut self, id: impl Into<String>) -> Self {
        self.collection = Some(id.into());
        self
    }

    /// A folder of face photos indexed on `up` (already indexed names are skipped).
    pub fn index_folder(mut self, dir: impl Into<PathBuf>) -> Self {
        self.faces_dir = Some(dir.into());
        self
    }

    /// The Kinesis video stream analysed (created with 24 h retention if missing).
    pub fn video_stream(mut self, name: impl Into<String>) -> Self {
        self.video_stream = Some(name.into());
        self
    }

    /// The Kinesis data stream the records go to (created if missing).
    pub fn data_stream(mut self, name: impl Into<String>) -> Self {
        self.data_stream = Some(name.into());
        self
    }

    /// The stream processor's name.
    pub fn processor(mut self, name: impl Into<String>) -> Self {
        self.processor = Some(name.into());
        self
    }

    /// The face-match threshold (0-100; default 80).
    pub fn threshold(mut self, threshold: f32) -> Self {
        self.threshold = threshold;
        self
    }

    /// The IAM role Rekognition acts as: required on AWS; kvs-local takes a placeholder.
    pub fn role_arn(mut self, arn: impl Into<String>) -> Self {
        self.role_arn = Some(arn.into());
        self
    }

    /// Shards of a data stream created by `up` (default 1).
    pub fn data_stream_shards(mut self, shards: u32) -> Self {
        self.shards = shards.max(1);
        self
    }

    /// Where a processor started by `up` begins (default: now; AWS allows only that for face
    /// search).
    pub fn start_at(mut self, at: StartAt) -> Self {
        self.start_at = at;
        self
    }

    /// How long `up` and `down` wait for streams and processors to settle (default 2 min).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    fn required(&self) -> Result<(&str, &str, &str, &str)> {
        fn need<'a>(
            v: &'a Option<String>,
            what: &'static str,
            how: &'static str,
        ) -> Result<&'a str> {
            v.as_deref().ok_or(Error::Missing(what, how))
        }
        let collection = need(
            &self.collection,
            "the collection",
            "set it with .collection(id) or `collection = \"...\"` in the pipeline config",
        )?;
        let video = need(
            &self.video_stream,
            "the video stream",
            "set it with .video_stream(name) or `video_stream = \"...\"` in the pipeline config",
        )?;
        let data = need(
            &self.data_stream,
            "the data stream",
            "set it with .data_stream(name) or `data_stream = \"...\"` in the pipeline config",
        )?;
        let processor = self.processor_name()?;
        check_collection_id(collection)?;
        check_data_stream_name(data)?;
        check_threshold(self.threshold)?;
        Ok((collection, video, data, processor))
    }

    fn processor_name(&self) -> Result<&str> {
        let name = self.processor.as_deref().ok_or(Error::Missing(
            "the stream processor",
            "set it with .processor(name) or `processor = \"...\"` in the pipeline config",
        ))?;
        check_processor_name(name)?;
        Ok(name)
    }

    /// Brings the pipeline up; running it again changes nothing that is already right.
    pub async fn up(&self) -> Result<PipelineStatus> {
        self.up_with_progress(|_, _, _| {}).await
    }

    /// [`up`](Self::up), with each indexed photo's outcome passed to `progress` as it comes
    /// (with the number of photos done and the total).
    pub async fn up_with_progress(
        &self,
        progress: impl FnMut(usize, usize, &IndexOutcome),
    ) -> Result<PipelineStatus> {
        let (collection, video, data, processor) = self.required()?;
        let rek = Rekognition::new(&self.config);
        // Fail before creating anything when AWS would refuse the processor.
        rek.role_for(&ProcessorSpec {
            role_arn: self.role_arn.clone(),
            ..ProcessorSpec::new(processor, video, data, collection)
        })?;

        let (_, collection_created) = rek.ensure_collection(collection).await?;
        let indexed = match &self.faces_dir {
            Some(dir) => rek.index_folder(collection, dir, progress).await?,
            None => Vec::new(),
        };
        let collection_info = rek.describe_collection(collection).await?;
        let video_stream_arn = self.ensure_video_stream(video).await?;
        let (data_stream, data_stream_created) = DataStreams::new(&self.config)
            .ensure(data, self.shards, self.timeout)
            .await?;

        let mut spec = ProcessorSpec::new(
            processor,
            &video_stream_arn,
            &data_stream.stream_arn,
            collection,
        )
        .threshold(self.threshold);
        spec.role_arn = self.role_arn.clone();
        let action = self.ensure_processor(&rek, &spec).await?;
        let info = rek.wait_processor_settled(processor, self.timeout).await?;
        if info.status == ProcessorStatus::Failed {
            return Err(Error::ProcessorFailed {
                name: processor.to_owned(),
                message: info.status_message,
            });
        }
        Ok(PipelineStatus {
            collection: collection_info,
            collection_created,
            indexed,
            video_stream_arn,
            data_stream,
            data_stream_created,
            processor: info,
            processor_action: action,
        })
    }

    async fn ensure_video_stream(&self, video: &str) -> Result<String> {
        let retention = DataRetention::from_hours(self.video_retention_hours)
            .map_err(|e| Error::invalid("retention", video, e.to_string()))?;
        video_stream_arn(&self.config, video, Some(retention)).await
    }

    async fn ensure_processor(
        &self,
        rek: &Rekognition,
        spec: &ProcessorSpec,
    ) -> Result<ProcessorAction> {
        let name = spec.name.as_str();
        let existing = match rek.describe_processor(name).await {
            Ok(_) => Some(rek.wait_processor_settled(name, self.timeout).await?),
            Err(Error::ProcessorNotFound(_)) => None,
            Err(e) => return Err(e),
        };
        let action = match existing {
            None => {
                rek.create_processor(spec).await?;
                ProcessorAction::Created
            }
            Some(info) => {
                let differences = info.differences(spec);
                let running = info.status == ProcessorStatus::Running;
                match (differences.is_empty(), running) {
                    (true, true) => return Ok(ProcessorAction::AlreadyRunning),
                    (true, false) => ProcessorAction::Started,
                    (false, true) => {
                        return Err(Error::ProcessorDiffers {
                            name: name.to_owned(),
                            status: info.status.to_string(),
                            differences: differences.join(", "),
                        });
                    }
                    (false, false) => {
                        tracing::info!(processor = name, changes = %differences.join(", "), "replacing the stream processor");
                        rek.delete_processor(name).await?;
                        rek.create_processor(spec).await?;
                        ProcessorAction::Replaced
                    }
                }
            }
        };
        rek.start_processor(name, &self.start_at).await?;
        Ok(action)
    }

    /// Stops and deletes the processor; the collection, streams and records stay.
    pub async fn down(&self) -> Result<DownStatus> {
        self.down_with(Teardown::default()).await
    }

    /// Stops and deletes the processor, and the collection or the data stream if asked. What
    /// is already gone is skipped. The video stream always stays.
    pub async fn down_with(&self, teardown: Teardown) -> Result<DownStatus> {
        let processor = self.processor_name()?;
        let rek = Rekognition::new(&self.config);
        let mut status = DownStatus::default();
        match rek.wait_processor_settled(processor, self.timeout).await {
            Ok(info) => {
                if info.status == ProcessorStatus::Running {
                    rek.stop_processor(processor).await?;
                    rek.wait_processor_settled(processor, self.timeout).await?;
                    status.processor_stopped = true;
                }
                rek.delete_processor(processor).await?;
                status.processor_deleted = true;
            }
            Err(Error::ProcessorNotFound(_)) => {}
            Err(e) => return Err(e),
        }
        if teardown.delete_collection {
            let id = self.collection.as_deref().ok_or(Error::Missing(
                "the collection",
                "name the collection to delete it",
            ))?;
            match rek.delete_collection(id).await {
                Ok(()) => status.collection_deleted = true,
                Err(Error::CollectionNotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        if teardown.delete_data_stream {
            let name = self.data_stream.as_deref().ok_or(Error::Missing(
                "the data stream",
                "name the data stream to delete it",
            ))?;
            match DataStreams::new(&self.config).delete(name).await {
                Ok(()) => status.data_stream_deleted = true,
                Err(Error::DataStreamNotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(status)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_config_file_reads_with_defaults_and_a_relative_faces_dir() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pipeline.toml");
        std::fs::write(
            &path,
            "collection = \"faces\"\nfaces_dir = \"people\"\nvideo_stream = \"door\"\n\
             data_stream = \"kvs-ml\"\nprocessor = \"door-faces\"\n",
        )
        .unwrap();
        let c = PipelineConfig::load(&path).unwrap();
        assert_eq!(c.collection, "faces");
        assert_eq!(c.faces_dir, Some(dir.path().join("people")));
        assert_eq!(c.threshold, 80.0);
        assert_eq!(c.role_arn, None);
    }

    #[test]
    fn a_bad_config_names_the_problem() {
        let err = PipelineConfig::from_toml("collection = \"faces\"\nvideo = \"door\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("video"), "{err}");
        let err = PipelineConfig::load(Path::new("/no/such.toml")).unwrap_err();
        assert!(err.to_string().contains("/no/such.toml"), "{err}");
    }
}
