//! Codec private data: H.264 AVCDecoderConfigurationRecord and AAC AudioSpecificConfig, and
//! Annex-B to AVC (length-prefixed) conversion.

/// Why codec data could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// No SPS or no PPS was found.
    #[error("H.264 codec private data needs at least one SPS and one PPS")]
    MissingParameterSets,
    /// A parameter set is too short or too long.
    #[error("H.264 parameter set of {0} bytes is not valid")]
    BadParameterSet(usize),
    /// The AAC sample rate is not one of the standard ones.
    #[error("AAC sample rate {0} Hz has no AudioSpecificConfig index")]
    SampleRate(u32),
}

/// Splits Annex-B data (start-code delimited) into NAL units.
pub fn annexb_nal_units(data: &[u8]) -> Vec<&[u8]> {
    let mut units = Vec::new();
    let mut i = 0;
    let mut start: Option<usize> = None;
    while i + 3 <= data.len() {
        if data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1 {
            if let Some(s) = start {
                let mut end = i;
                while end > s && data[end - 1] == 0 {
                    end -= 1;
                }
                units.push(&data[s..end]);
            }
            i += 3;
            start = Some(i);
        } else {
            i += 1;
        }
    }
    if let Some(s) = start
        && s < data.len()
    {
        units.push(&data[s..]);
    }
    units
}

/// Whether `data` is Annex-B (starts with a start code) rather than AVC. An AVC access unit
/// whose first NAL unit is 256 to 511 bytes long also starts with `00 00 01`: data that is a
/// whole chain of AVC NAL units is taken as AVC. (`00 00 00 01` as AVC would be a 1-byte NAL
/// unit, which no encoder writes.)
pub fn is_annexb(data: &[u8]) -> bool {
    data.starts_with(&[0, 0, 0, 1]) || (data.starts_with(&[0, 0, 1]) && !is_avc_chain(data))
}

/// Whether `data` is exactly a chain of 4-byte-length-prefixed NAL units with valid headers.
fn is_avc_chain(mut data: &[u8]) -> bool {
    while !data.is_empty() {
        let Some((len, rest)) = data.split_first_chunk::<4>() else {
            return false;
        };
        let len = u32::from_be_bytes(*len) as usize;
        if len == 0 || len > rest.len() || rest[0] & 0x80 != 0 {
            return false;
        }
        data = &rest[len..];
    }
    true
}

/// Converts Annex-B data to AVC format (4-byte big-endian length before each NAL unit).
pub fn annexb_to_avc(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 16);
    for nal in annexb_nal_units(data) {
        out.extend_from_slice(&(nal.len() as u32).to_be_bytes());
        out.extend_from_slice(nal);
    }
    out
}

/// NAL unit type of an H.264 NAL unit.
pub fn h264_nal_type(nal: &[u8]) -> Option<u8> {
    nal.first().map(|b| b & 0x1F)
}

/// Builds an AVCDecoderConfigurationRecord from SPS and PPS NAL units.
pub fn avcc_from_parameter_sets(sps: &[&[u8]], pps: &[&[u8]]) -> Result<Vec<u8>, CodecError> {
    let first = sps.first().ok_or(CodecError::MissingParameterSets)?;
    if pps.is_empty() {
        return Err(CodecError::MissingParameterSets);
    }
    if first.len() < 4 {
        return Err(CodecError::BadParameterSet(first.len()));
    }
    let mut out = vec![
        1,
        first[1],
        first[2],
        first[3],
        0xFF,
        0xE0 | sps.len() as u8,
    ];
    for s in sps {
        let len = u16::try_from(s.len()).map_err(|_| CodecError::BadParameterSet(s.len()))?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(s);
    }
    out.push(pps.len() as u8);
    for p in pps {
        let len = u16::try_from(p.len()).map_err(|_| CodecError::BadParameterSet(p.len()))?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(p);
    }
    Ok(out)
}

/// Finds the SPS and PPS in an Annex-B access unit and builds the AVCC record from them.
pub fn avcc_from_annexb(access_unit: &[u8]) -> Result<Vec<u8>, CodecError> {
    let units = annexb_nal_units(access_unit);
    let sps: Vec<&[u8]> = units
        .iter()
        .copied()
        .filter(|n| h264_nal_type(n) == Some(7))
        .collect();
    let pps: Vec<&[u8]> = units
        .iter()
        .copied()
        .filter(|n| h264_nal_type(n) == Some(8))
        .collect();
    avcc_from_parameter_sets(&sps, &pps)
}

const AAC_RATES: [u32; 13] = [
    96_000, 88_200, 64_000, 48_000, 44_100, 32_000, 24_000, 22_050, 16_000, 12_000, 11_025, 8_000,
    7_350,
];

/// Splits AVC data (a 4-byte big-endian length before each NAL unit); stops at the first
/// length that is zero or overruns the data.
pub fn avc_nal_units(mut data: &[u8]) -> Vec<&[u8]> {
    let mut units = Vec::new();
    while let Some((len, rest)) = data.split_first_chunk::<4>() {
        let len = u32::from_be_bytes(*len) as usize;
        if len == 0 || len > rest.len() {
            break;
        }
        let (unit, rest) = rest.split_at(len);
        units.push(unit);
        data = rest;
    }
    units
}

