//! Synthetic H.264 video without GStreamer: frames that decoders (ffmpeg, GStreamer) really
//! decode, built by hand; and [`read_mkv`], the frames of a recording made some other way.
//!
//! Key frames are IDR pictures of I_PCM macroblocks (raw samples: a gradient whose brightness
//! changes with every key frame); the frames between are P pictures whose macroblocks are all
//! skipped (a copy of the key frame). Baseline profile, CAVLC, one slice per picture, AVC
//! (4-byte length-prefixed) NAL units as KVS stores them, with the matching
//! AVCDecoderConfigurationRecord as CodecPrivate.

use std::ops::Range;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use kvs_mkv::{Event, Frame, Parser, TrackInfo};

/// A synthetic H.264 track: which frames, how big, how often a key frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntheticVideo {
    /// The track number the frames carry.
    pub track: u64,
    /// Width in pixels; a multiple of 16.
    pub width: u32,
    /// Height in pixels; a multiple of 16.
    pub height: u32,
    /// Frames per second.
    pub fps: u32,
    /// A key frame every this many frames (frame 0 is one).
    pub key_every: u32,
    /// Timestamp of frame 0 in nanoseconds (absolute, e.g. [`epoch_ns`], or relative).
    pub start_ns: u64,
    /// Frames smaller than this are padded with filler data to this many bytes (0: no
    /// padding), for tests that need sizeable frames.
    pub min_frame_bytes: usize,
}

impl Default for SyntheticVideo {
    /// 64x48 at 10 fps, a key frame every second, from timestamp 0, track 1.
    fn default() -> Self {
        Self {
            track: 1,
            width: 64,
            height: 48,
            fps: 10,
            key_every: 10,
            start_ns: 0,
            min_frame_bytes: 0,
        }
    }
}

/// `count` frames of the default [`SyntheticVideo`] at `fps` with a key frame every
/// `key_every` frames, from `start_ns`.
pub fn h264_frames(start_ns: u64, count: u64, fps: u32, key_every: u32) -> Vec<Frame> {
    SyntheticVideo {
        start_ns,
        fps,
        key_every,
        ..SyntheticVideo::default()
    }
    .frames(0..count)
}

/// The tracks (of the last header) and every frame, in file order, of the Matroska file at
/// `path`, such as one `make_mkv` (feature `gst`) wrote.
///
/// # Panics
/// When the file cannot be read or does not parse.
pub fn read_mkv(path: &Path) -> (Vec<TrackInfo>, Vec<Frame>) {
    let bytes =
        std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let mut parser = Parser::new();
    parser.feed(&bytes);
    let mut events = Vec::new();
    while let Some(event) = parser
        .next_event()
        .unwrap_or_else(|e| panic!("{} does not parse: {e}", path.display()))
    {
        events.push(event);
    }
    events.extend(
        parser
            .finish()
            .unwrap_or_else(|e| panic!("{} ends badly: {e}", path.display())),
    );
    let (mut tracks, mut frames) = (Vec::new(), Vec::new());
    for event in events {
        match event {
            Event::Tracks(t) => tracks = t,
            Event::Frame(f) => frames.push(f),
            _ => {}
        }
    }
    (tracks, frames)
}

/// Nanoseconds since the Unix epoch of `t`, the timestamps KVS producers use.
pub fn epoch_ns(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .expect("the time is after 1970")
        .as_nanos() as u64
}

const LOG2_MAX_FRAME_NUM: u32 = 8;

impl SyntheticVideo {
    /// The default video starting at `start_ns`.
    pub fn starting_at(start_ns: u64) -> Self {
        Self {
            start_ns,
            ..Self::default()
        }
    }

    /// The time between frames.
    pub fn frame_duration_ns(&self) -> u64 {
        1_000_000_000 / u64::from(self.fps.max(1))
    }

    /// Timestamp of frame `index`.
    pub fn timestamp_ns(&self, index: u64) -> u64 {
        self.start_ns + index * 1_000_000_000 / u64::from(self.fps.max(1))
    }

    /// Whether frame `index` is a key frame.
    pub fn is_key(&self, index: u64) -> bool {
        index.is_multiple_of(u64::from(self.key_every.max(1)))
    }

    /// The sequence parameter set NAL unit (with its header byte, without emulation bytes
    /// removed, as in an AVCC record).
    pub fn sps(&self) -> Vec<u8> {
        self.check();
        let mut w = BitWriter::default();
        w.bits(66, 8); // profile_idc: Baseline
        w.bits(0b1100_0000, 8); // constraint_set0/1: conforms to Baseline and Main
        w.bits(30, 8); // level_idc 3.0
        w.ue(0); // seq_parameter_set_id
        w.ue(LOG2_MAX_FRAME_NUM - 4);
        w.ue(2); // pic_order_cnt_type 2: output order is decoding order
        w.ue(1); // max_num_ref_frames
        w.bit(false); // gaps_in_frame_num_value_allowed_flag
        w.ue(self.width / 16 - 1);
        w.ue(self.height / 16 - 1);
        w.bit(true); // frame_mbs_only_flag
        w.bit(true); // direct_8x8_inference_flag
        w.bit(false); // frame_cropping_flag
        w.bit(false); // vui_parameters_present_flag
        nal(0x67, w.trailing())
    }

