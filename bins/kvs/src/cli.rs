//! The command line, as clap parses it.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use kvs_media::StartSelector;
use kvs_types::{ApiName, ChannelProtocol, ChannelRole, DataRetention};

/// Amazon Kinesis Video Streams from the terminal.
///
/// With no AWS region or endpoint configured (no --region/--endpoint-url, no AWS_REGION,
/// AWS_ENDPOINT_URL or profile region), kvs uses kvs-local, the offline KVS server: the one
/// already running on the local data directory, or one it starts for the command.
#[derive(Parser, Debug)]
#[command(name = "kvs", version, about, propagate_version = true)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) global: GlobalArgs,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Args, Debug)]
pub(crate) struct GlobalArgs {
    /// AWS region (overrides AWS_REGION and the profile).
    #[arg(long, global = true)]
    pub(crate) region: Option<String>,
    /// Named AWS profile from ~/.aws/config.
    #[arg(long, global = true)]
    pub(crate) profile: Option<String>,
    /// Send every request to this endpoint (e.g. a kvs-local at http://127.0.0.1:4567).
    #[arg(long, global = true)]
    pub(crate) endpoint_url: Option<String>,
    /// Check https/wss endpoints against the CA certificates in this PEM file instead of the
    /// default roots (overrides AWS_CA_BUNDLE), e.g. a kvs-local's: `kvs-local ca --path`.
    #[arg(long, global = true)]
    pub(crate) ca_bundle: Option<PathBuf>,
    /// Data directory of the embedded kvs-local.
    #[arg(long, global = true, env = "KVS_LOCAL_DATA_DIR")]
    pub(crate) local_data_dir: Option<PathBuf>,
    /// Output format.
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Json)]
    pub(crate) output: OutputFormat,
    /// On failure, also print the whole error chain (the AWS SDK's included).
    #[arg(long, global = true)]
    pub(crate) debug: bool,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OutputFormat {
    /// JSON with the AWS CLI's field names.
    Json,
    /// Aligned columns for people.
    Table,
}

#[derive(Subcommand, Debug)]
pub(crate) enum Command {
    /// Create, inspect and delete video streams.
    #[command(subcommand)]
    Stream(StreamCommand),
    /// Create, inspect and delete WebRTC signaling channels.
    #[command(subcommand)]
    Channel(ChannelCommand),
    /// Resolve a data endpoint of a stream or the signaling endpoints of a channel.
    Endpoint(EndpointArgs),
    /// Download a stream's media (GetMedia) into one MKV file.
    GetMedia(GetMediaArgs),
    /// List a stream's fragments (ListFragments) in a time range.
    Fragments(FragmentsArgs),
    /// Download a time range of a stream as an MP4 file (GetClip).
    Clip(ClipArgs),
    /// Stream video into KVS (PutMedia) from a file, an RTSP camera, a test pattern or a camera.
    Put(PutArgs),
    /// Print an HLS URL that VLC, ffplay or a browser player opens (GetHLSStreamingSessionURL).
    HlsUrl(HlsUrlArgs),
    /// Print a DASH manifest URL (GetDASHStreamingSessionURL); same options as hls-url.
    DashUrl(HlsUrlArgs),
    /// Save still images sampled from a stream (GetImages) into a directory.
    Images(ImagesArgs),
    /// Rekognition face search: collections, indexed faces, stream processors, live matches.
    #[command(subcommand)]
    Faces(FacesCommand),
    /// WebRTC on a signaling channel: a master serving viewers, or a viewer.
    #[command(subcommand)]
    Webrtc(WebrtcCommand),
}

#[derive(Subcommand, Debug)]
pub(crate) enum FacesCommand {
    /// Create, list, describe and delete face collections.
    #[command(subcommand)]
    Collection(CollectionCommand),
    /// Index every .jpg/.jpeg/.png of a folder into a collection; the external id is the file
    /// name without the extension (danny-1.jpg -> danny-1). Names already indexed are skipped.
    Index(IndexArgs),
    /// Create, inspect, start, stop and delete face search stream processors.
    #[command(subcommand)]
    Processor(ProcessorCommand),
    /// Print face matches from a processor's Kinesis data stream as they arrive.
    Watch(WatchArgs),
    /// Bring a whole pipeline (collection, faces, streams, processor) up or down from a TOML
    /// file.
    #[command(subcommand)]
    Pipeline(PipelineCommand),
}

#[derive(Subcommand, Debug)]
pub(crate) enum CollectionCommand {
    /// Create a face collection.
    Create {
        /// Collection id (letters, digits, '_', '.', '-').
        name: String,
    },
    /// List face collections.
    List,
    /// Describe a face collection (face count, model version).
    Describe {
        /// Collection id.
        name: String,
    },
    /// Delete a face collection and its faces.
    Delete {
        /// Collection id.
        name: String,
    },
}

