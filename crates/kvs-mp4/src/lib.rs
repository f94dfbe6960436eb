//! Kinesis Video Streams fragments remuxed to MP4, with no re-encode, no I/O and no async:
//!
//! - [`clip_parts`]: a plain (progressive) MP4, as GetClip returns, laid out as a head and the
//!   frames' shared payloads (no copy), to stream or write vectored; [`clip`]: the same MP4 in
//!   one buffer;
//! - [`init_segment`] and [`media_segment`]: fragmented MP4 as HLS (`getMP4InitFragment.mp4`,
//!   `getMP4MediaFragment.mp4`) and DASH serve it.
//!
//! Input is what [`kvs_mkv::Parser`] yields: the [`TrackInfo`]s of the stream and its
//! [`Frame`]s in stream (decode) order with presentation timestamps. H.264 (`avc1`/`avcC`),
//! H.265 (`hvc1`/`hvcC`) and AAC (`mp4a`/`esds`) are written; the frames' bytes are kept
//! unchanged. Video is timed at 90 kHz, audio at its sample rate; decode times are the sorted
//! presentation times, with signed composition offsets when frames are reordered (B-frames).
//! Boxes are encoded with the `mp4-atom` crate.

mod clip;
mod error;
mod fmp4;
mod timing;
mod track;

pub use clip::{ClipParts, clip, clip_parts};
pub use error::{Mp4Error, Result};
pub use fmp4::{init_segment, media_segment};
#[doc(no_inline)]
pub use kvs_mkv::{Frame, TrackInfo, TrackKind};

use mp4_atom::{FourCC, Ftyp};

/// `ftyp`: ISO brands only, since a file may carry both video and audio (so not CMAF's `cmfc`,
/// which allows one track per file). `iso6` covers `tfdt` v1 and signed composition offsets.
fn ftyp(fragmented: bool) -> Ftyp {
    let (major, brands): (&[u8; 4], &[&[u8; 4]]) = if fragmented {
        (b"iso6", &[b"iso6", b"mp41"])
    } else {
        (b"isom", &[b"isom", b"iso6", b"mp41"])
    };
    Ftyp {
        major_brand: FourCC::new(major),
        minor_version: 512,
        compatible_brands: brands.iter().map(|b| FourCC::new(b)).collect(),
    }
}

/// An `mdat` header for `payload_len` bytes: 8 bytes, or 16 with a 64-bit size beyond 4 GiB.
fn mdat_header(payload_len: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(16);
    match u32::try_from(payload_len + 8) {
        Ok(size) => {
            out.extend_from_slice(&size.to_be_bytes());
            out.extend_from_slice(b"mdat");
        }
        Err(_) => {
            out.extend_from_slice(&1u32.to_be_bytes());
            out.extend_from_slice(b"mdat");
            out.extend_from_slice(&(payload_len + 16).to_be_bytes());
        }
    }
    out
}
