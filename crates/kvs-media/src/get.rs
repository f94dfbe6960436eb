//! GetMedia: a stream's fragments from a start selector, parsed into frames with their KVS tags.

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use aws_sdk_kinesisvideomedia::primitives::ByteStream;
use aws_sdk_kinesisvideomedia::types::{StartSelector as WireSelector, StartSelectorType};
use kvs_endpoint::{EndpointResolver, KvsConfig, ServiceError};
use kvs_mkv::{Event, Frame, ParseError, Parser, SimpleTag, TrackInfo};
use kvs_types::{ApiName, FragmentNumber, InvalidValue, StreamRef, parse_instant, rfc3339};

/// Where GetMedia starts.
#[derive(Debug, Clone, PartialEq)]
pub enum StartSelector {
    /// The oldest fragment kept.
    Earliest,
    /// Fragments arriving from now on.
    Now,
    /// This fragment and the ones after it.
    FragmentNumber(FragmentNumber),
    /// The fragment at or after this server timestamp (epoch seconds).
    ServerTimestamp(f64),
    /// The fragment at or after this producer timestamp (epoch seconds).
    ProducerTimestamp(f64),
    /// After the fragment a previous read ended with.
    ContinuationToken(String),
}

impl StartSelector {
    fn to_wire(&self) -> Result<WireSelector, MediaError> {
        use aws_smithy_types::DateTime;
        let b = WireSelector::builder();
        let b = match self {
            Self::Earliest => b.start_selector_type(StartSelectorType::Earliest),
            Self::Now => b.start_selector_type(StartSelectorType::Now),
            Self::FragmentNumber(n) => b
                .start_selector_type(StartSelectorType::FragmentNumber)
                .after_fragment_number(n.as_str()),
            Self::ServerTimestamp(t) => b
                .start_selector_type(StartSelectorType::ServerTimestamp)
                .start_timestamp(DateTime::from_secs_f64(*t)),
            Self::ProducerTimestamp(t) => b
                .start_selector_type(StartSelectorType::ProducerTimestamp)
                .start_timestamp(DateTime::from_secs_f64(*t)),
            Self::ContinuationToken(t) => b
                .start_selector_type(StartSelectorType::ContinuationToken)
                .continuation_token(t),
        };
        b.build().map_err(|e| MediaError::Request(e.to_string()))
    }
}

/// Reads a start selector as people write it: `earliest`, `now`, `fragment:NUMBER`,
/// `producer:TIME`, `server:TIME` (TIME in RFC 3339, e.g. `2024-05-01T12:00:00Z`) or
/// `token:CONTINUATION_TOKEN`. Names are case-insensitive and surrounding spaces are ignored.
/// What [`Display`](std::fmt::Display) writes reads back.
impl std::str::FromStr for StartSelector {
    type Err = StartSelectorParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        let invalid = |source| StartSelectorParseError::Invalid {
            input: s.to_owned(),
            source,
        };
        let secs = |time: &str| -> Result<f64, StartSelectorParseError> {
            let at = parse_instant(time).map_err(invalid)?;
            Ok(match at.duration_since(UNIX_EPOCH) {
                Ok(d) => d.as_secs_f64(),
                Err(before) => -before.duration().as_secs_f64(),
            })
        };
        let Some((kind, value)) = t.split_once(':') else {
            return if t.eq_ignore_ascii_case("earliest") {
                Ok(Self::Earliest)
            } else if t.eq_ignore_ascii_case("now") {
                Ok(Self::Now)
            } else {
                Err(StartSelectorParseError::Unknown(s.to_owned()))
            };
        };
        match kind.to_ascii_lowercase().as_str() {
            "fragment" => FragmentNumber::new(value)
                .map(Self::FragmentNumber)
                .map_err(invalid),
            "producer" => secs(value).map(Self::ProducerTimestamp),
            "server" => secs(value).map(Self::ServerTimestamp),
            "token" if value.is_empty() => Err(invalid(InvalidValue::new(
                "ContinuationToken",
                value,
                "must not be empty: use the ContinuationToken a previous read ended with",
            ))),
            "token" => Ok(Self::ContinuationToken(value.to_owned())),
            _ => Err(StartSelectorParseError::Unknown(s.to_owned())),
        }
    }
}

