//! Track checks and the parts of `moov` that do not depend on samples: sample entries
//! (`avc1`/`hvc1`/`mp4a`) and the `trak` skeleton.

use kvs_mkv::{Frame, TrackInfo, TrackKind};
use mp4_atom::{
    Atom, Audio, Avc1, Avcc, Codec, Dinf, Dref, Edts, Esds, FourCC, Hdlr, Hvc1, Hvcc, Mdhd, Mdia,
    Minf, Mp4a, Smhd, Stbl, Stco, Stsd, Tkhd, Trak, Url, Visual, Vmhd, esds,
};

use crate::error::{Mp4Error, Result};
use crate::timing::{TimingRules, ns_to_units};

/// Video timescale: the MPEG 90 kHz clock, exact for millisecond KVS timecodes and for the
/// common frame rates.
pub(crate) const VIDEO_TIMESCALE: u32 = 90_000;

/// Highest audio sample rate accepted, which also bounds timestamp conversion.
const MAX_SAMPLE_RATE: f64 = 1_000_000.0;

/// A track checked and ready to be written.
#[derive(Debug, Clone)]
pub(crate) struct TrackPlan<'a> {
    /// The track as the MKV described it.
    pub(crate) info: &'a TrackInfo,
    /// MP4 track id (the MKV track number).
    pub(crate) id: u32,
    /// How its samples are timed (includes the timescale).
    pub(crate) rules: TimingRules,
    /// Picture size for video, `None` for audio.
    pub(crate) picture: Option<(u16, u16)>,
    /// The `stsd` sample entry.
    pub(crate) entry: Codec,
}

impl TrackPlan<'_> {
    /// Units per second of this track's media timeline.
    pub(crate) fn timescale(&self) -> u32 {
        self.rules.timescale
    }

    /// Whether this is a video track.
    pub(crate) fn is_video(&self) -> bool {
        self.picture.is_some()
    }
}

/// Checks one track and builds its sample entry.
pub(crate) fn plan(info: &TrackInfo) -> Result<TrackPlan<'_>> {
    let invalid = |reason: &str| Mp4Error::InvalidTrack {
        track: info.number,
        reason: reason.to_owned(),
    };
    let id = u32::try_from(info.number)
        .ok()
        .filter(|&n| n != 0)
        .ok_or_else(|| invalid("MP4 track ids run from 1 to 4294967295"))?;

    match info.codec_id.as_str() {
        TrackInfo::H264 | TrackInfo::H265 => {
            let TrackKind::Video { width, height } = info.kind else {
                return Err(invalid("a video codec on a track whose kind is audio"));
            };
            let (Ok(w), Ok(h)) = (u16::try_from(width), u16::try_from(height)) else {
                return Err(invalid("width and height must be at most 65535 pixels"));
            };
            let visual = Visual {
                data_reference_index: 1,
                width: w,
                height: h,
                ..Default::default()
            };
            let entry = if info.codec_id == TrackInfo::H264 {
                Avc1 {
                    visual,
                    avcc: avcc(info)?,
                    ..Default::default()
                }
                .into()
            } else {
                Hvc1 {
                    visual,
                    hvcc: hvcc(info)?,
                    ..Default::default()
                }
                .into()
            };
            let single = single_duration(info, VIDEO_TIMESCALE).unwrap_or(VIDEO_TIMESCALE / 30);
            Ok(TrackPlan {
                info,
                id,
                rules: TimingRules {
                    timescale: VIDEO_TIMESCALE,
                    reorder: true,
                    audio_frame: None,
                    single_duration: single,
                },
                picture: Some((w, h)),
                entry,
            })
        }
        TrackInfo::AAC => {
            let TrackKind::Audio {
                sampling_frequency,
                channels,
            } = info.kind
            else {
                return Err(invalid("an audio codec on a track whose kind is video"));
            };
            if !(1.0..=MAX_SAMPLE_RATE).contains(&sampling_frequency) {
                return Err(invalid("the sampling frequency must be 1 Hz to 1 MHz"));
            }
            let rate = sampling_frequency.round() as u32;
            let asc = parse_asc(&info.codec_private).map_err(|reason| Mp4Error::CodecPrivate {
                track: info.number,
                codec_id: info.codec_id.clone(),
                reason,
            })?;
            // Snap only when the config agrees with the track's rate: with implicit SBR the
            // track may state the output rate, where a frame is twice as long.
            let audio_frame = asc.frame_samples.filter(|_| asc.sample_rate == Some(rate));
            let channel_count = match channels {
                0 if asc.channels > 0 => u16::from(asc.channels),
                0 => 2,
                n => u16::from(n),
            };
            let entry = Mp4a {
                audio: Audio {
                    data_reference_index: 1,
                    channel_count,
                    sample_size: 16,
                    // 16.16 fixed point; rates above 65535 Hz are written as 0, as ffmpeg does.
                    sample_rate: u16::try_from(rate).unwrap_or(0).into(),
                },
                esds: Esds {
                    es_desc: esds::EsDescriptor {
                        es_id: u16::try_from(id).unwrap_or(0),
                        dec_config: esds::DecoderConfig {
                            // MPEG-4 Audio, AudioStream
                            object_type_indication: 0x40,
                            stream_type: 5,
                            dec_specific: Some(esds::DecoderSpecific {
                                profile: asc.object_type,
                                freq_index: asc.freq_index,
                                chan_conf: asc.channels,
                                raw: info.codec_private.clone(),
                            }),
                            ..Default::default()
                        },
                        ..Default::default()
                    },
                },
                btrt: None,
                taic: None,
            }
            .into();
            let single = single_duration(info, rate)
                .or(asc.frame_samples)
                .unwrap_or(1024);
            Ok(TrackPlan {
                info,
                id,
                rules: TimingRules {
                    timescale: rate,
                    reorder: false,
                    audio_frame,
                    single_duration: single,
                },
                picture: None,
                entry,
            })
        }
        other => Err(Mp4Error::UnsupportedCodec(other.to_owned())),
    }
}

