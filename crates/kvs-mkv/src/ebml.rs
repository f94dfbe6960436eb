//! EBML primitives: element ids, variable-length integers, and element encoding.

/// Element ids used by KVS streams.
#[allow(missing_docs)]
pub mod id {
    pub const EBML: u32 = 0x1A45_DFA3;
    pub const EBML_VERSION: u32 = 0x4286;
    pub const EBML_READ_VERSION: u32 = 0x42F7;
    pub const EBML_MAX_ID_LENGTH: u32 = 0x42F2;
    pub const EBML_MAX_SIZE_LENGTH: u32 = 0x42F3;
    pub const DOC_TYPE: u32 = 0x4282;
    pub const DOC_TYPE_VERSION: u32 = 0x4287;
    pub const DOC_TYPE_READ_VERSION: u32 = 0x4285;
    pub const VOID: u32 = 0xEC;
    pub const CRC32: u32 = 0xBF;

    pub const SEGMENT: u32 = 0x1853_8067;
    pub const SEEK_HEAD: u32 = 0x114D_9B74;
    pub const INFO: u32 = 0x1549_A966;
    pub const TIMECODE_SCALE: u32 = 0x2A_D7B1;
    pub const DURATION: u32 = 0x4489;
    pub const SEGMENT_UID: u32 = 0x73A4;
    pub const TITLE: u32 = 0x7BA9;
    pub const MUXING_APP: u32 = 0x4D80;
    pub const WRITING_APP: u32 = 0x5741;

    pub const TRACKS: u32 = 0x1654_AE6B;
    pub const TRACK_ENTRY: u32 = 0xAE;
    pub const TRACK_NUMBER: u32 = 0xD7;
    pub const TRACK_UID: u32 = 0x73C5;
    pub const TRACK_TYPE: u32 = 0x83;
    pub const CODEC_ID: u32 = 0x86;
    pub const CODEC_PRIVATE: u32 = 0x63A2;
    pub const NAME: u32 = 0x536E;
    pub const DEFAULT_DURATION: u32 = 0x23_E383;
    pub const VIDEO: u32 = 0xE0;
    pub const PIXEL_WIDTH: u32 = 0xB0;
    pub const PIXEL_HEIGHT: u32 = 0xBA;
    pub const AUDIO: u32 = 0xE1;
    pub const SAMPLING_FREQUENCY: u32 = 0xB5;
    pub const CHANNELS: u32 = 0x9F;
    pub const BIT_DEPTH: u32 = 0x6264;

    pub const TAGS: u32 = 0x1254_C367;
    pub const TAG: u32 = 0x7373;
    pub const TARGETS: u32 = 0x63C0;
    pub const SIMPLE_TAG: u32 = 0x67C8;
    pub const TAG_NAME: u32 = 0x45A3;
    pub const TAG_STRING: u32 = 0x4487;
    pub const TAG_BINARY: u32 = 0x4485;

    pub const CLUSTER: u32 = 0x1F43_B675;
    pub const TIMECODE: u32 = 0xE7;
    pub const POSITION: u32 = 0xA7;
    pub const PREV_SIZE: u32 = 0xAB;
    pub const SIMPLE_BLOCK: u32 = 0xA3;
    pub const BLOCK_GROUP: u32 = 0xA0;
    pub const BLOCK: u32 = 0xA1;
    pub const BLOCK_DURATION: u32 = 0x9B;
    pub const REFERENCE_BLOCK: u32 = 0xFB;

    pub const CUES: u32 = 0x1C53_BB6B;
    pub const CHAPTERS: u32 = 0x1043_A770;
    pub const ATTACHMENTS: u32 = 0x1941_A469;
}

/// The size value meaning "unknown size" (all data bits set), as an 8-byte vint.
pub const UNKNOWN_SIZE: [u8; 8] = [0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF];

/// What reading a vint found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Vint {
    /// Not enough bytes yet.
    Incomplete,
    /// The first byte is zero: no valid length marker.
    Invalid,
    /// A value and how many bytes it took; `None` value for "unknown size".
    Value(Option<u64>, usize),
}

/// Reads an element id (marker bits kept, 1-4 bytes).
pub(crate) fn read_id(buf: &[u8]) -> Vint {
    let Some(&first) = buf.first() else {
        return Vint::Incomplete;
    };
    let len = first.leading_zeros() as usize + 1;
    if len > 4 {
        return Vint::Invalid;
    }
    if buf.len() < len {
        return Vint::Incomplete;
    }
    let v = buf[..len]
        .iter()
        .fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
    Vint::Value(Some(v), len)
}

/// Reads an element size (marker bits removed, 1-8 bytes); all ones means unknown.
pub(crate) fn read_size(buf: &[u8]) -> Vint {
    let Some(&first) = buf.first() else {
        return Vint::Incomplete;
    };
    if first == 0 {
        return Vint::Invalid;
    }
    let len = first.leading_zeros() as usize + 1;
    if buf.len() < len {
        return Vint::Incomplete;
    }
    let mask = if len == 8 { 0 } else { 0xFFu8 >> len };
    let mut v = u64::from(first & mask);
    let mut all_ones = (first & mask) == mask;
    for b in &buf[1..len] {
        v = (v << 8) | u64::from(*b);
        all_ones &= *b == 0xFF;
    }
    Vint::Value(if all_ones { None } else { Some(v) }, len)
}