impl std::fmt::Display for StartSelector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let time = |secs: f64| {
            let at = Duration::try_from_secs_f64(secs.abs()).map_or(UNIX_EPOCH, |d| {
                if secs < 0.0 {
                    UNIX_EPOCH - d
                } else {
                    UNIX_EPOCH + d
                }
            });
            rfc3339(at)
        };
        match self {
            Self::Earliest => f.write_str("earliest"),
            Self::Now => f.write_str("now"),
            Self::FragmentNumber(n) => write!(f, "fragment:{n}"),
            Self::ServerTimestamp(t) => write!(f, "server:{}", time(*t)),
            Self::ProducerTimestamp(t) => write!(f, "producer:{}", time(*t)),
            Self::ContinuationToken(t) => write!(f, "token:{t}"),
        }
    }
}

/// Why a start selector text did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StartSelectorParseError {
    /// Not one of the accepted forms.
    #[error(
        "{0:?} is not a start: use earliest, now, fragment:NUMBER, producer:TIME, server:TIME \
         (RFC 3339, e.g. 2024-05-01T12:00:00Z) or token:CONTINUATION_TOKEN"
    )]
    Unknown(String),
    /// The form is known but its value is bad (a fragment number, a time or a token).
    #[error("start {input:?}: {source}")]
    Invalid {
        /// The text as given.
        input: String,
        /// What is wrong with the value.
        #[source]
        source: InvalidValue,
    },
}