#[derive(Args, Debug)]
pub(crate) struct IndexArgs {
    /// The collection to index into (it must exist).
    #[arg(long)]
    pub(crate) collection: String,
    /// Create the collection if it does not exist.
    #[arg(long)]
    pub(crate) create: bool,
    /// The folder of face photos (one person's face per photo).
    pub(crate) dir: PathBuf,
}

#[derive(Subcommand, Debug)]
pub(crate) enum ProcessorCommand {
    /// Create a face search stream processor (stopped; start it with `start`).
    Create {
        /// Processor name (letters, digits, '_', '.', '-').
        name: String,
        /// The Kinesis video stream analysed (name or ARN).
        #[arg(long)]
        video_stream: String,
        /// The Kinesis data stream the records go to (name or ARN).
        #[arg(long)]
        data_stream: String,
        /// The face collection searched.
        #[arg(long)]
        collection: String,
        /// The lowest similarity (0-100) reported as a match.
        #[arg(long, default_value_t = kvs_rekognition::DEFAULT_THRESHOLD)]
        threshold: f32,
        /// The IAM role Rekognition acts as (required on AWS; kvs-local takes a placeholder).
        #[arg(long)]
        role_arn: Option<String>,
    },
    /// List stream processors.
    List,
    /// Describe a stream processor.
    Describe {
        /// Processor name.
        name: String,
    },
    /// Start a stream processor.
    Start {
        /// Processor name.
        name: String,
        /// Where to start: now, fragment:NUMBER or producer:TIME (RFC 3339). AWS only
        /// accepts `now` for face search.
        #[arg(long, default_value = "now")]
        start: String,
    },
    /// Stop a running stream processor.
    Stop {
        /// Processor name.
        name: String,
    },
    /// Delete a stream processor.
    Delete {
        /// Processor name.
        name: String,
    },
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ReadFrom {
    /// Only records written from now on.
    Latest,
    /// Every record the stream still holds.
    TrimHorizon,
}

#[derive(Args, Debug)]
pub(crate) struct WatchArgs {
    /// The Kinesis data stream the processor writes to (name or ARN).
    #[arg(long)]
    pub(crate) data_stream: String,
    /// Where to start reading.
    #[arg(long, value_enum, default_value_t = ReadFrom::Latest)]
    pub(crate) from: ReadFrom,
    /// Stop after this long, e.g. 30s or 5m (default: until Ctrl-C).
    #[arg(long)]
    pub(crate) duration: Option<String>,
    /// Stop after this many matches (records with --records).
    #[arg(long)]
    pub(crate) max: Option<u64>,
    /// Print every record (one per analysed frame, faces or not) instead of matches only.
    #[arg(long)]
    pub(crate) records: bool,
    /// Resume after the positions saved in this file when it exists (shards it does not name
    /// are read from their oldest record), and keep it up to date.
    #[arg(long, value_name = "FILE")]
    pub(crate) checkpoint: Option<PathBuf>,
    /// Save each match's frame (GetImages) as a JPEG in this directory.
    #[arg(long, value_name = "DIR")]
    pub(crate) frames: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub(crate) enum PipelineCommand {
    /// Ensure the collection, index the faces folder, ensure the video and data streams, and
    /// create (or replace) and start the processor. Running it again changes only what differs.
    Up {
        /// The pipeline file: collection, faces_dir, video_stream, data_stream, processor,
        /// threshold, role_arn.
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
    },
    /// Stop and delete the processor; the collection, streams and records stay unless asked.
    Down {
        /// The pipeline file.
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// Delete the face collection too.
        #[arg(long)]
        delete_collection: bool,
        /// Delete the Kinesis data stream (and its records) too.
        #[arg(long)]
        delete_data_stream: bool,
    },
}

#[derive(Args, Debug)]
pub(crate) struct ImagesArgs {
    /// Stream name or ARN.
    #[arg(long)]
    pub(crate) stream: String,
    /// How far back from now, e.g. 1m.
    #[arg(long, conflicts_with = "start")]
    pub(crate) last: Option<String>,
    /// Range start (RFC 3339).
    #[arg(long)]
    pub(crate) start: Option<String>,
    /// Range end (RFC 3339); defaults to now.
    #[arg(long, requires = "start")]
    pub(crate) end: Option<String>,
    /// Sampling interval, e.g. 5s (at least 200 ms).
    #[arg(long, default_value = "5s")]
    pub(crate) every: String,
    /// Image format.
    #[arg(long, value_enum, default_value_t = StillFormatArg::Jpeg)]
    pub(crate) format: StillFormatArg,
    /// Scale to this width (the height follows).
    #[arg(long)]
    pub(crate) width: Option<u32>,
    /// The directory to write into (created if missing).
    #[arg(short = 'o', long = "output-dir", value_name = "DIR")]
    pub(crate) output_dir: std::path::PathBuf,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StillFormatArg {
    /// JPEG (quality 80).
    Jpeg,
    /// PNG.
    Png,
}

#[derive(Args, Debug)]
pub(crate) struct HlsUrlArgs {
    /// Stream name or ARN.
    #[arg(long)]
    pub(crate) stream: String,
    /// The newest video, growing while the producer runs (the default).
    #[arg(long, conflicts_with_all = ["on_demand", "replay"])]
    pub(crate) live: bool,
    /// A closed range (--last or --start/--end) as a finished playlist.
    #[arg(long)]
    pub(crate) on_demand: bool,
    /// From --start (or --last) on, then live.
    #[arg(long, conflicts_with = "on_demand")]
    pub(crate) replay: bool,
    /// How far back, e.g. 5m.
    #[arg(long, conflicts_with = "start")]
    pub(crate) last: Option<String>,
    /// Range start (RFC 3339).
    #[arg(long)]
    pub(crate) start: Option<String>,
    /// Range end (RFC 3339); defaults to now.
    #[arg(long, requires = "start")]
    pub(crate) end: Option<String>,
    /// How long the URL works, e.g. 5m, 1h (300 s to 12 h).
    #[arg(long)]
    pub(crate) expires: Option<String>,
    /// HLS only: MPEG-TS segments instead of fragmented MP4.
    #[arg(long)]
    pub(crate) ts: bool,
}

#[derive(Args, Debug)]
#[command(group = clap::ArgGroup::new("source").required(true))]
pub(crate) struct PutArgs {
    /// Stream name or ARN.
    #[arg(long)]
    pub(crate) stream: String,
    #[command(flatten)]
    pub(crate) source: SourceArgs,
    /// Stop after this much video, e.g. 30s or 5m (default: until the source ends or Ctrl-C).
    #[arg(long)]
    pub(crate) duration: Option<String>,
    /// Upload as fast as acknowledgements allow instead of at real-time pace (files only;
    /// the default for files).
    #[arg(long, conflicts_with = "realtime")]
    pub(crate) offline: bool,
    /// Play files at real-time pace, as a camera would.
    #[arg(long)]
    pub(crate) realtime: bool,
    /// Create the stream if it does not exist.
    #[arg(long)]
    pub(crate) create: bool,
    /// Retention of a stream created with --create: hours, or 24h / 7d.
    #[arg(long, default_value = "24h", requires = "create")]
    pub(crate) retention: DataRetention,
    /// Where fragments wait for acknowledgement: memory:SIZE or disk:DIR[:SIZE] (a disk buffer
    /// survives restarts and long outages).
    #[arg(long, default_value = "memory:128MB")]
    pub(crate) buffer: String,
    /// When the buffer is full: drop the oldest fragments, or hold the source back.
    #[arg(long, value_enum, default_value_t = Overflow::DropOldest)]
    pub(crate) overflow: Overflow,
    /// Fragment length (a fragment also starts on every key frame).
    #[arg(long, default_value = "2s")]
    pub(crate) fragment_duration: String,
    /// How long to wait at the end for every fragment to be acknowledged.
    #[arg(long, default_value = "60s")]
    pub(crate) ack_timeout: String,
}

/// Where video comes from: exactly one of a file, an RTSP camera, a test pattern or a device.
#[derive(Args, Debug)]
pub(crate) struct SourceArgs {
    /// An MKV or MP4 file with H.264/H.265 and optional AAC (not re-encoded).
    #[arg(long, group = "source")]
    pub(crate) file: Option<std::path::PathBuf>,
    /// An RTSP camera URL (read over TCP).
    #[arg(long, group = "source")]
    pub(crate) rtsp: Option<String>,
    /// A generated test pattern (H.264, with --audio a tone in AAC).
    #[arg(long, group = "source")]
    pub(crate) test_pattern: bool,
    /// A V4L2 camera such as /dev/video0.
    #[arg(long, group = "source")]
    pub(crate) device: Option<std::path::PathBuf>,
    /// Test pattern: add an audio track.
    #[arg(long)]
    pub(crate) audio: bool,
    /// Test pattern: width x height, e.g. 1280x720.
    #[arg(long, default_value = "640x480")]
    pub(crate) size: String,
    /// Test pattern: frames per second.
    #[arg(long, default_value_t = 30)]
    pub(crate) fps: u32,
    /// Test pattern: H.264 bitrate in kbit/s.
    #[arg(long, default_value_t = 1000)]
    pub(crate) bitrate_kbps: u32,
}

#[derive(Subcommand, Debug)]
pub(crate) enum WebrtcCommand {
    /// Serve a signaling channel's viewers (up to 10) from a file, an RTSP camera, a test
    /// pattern or a camera, until Ctrl-C or --duration.
    Master(WebrtcMasterArgs),
    /// Connect to a channel's master, print live statistics, optionally record the video.
    Viewer(WebrtcViewerArgs),
}

#[derive(Args, Debug)]
#[command(group = clap::ArgGroup::new("source").required(true))]
pub(crate) struct WebrtcMasterArgs {
    /// Signaling channel name or ARN.
    #[arg(long)]
    pub(crate) channel: String,
    /// Create the channel if it does not exist.
    #[arg(long)]
    pub(crate) create: bool,
    #[command(flatten)]
    pub(crate) source: SourceArgs,
    /// Stop after this long, e.g. 30s or 5m (default: until Ctrl-C or the source ends).
    #[arg(long)]
    pub(crate) duration: Option<String>,
    /// Use only relayed (TURN) connections.
    #[arg(long)]
    pub(crate) relay_only: bool,
}

#[derive(Args, Debug)]
pub(crate) struct WebrtcViewerArgs {
    /// Signaling channel name or ARN.
    #[arg(long)]
    pub(crate) channel: String,
    /// The viewer's client id (default: a random kvs-viewer-... id).
    #[arg(long)]
    pub(crate) client_id: Option<String>,
    /// Write the received video to this MKV file.
    #[arg(long)]
    pub(crate) record: Option<std::path::PathBuf>,
    /// Stop after this long, e.g. 10s (default: until Ctrl-C or the master leaves).
    #[arg(long)]
    pub(crate) duration: Option<String>,
    /// Use only relayed (TURN) connections.
    #[arg(long)]
    pub(crate) relay_only: bool,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Overflow {
    /// Drop the oldest whole fragments and report it.
    DropOldest,
    /// Hold the source back until acknowledgements free space.
    Block,
}

#[derive(Args, Debug)]
pub(crate) struct ClipArgs {
    /// Stream name or ARN.
    #[arg(long)]
    pub(crate) stream: String,
    /// How far back from now, e.g. 30s, 5m, 2h.
    #[arg(long, conflicts_with = "start")]
    pub(crate) last: Option<String>,
    /// Range start (RFC 3339, e.g. 2024-05-01T12:00:00Z).
    #[arg(long)]
    pub(crate) start: Option<String>,
    /// Range end (RFC 3339); defaults to now.
    #[arg(long, requires = "start")]
    pub(crate) end: Option<String>,
    /// Which timestamps the range applies to.
    #[arg(long, value_enum, default_value_t = Clock::Producer)]
    pub(crate) clock: Clock,
    /// The MP4 file to write.
    #[arg(short = 'o', long = "output-file", value_name = "FILE")]
    pub(crate) output_file: std::path::PathBuf,
    /// Replace the output file if it exists.
    #[arg(long)]
    pub(crate) force: bool,
}

#[derive(Args, Debug)]
pub(crate) struct GetMediaArgs {
    /// Stream name or ARN.
    #[arg(long)]
    pub(crate) stream: String,
    /// Where to start: earliest, now, fragment:NUMBER, producer:TIME, server:TIME (RFC 3339),
    /// or token:CONTINUATION_TOKEN.
    #[arg(long, default_value = "earliest")]
    pub(crate) start: StartSelector,
    /// The MKV file to write.
    #[arg(short = 'o', long = "output-file", value_name = "FILE")]
    pub(crate) output_file: std::path::PathBuf,
    /// Replace the output file if it exists.
    #[arg(long)]
    pub(crate) force: bool,
    /// Stop after this many fragments (GetMedia otherwise follows a live stream until the
    /// producer stops).
    #[arg(long)]
    pub(crate) max_fragments: Option<u64>,
}

#[derive(Args, Debug)]
pub(crate) struct FragmentsArgs {
    /// Stream name or ARN.
    #[arg(long)]
    pub(crate) stream: String,
    /// How far back from now, e.g. 30s, 5m, 2h, 1d.
    #[arg(long, conflicts_with = "start")]
    pub(crate) last: Option<String>,
    /// Range start (RFC 3339, e.g. 2024-05-01T12:00:00Z).
    #[arg(long)]
    pub(crate) start: Option<String>,
    /// Range end (RFC 3339); defaults to now.
    #[arg(long, requires = "start")]
    pub(crate) end: Option<String>,
    /// Which timestamps the range applies to.
    #[arg(long, value_enum, default_value_t = Clock::Producer)]
    pub(crate) clock: Clock,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Clock {
    /// The producer's timestamps.
    Producer,
    /// When KVS received each fragment.
    Server,
}

#[derive(Subcommand, Debug)]
pub(crate) enum StreamCommand {
    /// Create a stream.
    Create {
        /// Stream name (letters, digits, '_', '.', '-').
        name: String,
        /// How long to keep media: hours, or with a unit (24h, 7d). 0 keeps none (live only).
        #[arg(long, default_value = "0")]
        retention: DataRetention,
        /// Media type, e.g. video/h264.
        #[arg(long)]
        media_type: Option<String>,
        /// Name of the producing device.
        #[arg(long)]
        device_name: Option<String>,
        /// KMS key for encryption at rest.
        #[arg(long)]
        kms_key_id: Option<String>,
        /// Tag as KEY=VALUE; repeat for more.
        #[arg(long = "tag", value_parser = parse_tag)]
        tags: Vec<(String, String)>,
        /// Succeed and describe the stream if it already exists.
        #[arg(long)]
        if_not_exists: bool,
    },
    /// Describe a stream.
    Describe {
        /// Stream name or ARN.
        stream: String,
    },
    /// List streams.
    List {
        /// Only streams whose name starts with this.
        #[arg(long)]
        prefix: Option<String>,
    },
    /// Delete a stream and all its media.
    Delete {
        /// Stream name or ARN.
        stream: String,
    },
    /// Set how long a stream keeps its media.
    Retention {
        /// Stream name or ARN.
        stream: String,
        /// New retention: hours, or with a unit (24h, 7d).
        retention: DataRetention,
    },
    /// Show a stream's tags, after adding (KEY=VALUE) and removing (--remove KEY) any.
    Tag {
        /// Stream name or ARN.
        stream: String,
        /// Tags to add or replace, as KEY=VALUE.
        #[arg(value_parser = parse_tag)]
        add: Vec<(String, String)>,
        /// Tag keys to remove; repeat for more.
        #[arg(long)]
        remove: Vec<String>,
    },
}

#[derive(Subcommand, Debug)]
pub(crate) enum ChannelCommand {
    /// Create a single-master signaling channel.
    Create {
        /// Channel name (letters, digits, '_', '.', '-').
        name: String,
        /// Seconds (5-120) an undelivered message is kept.
        #[arg(long)]
        message_ttl: Option<u32>,
        /// Tag as KEY=VALUE; repeat for more.
        #[arg(long = "tag", value_parser = parse_tag)]
        tags: Vec<(String, String)>,
        /// Succeed and describe the channel if it already exists.
        #[arg(long)]
        if_not_exists: bool,
    },
    /// Describe a signaling channel.
    Describe {
        /// Channel name or ARN.
        channel: String,
    },
    /// List signaling channels.
    List {
        /// Only channels whose name starts with this.
        #[arg(long)]
        prefix: Option<String>,
    },
    /// Delete a signaling channel.
    Delete {
        /// Channel name or ARN.
        channel: String,
    },
}

#[derive(Args, Debug)]
#[command(group = clap::ArgGroup::new("target").required(true).args(["stream", "channel"]))]
pub(crate) struct EndpointArgs {
    /// Stream name or ARN: print its data endpoint for --api.
    #[arg(long)]
    pub(crate) stream: Option<String>,
    /// Data-plane API (PUT_MEDIA, GET_MEDIA, LIST_FRAGMENTS, GET_MEDIA_FOR_FRAGMENT_LIST,
    /// GET_HLS_STREAMING_SESSION_URL, GET_DASH_STREAMING_SESSION_URL, GET_CLIP, GET_IMAGES).
    #[arg(long, requires = "stream", default_value = "GET_MEDIA")]
    pub(crate) api: ApiName,
    /// Channel name or ARN: print its signaling endpoints.
    #[arg(long, conflicts_with = "stream")]
    pub(crate) channel: Option<String>,
    /// Signaling role.
    #[arg(long, default_value = "MASTER")]
    pub(crate) role: ChannelRole,
    /// Signaling protocols; repeat or comma-separate.
    #[arg(long, value_delimiter = ',', default_values = ["WSS", "HTTPS"])]
    pub(crate) protocol: Vec<ChannelProtocol>,
}

fn parse_tag(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("tag {s:?} must be KEY=VALUE"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
