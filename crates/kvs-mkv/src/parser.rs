//! The incremental MKV parser.
//!
//! Bytes go in with [`Parser::feed`] in chunks of any size; [`Parser::next_event`] yields typed
//! events as soon as the bytes for them are there. Master elements of unknown size (Segment,
//! Cluster, as live streams write them) end where an element that cannot be their child begins.
//! Leaf elements are buffered whole up to [`Limits::max_element_size`]; elements the parser has
//! no use for are skipped without being buffered.
//!
//! Chunks fed with [`Parser::feed_bytes`] are kept as they are, in a chain: a frame whose payload
//! lies inside one of them comes out as a slice of it (shared, not copied); only an element
//! that straddles two chunks is copied, once, into a buffer of its own. Bytes fed with
//! [`Parser::feed`] are copied once into one buffer, and frames are slices of that.

use std::collections::VecDeque;

use bytes::{Buf, Bytes};

use crate::ebml::{self, Vint, id};
use crate::{Chunks, Frame, SegmentInfo, SimpleTag, TrackInfo, TrackKind};

/// Bounds on what the parser accepts, so hostile input cannot exhaust memory.
#[derive(Debug, Clone)]
pub struct Limits {
    /// The largest element buffered whole (a frame, Tracks, Tags); KVS fragments are at most 50 MB.
    pub max_element_size: u64,
    /// The most tracks in a Tracks element.
    pub max_tracks: usize,
    /// The most SimpleTags in one Tags element.
    pub max_tags: usize,
    /// The deepest nesting of master elements.
    pub max_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_element_size: 50 * 1024 * 1024,
            max_tracks: 16,
            max_tags: 1024,
            max_depth: 8,
        }
    }
}

/// Malformed or unacceptable input. The byte offset is from the start of the fed stream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// A byte that cannot start an element id.
    #[error("invalid element id at byte {offset}")]
    InvalidId {
        /// Byte offset from the start of the fed stream.
        offset: u64,
    },
    /// A byte that cannot start an element size.
    #[error("invalid element size at byte {offset}")]
    InvalidSize {
        /// Byte offset from the start of the fed stream.
        offset: u64,
    },
    /// An element is larger than [`Limits::max_element_size`].
    #[error("element 0x{id:X} at byte {offset} is {size} bytes, over the {limit}-byte limit")]
    TooLarge {
        /// The element's EBML id.
        id: u32,
        /// Its declared size in bytes.
        size: u64,
        /// [`Limits::max_element_size`], in bytes.
        limit: u64,
        /// Byte offset from the start of the fed stream.
        offset: u64,
    },
    /// An element runs past the end of its parent.
    #[error("element 0x{id:X} at byte {offset} runs past the end of its parent")]
    Overrun {
        /// The element's EBML id.
        id: u32,
        /// Byte offset from the start of the fed stream.
        offset: u64,
    },
    /// The input ended inside an element.
    #[error("input ends inside an element (at byte {offset})")]
    Truncated {
        /// Where the input ended.
        offset: u64,
    },
    /// An element's content is invalid.
    #[error("malformed {what} at byte {offset}")]
    Malformed {
        /// Which element or field.
        what: &'static str,
        /// Byte offset from the start of the fed stream.
        offset: u64,
    },
    /// The document is not Matroska or WebM.
    #[error("DocType {0:?} is not matroska or webm")]
    DocType(String),
    /// An element of unknown size where one is not allowed.
    #[error(
        "element 0x{id:X} at byte {offset} has unknown size, which only Segment and Cluster may have"
    )]
    UnknownSize {
        /// The element's EBML id.
        id: u32,
        /// Byte offset from the start of the fed stream.
        offset: u64,
    },
    /// Master elements nest too deep.
    #[error("elements nest deeper than {0} levels")]
    TooDeep(usize),
    /// A block refers to a track that the Tracks element does not list.
    #[error("block at byte {offset} is for track {track}, which Tracks does not list")]
    UnknownTrack {
        /// The track number.
        track: u64,
        /// Byte offset from the start of the fed stream.
        offset: u64,
    },
    /// Laced blocks (several frames in one block) are not supported.
    #[error("laced block at byte {offset}: lacing is not supported")]
    Lacing {
        /// Byte offset from the start of the fed stream.
        offset: u64,
    },
    /// Too many tracks or tags.
    #[error("too many {what} (limit {limit})")]
    TooMany {
        /// Tracks or tags.
        what: &'static str,
        /// [`Limits::max_tracks`] or [`Limits::max_tags`].
        limit: usize,
    },
    /// The parser already failed; it does not resynchronise.
    #[error("the parser stopped at an earlier error")]
    Failed,
}