/// Builds the AVCDecoderConfigurationRecord from the SPS and PPS in an access unit (a key
/// frame), in either Annex-B (start codes) or AVC (4-byte length prefixes) form: for sources
/// whose caps carry no codec data.
pub fn avcc_from_access_unit(data: &[u8]) -> Result<Vec<u8>, CodecError> {
    if is_annexb(data) {
        return avcc_from_annexb(data);
    }
    let units = avc_nal_units(data);
    let of_type = |t: u8| -> Vec<&[u8]> {
        units
            .iter()
            .copied()
            .filter(|n| h264_nal_type(n) == Some(t))
            .collect()
    };
    avcc_from_parameter_sets(&of_type(7), &of_type(8))
}

/// A 2-byte AudioSpecificConfig for AAC-LC (object type 2) at `sample_rate` with `channels`.
pub fn aac_audio_specific_config(sample_rate: u32, channels: u8) -> Result<Vec<u8>, CodecError> {
    let index = AAC_RATES
        .iter()
        .position(|r| *r == sample_rate)
        .ok_or(CodecError::SampleRate(sample_rate))? as u16;
    let v: u16 = (2 << 11) | (index << 7) | (u16::from(channels & 0x0F) << 3);
    Ok(v.to_be_bytes().to_vec())
}

/// The Opus identification header (RFC 7845 5.1) Matroska keeps as an Opus track's codec
/// private: version 1, `channels` (1 or 2, channel mapping family 0), `pre_skip` samples at
/// 48 kHz, an input rate of 48 kHz and no output gain.
pub fn opus_head(channels: u8, pre_skip: u16) -> Vec<u8> {
    let mut head = Vec::with_capacity(19);
    head.extend_from_slice(b"OpusHead");
    head.push(1);
    head.push(channels);
    head.extend_from_slice(&pre_skip.to_le_bytes());
    head.extend_from_slice(&48_000u32.to_le_bytes());
    head.extend_from_slice(&0i16.to_le_bytes());
    head.push(0);
    head
}

/// The displayed picture size an H.264 SPS NAL unit (with its header byte) describes, in
/// pixels, after cropping; `None` when it is cut short or malformed.
pub fn h264_sps_dimensions(sps: &[u8]) -> Option<(u32, u32)> {
    let rbsp = unescape(sps.get(1..)?);
    let mut r = BitReader::new(&rbsp);
    let profile_idc = r.bits(8)?;
    r.bits(16)?; // constraint flags and level_idc
    r.ue()?; // seq_parameter_set_id
    let mut chroma_format_idc = 1;
    let mut separate_colour_plane = false;
    if matches!(
        profile_idc,
        100 | 110 | 122 | 244 | 44 | 83 | 86 | 118 | 128 | 138 | 139 | 134 | 135
    ) {
        chroma_format_idc = r.ue()?;
        if chroma_format_idc == 3 {
            separate_colour_plane = r.bits(1)? == 1;
        }
        r.ue()?; // bit_depth_luma_minus8
        r.ue()?; // bit_depth_chroma_minus8
        r.bits(1)?; // qpprime_y_zero_transform_bypass_flag
        if r.bits(1)? == 1 {
            let lists = if chroma_format_idc == 3 { 12 } else { 8 };
            for i in 0..lists {
                if r.bits(1)? == 1 {
                    skip_scaling_list(&mut r, if i < 6 { 16 } else { 64 })?;
                }
            }
        }
    }
    r.ue()?; // log2_max_frame_num_minus4
    match r.ue()? {
        0 => {
            r.ue()?; // log2_max_pic_order_cnt_lsb_minus4
        }
        1 => {
            r.bits(1)?; // delta_pic_order_always_zero_flag
            r.se()?; // offset_for_non_ref_pic
            r.se()?; // offset_for_top_to_bottom_field
            for _ in 0..r.ue()? {
                r.se()?;
            }
        }
        _ => {}
    }
    r.ue()?; // max_num_ref_frames
    r.bits(1)?; // gaps_in_frame_num_value_allowed_flag
    let width_mbs = r.ue()? + 1;
    let height_map_units = r.ue()? + 1;
    let frame_mbs_only = r.bits(1)?;
    if frame_mbs_only == 0 {
        r.bits(1)?; // mb_adaptive_frame_field_flag
    }
    r.bits(1)?; // direct_8x8_inference_flag
    let height_mbs = (2 - frame_mbs_only) * height_map_units;
    let (mut width, mut height) = (width_mbs * 16, height_mbs * 16);
    if r.bits(1)? == 1 {
        let (left, right, top, bottom) = (r.ue()?, r.ue()?, r.ue()?, r.ue()?);
        let chroma_array_type = if separate_colour_plane {
            0
        } else {
            chroma_format_idc
        };
        let (crop_x, crop_y) = match chroma_array_type {
            1 => (2, 2 * (2 - frame_mbs_only)),
            2 => (2, 2 - frame_mbs_only),
            _ => (1, 2 - frame_mbs_only),
        };
        width = width.checked_sub((left + right) * crop_x)?;
        height = height.checked_sub((top + bottom) * crop_y)?;
    }
    Some((width, height))
}

