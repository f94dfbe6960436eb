//! H.264 bitstream forms: AVC (length-prefixed, as MKV and KVS carry it) to Annex-B (as the RTP
//! payloader reads it), the AVCC record's parameter sets, and the picture size in an SPS.

use bytes::{BufMut, Bytes, BytesMut};
pub(crate) use kvs_mkv::codec::h264_sps_dimensions as sps_dimensions;
use kvs_mkv::codec::{avc_nal_units, h264_nal_type, is_annexb};

use super::error::PeerError;

const START_CODE: [u8; 4] = [0, 0, 0, 1];
const NAL_IDR: u8 = 5;
const NAL_SPS: u8 = 7;

/// The parameter sets of an AVCDecoderConfigurationRecord.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ParameterSets {
    pub(crate) sps: Vec<Bytes>,
    pub(crate) pps: Vec<Bytes>,
    /// Bytes of the length before each NAL unit in the frames (4 in practice).
    pub(crate) length_size: usize,
}

impl ParameterSets {
    /// Reads an AVCC record; an empty one (a source whose frames carry their own parameter
    /// sets in Annex-B form) gives no parameter sets.
    pub(crate) fn from_avcc(avcc: &[u8]) -> Result<Self, PeerError> {
        if avcc.is_empty() {
            return Ok(Self {
                length_size: 4,
                ..Self::default()
            });
        }
        let bad = |what: &str| PeerError::BadCodecPrivate(what.to_owned());
        if avcc.len() < 7 || avcc[0] != 1 {
            return Err(bad("it does not start with version 1 and a 6-byte header"));
        }
        let length_size = usize::from(avcc[4] & 0x03) + 1;
        if length_size == 3 {
            return Err(bad(
                "its NAL length size is 3 bytes, which H.264 does not allow",
            ));
        }
        let mut rest = &avcc[5..];
        let read_sets = |count: usize, rest: &mut &[u8]| -> Result<Vec<Bytes>, PeerError> {
            let mut sets = Vec::with_capacity(count);
            for _ in 0..count {
                let Some((len, tail)) = rest.split_first_chunk::<2>() else {
                    return Err(bad("a parameter set length is cut off"));
                };
                let len = usize::from(u16::from_be_bytes(*len));
                if len == 0 || len > tail.len() {
                    return Err(bad("a parameter set runs past the end of the record"));
                }
                sets.push(Bytes::copy_from_slice(&tail[..len]));
                *rest = &tail[len..];
            }
            Ok(sets)
        };
        let sps_count = usize::from(rest[0] & 0x1F);
        rest = &rest[1..];
        let sps = read_sets(sps_count, &mut rest)?;
        let Some((&pps_count, tail)) = rest.split_first() else {
            return Err(bad("the PPS count is missing"));
        };
        rest = tail;
        let pps = read_sets(usize::from(pps_count), &mut rest)?;
        if sps.is_empty() || pps.is_empty() {
            return Err(bad("it holds no SPS or no PPS"));
        }
        Ok(Self {
            sps,
            pps,
            length_size,
        })
    }
}

/// One access unit in Annex-B form; key frames start with the SPS and PPS so that a viewer
/// joining at any key frame can decode it.
pub(crate) fn to_annexb(data: &Bytes, key: bool, sets: &ParameterSets) -> Bytes {
    if is_annexb(data) {
        return data.clone();
    }
    let units = nal_units(data, sets.length_size);
    let has_sps = units.iter().any(|u| h264_nal_type(u) == Some(NAL_SPS));
    let mut out = BytesMut::with_capacity(data.len() + 64);
    if key && !has_sps {
        for set in sets.sps.iter().chain(&sets.pps) {
            out.put_slice(&START_CODE);
            out.put_slice(set);
        }
    }
    for unit in units {
        out.put_slice(&START_CODE);
        out.put_slice(unit);
    }
    out.freeze()
}

fn nal_units(data: &[u8], length_size: usize) -> Vec<&[u8]> {
    if length_size == 4 {
        return avc_nal_units(data);
    }
    let mut units = Vec::new();
    let mut rest = data;
    while rest.len() >= length_size {
        let (len, tail) = rest.split_at(length_size);
        let len = len.iter().fold(0usize, |n, b| (n << 8) | usize::from(*b));
        if len == 0 || len > tail.len() {
            break;
        }
        units.push(&tail[..len]);
        rest = &tail[len..];
    }
    units
}

/// Whether an AVC (4-byte length-prefixed) access unit holds an IDR slice.
pub(crate) fn avc_has_idr(data: &[u8]) -> bool {
    avc_nal_units(data)
        .iter()
        .any(|u| h264_nal_type(u) == Some(NAL_IDR))
}

/// The first SPS in an AVC (4-byte length-prefixed) access unit.
pub(crate) fn avc_sps(data: &[u8]) -> Option<&[u8]> {
    avc_nal_units(data)
        .into_iter()
        .find(|u| h264_nal_type(u) == Some(NAL_SPS))
}