/// What the parser found.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A Segment began (GetMedia output has one per fragment).
    SegmentStart,
    /// The Info element.
    Info(SegmentInfo),
    /// The Tracks element.
    Tracks(Vec<TrackInfo>),
    /// A Tags element (KVS puts fragment metadata here, before and after each cluster).
    Tags(Vec<SimpleTag>),
    /// A cluster (fragment) began.
    ClusterStart {
        /// Its timecode in timecode units.
        timecode: u64,
        /// Its timecode in nanoseconds.
        timestamp_ns: u64,
    },
    /// A frame.
    Frame(Frame),
    /// The cluster ended.
    ClusterEnd,
    /// The segment ended.
    SegmentEnd,
}

/// Fed chunks below this size are copied rather than kept: holding one costs more than that.
const SHARE_MIN: usize = 512;

/// The first bytes `input` holds, at least 12 (an id and a size) when there are that many:
/// from its first chunk when that has them, else gathered into `scratch`.
fn peek<'a>(input: &'a Chunks, scratch: &'a mut [u8; 12]) -> &'a [u8] {
    let want = input.len().min(scratch.len());
    let first = input.chunk();
    if first.len() >= want {
        return first;
    }
    let mut n = 0;
    for part in input.iter() {
        let k = (want - n).min(part.len());
        scratch[n..n + k].copy_from_slice(&part[..k]);
        n += k;
        if n == want {
            break;
        }
    }
    &scratch[..want]
}

#[derive(Debug, Clone, Copy)]
struct Open {
    id: u32,
    end: Option<u64>,
}

/// The incremental parser.
#[derive(Debug)]
pub struct Parser {
    limits: Limits,
    /// The fed bytes not yet consumed: shared chunks and bytes copied in, in order.
    input: Chunks,
    pos: u64,
    skip: u64,
    stack: Vec<Open>,
    pending: VecDeque<Event>,
    timecode_scale: u64,
    cluster_timecode: Option<u64>,
    tracks: Vec<u64>,
    failed: bool,
}

impl Default for Parser {
    fn default() -> Self {
        Self::new()
    }
}

fn is_level1(id: u32) -> bool {
    matches!(
        id,
        id::SEEK_HEAD
            | id::INFO
            | id::TRACKS
            | id::TAGS
            | id::CLUSTER
            | id::CUES
            | id::CHAPTERS
            | id::ATTACHMENTS
    )
}

impl Parser {
    /// A parser with the default limits.
    pub fn new() -> Self {
        Self::with_limits(Limits::default())
    }

    /// A parser with `limits`.
    pub fn with_limits(limits: Limits) -> Self {
        Self {
            limits,
            input: Chunks::new(),
            pos: 0,
            skip: 0,
            stack: Vec::new(),
            pending: VecDeque::new(),
            timecode_scale: 1_000_000,
            cluster_timecode: None,
            tracks: Vec::new(),
            failed: false,
        }
    }

    /// Adds bytes to parse, copying them.
    pub fn feed(&mut self, data: &[u8]) {
        let n = self.skip_fed(data.len());
        self.input.extend_from_slice(&data[n..]);
    }

    /// Adds bytes the caller already owns, keeping them as they are: frames whose payload lies
    /// inside `data` share its memory (chunks under 512 bytes are copied instead).
    pub fn feed_bytes(&mut self, data: Bytes) {
        let n = self.skip_fed(data.len());
        let data = data.slice(n..);
        if data.len() < SHARE_MIN {
            self.input.extend_from_slice(&data);
        } else {
            self.input.push(data);
        }
    }

