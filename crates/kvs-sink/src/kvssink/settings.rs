//! The element's properties, their defaults (the C++ element's), and their validation into a
//! [`Plan`] when the element starts.

use std::time::Duration;

use gstreamer as gst;
use kvs_media::{OverflowPolicy, ProducerConfig, Storage};
use kvs_types::{DataRetention, Region, StreamName, TagKey, TagValue};

use super::StreamingType;
use crate::tracks::VideoOverrides;

pub(super) const DEFAULT_AWS_REGION: &str = "us-west-2";
pub(super) const DEFAULT_STORAGE_SIZE_MB: u32 = 128;
pub(super) const DEFAULT_STREAMING_TYPE: StreamingType = StreamingType::Realtime;
pub(super) const DEFAULT_RETENTION_PERIOD_HOURS: u32 = 2;
pub(super) const DEFAULT_FRAGMENT_DURATION_MS: u32 = 2000;
pub(super) const DEFAULT_KEY_FRAME_FRAGMENTATION: bool = true;
pub(super) const DEFAULT_TIMECODE_SCALE_MS: u32 = 1;
pub(super) const DEFAULT_ABSOLUTE_FRAGMENT_TIMES: bool = true;
pub(super) const DEFAULT_FRAGMENT_ACKS: bool = true;
pub(super) const DEFAULT_RESTART_ON_ERROR: bool = true;
pub(super) const DEFAULT_MAX_LATENCY_S: u32 = 60;
pub(super) const DEFAULT_BUFFER_DURATION_S: u32 = 120;
pub(super) const DEFAULT_REPLAY_DURATION_S: u32 = 40;
pub(super) const DEFAULT_CONNECTION_STALENESS_S: u32 = 60;
pub(super) const DEFAULT_FRAMERATE: u32 = 25;
pub(super) const DEFAULT_AVG_BANDWIDTH_BPS: u32 = 4 * 1024 * 1024;
pub(super) const DEFAULT_CONTENT_TYPE: &str = "video/h264";
pub(super) const DEFAULT_CODEC_ID: &str = "V_MPEG4/ISO/AVC";
pub(super) const DEFAULT_TRACK_NAME: &str = "kinesis_video";
pub(super) const DEFAULT_FILE_START_TIME: u64 = 0;
pub(super) const DEFAULT_ALLOW_CREATE_STREAM: bool = true;
pub(super) const DEFAULT_CREDENTIAL_PATH: &str = ".kvs/credential";
pub(super) const DEFAULT_STOP_STREAM_TIMEOUT_S: u32 = 120;
pub(super) const DEFAULT_USE_ORIGINAL_PTS: bool = false;
pub(super) const DEFAULT_ROTATION_PERIOD_S: u32 = 3600;
pub(super) const DEFAULT_LOG_CONFIG: &str = "../kvs_log_configuration";

/// The environment variable the C++ element reads its control-plane endpoint from.
pub(super) const ENDPOINT_ENV: &str = "CONTROL_PLANE_URI";

