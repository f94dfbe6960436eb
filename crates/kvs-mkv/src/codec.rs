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

/// Whether `data` starts with an Annex-B start code.
pub fn is_annexb(data: &[u8]) -> bool {
    data.starts_with(&[0, 0, 1]) || data.starts_with(&[0, 0, 0, 1])
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

#[cfg(test)]
mod tests {
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