    /// Counts off what is left of a skipped element from `len` fed bytes; returns how many.
    fn skip_fed(&mut self, len: usize) -> usize {
        let n = self.skip.min(len as u64);
        self.skip -= n;
        self.pos += n;
        n as usize
    }

    /// Bytes held but not yet turned into events.
    pub fn buffered(&self) -> usize {
        self.input.len()
    }

    /// The next event, `Ok(None)` if more bytes are needed.
    pub fn next_event(&mut self) -> Result<Option<Event>, ParseError> {
        if self.failed {
            return Err(ParseError::Failed);
        }
        match self.step() {
            Ok(e) => Ok(e),
            Err(e) => {
                self.failed = true;
                Err(e)
            }
        }
    }

    /// Ends the input: returns the remaining events, or an error if it ended inside an element.
    pub fn finish(&mut self) -> Result<Vec<Event>, ParseError> {
        let mut out = Vec::new();
        while let Some(e) = self.next_event()? {
            out.push(e);
        }
        if !self.input.is_empty() || self.skip > 0 || self.stack.iter().any(|o| o.end.is_some()) {
            self.failed = true;
            return Err(ParseError::Truncated {
                offset: self.pos + self.input.len() as u64,
            });
        }
        while let Some(open) = self.stack.pop() {
            if let Some(e) = self.end_event(open.id) {
                out.push(e);
            }
        }
        Ok(out)
    }

    fn end_event(&mut self, id: u32) -> Option<Event> {
        match id {
            id::CLUSTER => {
                self.cluster_timecode = None;
                Some(Event::ClusterEnd)
            }
            id::SEGMENT => Some(Event::SegmentEnd),
            _ => None,
        }
    }

    fn consume(&mut self, n: usize) -> Bytes {
        self.pos += n as u64;
        self.input.copy_to_bytes(n)
    }

    fn discard(&mut self, n: usize) {
        self.pos += n as u64;
        self.input.advance(n);
    }

    fn step(&mut self) -> Result<Option<Event>, ParseError> {
        loop {
            if let Some(e) = self.pending.pop_front() {
                return Ok(Some(e));
            }
            if self.skip > 0 {
                let n = self.skip.min(self.input.len() as u64);
                self.discard(n as usize);
                self.skip -= n;
                if self.skip > 0 {
                    return Ok(None);
                }
            }
            if let Some(top) = self.stack.last().copied()
                && top.end == Some(self.pos)
            {
                self.stack.pop();
                if let Some(e) = self.end_event(top.id) {
                    return Ok(Some(e));
                }
                continue;
            }
            let offset = self.pos;
            let mut scratch = [0; 12];
            let head = peek(&self.input, &mut scratch);
            let (id, id_len) = match ebml::read_id(head) {
                Vint::Incomplete => return Ok(None),
                Vint::Invalid | Vint::Value(None, _) => {
                    return Err(ParseError::InvalidId { offset });
                }
                Vint::Value(Some(id), n) => (id as u32, n),
            };
            let (size, size_len) = match ebml::read_size(&head[id_len..]) {
                Vint::Incomplete => return Ok(None),
                Vint::Invalid => return Err(ParseError::InvalidSize { offset }),
                Vint::Value(size, n) => (size, n),
            };
            let header = id_len + size_len;

            // An element that cannot be a child closes the unknown-size parent.
            if let Some(top) = self.stack.last().copied()
                && top.end.is_none()
                && !self.may_contain(top.id, id)
            {
                self.stack.pop();
                if let Some(e) = self.end_event(top.id) {
                    return Ok(Some(e));
                }
                continue;
            }
            if let (Some(top), Some(size)) = (self.stack.last(), size)
                && let Some(end) = top.end
                && offset + header as u64 + size > end
            {
                return Err(ParseError::Overrun { id, offset });
            }

            if self.stack.is_empty() && !matches!(id, id::EBML | id::SEGMENT | id::VOID) {
                return Err(ParseError::Malformed {
                    what: "top-level element (expected EBML header or Segment)",
                    offset,
                });
            }

            match id {
                id::SEGMENT | id::CLUSTER => {
                    if self.stack.len() >= self.limits.max_depth {
                        return Err(ParseError::TooDeep(self.limits.max_depth));
                    }
                    let expected_parent = if id == id::SEGMENT {
                        None
                    } else {
                        Some(id::SEGMENT)
                    };
                    if self.stack.last().map(|o| o.id) != expected_parent {
                        return Err(ParseError::Malformed {
                            what: if id == id::SEGMENT {
                                "Segment nesting"
                            } else {
                                "Cluster outside a Segment"
                            },
                            offset,
                        });
                    }
                    self.discard(header);
                    self.stack.push(Open {
                        id,
                        end: size.map(|s| self.pos + s),
                    });
                    if id == id::SEGMENT {
                        return Ok(Some(Event::SegmentStart));
                    }
                    self.cluster_timecode = None;
                }
                _ => {
                    let Some(size) = size else {
                        return Err(ParseError::UnknownSize { id, offset });
                    };
                    if !self.wanted(id) {
                        let n = (self.input.len() - header)
                            .min(usize::try_from(size).unwrap_or(usize::MAX));
                        self.discard(header + n);
                        self.skip = size - n as u64;
                        continue;
                    }
                    // A limit set above what memory can address still refuses what cannot fit.
                    let addressable = usize::try_from(size)
                        .ok()
                        .filter(|s| s.checked_add(header).is_some());
                    let Some(size) = addressable.filter(|_| size <= self.limits.max_element_size)
                    else {
                        return Err(ParseError::TooLarge {
                            id,
                            size,
                            limit: self.limits.max_element_size,
                            offset,
                        });
                    };
                    if self.input.len() < header + size {
                        self.input.reserve_copied(header + size - self.input.len());
                        return Ok(None);
                    }
                    self.discard(header);
                    if id == id::SIMPLE_BLOCK {
                        let first = peek(&self.input, &mut scratch).first().copied();
                        let prefix = self.consume(block_prefix_len(size, first));
                        let payload = self.consume(size - prefix.len());
                        return self.block(&prefix, payload, None, offset).map(Some);
                    }
                    let body = self.consume(size);
                    if let Some(e) = self.element(id, body, offset)? {
                        return Ok(Some(e));
                    }
                }
            }
        }
    }