/// Property values as set.
#[derive(Debug, Clone)]
pub(super) struct Settings {
    pub(super) stream_name: Option<String>,
    pub(super) aws_region: String,
    pub(super) access_key: Option<String>,
    pub(super) secret_key: Option<String>,
    pub(super) session_token: Option<String>,
    pub(super) storage_size: u32,
    pub(super) streaming_type: StreamingType,
    pub(super) retention_period: u32,
    pub(super) fragment_duration: u32,
    pub(super) key_frame_fragmentation: bool,
    pub(super) timecode_scale: u32,
    pub(super) absolute_fragment_times: bool,
    pub(super) fragment_acks: bool,
    pub(super) restart_on_error: bool,
    pub(super) max_latency: u32,
    pub(super) buffer_duration: u32,
    pub(super) replay_duration: u32,
    pub(super) connection_staleness: u32,
    pub(super) framerate: u32,
    pub(super) avg_bandwidth_bps: u32,
    pub(super) content_type: String,
    pub(super) codec_id: String,
    pub(super) track_name: String,
    pub(super) stream_tags: Option<gst::Structure>,
    pub(super) file_start_time: u64,
    pub(super) allow_create_stream: bool,
    pub(super) credential_path: String,
    pub(super) endpoint_url: Option<String>,
    pub(super) stop_stream_timeout: u32,
    pub(super) use_original_pts: bool,
    pub(super) rotation_period: u32,
    pub(super) log_config: String,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            stream_name: None,
            aws_region: DEFAULT_AWS_REGION.into(),
            access_key: None,
            secret_key: None,
            session_token: None,
            storage_size: DEFAULT_STORAGE_SIZE_MB,
            streaming_type: DEFAULT_STREAMING_TYPE,
            retention_period: DEFAULT_RETENTION_PERIOD_HOURS,
            fragment_duration: DEFAULT_FRAGMENT_DURATION_MS,
            key_frame_fragmentation: DEFAULT_KEY_FRAME_FRAGMENTATION,
            timecode_scale: DEFAULT_TIMECODE_SCALE_MS,
            absolute_fragment_times: DEFAULT_ABSOLUTE_FRAGMENT_TIMES,
            fragment_acks: DEFAULT_FRAGMENT_ACKS,
            restart_on_error: DEFAULT_RESTART_ON_ERROR,
            max_latency: DEFAULT_MAX_LATENCY_S,
            buffer_duration: DEFAULT_BUFFER_DURATION_S,
            replay_duration: DEFAULT_REPLAY_DURATION_S,
            connection_staleness: DEFAULT_CONNECTION_STALENESS_S,
            framerate: DEFAULT_FRAMERATE,
            avg_bandwidth_bps: DEFAULT_AVG_BANDWIDTH_BPS,
            content_type: DEFAULT_CONTENT_TYPE.into(),
            codec_id: DEFAULT_CODEC_ID.into(),
            track_name: DEFAULT_TRACK_NAME.into(),
            stream_tags: None,
            file_start_time: DEFAULT_FILE_START_TIME,
            allow_create_stream: DEFAULT_ALLOW_CREATE_STREAM,
            credential_path: DEFAULT_CREDENTIAL_PATH.into(),
            endpoint_url: None,
            stop_stream_timeout: DEFAULT_STOP_STREAM_TIMEOUT_S,
            use_original_pts: DEFAULT_USE_ORIGINAL_PTS,
            rotation_period: DEFAULT_ROTATION_PERIOD_S,
            log_config: DEFAULT_LOG_CONFIG.into(),
        }
    }
}

/// A property value the element cannot start with. Every message names the property.
#[derive(Debug, thiserror::Error)]
pub(super) enum SettingsError {
    #[error(
        "property stream-name is not set: give the Kinesis video stream's name, e.g. kvssink stream-name=my-stream"
    )]
    MissingStreamName,
    #[error("property stream-name={value:?} is not a valid stream name: {reason}")]
    StreamName { value: String, reason: String },
    #[error(
        "property timecode-scale={0} is not supported: only timecode-scale=1 (milliseconds, the default) is"
    )]
    TimecodeScale(u32),
    #[error("property aws-region={value:?} is not a valid region: {reason}")]
    Region { value: String, reason: String },
    #[error(
        "properties access-key and secret-key must be set together (only {0} is set); leave both unset to use the standard AWS credential chain"
    )]
    HalfCredentials(&'static str),
    #[error("property storage-size=0 is not allowed: the fragment store needs at least 1 MB")]
    StorageSize,
    #[error("property retention-period={value} is not valid: {reason}")]
    Retention { value: u32, reason: String },
    #[error("property stream-tags: {0}")]
    Tag(String),
    #[error("property endpoint-url={0:?} (or CONTROL_PLANE_URI) is not an http:// or https:// URL")]
    EndpointUrl(String),
}