    /// The picture parameter set NAL unit.
    pub fn pps(&self) -> Vec<u8> {
        let mut w = BitWriter::default();
        w.ue(0); // pic_parameter_set_id
        w.ue(0); // seq_parameter_set_id
        w.bit(false); // entropy_coding_mode_flag: CAVLC
        w.bit(false); // bottom_field_pic_order_in_frame_present_flag
        w.ue(0); // num_slice_groups_minus1
        w.ue(0); // num_ref_idx_l0_default_active_minus1
        w.ue(0); // num_ref_idx_l1_default_active_minus1
        w.bit(false); // weighted_pred_flag
        w.bits(0, 2); // weighted_bipred_idc
        w.se(0); // pic_init_qp_minus26
        w.se(0); // pic_init_qs_minus26
        w.se(0); // chroma_qp_index_offset
        w.bit(false); // deblocking_filter_control_present_flag
        w.bit(false); // constrained_intra_pred_flag
        w.bit(false); // redundant_pic_cnt_present_flag
        nal(0x68, w.trailing())
    }

    /// The AVCDecoderConfigurationRecord (MKV CodecPrivate of `V_MPEG4/ISO/AVC`).
    pub fn codec_private(&self) -> Vec<u8> {
        kvs_mkv::codec::avcc_from_parameter_sets(&[&self.sps()], &[&self.pps()])
            .expect("the parameter sets are well formed")
    }

    /// The track as KVS producers declare it.
    pub fn track_info(&self) -> TrackInfo {
        TrackInfo::h264(self.track, self.width, self.height, self.codec_private())
    }

    /// Frame `index`: its picture as AVC (length-prefixed) NAL units.
    pub fn frame(&self, index: u64) -> Frame {
        self.check();
        let key_every = u64::from(self.key_every.max(1));
        let gop = index / key_every;
        let in_gop = index % key_every;
        let slice = if in_gop == 0 {
            self.idr_slice(gop)
        } else {
            self.skip_slice(in_gop)
        };
        let mut data = Vec::with_capacity(self.min_frame_bytes.max(slice.len() + 4));
        data.extend_from_slice(&(slice.len() as u32).to_be_bytes());
        data.extend_from_slice(&slice);
        // Filler data (NAL type 12) after the slice: 0xFF bytes, then the stop bit.
        if data.len() < self.min_frame_bytes {
            let filler = (self.min_frame_bytes - data.len()).max(4 + 2) - 4;
            data.extend_from_slice(&(filler as u32).to_be_bytes());
            data.push(0x0C);
            data.resize(data.len() + filler - 2, 0xFF);
            data.push(0x80);
        }
        Frame {
            track: self.track,
            timestamp_ns: self.timestamp_ns(index),
            key: in_gop == 0,
            data: Bytes::from(data),
        }
    }

    /// Frames `range` (indices), in order.
    pub fn frames(&self, range: Range<u64>) -> Vec<Frame> {
        range.map(|i| self.frame(i)).collect()
    }

    /// `frames` as an Annex B byte stream (start codes, parameter sets before each key
    /// frame), as a raw `.h264` file that ffmpeg reads.
    pub fn annexb(&self, frames: &[Frame]) -> Vec<u8> {
        let mut out = Vec::new();
        for f in frames {
            if f.key {
                for ps in [self.sps(), self.pps()] {
                    out.extend_from_slice(&[0, 0, 0, 1]);
                    out.extend_from_slice(&ps);
                }
            }
            for unit in kvs_mkv::codec::avc_nal_units(&f.data) {
                out.extend_from_slice(&[0, 0, 0, 1]);
                out.extend_from_slice(unit);
            }
        }
        out
    }

    fn check(&self) {
        assert!(
            self.width >= 16
                && self.height >= 16
                && self.width.is_multiple_of(16)
                && self.height.is_multiple_of(16),
            "synthetic video needs a size in whole macroblocks (multiples of 16), not {}x{}",
            self.width,
            self.height
        );
    }

    fn macroblocks(&self) -> u32 {
        (self.width / 16) * (self.height / 16)
    }

    /// An IDR picture of I_PCM macroblocks: a diagonal gradient, brighter with each `gop`.
    fn idr_slice(&self, gop: u64) -> Vec<u8> {
        let mut w = BitWriter::default();
        w.ue(0); // first_mb_in_slice
        w.ue(7); // slice_type: I (all slices of the picture)
        w.ue(0); // pic_parameter_set_id
        w.bits(0, LOG2_MAX_FRAME_NUM); // frame_num
        w.ue((gop % 65_536) as u32); // idr_pic_id: differs between neighbouring IDRs
        w.bit(false); // no_output_of_prior_pics_flag
        w.bit(false); // long_term_reference_flag
        w.se(0); // slice_qp_delta
        let mbs_wide = self.width / 16;
        let base = 40 + (gop * 29 % 120) as u32;
        for mb in 0..self.macroblocks() {
            let (mx, my) = (mb % mbs_wide, mb / mbs_wide);
            w.ue(25); // mb_type I_PCM
            w.align_zero();
            for y in 0..16 {
                for x in 0..16 {
                    // samples stay within 16..=235 (video range; never 0, which once was
                    // forbidden in PCM samples)
                    let v = base + ((mx * 16 + x + my * 16 + y) % 64);
                    w.byte(v.min(235) as u8);
                }
            }
            let cb = 112 + (gop % 32) as u8;
            for _ in 0..64 {
                w.byte(cb);
            }
            for _ in 0..64 {
                w.byte(128); // Cr
            }
        }
        nal(0x65, w.trailing())
    }