/// A GetMedia failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MediaError {
    /// The endpoint could not be resolved.
    #[error(transparent)]
    Resolve(#[from] kvs_endpoint::ResolveError),
    /// The service refused the call.
    #[error("GetMedia failed: {0}")]
    Service(ServiceError),
    /// The request could not be built.
    #[error("invalid GetMedia request: {0}")]
    Request(String),
    /// The media stream broke off.
    #[error("reading media: {0}")]
    Read(String),
    /// The media was not valid MKV.
    #[error("the media stream is not valid MKV: {0}")]
    Parse(#[from] ParseError),
    /// KVS reported an error inside the stream.
    #[error("KVS reported error {code} ({id}) in the media stream")]
    InStream {
        /// The error code KVS put in the stream (tag `AWS_KINESISVIDEO_ERROR_CODE`).
        code: String,
        /// The error id KVS put in the stream (tag `AWS_KINESISVIDEO_ERROR_ID`).
        id: String,
    },
}

/// One fragment from GetMedia.
#[derive(Debug, Clone, PartialEq)]
pub struct MediaFragment {
    /// The fragment number KVS assigned (tag `AWS_KINESISVIDEO_FRAGMENT_NUMBER`).
    pub number: Option<FragmentNumber>,
    /// When KVS received the fragment, in epoch seconds (tag
    /// `AWS_KINESISVIDEO_SERVER_TIMESTAMP`).
    pub server_timestamp: Option<f64>,
    /// The producer's timestamp of the fragment's start, in epoch seconds (tag
    /// `AWS_KINESISVIDEO_PRODUCER_TIMESTAMP`).
    pub producer_timestamp: Option<f64>,
    /// How far this fragment is behind the newest one of the stream, in milliseconds (tag
    /// `AWS_KINESISVIDEO_MILLIS_BEHIND_NOW`).
    pub millis_behind_now: Option<u64>,
    /// Where to resume after this fragment, with [`StartSelector::ContinuationToken`] (tag
    /// `AWS_KINESISVIDEO_CONTINUATION_TOKEN`).
    pub continuation_token: Option<String>,
    /// The tracks of the document the fragment came in.
    pub tracks: Arc<Vec<TrackInfo>>,
    /// The cluster timecode, in the stream's timecode units.
    pub timecode: u64,
    /// The frames, in stream order.
    pub frames: Vec<Frame>,
}

impl MediaFragment {
    fn empty(tracks: Arc<Vec<TrackInfo>>) -> Self {
        Self {
            number: None,
            server_timestamp: None,
            producer_timestamp: None,
            millis_behind_now: None,
            continuation_token: None,
            tracks,
            timecode: 0,
            frames: Vec::new(),
        }
    }

    fn apply_tag(&mut self, tag: &SimpleTag) -> Result<(), MediaError> {
        match tag.name.as_str() {
            "AWS_KINESISVIDEO_FRAGMENT_NUMBER" => {
                self.number = FragmentNumber::new(tag.value.as_str()).ok()
            }
            "AWS_KINESISVIDEO_SERVER_TIMESTAMP" => self.server_timestamp = tag.value.parse().ok(),
            "AWS_KINESISVIDEO_PRODUCER_TIMESTAMP" => {
                self.producer_timestamp = tag.value.parse().ok()
            }
            "AWS_KINESISVIDEO_MILLIS_BEHIND_NOW" => self.millis_behind_now = tag.value.parse().ok(),
            "AWS_KINESISVIDEO_CONTINUATION_TOKEN" => {
                self.continuation_token = Some(tag.value.clone())
            }
            _ => {}
        }
        Ok(())
    }
}

/// Fragments read from a GetMedia (or GetMediaForFragmentList) response.
pub struct FragmentReader {
    body: ByteStream,
    parser: Parser,
    tracks: Arc<Vec<TrackInfo>>,
    pending_tags: Vec<SimpleTag>,
    current: Option<MediaFragment>,
    ready: std::collections::VecDeque<MediaFragment>,
    ended: bool,
}

impl FragmentReader {
    /// Reads fragments from an MKV byte stream.
    pub fn new(body: ByteStream) -> Self {
        Self {
            body,
            parser: Parser::new(),
            tracks: Arc::new(Vec::new()),
            pending_tags: Vec::new(),
            current: None,
            ready: std::collections::VecDeque::new(),
            ended: false,
        }
    }

    /// The next complete fragment, or `None` at the end of the response.
    pub async fn next_fragment(&mut self) -> Result<Option<MediaFragment>, MediaError> {
        loop {
            if let Some(f) = self.ready.pop_front() {
                return Ok(Some(f));
            }
            if self.ended {
                return Ok(None);
            }
            match self.body.next().await {
                Some(Ok(bytes)) => {
                    self.parser.feed(&bytes);
                    while let Some(e) = self.parser.next_event()? {
                        self.event(e)?;
                    }
                }
                Some(Err(e)) => return Err(MediaError::Read(e.to_string())),
                None => {
                    self.ended = true;
                    for e in self.parser.finish()? {
                        self.event(e)?;
                    }
                    self.close_fragment();
                }
            }
        }
    }

    fn close_fragment(&mut self) {
        if let Some(mut f) = self.current.take() {
            for t in std::mem::take(&mut self.pending_tags) {
                let _ = f.apply_tag(&t);
            }
            self.ready.push_back(f);
        }
    }

    fn event(&mut self, e: Event) -> Result<(), MediaError> {
        match e {
            Event::SegmentStart | Event::Info(_) => self.close_fragment(),
            Event::Tracks(t) => {
                self.close_fragment();
                self.tracks = Arc::new(t);
            }
            Event::Tags(tags) => {
                let code = tags
                    .iter()
                    .find(|t| t.name == "AWS_KINESISVIDEO_ERROR_CODE");
                if let Some(code) = code {
                    let id = tags
                        .iter()
                        .find(|t| t.name == "AWS_KINESISVIDEO_ERROR_ID")
                        .map(|t| t.value.clone())
                        .unwrap_or_default();
                    return Err(MediaError::InStream {
                        code: code.value.clone(),
                        id,
                    });
                }
                match &mut self.current {
                    // Tags after a cluster belong to it (millis behind now, continuation token).
                    Some(f) => {
                        for t in &tags {
                            f.apply_tag(t)?;
                        }
                    }
                    None => self.pending_tags.extend(tags),
                }
            }
            Event::ClusterStart { timecode, .. } => {
                self.close_fragment();
                let mut f = MediaFragment::empty(self.tracks.clone());
                f.timecode = timecode;
                for t in std::mem::take(&mut self.pending_tags) {
                    f.apply_tag(&t)?;
                }
                self.current = Some(f);
            }
            Event::Frame(frame) => {
                if let Some(f) = &mut self.current {
                    f.frames.push(frame);
                }
            }
            Event::ClusterEnd => {}
            Event::SegmentEnd => self.close_fragment(),
        }
        Ok(())
    }
}

/// A client for the media data plane.
pub struct MediaClient {
    sdk: aws_sdk_kinesisvideomedia::config::Builder,
    archived: aws_sdk_kinesisvideoarchivedmedia::config::Builder,
    resolver: Arc<EndpointResolver>,
}

impl MediaClient {
    /// A client with `config`'s credentials, sharing its endpoint resolver.
    pub fn new(config: &KvsConfig) -> Self {
        Self {
            sdk: aws_sdk_kinesisvideomedia::config::Builder::from(config.sdk_config()),
            archived: aws_sdk_kinesisvideoarchivedmedia::config::Builder::from(config.sdk_config()),
            resolver: config.resolver().clone(),
        }
    }

    /// GetMedia from `start`; the reader ends when the service ends the response (KVS and
    /// kvs-local keep it open while a producer is connected).
    pub async fn get_media(
        &self,
        stream: &StreamRef,
        start: &StartSelector,
    ) -> Result<FragmentReader, MediaError> {
        let endpoint = self
            .resolver
            .data_endpoint(stream, ApiName::GetMedia)
            .await?;
        let client = aws_sdk_kinesisvideomedia::Client::from_conf(
            self.sdk.clone().endpoint_url(endpoint).build(),
        );
        let req = match stream {
            StreamRef::Name(n) => client.get_media().stream_name(n.as_str()),
            StreamRef::Arn(a) => client.get_media().stream_arn(a.as_str()),
        };
        let out = req
            .start_selector(start.to_wire()?)
            .send()
            .await
            .map_err(|e| MediaError::Service(e.into()))?;
        Ok(FragmentReader::new(out.payload))
    }

    /// GetMediaForFragmentList: the named fragments (at most 1000), in the order given.
    pub async fn get_media_for_fragment_list(
        &self,
        stream: &StreamRef,
        fragments: &[FragmentNumber],
    ) -> Result<FragmentReader, MediaError> {
        let endpoint = self
            .resolver
            .data_endpoint(stream, ApiName::GetMediaForFragmentList)
            .await?;
        let client = aws_sdk_kinesisvideoarchivedmedia::Client::from_conf(
            self.archived.clone().endpoint_url(endpoint).build(),
        );
        let mut req = match stream {
            StreamRef::Name(n) => client.get_media_for_fragment_list().stream_name(n.as_str()),
            StreamRef::Arn(a) => client.get_media_for_fragment_list().stream_arn(a.as_str()),
        };
        for f in fragments {
            req = req.fragments(f.as_str());
        }
        let out = req
            .send()
            .await
            .map_err(|e| MediaError::Service(e.into()))?;
        Ok(FragmentReader::new(out.payload))
    }

    /// ListFragments: every fragment (all pages) whose `kind` timestamp is in `[start, end]`
    /// (epoch seconds), or every fragment when `range` is `None`, sorted by fragment number.
    pub async fn list_fragments(
        &self,
        stream: &StreamRef,
        range: Option<(TimestampKind, f64, f64)>,
    ) -> Result<Vec<FragmentInfo>, MediaError> {
        use aws_sdk_kinesisvideoarchivedmedia::types::{
            FragmentSelector, FragmentSelectorType, TimestampRange,
        };
        use aws_smithy_types::DateTime;
        let endpoint = self
            .resolver
            .data_endpoint(stream, ApiName::ListFragments)
            .await?;
        let client = aws_sdk_kinesisvideoarchivedmedia::Client::from_conf(
            self.archived.clone().endpoint_url(endpoint).build(),
        );
        let selector = match range {
            None => None,
            Some((kind, start, end)) => Some(
                FragmentSelector::builder()
                    .fragment_selector_type(match kind {
                        TimestampKind::Producer => FragmentSelectorType::ProducerTimestamp,
                        TimestampKind::Server => FragmentSelectorType::ServerTimestamp,
                    })
                    .timestamp_range(
                        TimestampRange::builder()
                            .start_timestamp(DateTime::from_secs_f64(start))
                            .end_timestamp(DateTime::from_secs_f64(end))
                            .build()
                            .map_err(|e| MediaError::Request(e.to_string()))?,
                    )
                    .build()
                    .map_err(|e| MediaError::Request(e.to_string()))?,
            ),
        };
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let req = match stream {
                StreamRef::Name(n) => client.list_fragments().stream_name(n.as_str()),
                StreamRef::Arn(a) => client.list_fragments().stream_arn(a.as_str()),
            };
            let page = req
                .set_fragment_selector(selector.clone())
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| MediaError::Service(e.into()))?;
            for f in page.fragments() {
                let Some(number) = f
                    .fragment_number()
                    .and_then(|n| FragmentNumber::new(n).ok())
                else {
                    continue;
                };
                out.push(FragmentInfo {
                    number,
                    size_bytes: f.fragment_size_in_bytes().max(0) as u64,
                    producer_timestamp: f.producer_timestamp().map(|t| t.as_secs_f64()),
                    server_timestamp: f.server_timestamp().map(|t| t.as_secs_f64()),
                    length_ms: f.fragment_length_in_milliseconds().max(0) as u64,
                });
            }
            match page.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_owned()),
                _ => break,
            }
        }
        out.sort_by(|a, b| {
            (a.number.as_str().len(), a.number.as_str())
                .cmp(&(b.number.as_str().len(), b.number.as_str()))
        });
        Ok(out)
    }
}

