#![doc = include_str!("../README.md")]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use aws_sdk_kinesisvideoarchivedmedia::types::{
    ClipFragmentSelector, ClipFragmentSelectorType, ClipTimestampRange,
};
use aws_smithy_types::DateTime;
use kvs_endpoint::{EndpointResolver, KvsConfig, ServiceError};
use kvs_types::{ApiName, StreamRef, TimeRange};
use tokio::io::AsyncWriteExt;

pub use kvs_types::time_range;

/// Which clock a time range is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Clock {
    /// The producer's timestamps (when the video was recorded).
    #[default]
    Producer,
    /// When KVS received the fragments.
    Server,
}

/// An archived-media failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ArchiveError {
    /// The endpoint could not be resolved.
    #[error(transparent)]
    Resolve(#[from] kvs_endpoint::ResolveError),
    /// The service refused the request.
    #[error("{operation} failed: {source}")]
    Service {
        /// The API operation that failed, e.g. `GetClip`.
        operation: &'static str,
        /// What the service said.
        source: ServiceError,
    },
    /// The request could not be built.
    #[error("invalid request: {0}")]
    Request(String),
    /// The output file exists.
    #[error("{0} exists; choose another path or allow overwriting it")]
    Exists(PathBuf),
    /// Writing the output failed.
    #[error("writing {path}: {source}")]
    Io {
        /// The file being written: the temporary `NAME.partial` beside the target, or the
        /// target itself when renaming into place failed.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The download broke off.
    #[error("the download broke off after {bytes} bytes: {reason}")]
    Interrupted {
        /// Bytes received before it broke off (the partial file is deleted).
        bytes: u64,
        /// The transport's error.
        reason: String,
    },
}

/// What a clip download wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClipSummary {
    /// The file written: the path given to [`ClipDownload::to_file`].
    pub path: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
}

/// A clip download being set up; made by [`ArchiveClient::clip`].
#[must_use = "a clip download does nothing until `to_file` is awaited"]
pub struct ClipDownload<'a> {
    client: &'a ArchiveClient,
    stream: StreamRef,
    range: TimeRange,
    clock: Clock,
    overwrite: bool,
    progress: Box<dyn FnMut(u64, Option<u64>) + Send + 'a>,
}

impl std::fmt::Debug for ClipDownload<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClipDownload")
            .field("stream", &self.stream)
            .field("range", &self.range)
            .field("clock", &self.clock)
            .field("overwrite", &self.overwrite)
            .finish_non_exhaustive()
    }
}

impl<'a> ClipDownload<'a> {
    /// Which clock the range is on (default: the producer's).
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Whether an existing file at the target path may be replaced (default: no).
    pub fn overwrite(mut self, overwrite: bool) -> Self {
        self.overwrite = overwrite;
        self
    }

    /// Called with the bytes received so far and the total when known.
    pub fn progress(mut self, progress: impl FnMut(u64, Option<u64>) + Send + 'a) -> Self {
        self.progress = Box::new(progress);
        self
    }

    /// Downloads the clip into `path`, streamed into a temporary file beside it and renamed
    /// into place only when complete: a download that fails or breaks off leaves nothing at
    /// `path`.
    pub async fn to_file(self, path: impl AsRef<Path>) -> Result<ClipSummary, ArchiveError> {
        self.client.clip_to_file(self, path.as_ref()).await
    }
}

/// A client for a stream's archived media.
pub struct ArchiveClient {
    sdk: aws_sdk_kinesisvideoarchivedmedia::config::Builder,
    resolver: Arc<EndpointResolver>,
}

impl ArchiveClient {
    /// A client with `config`'s credentials, sharing its endpoint resolver.
    pub fn new(config: &KvsConfig) -> Self {
        Self {
            sdk: aws_sdk_kinesisvideoarchivedmedia::config::Builder::from(config.sdk_config()),
            resolver: config.resolver().clone(),
        }
    }