/// Checks every track: each must be writable, and track numbers unique.
pub(crate) fn plan_all(tracks: &[TrackInfo]) -> Result<Vec<TrackPlan<'_>>> {
    let mut plans: Vec<TrackPlan<'_>> = Vec::with_capacity(tracks.len());
    for info in tracks {
        if plans.iter().any(|p| p.info.number == info.number) {
            return Err(Mp4Error::InvalidTrack {
                track: info.number,
                reason: "the track number is listed twice".into(),
            });
        }
        plans.push(plan(info)?);
    }
    Ok(plans)
}

/// Checks the tracks that `frames` use (in the order of `tracks`), and that every frame's
/// track is listed.
pub(crate) fn plan_used<'a>(
    tracks: &'a [TrackInfo],
    frames: &[Frame],
    selected: impl Fn(u64) -> bool,
) -> Result<Vec<TrackPlan<'a>>> {
    for f in frames {
        if !tracks.iter().any(|t| t.number == f.track) {
            return Err(Mp4Error::UnknownTrack(f.track));
        }
    }
    let mut plans: Vec<TrackPlan<'a>> = Vec::new();
    for info in tracks {
        if !selected(info.number) || !frames.iter().any(|f| f.track == info.number) {
            continue;
        }
        if plans.iter().any(|p| p.info.number == info.number) {
            return Err(Mp4Error::InvalidTrack {
                track: info.number,
                reason: "the track number is listed twice".into(),
            });
        }
        plans.push(plan(info)?);
    }
    if plans.is_empty() {
        return Err(Mp4Error::NoFrames);
    }
    Ok(plans)
}

fn single_duration(info: &TrackInfo, timescale: u32) -> Option<u32> {
    let units = ns_to_units(info.default_duration_ns?, timescale);
    u32::try_from(units).ok().filter(|&d| d > 0)
}

fn codec_private_error(info: &TrackInfo, reason: impl Into<String>) -> Mp4Error {
    Mp4Error::CodecPrivate {
        track: info.number,
        codec_id: info.codec_id.clone(),
        reason: reason.into(),
    }
}