/// Which clock a time range refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestampKind {
    /// The producer's timestamps.
    Producer,
    /// When the service received the fragment.
    Server,
}

/// A fragment as ListFragments reports it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct FragmentInfo {
    /// The fragment number KVS assigned.
    #[serde(rename = "FragmentNumber")]
    pub number: FragmentNumber,
    /// Its size in bytes.
    #[serde(rename = "FragmentSizeInBytes")]
    pub size_bytes: u64,
    /// Producer timestamp (epoch seconds).
    pub producer_timestamp: Option<f64>,
    /// Server timestamp (epoch seconds).
    pub server_timestamp: Option<f64>,
    /// Its duration in milliseconds.
    #[serde(rename = "FragmentLengthInMilliseconds")]
    pub length_ms: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_selectors_read_every_form() {
        let parse = |s: &str| s.parse::<StartSelector>();
        assert_eq!(parse("earliest"), Ok(StartSelector::Earliest));
        assert_eq!(parse(" NOW "), Ok(StartSelector::Now));
        assert_eq!(
            parse("fragment:91343852333181432392682062607743920146264172400"),
            Ok(StartSelector::FragmentNumber(
                FragmentNumber::new("91343852333181432392682062607743920146264172400").unwrap()
            ))
        );
        assert_eq!(
            parse("producer:2024-05-01T12:00:00Z"),
            Ok(StartSelector::ProducerTimestamp(1_714_564_800.0))
        );
        assert_eq!(
            parse("Server:2024-05-01T14:00:00.5+02:00"),
            Ok(StartSelector::ServerTimestamp(1_714_564_800.5))
        );
        // A token is opaque: only the first ':' separates it from its kind.
        assert_eq!(
            parse("token:abc:def"),
            Ok(StartSelector::ContinuationToken("abc:def".to_owned()))
        );
    }

    #[test]
    fn start_selectors_read_back_what_they_display() {
        for s in [
            "earliest",
            "now",
            "fragment:123",
            "producer:2024-05-01T12:00:00Z",
            "server:1969-12-31T23:59:00Z",
            "token:abc",
        ] {
            let sel: StartSelector = s.parse().unwrap();
            assert_eq!(sel.to_string(), s);
            assert_eq!(sel.to_string().parse(), Ok(sel));
        }
    }

    #[test]
    fn bad_start_selectors_say_what_is_accepted() {
        for s in ["", "latest", "fragment", "frame:1", "12"] {
            let err = s.parse::<StartSelector>().unwrap_err();
            assert!(matches!(err, StartSelectorParseError::Unknown(_)), "{s:?}");
            assert!(err.to_string().contains("fragment:NUMBER"), "{err}");
        }
        for (s, field) in [
            ("fragment:12a", "FragmentNumber"),
            ("fragment:", "FragmentNumber"),
            ("producer:yesterday", "time"),
            ("server:", "time"),
            ("token:", "ContinuationToken"),
        ] {
            match s.parse::<StartSelector>() {
                Err(StartSelectorParseError::Invalid { input, source }) => {
                    assert_eq!(input, s);
                    assert_eq!(source.field(), field, "{s:?}");
                }
                other => panic!("{s:?}: {other:?}"),
            }
        }
    }
}