    /// A clip (GetClip) of `range` of `stream`, to be downloaded with [`ClipDownload::to_file`]:
    /// an MP4 of at most the first 200 fragments or 100 MB, as KVS limits GetClip.
    pub fn clip(&self, stream: &StreamRef, range: TimeRange) -> ClipDownload<'_> {
        ClipDownload {
            client: self,
            stream: stream.clone(),
            range,
            clock: Clock::default(),
            overwrite: false,
            progress: Box::new(|_, _| {}),
        }
    }

    async fn client(
        &self,
        stream: &StreamRef,
        api: ApiName,
    ) -> Result<aws_sdk_kinesisvideoarchivedmedia::Client, ArchiveError> {
        let endpoint = self.resolver.data_endpoint(stream, api).await?;
        Ok(aws_sdk_kinesisvideoarchivedmedia::Client::from_conf(
            self.sdk.clone().endpoint_url(endpoint).build(),
        ))
    }

    async fn clip_to_file(
        &self,
        request: ClipDownload<'_>,
        path: &Path,
    ) -> Result<ClipSummary, ArchiveError> {
        let ClipDownload {
            stream,
            range,
            clock,
            overwrite,
            mut progress,
            ..
        } = request;
        let stream = &stream;
        if path.exists() && !overwrite {
            return Err(ArchiveError::Exists(path.to_path_buf()));
        }
        let selector = ClipFragmentSelector::builder()
            .fragment_selector_type(match clock {
                Clock::Producer => ClipFragmentSelectorType::ProducerTimestamp,
                Clock::Server => ClipFragmentSelectorType::ServerTimestamp,
            })
            .timestamp_range(
                ClipTimestampRange::builder()
                    .start_timestamp(DateTime::from(range.start()))
                    .end_timestamp(DateTime::from(range.end()))
                    .build()
                    .map_err(|e| ArchiveError::Request(e.to_string()))?,
            )
            .build()
            .map_err(|e| ArchiveError::Request(e.to_string()))?;
        let client = self.client(stream, ApiName::GetClip).await?;
        let req = match stream {
            StreamRef::Name(n) => client.get_clip().stream_name(n.as_str()),
            StreamRef::Arn(a) => client.get_clip().stream_arn(a.as_str()),
        };
        let mut out = req
            .clip_fragment_selector(selector)
            .send()
            .await
            .map_err(|e| ArchiveError::Service {
                operation: "GetClip",
                source: e.into(),
            })?;
        let total = out.payload.size_hint().1;
        let partial = partial_path(path);
        let io = |source| ArchiveError::Io {
            path: partial.clone(),
            source,
        };
        // Declared before the file, so the file is closed before the guard removes it.
        let mut guard = PartialFile(Some(partial.clone()));
        let mut file = tokio::fs::File::create(&partial).await.map_err(io)?;
        let mut bytes = 0u64;
        while let Some(chunk) = out.payload.next().await {
            let chunk = chunk.map_err(|e| ArchiveError::Interrupted {
                bytes,
                reason: e.to_string(),
            })?;
            file.write_all(&chunk).await.map_err(io)?;
            bytes += chunk.len() as u64;
            progress(bytes, total);
        }
        file.sync_all().await.map_err(io)?;
        drop(file);
        if overwrite {
            tokio::fs::rename(&partial, path).await
        } else {
            // A link fails where a file has appeared since the check above; a rename would
            // replace it. The guard then removes the partial file.
            tokio::fs::hard_link(&partial, path).await
        }
        .map_err(|source| match source.kind() {
            std::io::ErrorKind::AlreadyExists => ArchiveError::Exists(path.to_path_buf()),
            _ => ArchiveError::Io {
                path: path.to_path_buf(),
                source,
            },
        })?;
        if overwrite {
            guard.0 = None;
        }
        Ok(ClipSummary {
            path: path.to_path_buf(),
            bytes,
        })
    }
}

/// How an HLS session plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PlaybackMode {
    /// The newest fragments, growing while the producer runs.
    #[default]
    Live,
    /// From a start time on, then live.
    LiveReplay,
    /// A closed range, as a finished playlist.
    OnDemand,
}

/// Options of an HLS or DASH session URL.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct HlsOptions {
    /// How the session plays (default: LIVE).
    pub mode: PlaybackMode,
    /// The range: LIVE_REPLAY plays from its start on (its end is not used), ON_DEMAND plays
    /// it whole; leave it `None` for LIVE.
    pub range: Option<TimeRange>,
    /// Which clock the range is on (default: the producer's).
    pub clock: Clock,
    /// How long the URL works (300 to 43200 s; the service defaults to 300).
    pub expires: Option<std::time::Duration>,
    /// Most fragments in a media playlist (HLS, `MaxMediaPlaylistFragmentResults`) or a
    /// manifest (DASH, `MaxManifestFragmentResults`); `None` leaves the service's default.
    pub max_fragments: Option<u32>,
    /// HLS only: MPEG-TS segments instead of fragmented MP4 (for older players).
    pub mpeg_ts: bool,
}