    /// A P picture whose every macroblock is skipped.
    fn skip_slice(&self, frame_num: u64) -> Vec<u8> {
        let mut w = BitWriter::default();
        w.ue(0); // first_mb_in_slice
        w.ue(5); // slice_type: P (all slices of the picture)
        w.ue(0); // pic_parameter_set_id
        w.bits(
            (frame_num % (1 << LOG2_MAX_FRAME_NUM)) as u32,
            LOG2_MAX_FRAME_NUM,
        );
        w.bit(false); // num_ref_idx_active_override_flag
        w.bit(false); // ref_pic_list_modification_flag_l0
        w.bit(false); // adaptive_ref_pic_marking_mode_flag: sliding window
        w.se(0); // slice_qp_delta
        w.ue(self.macroblocks()); // mb_skip_run: the whole picture
        nal(0x41, w.trailing())
    }
}

/// A NAL unit: header byte, then the RBSP with emulation prevention bytes.
fn nal(header: u8, rbsp: Vec<u8>) -> Vec<u8> {
    let mut out = Vec::with_capacity(rbsp.len() + rbsp.len() / 64 + 1);
    out.push(header);
    let mut zeros = 0;
    for b in rbsp {
        if zeros >= 2 && b <= 3 {
            out.push(3);
            zeros = 0;
        }
        out.push(b);
        zeros = if b == 0 { zeros + 1 } else { 0 };
    }
    out
}

/// An MSB-first bit writer with Exp-Golomb codes.
#[derive(Default)]
struct BitWriter {
    out: Vec<u8>,
    acc: u8,
    used: u32,
}

impl BitWriter {
    fn bit(&mut self, b: bool) {
        self.acc = (self.acc << 1) | u8::from(b);
        self.used += 1;
        if self.used == 8 {
            self.out.push(self.acc);
            self.acc = 0;
            self.used = 0;
        }
    }

    fn bits(&mut self, v: u32, n: u32) {
        for i in (0..n).rev() {
            self.bit((v >> i) & 1 == 1);
        }
    }

    fn byte(&mut self, b: u8) {
        self.bits(u32::from(b), 8);
    }

    fn ue(&mut self, v: u32) {
        let x = u64::from(v) + 1;
        let len = 64 - x.leading_zeros();
        for _ in 1..len {
            self.bit(false);
        }
        for i in (0..len).rev() {
            self.bit((x >> i) & 1 == 1);
        }
    }

    fn se(&mut self, v: i32) {
        let code = if v > 0 {
            2 * v.unsigned_abs() - 1
        } else {
            2 * v.unsigned_abs()
        };
        self.ue(code);
    }

    fn align_zero(&mut self) {
        while self.used != 0 {
            self.bit(false);
        }
    }

    /// rbsp_trailing_bits: a one, then zeros to the byte boundary.
    fn trailing(mut self) -> Vec<u8> {
        self.bit(true);
        self.align_zero();
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_golomb_codes() {
        let mut w = BitWriter::default();
        w.ue(0); // 1
        w.ue(1); // 010
        w.ue(2); // 011
        w.se(-1); // ue(2) = 011
        w.bit(true);
        assert_eq!(w.trailing(), vec![0b1010_0110, 0b1111_0000]);
    }

    #[test]
    fn emulation_prevention() {
        assert_eq!(
            nal(0x65, vec![0, 0, 1, 0, 0, 0]),
            vec![0x65, 0, 0, 3, 1, 0, 0, 3, 0]
        );
    }

    #[test]
    fn frames_and_sizes() {
        let v = SyntheticVideo {
            min_frame_bytes: 1_000,
            ..SyntheticVideo::starting_at(5_000)
        };
        let frames = v.frames(0..12);
        assert_eq!(frames.len(), 12);
        assert!(frames[0].key && frames[10].key && !frames[1].key);
        assert_eq!(frames[3].timestamp_ns, 5_000 + 300_000_000);
        assert!(frames.iter().all(|f| f.data.len() >= 1_000));
        // 12 I_PCM macroblocks of 384 samples
        assert!(frames[0].data.len() > 12 * 384);
        let units = kvs_mkv::codec::avc_nal_units(&frames[1].data);
        assert_eq!(units.len(), 2);
        assert_eq!(kvs_mkv::codec::h264_nal_type(units[0]), Some(1));
        assert_eq!(kvs_mkv::codec::h264_nal_type(units[1]), Some(12));
        let avcc = v.codec_private();
        assert_eq!(&avcc[..5], &[1, 66, 0xC0, 30, 0xFF]);
    }
}