/// The AVCDecoderConfigurationRecord, checked.
fn avcc(info: &TrackInfo) -> Result<Avcc> {
    let cp = info.codec_private.as_slice();
    match cp.first() {
        None => return Err(codec_private_error(info, "it is empty")),
        Some(1) => {}
        Some(v) => {
            return Err(codec_private_error(
                info,
                format!("configurationVersion is {v}, not 1 (is it Annex-B or garbage?)"),
            ));
        }
    }
    let avcc = match Avcc::decode_body(&mut &cp[..]) {
        Ok(a) => a,
        // Some encoders append a malformed or partial profile extension; the core record
        // is all a decoder needs.
        Err(_) => {
            let core = avcc_core_len(cp)
                .ok_or_else(|| codec_private_error(info, "an SPS or PPS runs past its end"))?;
            Avcc::decode_body(&mut &cp[..core])
                .map_err(|e| codec_private_error(info, e.to_string()))?
        }
    };
    if avcc.sequence_parameter_sets.iter().all(|s| s.is_empty()) {
        return Err(codec_private_error(info, "it has no SPS"));
    }
    if avcc.picture_parameter_sets.iter().all(|s| s.is_empty()) {
        return Err(codec_private_error(info, "it has no PPS"));
    }
    Ok(avcc)
}

/// Length of an avcC record without its profile extension, if the parameter sets fit.
fn avcc_core_len(cp: &[u8]) -> Option<usize> {
    let mut pos = 5;
    let sps = usize::from(*cp.get(pos)? & 0x1F);
    pos += 1;
    for _ in 0..sps {
        let len = usize::from(u16::from_be_bytes([*cp.get(pos)?, *cp.get(pos + 1)?]));
        pos += 2 + len;
    }
    let pps = usize::from(*cp.get(pos)?);
    pos += 1;
    for _ in 0..pps {
        let len = usize::from(u16::from_be_bytes([*cp.get(pos)?, *cp.get(pos + 1)?]));
        pos += 2 + len;
    }
    (pos <= cp.len()).then_some(pos)
}

/// The HEVCDecoderConfigurationRecord, checked.
fn hvcc(info: &TrackInfo) -> Result<Hvcc> {
    let cp = info.codec_private.as_slice();
    match cp.first() {
        None => return Err(codec_private_error(info, "it is empty")),
        Some(1) => {}
        Some(v) => {
            return Err(codec_private_error(
                info,
                format!("configurationVersion is {v}, not 1 (is it Annex-B or garbage?)"),
            ));
        }
    }
    let hvcc =
        Hvcc::decode_body(&mut &cp[..]).map_err(|e| codec_private_error(info, e.to_string()))?;
    for (nal_type, name) in [(32, "VPS"), (33, "SPS"), (34, "PPS")] {
        let present = hvcc
            .arrays
            .iter()
            .any(|a| a.nal_unit_type == nal_type && a.nalus.iter().any(|n| !n.is_empty()));
        if !present {
            return Err(codec_private_error(info, format!("it has no {name}")));
        }
    }
    Ok(hvcc)
}

/// What the AudioSpecificConfig says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Asc {
    object_type: u8,
    freq_index: u8,
    sample_rate: Option<u32>,
    channels: u8,
    /// Samples per frame at `sample_rate`, for the plain AAC object types.
    frame_samples: Option<u32>,
}

const AAC_RATES: [u32; 13] = [
    96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
];

struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Bits<'_> {
    fn read(&mut self, n: usize) -> std::result::Result<u32, String> {
        let mut v = 0u32;
        for _ in 0..n {
            let byte = self
                .data
                .get(self.pos / 8)
                .ok_or("it ends inside the AudioSpecificConfig")?;
            v = (v << 1) | u32::from((byte >> (7 - self.pos % 8)) & 1);
            self.pos += 1;
        }
        Ok(v)
    }
}