    fn may_contain(&self, parent: u32, child: u32) -> bool {
        match parent {
            id::SEGMENT => child != id::EBML && child != id::SEGMENT,
            id::CLUSTER => !is_level1(child) && child != id::EBML && child != id::SEGMENT,
            _ => true,
        }
    }

    fn wanted(&self, id: u32) -> bool {
        let in_cluster = self.stack.last().map(|o| o.id) == Some(id::CLUSTER);
        match id {
            id::EBML | id::INFO | id::TRACKS | id::TAGS => self.stack.len() <= 1,
            id::TIMECODE | id::SIMPLE_BLOCK | id::BLOCK_GROUP => in_cluster,
            _ => false,
        }
    }

    fn element(&mut self, id: u32, body: Bytes, offset: u64) -> Result<Option<Event>, ParseError> {
        let malformed = |what| ParseError::Malformed { what, offset };
        match id {
            id::EBML => {
                if !self.stack.is_empty() {
                    return Err(malformed("EBML header inside a Segment"));
                }
                for child in ebml::children(&body) {
                    let (cid, data) = child.map_err(|_| malformed("EBML header"))?;
                    if cid == id::DOC_TYPE {
                        let doc = String::from_utf8_lossy(data)
                            .trim_end_matches('\0')
                            .to_owned();
                        if doc != "matroska" && doc != "webm" {
                            return Err(ParseError::DocType(doc));
                        }
                    }
                }
                // A new EBML header starts a new document: its tracks and scale come anew.
                self.tracks.clear();
                self.timecode_scale = 1_000_000;
                Ok(None)
            }
            id::INFO => {
                let mut info = SegmentInfo::default();
                for child in ebml::children(&body) {
                    let (cid, data) = child.map_err(|_| malformed("Info"))?;
                    match cid {
                        id::TIMECODE_SCALE => {
                            info.timecode_scale_ns = ebml::uint(data)
                                .filter(|v| *v > 0)
                                .ok_or_else(|| malformed("TimecodeScale"))?;
                        }
                        id::SEGMENT_UID => info.segment_uid = Some(data.to_vec()),
                        id::TITLE => info.title = Some(text(data)),
                        id::MUXING_APP => info.muxing_app = Some(text(data)),
                        id::WRITING_APP => info.writing_app = Some(text(data)),
                        _ => {}
                    }
                }
                self.timecode_scale = info.timecode_scale_ns;
                Ok(Some(Event::Info(info)))
            }
            id::TRACKS => {
                let mut tracks = Vec::new();
                for child in ebml::children(&body) {
                    let (cid, data) = child.map_err(|_| malformed("Tracks"))?;
                    if cid == id::TRACK_ENTRY {
                        if tracks.len() >= self.limits.max_tracks {
                            return Err(ParseError::TooMany {
                                what: "tracks",
                                limit: self.limits.max_tracks,
                            });
                        }
                        tracks.push(track_entry(data).ok_or_else(|| malformed("TrackEntry"))?);
                    }
                }
                for (i, t) in tracks.iter().enumerate() {
                    if t.number == 0 || tracks[..i].iter().any(|o| o.number == t.number) {
                        return Err(malformed("TrackNumber"));
                    }
                }
                self.tracks = tracks.iter().map(|t| t.number).collect();
                Ok(Some(Event::Tracks(tracks)))
            }
            id::TAGS => {
                let mut tags = Vec::new();
                for child in ebml::children(&body) {
                    let (cid, data) = child.map_err(|_| malformed("Tags"))?;
                    if cid == id::TAG {
                        collect_tags(data, &mut tags, self.limits.max_tags, 0)
                            .map_err(|e| e.unwrap_or_else(|| malformed("Tag")))?;
                    }
                }
                Ok(Some(Event::Tags(tags)))
            }
            id::TIMECODE => {
                let tc = ebml::uint(&body).ok_or_else(|| malformed("cluster Timecode"))?;
                let ns = tc
                    .checked_mul(self.timecode_scale)
                    .ok_or_else(|| malformed("cluster Timecode"))?;
                self.cluster_timecode = Some(tc);
                Ok(Some(Event::ClusterStart {
                    timecode: tc,
                    timestamp_ns: ns,
                }))
            }
            id::BLOCK_GROUP => {
                let mut block = None;
                let mut referenced = false;
                for child in ebml::children(&body) {
                    let (cid, data) = child.map_err(|_| malformed("BlockGroup"))?;
                    match cid {
                        id::BLOCK => block = Some(body.slice_ref(data)),
                        id::REFERENCE_BLOCK => referenced = true,
                        _ => {}
                    }
                }
                let block = block.ok_or_else(|| malformed("BlockGroup without Block"))?;
                let prefix = block_prefix_len(block.len(), block.first().copied());
                let payload = block.slice(prefix..);
                self.block(&block[..prefix], payload, Some(!referenced), offset)
                    .map(Some)
            }
            _ => Ok(None),
        }
    }