/// Static credentials from the properties.
#[derive(Clone)]
pub(super) struct StaticCredentials {
    pub(super) access_key: String,
    pub(super) secret_key: String,
    pub(super) session_token: Option<String>,
}

impl std::fmt::Debug for StaticCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaticCredentials")
            .field("access_key", &self.access_key)
            .finish_non_exhaustive()
    }
}

/// Validated settings: everything the element needs to start.
#[derive(Debug, Clone)]
pub(super) struct Plan {
    pub(super) stream: StreamName,
    pub(super) region: String,
    pub(super) endpoint_url: Option<String>,
    pub(super) credentials: Option<StaticCredentials>,
    pub(super) producer: ProducerConfig,
    pub(super) retention: DataRetention,
    pub(super) allow_create_stream: bool,
    pub(super) tags: Vec<(TagKey, TagValue)>,
    /// The content type given, or `None` for the default (derived from the pads).
    pub(super) content_type: Option<String>,
    pub(super) video: VideoOverrides,
    pub(super) file_start_ns: Option<u64>,
    pub(super) stop_timeout: Duration,
}

fn non_empty(s: &Option<String>) -> Option<String> {
    s.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

impl Settings {
    /// Checks every property and resolves the configuration; `env_endpoint` is the value of
    /// `CONTROL_PLANE_URI`, used when `endpoint-url` is not set.
    pub(super) fn plan(&self, env_endpoint: Option<String>) -> Result<Plan, SettingsError> {
        let name = non_empty(&self.stream_name).ok_or(SettingsError::MissingStreamName)?;
        let stream = StreamName::new(name.as_str()).map_err(|e| SettingsError::StreamName {
            value: name.clone(),
            reason: e.reason().to_owned(),
        })?;
        if self.timecode_scale != 1 {
            return Err(SettingsError::TimecodeScale(self.timecode_scale));
        }
        let region = self.aws_region.trim();
        let region = if region.is_empty() {
            std::env::var("AWS_DEFAULT_REGION")
                .or_else(|_| std::env::var("AWS_REGION"))
                .ok()
                .filter(|r| !r.is_empty())
                .unwrap_or_else(|| DEFAULT_AWS_REGION.to_owned())
        } else {
            region.to_owned()
        };
        Region::new(region.as_str()).map_err(|e| SettingsError::Region {
            value: region.clone(),
            reason: e.reason().to_owned(),
        })?;
        let credentials = match (non_empty(&self.access_key), non_empty(&self.secret_key)) {
            (Some(access_key), Some(secret_key)) => Some(StaticCredentials {
                access_key,
                secret_key,
                session_token: non_empty(&self.session_token),
            }),
            (Some(_), None) => return Err(SettingsError::HalfCredentials("access-key")),
            (None, Some(_)) => return Err(SettingsError::HalfCredentials("secret-key")),
            (None, None) => None,
        };
        let endpoint_url = non_empty(&self.endpoint_url)
            .or_else(|| non_empty(&env_endpoint))
            .map(|url| {
                if url.starts_with("http://") || url.starts_with("https://") {
                    Ok(url)
                } else {
                    Err(SettingsError::EndpointUrl(url))
                }
            })
            .transpose()?;
        if self.storage_size == 0 {
            return Err(SettingsError::StorageSize);
        }
        let retention =
            DataRetention::from_hours(i64::from(self.retention_period)).map_err(|e| {
                SettingsError::Retention {
                    value: self.retention_period,
                    reason: e.reason().to_owned(),
                }
            })?;
        let tags = self.tags()?;
        let mut producer = ProducerConfig::default();
        producer.storage = Storage::Memory {
            max_bytes: u64::from(self.storage_size) * 1024 * 1024,
        };
        // As AWS's producer SDK: the store holds at most buffer-duration of media (0: no bound
        // but storage-size).
        producer.max_buffered = (self.buffer_duration > 0)
            .then(|| Duration::from_secs(u64::from(self.buffer_duration)));
        producer.overflow = match self.streaming_type {
            StreamingType::Offline => OverflowPolicy::Block,
            StreamingType::Realtime | StreamingType::NearRealtime => OverflowPolicy::DropOldest,
        };
        producer.fragments.fragment_duration =
            Duration::from_millis(u64::from(self.fragment_duration));
        producer.fragments.key_frame_fragmentation = self.key_frame_fragmentation;
        // The producer always sends ABSOLUTE timecodes (see `Settings::ignored`).
        producer.fragments.absolute_fragment_times = true;
        // 0 turns the staleness check off, as in the C++ element.
        producer.connection_staleness = match self.connection_staleness {
            0 => Duration::from_secs(365 * 24 * 3600),
            s => Duration::from_secs(u64::from(s)),
        };
        let content_type = (self.content_type != DEFAULT_CONTENT_TYPE)
            .then(|| self.content_type.trim().to_owned())
            .filter(|c| !c.is_empty());
        let video = VideoOverrides {
            codec_id: (self.codec_id != DEFAULT_CODEC_ID && !self.codec_id.trim().is_empty())
                .then(|| self.codec_id.trim().to_owned()),
            track_name: Some(self.track_name.clone()).filter(|n| !n.is_empty()),
            framerate: self.framerate,
        };
        Ok(Plan {
            stream,
            region,
            endpoint_url,
            credentials,
            producer,
            retention,
            allow_create_stream: self.allow_create_stream,
            tags,
            content_type,
            video,
            file_start_ns: (self.file_start_time > 0)
                .then(|| self.file_start_time.saturating_mul(1_000_000_000)),
            stop_timeout: Duration::from_secs(u64::from(self.stop_stream_timeout)),
        })
    }

    fn tags(&self) -> Result<Vec<(TagKey, TagValue)>, SettingsError> {
        let Some(s) = &self.stream_tags else {
            return Ok(Vec::new());
        };
        let mut tags = Vec::new();
        for (field, value) in s.iter() {
            let key = TagKey::new(field.as_str()).map_err(|e| SettingsError::Tag(e.to_string()))?;
            let text = match value.get::<String>() {
                Ok(t) => t,
                Err(_) => value
                    .transform::<String>()
                    .ok()
                    .and_then(|v| v.get::<String>().ok())
                    .ok_or_else(|| {
                        SettingsError::Tag(format!(
                            "the value of tag {field:?} ({}) cannot be turned into text",
                            value.type_()
                        ))
                    })?,
            };
            let value = TagValue::new(text).map_err(|e| SettingsError::Tag(e.to_string()))?;
            tags.push((key, value));
        }
        Ok(tags)
    }

    /// Properties set to a value this implementation does not act on, for a warning at start.
    pub(super) fn ignored(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut check = |set: bool, what: &str| {
            if set {
                out.push(what.to_owned());
            }
        };
        check(
            !self.absolute_fragment_times,
            "absolute-fragment-times=false (fragment timecodes are always absolute)",
        );
        check(
            !self.fragment_acks,
            "fragment-acks=false (acknowledgements are always requested: they free the store)",
        );
        check(
            !self.restart_on_error,
            "restart-on-error=false (the producer always reconnects)",
        );
        check(
            self.max_latency != DEFAULT_MAX_LATENCY_S,
            "max-latency (no latency pressure callback)",
        );
        check(
            self.replay_duration != DEFAULT_REPLAY_DURATION_S,
            "replay-duration (everything unacknowledged is resent)",
        );
        check(
            self.avg_bandwidth_bps != DEFAULT_AVG_BANDWIDTH_BPS,
            "avg-bandwidth-bps",
        );
        check(
            self.credential_path != DEFAULT_CREDENTIAL_PATH,
            "credential-path (use access-key/secret-key or the AWS credential chain)",
        );
        check(self.use_original_pts, "use-original-pts");
        check(
            self.rotation_period != DEFAULT_ROTATION_PERIOD_S,
            "rotation-period",
        );
        check(self.log_config != DEFAULT_LOG_CONFIG, "log-config");
        out
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn named(name: &str) -> Settings {
        Settings {
            stream_name: Some(name.into()),
            ..Settings::default()
        }
    }

    #[test]
    fn defaults_plan() {
        let plan = named("cam-1").plan(None).unwrap();
        assert_eq!(plan.stream.as_str(), "cam-1");
        assert_eq!(plan.region, "us-west-2");
        assert_eq!(plan.endpoint_url, None);
        assert!(plan.credentials.is_none());
        assert_eq!(
            plan.producer.storage,
            Storage::Memory {
                max_bytes: 128 << 20
            }
        );
        assert_eq!(plan.producer.overflow, OverflowPolicy::DropOldest);
        assert_eq!(plan.producer.max_buffered, Some(Duration::from_secs(120)));
        assert_eq!(
            plan.producer.fragments.fragment_duration,
            Duration::from_secs(2)
        );
        assert_eq!(plan.retention.hours(), 2);
        assert_eq!(plan.stop_timeout, Duration::from_secs(120));
        assert_eq!(plan.file_start_ns, None);
        assert!(named("cam-1").ignored().is_empty());
    }

    #[test]
    fn bad_values_name_the_property() {
        let cases: Vec<(Settings, &str)> = vec![
            (Settings::default(), "stream-name"),
            (named("bad name!"), "stream-name"),
            (
                Settings {
                    timecode_scale: 5,
                    ..named("s")
                },
                "timecode-scale=5",
            ),
            (
                Settings {
                    aws_region: "US West".into(),
                    ..named("s")
                },
                "aws-region",
            ),
            (
                Settings {
                    access_key: Some("AKID".into()),
                    ..named("s")
                },
                "secret-key",
            ),
            (
                Settings {
                    storage_size: 0,
                    ..named("s")
                },
                "storage-size",
            ),
            (
                Settings {
                    endpoint_url: Some("localhost:4567".into()),
                    ..named("s")
                },
                "endpoint-url",
            ),
        ];
        for (settings, property) in cases {
            let err = settings.plan(None).unwrap_err().to_string();
            assert!(err.contains(property), "{err:?} does not name {property}");
        }
    }

    #[test]
    fn offline_blocks_and_env_endpoint_applies() {
        let settings = Settings {
            streaming_type: StreamingType::Offline,
            file_start_time: 1_700_000_000,
            access_key: Some("AKID".into()),
            secret_key: Some("secret".into()),
            ..named("s")
        };
        let plan = settings.plan(Some("http://127.0.0.1:1".into())).unwrap();
        assert_eq!(plan.producer.overflow, OverflowPolicy::Block);
        let unbounded = Settings {
            buffer_duration: 0,
            ..named("s")
        };
        assert_eq!(unbounded.plan(None).unwrap().producer.max_buffered, None);
        assert_eq!(plan.endpoint_url.as_deref(), Some("http://127.0.0.1:1"));
        assert_eq!(plan.file_start_ns, Some(1_700_000_000_000_000_000));
        assert_eq!(plan.credentials.unwrap().access_key, "AKID");
    }

    #[test]
    fn stream_tags_become_tags() {
        gst::init().unwrap();
        let settings = Settings {
            stream_tags: Some(
                gst::Structure::builder("tags")
                    .field("owner", "team-a")
                    .field("floor", 3i32)
                    .build(),
            ),
            ..named("s")
        };
        let tags = settings.plan(None).unwrap().tags;
        let tags: Vec<(&str, &str)> = tags.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(tags, vec![("owner", "team-a"), ("floor", "3")]);
    }
}