/// Parses the head of an AudioSpecificConfig (ISO/IEC 14496-3 1.6.2.1).
fn parse_asc(data: &[u8]) -> std::result::Result<Asc, String> {
    if data.len() < 2 {
        return Err(format!(
            "an AudioSpecificConfig has at least 2 bytes, this has {}",
            data.len()
        ));
    }
    let mut bits = Bits { data, pos: 0 };
    let mut object_type = bits.read(5)?;
    if object_type == 31 {
        object_type = 32 + bits.read(6)?;
    }
    if object_type == 0 {
        return Err("audioObjectType is 0 (null)".into());
    }
    let freq_index = bits.read(4)?;
    let sample_rate = match freq_index {
        15 => Some(bits.read(24)?),
        i => AAC_RATES.get(i as usize).copied(),
    };
    if sample_rate.is_none() {
        return Err(format!("samplingFrequencyIndex {freq_index} is reserved"));
    }
    let channels = bits.read(4)? as u8;
    // GASpecificConfig's frameLengthFlag picks 960- or 1024-sample frames. SBR/PS (5, 29) and
    // the low-delay types have other frame lengths: their times are used as given.
    let frame_samples = match object_type {
        1..=4 | 6 | 7 | 17 | 19..=22 => Some(if bits.read(1)? == 1 { 960 } else { 1024 }),
        _ => None,
    };
    Ok(Asc {
        object_type: object_type.min(u32::from(u8::MAX)) as u8,
        freq_index: freq_index as u8,
        sample_rate,
        channels,
        frame_samples,
    })
}

/// An `stbl` with only the sample entry (for the fMP4 init segment, and as a base).
pub(crate) fn empty_stbl(plan: &TrackPlan<'_>) -> Stbl {
    Stbl {
        stsd: Stsd {
            codecs: vec![plan.entry.clone()],
        },
        stco: Some(Stco::default()),
        ..Default::default()
    }
}

/// The `trak` of a track around `stbl`.
pub(crate) fn trak(
    plan: &TrackPlan<'_>,
    stbl: Stbl,
    media_duration: u64,
    movie_duration: u64,
    edts: Option<Edts>,
) -> Trak {
    let (width, height) = plan.picture.unwrap_or((0, 0));
    let (handler, name, vmhd, smhd) = if plan.is_video() {
        (b"vide", "VideoHandler", Some(Vmhd::default()), None)
    } else {
        (b"soun", "SoundHandler", None, Some(Smhd::default()))
    };
    Trak {
        tkhd: Tkhd {
            track_id: plan.id,
            duration: movie_duration,
            enabled: true,
            in_movie: true,
            volume: u8::from(!plan.is_video()).into(),
            matrix: Default::default(),
            width: width.into(),
            height: height.into(),
            ..Default::default()
        },
        edts,
        mdia: Mdia {
            mdhd: Mdhd {
                timescale: plan.timescale(),
                duration: media_duration,
                language: "und".into(),
                ..Default::default()
            },
            hdlr: Hdlr {
                handler: FourCC::new(handler),
                name: name.into(),
            },
            minf: Minf {
                vmhd,
                smhd,
                dinf: Dinf {
                    dref: Dref {
                        entries: vec![Url::default().into()],
                    },
                },
                stbl,
                ..Default::default()
            },
        },
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asc_lc_48k_stereo() {
        let asc = parse_asc(&[0x11, 0x90]);
        assert_eq!(
            asc,
            Ok(Asc {
                object_type: 2,
                freq_index: 3,
                sample_rate: Some(48000),
                channels: 2,
                frame_samples: Some(1024),
            })
        );
    }

    #[test]
    fn asc_he_aac_is_not_snapped() {
        // AOT 5 (SBR), 24 kHz core.
        let asc = parse_asc(&[0x2B, 0x10, 0x88, 0x00]);
        assert!(matches!(
            asc,
            Ok(Asc {
                frame_samples: None,
                object_type: 5,
                ..
            })
        ));
    }

    #[test]
    fn asc_garbage_is_rejected() {
        assert!(parse_asc(&[0x11]).is_err());
        assert!(parse_asc(&[0x00, 0x00]).is_err());
        assert!(parse_asc(&[0x16, 0x80]).is_err());
    }

    #[test]
    fn avcc_core_len_stops_before_extension() {
        let cp = [
            1, 0x64, 0, 0x1F, 0xFF, 0xE1, 0, 2, 0x67, 0x64, 1, 0, 1, 0x68, 0xFD,
        ];
        assert_eq!(avcc_core_len(&cp), Some(14));
        assert_eq!(avcc_core_len(&cp[..12]), None);
    }
}