    /// A frame from a block's `prefix` (track, timecode, flags) and its `payload`.
    fn block(
        &mut self,
        prefix: &[u8],
        payload: Bytes,
        key_override: Option<bool>,
        offset: u64,
    ) -> Result<Event, ParseError> {
        let malformed = || ParseError::Malformed {
            what: "block",
            offset,
        };
        let cluster = self.cluster_timecode.ok_or(ParseError::Malformed {
            what: "block before the cluster Timecode",
            offset,
        })?;
        let (track, n) = ebml::read_track_vint(prefix).ok_or_else(malformed)?;
        if prefix.len() < n + 3 {
            return Err(malformed());
        }
        if !self.tracks.contains(&track) {
            return Err(ParseError::UnknownTrack { track, offset });
        }
        let rel = i16::from_be_bytes([prefix[n], prefix[n + 1]]);
        let flags = prefix[n + 2];
        if flags & 0x06 != 0 {
            return Err(ParseError::Lacing { offset });
        }
        let units = i128::from(cluster) + i128::from(rel);
        let ns = units * i128::from(self.timecode_scale);
        let timestamp_ns = u64::try_from(ns).map_err(|_| ParseError::Malformed {
            what: "block timestamp (negative or too large)",
            offset,
        })?;
        Ok(Event::Frame(Frame {
            track,
            timestamp_ns,
            key: key_override.unwrap_or(flags & 0x80 != 0),
            data: payload,
        }))
    }
}