impl ArchiveClient {
    /// A GetHLSStreamingSessionURL URL that players (VLC, ffplay, hls.js) open directly.
    pub async fn hls_url(
        &self,
        stream: &StreamRef,
        options: &HlsOptions,
    ) -> Result<String, ArchiveError> {
        use aws_sdk_kinesisvideoarchivedmedia::types::{
            HlsFragmentSelector, HlsFragmentSelectorType, HlsPlaybackMode, HlsTimestampRange,
        };
        let client = self
            .client(stream, ApiName::GetHlsStreamingSessionUrl)
            .await?;
        let mut req = match stream {
            StreamRef::Name(n) => client
                .get_hls_streaming_session_url()
                .stream_name(n.as_str()),
            StreamRef::Arn(a) => client
                .get_hls_streaming_session_url()
                .stream_arn(a.as_str()),
        };
        req = req.playback_mode(match options.mode {
            PlaybackMode::Live => HlsPlaybackMode::Live,
            PlaybackMode::LiveReplay => HlsPlaybackMode::LiveReplay,
            PlaybackMode::OnDemand => HlsPlaybackMode::OnDemand,
        });
        if let Some(range) = options.range {
            let mut r = HlsTimestampRange::builder().start_timestamp(DateTime::from(range.start()));
            if options.mode == PlaybackMode::OnDemand {
                r = r.end_timestamp(DateTime::from(range.end()));
            }
            req = req.hls_fragment_selector(
                HlsFragmentSelector::builder()
                    .fragment_selector_type(match options.clock {
                        Clock::Producer => HlsFragmentSelectorType::ProducerTimestamp,
                        Clock::Server => HlsFragmentSelectorType::ServerTimestamp,
                    })
                    .timestamp_range(r.build())
                    .build(),
            );
        }
        if let Some(e) = options.expires {
            req = req.expires(e.as_secs().min(i32::MAX as u64) as i32);
        }
        if let Some(n) = options.max_fragments {
            req = req.max_media_playlist_fragment_results(i64::from(n));
        }
        if options.mpeg_ts {
            req = req.container_format(
                aws_sdk_kinesisvideoarchivedmedia::types::ContainerFormat::MpegTs,
            );
        }
        let out = req.send().await.map_err(|e| ArchiveError::Service {
            operation: "GetHLSStreamingSessionURL",
            source: e.into(),
        })?;
        out.hls_streaming_session_url.ok_or_else(|| {
            ArchiveError::Request("the service returned no HLSStreamingSessionURL".into())
        })
    }
}

impl ArchiveClient {
    /// A GetDASHStreamingSessionURL URL (an MPD manifest) that DASH players open directly.
    pub async fn dash_url(
        &self,
        stream: &StreamRef,
        options: &HlsOptions,
    ) -> Result<String, ArchiveError> {
        use aws_sdk_kinesisvideoarchivedmedia::types::{
            DashFragmentSelector, DashFragmentSelectorType, DashPlaybackMode, DashTimestampRange,
        };
        let client = self
            .client(stream, ApiName::GetDashStreamingSessionUrl)
            .await?;
        let mut req = match stream {
            StreamRef::Name(n) => client
                .get_dash_streaming_session_url()
                .stream_name(n.as_str()),
            StreamRef::Arn(a) => client
                .get_dash_streaming_session_url()
                .stream_arn(a.as_str()),
        };
        req = req.playback_mode(match options.mode {
            PlaybackMode::Live => DashPlaybackMode::Live,
            PlaybackMode::LiveReplay => DashPlaybackMode::LiveReplay,
            PlaybackMode::OnDemand => DashPlaybackMode::OnDemand,
        });
        if let Some(range) = options.range {
            let mut r =
                DashTimestampRange::builder().start_timestamp(DateTime::from(range.start()));
            if options.mode == PlaybackMode::OnDemand {
                r = r.end_timestamp(DateTime::from(range.end()));
            }
            req = req.dash_fragment_selector(
                DashFragmentSelector::builder()
                    .fragment_selector_type(match options.clock {
                        Clock::Producer => DashFragmentSelectorType::ProducerTimestamp,
                        Clock::Server => DashFragmentSelectorType::ServerTimestamp,
                    })
                    .timestamp_range(r.build())
                    .build(),
            );
        }
        if let Some(e) = options.expires {
            req = req.expires(e.as_secs().min(i32::MAX as u64) as i32);
        }
        if let Some(n) = options.max_fragments {
            req = req.max_manifest_fragment_results(i64::from(n));
        }
        let out = req.send().await.map_err(|e| ArchiveError::Service {
            operation: "GetDASHStreamingSessionURL",
            source: e.into(),
        })?;
        out.dash_streaming_session_url.ok_or_else(|| {
            ArchiveError::Request("the service returned no DASHStreamingSessionURL".into())
        })
    }
}

/// The encoding of still images.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StillFormat {
    /// JPEG at a quality from 1 to 100.
    Jpeg(u8),
    /// PNG.
    Png,
}

/// One sampled still image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Still {
    /// When it was sampled.
    pub timestamp: std::time::SystemTime,
    /// The encoded picture, or why there is none (`NO_MEDIA`, `MEDIA_ERROR`).
    pub image: Result<Vec<u8>, String>,
}