/// The profile-level-id (`profile_idc`, constraint flags, `level_idc`) an SDP fmtp line
/// names, from an SPS.
pub(crate) fn profile_level_id(sps: &[u8]) -> Option<[u8; 3]> {
    Some([*sps.get(1)?, *sps.get(2)?, *sps.get(3)?])
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// SPS of x264 at 640x480, High profile.
    const SPS_640X480: [u8; 29] = [
        0x67, 0x64, 0x00, 0x1e, 0xac, 0xd9, 0x40, 0xa0, 0x3d, 0xb0, 0x16, 0xa0, 0xc0, 0xc0, 0xd4,
        0xa0, 0x00, 0x00, 0x03, 0x00, 0x20, 0x00, 0x00, 0x07, 0x91, 0xe2, 0xc5, 0xb2, 0xc0,
    ];
    /// SPS of x264 at 1920x1080, Main profile (1088 coded lines, cropped).
    const SPS_1080P: [u8; 30] = [
        0x67, 0x4d, 0x40, 0x28, 0xec, 0xa0, 0x3c, 0x01, 0x13, 0xf2, 0xe0, 0x2d, 0x40, 0x40, 0x40,
        0x50, 0x00, 0x00, 0x03, 0x00, 0x10, 0x00, 0x00, 0x03, 0x03, 0xc8, 0xf1, 0x83, 0x19, 0x60,
    ];
    /// SPS of x264 at 320x240, Constrained Baseline profile.
    const SPS_320X240: [u8; 28] = [
        0x67, 0x42, 0xc0, 0x15, 0xd9, 0x01, 0x41, 0xfb, 0x01, 0x6a, 0x0c, 0x0c, 0x0d, 0x4a, 0x00,
        0x00, 0x03, 0x00, 0x02, 0x00, 0x00, 0x03, 0x00, 0x79, 0x1e, 0x2c, 0x5c, 0x90,
    ];

    fn avcc() -> Vec<u8> {
        kvs_mkv::codec::avcc_from_parameter_sets(&[&SPS_640X480], &[&[0x68, 0xeb, 0xe3, 0xcb]])
            .unwrap()
    }

    #[test]
    fn avcc_records_give_their_parameter_sets() {
        let sets = ParameterSets::from_avcc(&avcc()).unwrap();
        assert_eq!(sets.sps, vec![Bytes::from_static(&SPS_640X480)]);
        assert_eq!(sets.pps.len(), 1);
        assert_eq!(sets.length_size, 4);
        assert!(ParameterSets::from_avcc(&[]).unwrap().sps.is_empty());
        assert!(matches!(
            ParameterSets::from_avcc(&[1, 2, 3]),
            Err(PeerError::BadCodecPrivate(_))
        ));
        let mut cut = avcc();
        cut.truncate(cut.len() - 2);
        assert!(ParameterSets::from_avcc(&cut).is_err());
    }

    #[test]
    fn key_frames_get_parameter_sets_in_front() {
        let sets = ParameterSets::from_avcc(&avcc()).unwrap();
        let idr = [0x65, 0x88, 0x84];
        let avc = Bytes::from([&[0, 0, 0, 3][..], &idr].concat());
        let out = to_annexb(&avc, true, &sets);
        let units = kvs_mkv::codec::annexb_nal_units(&out);
        let types: Vec<u8> = units.iter().map(|u| u[0] & 0x1F).collect();
        assert_eq!(types, [7, 8, 5]);
        assert_eq!(units[2], idr);

        let p = Bytes::from_static(&[0, 0, 0, 2, 0x41, 0x9a]);
        assert_eq!(&to_annexb(&p, false, &sets)[..], &[0, 0, 0, 1, 0x41, 0x9a]);
        let annexb = Bytes::from_static(&[0, 0, 0, 1, 0x65, 1]);
        assert_eq!(to_annexb(&annexb, true, &sets), annexb);
    }

    #[test]
    fn sps_give_the_picture_size() {
        assert_eq!(sps_dimensions(&SPS_640X480), Some((640, 480)));
        assert_eq!(sps_dimensions(&SPS_1080P), Some((1920, 1080)));
        assert_eq!(sps_dimensions(&SPS_320X240), Some((320, 240)));
        assert_eq!(sps_dimensions(&[0x67, 0x64]), None);
        assert_eq!(profile_level_id(&SPS_640X480), Some([0x64, 0x00, 0x1e]));
    }

    #[test]
    fn idr_and_sps_are_found_in_avc_access_units() {
        let mut au = Vec::new();
        for nal in [&SPS_640X480[..], &[0x68, 1], &[0x65, 1, 2]] {
            au.extend_from_slice(&(nal.len() as u32).to_be_bytes());
            au.extend_from_slice(nal);
        }
        assert!(avc_has_idr(&au));
        assert_eq!(avc_sps(&au), Some(&SPS_640X480[..]));
        assert!(!avc_has_idr(&[0, 0, 0, 2, 0x41, 1]));
    }
}