fn skip_scaling_list(r: &mut BitReader<'_>, size: u32) -> Option<()> {
    let (mut last, mut next) = (8i64, 8i64);
    for _ in 0..size {
        if next != 0 {
            next = (last + r.se()? + 256) % 256;
        }
        if next != 0 {
            last = next;
        }
    }
    Some(())
}

/// The RBSP of a NAL unit payload: emulation prevention bytes (`00 00 03`) removed.
fn unescape(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let mut zeros = 0;
    for &b in data {
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        out.push(b);
    }
    out
}

struct BitReader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> BitReader<'a> {
    fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 0 }
    }

    fn bits(&mut self, n: u32) -> Option<u32> {
        let mut v = 0u32;
        for _ in 0..n {
            let byte = self.data.get(self.pos / 8)?;
            let bit = (byte >> (7 - self.pos % 8)) & 1;
            v = (v << 1) | u32::from(bit);
            self.pos += 1;
        }
        Some(v)
    }

    /// An unsigned Exp-Golomb code.
    fn ue(&mut self) -> Option<u32> {
        let mut zeros = 0;
        while self.bits(1)? == 0 {
            zeros += 1;
            if zeros > 31 {
                return None;
            }
        }
        let rest = self.bits(zeros)?;
        ((1u64 << zeros) - 1 + u64::from(rest)).try_into().ok()
    }

    /// A signed Exp-Golomb code.
    fn se(&mut self) -> Option<i64> {
        let k = i64::from(self.ue()?);
        Some(if k % 2 == 1 { (k + 1) / 2 } else { -(k / 2) })
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn opus_head_follows_rfc_7845() {
        let head = opus_head(2, 312);
        assert_eq!(head.len(), 19);
        assert_eq!(&head[..8], b"OpusHead");
        assert_eq!((head[8], head[9]), (1, 2));
        assert_eq!(u16::from_le_bytes([head[10], head[11]]), 312);
        assert_eq!(
            u32::from_le_bytes([head[12], head[13], head[14], head[15]]),
            48_000
        );
        assert_eq!(&head[16..], [0, 0, 0]);
    }

    #[test]
    fn avc_data_whose_first_length_looks_like_a_start_code_is_not_annexb() {
        // a 305-byte NAL unit: its length prefix is 00 00 01 31
        let mut avc = 305u32.to_be_bytes().to_vec();
        avc.push(0x41);
        avc.extend(std::iter::repeat_n(0xAB, 304));
        assert!(!is_annexb(&avc));
        assert!(is_annexb(&[0, 0, 1, 0x65, 0x88]));
        assert!(is_annexb(&[0, 0, 0, 1, 0x67, 0x42]));
        // a start code then bytes that do not chain as AVC
        assert!(is_annexb(&[0, 0, 1, 0x31, 0x41]));
    }

    use super::*;

    #[test]
    fn annexb_to_avcc() {
        let sps = [0x67, 0x64, 0x00, 0x1F, 0xAC];
        let pps = [0x68, 0xEE, 0x3C, 0x80];
        let idr = [0x65, 0x88, 0x84];
        let mut au = vec![0, 0, 0, 1];
        au.extend_from_slice(&sps);
        au.extend_from_slice(&[0, 0, 1]);
        au.extend_from_slice(&pps);
        au.extend_from_slice(&[0, 0, 0, 1]);
        au.extend_from_slice(&idr);
        assert!(is_annexb(&au));
        assert_eq!(annexb_nal_units(&au), vec![&sps[..], &pps[..], &idr[..]]);
        let avcc = avcc_from_annexb(&au).unwrap();
        assert_eq!(&avcc[..6], &[1, 0x64, 0x00, 0x1F, 0xFF, 0xE1]);
        assert_eq!(&avcc[6..8], &[0, 5]);
        let avc = annexb_to_avc(&au);
        assert_eq!(&avc[..4], &[0, 0, 0, 5]);
        assert_eq!(avc.len(), 3 * 4 + sps.len() + pps.len() + idr.len());
        assert_eq!(
            avcc_from_annexb(&[0, 0, 1, 0x65]),
            Err(CodecError::MissingParameterSets)
        );
    }

    #[test]
    fn aac_config() {
        // AAC-LC, 48 kHz, stereo: 0x1190
        assert_eq!(
            aac_audio_specific_config(48_000, 2).unwrap(),
            vec![0x11, 0x90]
        );
        // 44.1 kHz mono: 0x1208
        assert_eq!(
            aac_audio_specific_config(44_100, 1).unwrap(),
            vec![0x12, 0x08]
        );
        assert!(aac_audio_specific_config(12_345, 1).is_err());
    }
}