/// How much of a `len`-byte block starting with `first` is its prefix: the track vint, the
/// timecode and the flags. All of it when the vint is invalid, so the block reads as malformed.
fn block_prefix_len(len: usize, first: Option<u8>) -> usize {
    match first {
        Some(b) if b != 0 => len.min(b.leading_zeros() as usize + 1 + 3),
        _ => len,
    }
}

fn text(data: &[u8]) -> String {
    String::from_utf8_lossy(data)
        .trim_end_matches('\0')
        .to_owned()
}

fn track_entry(data: &[u8]) -> Option<TrackInfo> {
    let mut number = None;
    let mut uid = 0;
    let mut track_type = 0;
    let mut codec_id = String::new();
    let mut codec_private = Vec::new();
    let mut name = None;
    let mut default_duration_ns = None;
    let (mut width, mut height) = (0u32, 0u32);
    let (mut rate, mut channels) = (8000.0, 1u8);
    for child in ebml::children(data) {
        let (cid, d) = child.ok()?;
        match cid {
            id::TRACK_NUMBER => number = Some(ebml::uint(d)?),
            id::TRACK_UID => uid = ebml::uint(d)?,
            id::TRACK_TYPE => track_type = ebml::uint(d)?,
            id::CODEC_ID => codec_id = text(d),
            id::CODEC_PRIVATE => codec_private = d.to_vec(),
            id::NAME => name = Some(text(d)),
            id::DEFAULT_DURATION => default_duration_ns = Some(ebml::uint(d)?),
            id::VIDEO => {
                for v in ebml::children(d) {
                    let (vid, vd) = v.ok()?;
                    match vid {
                        id::PIXEL_WIDTH => width = u32::try_from(ebml::uint(vd)?).ok()?,
                        id::PIXEL_HEIGHT => height = u32::try_from(ebml::uint(vd)?).ok()?,
                        _ => {}
                    }
                }
            }
            id::AUDIO => {
                for a in ebml::children(d) {
                    let (aid, ad) = a.ok()?;
                    match aid {
                        id::SAMPLING_FREQUENCY => rate = ebml::float(ad)?,
                        id::CHANNELS => channels = u8::try_from(ebml::uint(ad)?).ok()?,
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    let kind = match track_type {
        1 => TrackKind::Video { width, height },
        2 => TrackKind::Audio {
            sampling_frequency: rate,
            channels,
        },
        _ => return None,
    };
    Some(TrackInfo {
        number: number?,
        uid,
        kind,
        codec_id,
        codec_private,
        name,
        default_duration_ns,
    })
}

/// Collects the SimpleTags of a Tag (nested ones flattened); `Err(Some)` for limit errors.
fn collect_tags(
    data: &[u8],
    out: &mut Vec<SimpleTag>,
    limit: usize,
    depth: usize,
) -> Result<(), Option<ParseError>> {
    for child in ebml::children(data) {
        let (cid, d) = child.map_err(|_| None)?;
        if cid == id::SIMPLE_TAG {
            simple_tag(d, out, limit, depth)?;
        }
    }
    Ok(())
}

fn simple_tag(
    data: &[u8],
    out: &mut Vec<SimpleTag>,
    limit: usize,
    depth: usize,
) -> Result<(), Option<ParseError>> {
    if depth > 4 {
        return Err(None);
    }
    let mut name = None;
    let mut value = String::new();
    for c in ebml::children(data) {
        let (tid, td) = c.map_err(|_| None)?;
        match tid {
            id::TAG_NAME => name = Some(text(td)),
            id::TAG_STRING => value = text(td),
            _ => {}
        }
    }
    if out.len() >= limit {
        return Err(Some(ParseError::TooMany {
            what: "tags",
            limit,
        }));
    }
    out.push(SimpleTag {
        name: name.ok_or(None)?,
        value,
    });
    for c in ebml::children(data) {
        let (tid, td) = c.map_err(|_| None)?;
        if tid == id::SIMPLE_TAG {
            simple_tag(td, out, limit, depth + 1)?;
        }
    }
    Ok(())
}