/// A GetImages request being set up; made by [`ArchiveClient::images`].
#[must_use = "an images request does nothing until `fetch` is awaited"]
pub struct ImagesRequest<'a> {
    client: &'a ArchiveClient,
    stream: StreamRef,
    range: TimeRange,
    clock: Clock,
    every: std::time::Duration,
    format: StillFormat,
    width: Option<u32>,
}

impl std::fmt::Debug for ImagesRequest<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImagesRequest")
            .field("stream", &self.stream)
            .field("range", &self.range)
            .field("clock", &self.clock)
            .field("every", &self.every)
            .field("format", &self.format)
            .field("width", &self.width)
            .finish_non_exhaustive()
    }
}

impl ImagesRequest<'_> {
    /// Which clock the range is on (default: the producer's).
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// One still per `every` of the range (default: 1 s; KVS takes 200 ms to 20 s).
    pub fn every(mut self, every: std::time::Duration) -> Self {
        self.every = every;
        self
    }

    /// The encoding (default: JPEG at quality 80).
    pub fn format(mut self, format: StillFormat) -> Self {
        self.format = format;
        self
    }

    /// Scale to `width` pixels wide; the height follows the aspect ratio (default: the
    /// video's own size).
    pub fn width(mut self, width: u32) -> Self {
        self.width = Some(width);
        self
    }

    /// Fetches every page of stills, in time order.
    pub async fn fetch(self) -> Result<Vec<Still>, ArchiveError> {
        self.client.fetch_images(self).await
    }
}

impl ArchiveClient {
    /// Stills (GetImages) sampled over `range` of `stream`, to be fetched with
    /// [`ImagesRequest::fetch`].
    pub fn images(&self, stream: &StreamRef, range: TimeRange) -> ImagesRequest<'_> {
        ImagesRequest {
            client: self,
            stream: stream.clone(),
            range,
            clock: Clock::default(),
            every: std::time::Duration::from_secs(1),
            format: StillFormat::Jpeg(80),
            width: None,
        }
    }

    async fn fetch_images(&self, request: ImagesRequest<'_>) -> Result<Vec<Still>, ArchiveError> {
        let ImagesRequest {
            stream,
            range,
            clock,
            every,
            format,
            width,
            ..
        } = request;
        let stream = &stream;
        use aws_sdk_kinesisvideoarchivedmedia::types::{
            Format, FormatConfigKey, ImageSelectorType,
        };
        use base64::Engine as _;
        let client = self.client(stream, ApiName::GetImages).await?;
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut req = match stream {
                StreamRef::Name(n) => client.get_images().stream_name(n.as_str()),
                StreamRef::Arn(a) => client.get_images().stream_arn(a.as_str()),
            };
            req = req
                .image_selector_type(match clock {
                    Clock::Producer => ImageSelectorType::ProducerTimestamp,
                    Clock::Server => ImageSelectorType::ServerTimestamp,
                })
                .start_timestamp(DateTime::from(range.start()))
                .end_timestamp(DateTime::from(range.end()))
                .sampling_interval(every.as_millis().min(i32::MAX as u128) as i32)
                .max_results(100)
                .set_next_token(token.take())
                .set_width_pixels(width.map(|w| w as i32));
            req = match format {
                StillFormat::Jpeg(q) => req
                    .format(Format::Jpeg)
                    .format_config(FormatConfigKey::JpegQuality, q.to_string()),
                StillFormat::Png => req.format(Format::Png),
            };
            let page = req.send().await.map_err(|e| ArchiveError::Service {
                operation: "GetImages",
                source: e.into(),
            })?;
            for image in page.images() {
                let timestamp = image
                    .time_stamp()
                    .and_then(|t| std::time::SystemTime::try_from(*t).ok())
                    .unwrap_or(std::time::UNIX_EPOCH);
                let decoded = match (image.image_content(), image.error()) {
                    (Some(b64), _) => base64::engine::general_purpose::STANDARD
                        .decode(b64)
                        .map_err(|e| format!("undecodable image content: {e}")),
                    (None, Some(err)) => Err(err.as_str().to_owned()),
                    (None, None) => Err("no image".to_owned()),
                };
                out.push(Still {
                    timestamp,
                    image: decoded,
                });
            }
            match page.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_owned()),
                _ => return Ok(out),
            }
        }
    }
}

/// Removes a partial download unless it was renamed into place: after an error, and also
/// when the download's future is dropped midway (a timeout, Ctrl-C, a `select!` that moved
/// on), which no error path sees.
struct PartialFile(Option<PathBuf>);

impl Drop for PartialFile {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

fn partial_path(path: &Path) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".partial");
    path.with_file_name(name)
}