/// Reads a track-number vint inside a block (1-8 bytes, marker removed).
pub(crate) fn read_track_vint(buf: &[u8]) -> Option<(u64, usize)> {
    match read_size(buf) {
        Vint::Value(Some(v), n) => Some((v, n)),
        _ => None,
    }
}

/// An element id as written: the bytes are `.0[.1..]`.
pub(crate) fn encode_id(id: u32) -> ([u8; 4], usize) {
    let bytes = id.to_be_bytes();
    let skip = bytes.iter().position(|b| *b != 0).unwrap_or(3);
    (bytes, skip)
}

/// A size as the shortest vint: the bytes are `.0[.1..]`.
pub(crate) fn encode_size(size: u64) -> ([u8; 8], usize) {
    let mut len = 1;
    while len < 8 && size >= (1u64 << (7 * len)) - 1 {
        len += 1;
    }
    let marked = size | (1u64 << (7 * len));
    (marked.to_be_bytes(), 8 - len)
}

/// An unsigned integer in as few bytes as it needs (one for zero): the bytes are `.0[.1..]`.
pub(crate) fn encode_uint(v: u64) -> ([u8; 8], usize) {
    let bytes = v.to_be_bytes();
    let skip = bytes.iter().position(|b| *b != 0).unwrap_or(7);
    (bytes, skip)
}

/// Appends an element id.
pub fn put_id(out: &mut Vec<u8>, id: u32) {
    let (bytes, skip) = encode_id(id);
    out.extend_from_slice(&bytes[skip..]);
}

/// Appends a size as the shortest vint.
pub fn put_size(out: &mut Vec<u8>, size: u64) {
    let (bytes, skip) = encode_size(size);
    out.extend_from_slice(&bytes[skip..]);
}

/// Appends an element with a binary payload.
pub fn put_bytes(out: &mut Vec<u8>, id: u32, data: &[u8]) {
    put_id(out, id);
    put_size(out, data.len() as u64);
    out.extend_from_slice(data);
}

/// Appends an unsigned integer element in as few bytes as it needs.
pub fn put_uint(out: &mut Vec<u8>, id: u32, v: u64) {
    let (bytes, skip) = encode_uint(v);
    put_bytes(out, id, &bytes[skip..]);
}

/// Appends an 8-byte float element.
pub fn put_float(out: &mut Vec<u8>, id: u32, v: f64) {
    put_bytes(out, id, &v.to_be_bytes());
}

/// Appends a string element.
pub fn put_str(out: &mut Vec<u8>, id: u32, s: &str) {
    put_bytes(out, id, s.as_bytes());
}

/// Appends a master element whose children `f` writes.
pub fn put_master(out: &mut Vec<u8>, id: u32, f: impl FnOnce(&mut Vec<u8>)) {
    let mut body = Vec::new();
    f(&mut body);
    put_bytes(out, id, &body);
}

/// Decodes a big-endian unsigned integer element body (0-8 bytes).
pub(crate) fn uint(data: &[u8]) -> Option<u64> {
    (data.len() <= 8).then(|| data.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
}

/// Decodes a float element body (0, 4 or 8 bytes).
pub(crate) fn float(data: &[u8]) -> Option<f64> {
    match data.len() {
        0 => Some(0.0),
        4 => Some(f64::from(f32::from_be_bytes(data.try_into().ok()?))),
        8 => Some(f64::from_be_bytes(data.try_into().ok()?)),
        _ => None,
    }
}

/// Iterates over the child elements of a fully buffered master element body; `Err` once at
/// the first malformed child.
pub(crate) fn children(mut data: &[u8]) -> impl Iterator<Item = Result<(u32, &[u8]), ()>> {
    std::iter::from_fn(move || {
        if data.is_empty() {
            return None;
        }
        let parsed = (|| {
            let Vint::Value(Some(id), a) = read_id(data) else {
                return None;
            };
            let Vint::Value(Some(size), b) = read_size(&data[a..]) else {
                return None;
            };
            let start = a + b;
            let end = start.checked_add(usize::try_from(size).ok()?)?;
            (end <= data.len()).then_some((id as u32, start, end))
        })();
        match parsed {
            Some((id, start, end)) => {
                let body = &data[start..end];
                data = &data[end..];
                Some(Ok((id, body)))
            }
            None => {
                data = &[];
                Some(Err(()))
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_round_trip() {
        for v in [
            0u64,
            1,
            126,
            127,
            128,
            16_382,
            16_383,
            1 << 20,
            (1 << 56) - 2,
        ] {
            let mut out = Vec::new();
            put_size(&mut out, v);
            assert_eq!(read_size(&out), Vint::Value(Some(v), out.len()), "{v}");
        }
        assert_eq!(read_size(&UNKNOWN_SIZE), Vint::Value(None, 8));
        assert_eq!(read_size(&[0xFF]), Vint::Value(None, 1));
        assert_eq!(read_size(&[0x00]), Vint::Invalid);
        assert_eq!(read_size(&[0x40]), Vint::Incomplete);
    }

    #[test]
    fn ids_round_trip() {
        for id in [
            id::EBML,
            id::SEGMENT,
            id::TIMECODE_SCALE,
            id::SIMPLE_BLOCK,
            id::TAG_NAME,
        ] {
            let mut out = Vec::new();
            put_id(&mut out, id);
            assert_eq!(read_id(&out), Vint::Value(Some(u64::from(id)), out.len()));
        }
        assert_eq!(read_id(&[0x08]), Vint::Invalid);
    }
}
