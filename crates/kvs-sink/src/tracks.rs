//! Negotiated caps to the producer's tracks: track 1 is the video, track 2 the audio.

use gstreamer as gst;
use kvs_mkv::codec;
use kvs_mkv::{TrackInfo, TrackKind};

/// Track number of the video track.
pub(crate) const VIDEO_TRACK: u64 = 1;
/// Track number of the audio track.
pub(crate) const AUDIO_TRACK: u64 = 2;

/// Why caps cannot become a track.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum TrackError {
    /// The caps are not one of the pad templates' formats.
    #[error("unsupported caps {0}")]
    Unsupported(String),
    /// A field the track needs is missing or out of range.
    #[error("caps {caps} have no valid {field}")]
    Field {
        /// The caps.
        caps: String,
        /// The field.
        field: &'static str,
    },
    /// No codec data in the caps, and none can be made.
    #[error("{0}")]
    CodecData(String),
}

/// What the video track looks like, from the element's properties.
#[derive(Debug, Clone, Default)]
pub(crate) struct VideoOverrides {
    /// Replaces the codec id derived from the caps.
    pub(crate) codec_id: Option<String>,
    /// The track's name.
    pub(crate) track_name: Option<String>,
    /// Frame rate used for the nominal frame duration when the caps have none.
    pub(crate) framerate: u32,
}

/// The video track for `caps` (H.264 avc/au or H.265 hvc1/au). H.264 caps without
/// `codec_data` get an AVCC record built from the SPS/PPS in `first_frame`.
pub(crate) fn video_track(
    caps: &gst::CapsRef,
    first_frame: &[u8],
    overrides: &VideoOverrides,
) -> Result<TrackInfo, TrackError> {
    let s = caps
        .structure(0)
        .ok_or_else(|| TrackError::Unsupported(caps.to_string()))?;
    let width = positive(s, "width")?;
    let height = positive(s, "height")?;
    let codec_data = buffer_field(s, "codec_data");
    let mut track = match s.name().as_str() {
        "video/x-h264" => {
            let avcc = match codec_data {
                Some(avcc) => avcc,
                None => codec::avcc_from_access_unit(first_frame).map_err(|e| {
                    TrackError::CodecData(format!(
                        "the H.264 caps have no codec_data and the first frame has no SPS/PPS \
                         ({e}); put h264parse before kvssink"
                    ))
                })?,
            };
            TrackInfo::h264(VIDEO_TRACK, width, height, avcc)
        }
        "video/x-h265" => {
            let hvcc = codec_data.ok_or_else(|| {
                TrackError::CodecData(
                    "the H.265 caps have no codec_data (HEVCDecoderConfigurationRecord); put \
                     h265parse before kvssink"
                        .into(),
                )
            })?;
            TrackInfo::h265(VIDEO_TRACK, width, height, hvcc)
        }
        _ => return Err(TrackError::Unsupported(caps.to_string())),
    };
    let rate = s
        .get::<gst::Fraction>("framerate")
        .ok()
        .filter(|f| f.numer() > 0 && f.denom() > 0)
        .map(|f| (f.numer() as u64, f.denom() as u64))
        .or((overrides.framerate > 0).then_some((u64::from(overrides.framerate), 1)));
    track.default_duration_ns = rate.map(|(n, d)| 1_000_000_000 * d / n);
    if let Some(id) = &overrides.codec_id {
        track.codec_id = id.clone();
    }
    if let Some(name) = &overrides.track_name {
        track.name = Some(name.clone());
    }
    Ok(track)
}

/// The audio track for `caps`: AAC (`audio/mpeg`, raw), A-law or mu-law.
pub(crate) fn audio_track(caps: &gst::CapsRef) -> Result<TrackInfo, TrackError> {
    let s = caps
        .structure(0)
        .ok_or_else(|| TrackError::Unsupported(caps.to_string()))?;
    let rate = positive(s, "rate")?;
    let channels = u8::try_from(positive(s, "channels")?).map_err(|_| TrackError::Field {
        caps: s.to_string(),
        field: "channels",
    })?;
    match s.name().as_str() {
        "audio/mpeg" => {
            let asc = match buffer_field(s, "codec_data") {
                Some(asc) => asc,
                None => codec::aac_audio_specific_config(rate, channels).map_err(|e| {
                    TrackError::CodecData(format!(
                        "the AAC caps have no codec_data and none can be made: {e}"
                    ))
                })?,
            };
            Ok(TrackInfo::aac(AUDIO_TRACK, f64::from(rate), channels, asc))
        }
        "audio/x-alaw" => Ok(g711_track(G711::ALaw, rate, channels)),
        "audio/x-mulaw" => Ok(g711_track(G711::MuLaw, rate, channels)),
        _ => Err(TrackError::Unsupported(caps.to_string())),
    }
}

#[derive(Debug, Clone, Copy)]
enum G711 {
    ALaw,
    MuLaw,
}

/// G.711 in Matroska: `A_MS/ACM` with a WAVEFORMATEX (format tag 6 or 7) as codec private.
fn g711_track(law: G711, rate: u32, channels: u8) -> TrackInfo {
    let format_tag: u16 = match law {
        G711::ALaw => 6,
        G711::MuLaw => 7,
    };
    let mut wfx = Vec::with_capacity(18);
    wfx.extend_from_slice(&format_tag.to_le_bytes());
    wfx.extend_from_slice(&u16::from(channels).to_le_bytes());
    wfx.extend_from_slice(&rate.to_le_bytes());
    // One byte per sample per channel.
    wfx.extend_from_slice(&rate.saturating_mul(u32::from(channels)).to_le_bytes());
    wfx.extend_from_slice(&u16::from(channels).to_le_bytes());
    wfx.extend_from_slice(&8u16.to_le_bytes());
    wfx.extend_from_slice(&0u16.to_le_bytes());
    TrackInfo {
        number: AUDIO_TRACK,
        uid: AUDIO_TRACK,
        kind: TrackKind::Audio {
            sampling_frequency: f64::from(rate),
            channels,
        },
        codec_id: TrackInfo::PCM_ACM.into(),
        codec_private: wfx,
        name: Some("kinesis_audio".into()),
        default_duration_ns: None,
    }
}

fn positive(s: &gst::StructureRef, field: &'static str) -> Result<u32, TrackError> {
    s.get::<i32>(field)
        .ok()
        .and_then(|v| u32::try_from(v).ok())
        .filter(|v| *v > 0)
        .ok_or_else(|| TrackError::Field {
            caps: s.to_string(),
            field,
        })
}

fn buffer_field(s: &gst::StructureRef, field: &str) -> Option<Vec<u8>> {
    let buffer = s.get::<gst::Buffer>(field).ok()?;
    let map = buffer.map_readable().ok()?;
    (!map.is_empty()).then(|| map.to_vec())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const SPS: [u8; 5] = [0x67, 0x64, 0x00, 0x1F, 0xAC];
    const PPS: [u8; 4] = [0x68, 0xEE, 0x3C, 0x80];
    const IDR: [u8; 3] = [0x65, 0x88, 0x84];

    fn avc(nals: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for nal in nals {
            out.extend_from_slice(&(nal.len() as u32).to_be_bytes());
            out.extend_from_slice(nal);
        }
        out
    }

    fn h264_caps() -> gst::Caps {
        gst::init().unwrap();
        gst::Caps::builder("video/x-h264")
            .field("stream-format", "avc")
            .field("alignment", "au")
            .field("width", 320i32)
            .field("height", 240i32)
            .build()
    }

    #[test]
    fn h264_without_codec_data_uses_the_first_frame() {
        let caps = h264_caps();
        let overrides = VideoOverrides {
            framerate: 25,
            track_name: Some("cam".into()),
            ..VideoOverrides::default()
        };
        let track = video_track(&caps, &avc(&[&SPS, &PPS, &IDR]), &overrides).unwrap();
        assert_eq!(track.number, VIDEO_TRACK);
        assert_eq!(track.codec_id, TrackInfo::H264);
        assert_eq!(
            track.codec_private,
            codec::avcc_from_parameter_sets(&[&SPS], &[&PPS]).unwrap()
        );
        // No framerate in the caps: the framerate property gives the frame duration.
        assert_eq!(track.default_duration_ns, Some(40_000_000));
        assert_eq!(track.name.as_deref(), Some("cam"));
        let err = video_track(&caps, &avc(&[&IDR]), &overrides).unwrap_err();
        assert!(err.to_string().contains("h264parse"), "{err}");
    }

    #[test]
    fn video_caps_need_a_size() {
        gst::init().unwrap();
        let caps = gst::Caps::builder("video/x-h264").build();
        let err = video_track(&caps, &[], &VideoOverrides::default()).unwrap_err();
        assert!(
            matches!(err, TrackError::Field { field: "width", .. }),
            "{err}"
        );
    }

    #[test]
    fn audio_tracks() {
        gst::init().unwrap();
        let aac = gst::Caps::builder("audio/mpeg")
            .field("mpegversion", 4i32)
            .field("stream-format", "raw")
            .field("rate", 48_000i32)
            .field("channels", 2i32)
            .build();
        let track = audio_track(&aac).unwrap();
        assert_eq!(
            (track.number, track.codec_id.as_str()),
            (AUDIO_TRACK, "A_AAC")
        );
        assert_eq!(track.codec_private, vec![0x11, 0x90]);

        let alaw = gst::Caps::builder("audio/x-alaw")
            .field("rate", 8000i32)
            .field("channels", 1i32)
            .build();
        let track = audio_track(&alaw).unwrap();
        assert_eq!(track.codec_id, TrackInfo::PCM_ACM);
        assert_eq!(
            track.codec_private,
            vec![
                6, 0, 1, 0, 0x40, 0x1f, 0, 0, 0x40, 0x1f, 0, 0, 1, 0, 8, 0, 0, 0
            ]
        );
        let mulaw = gst::Caps::builder("audio/x-mulaw")
            .field("rate", 8000i32)
            .field("channels", 1i32)
            .build();
        assert_eq!(audio_track(&mulaw).unwrap().codec_private[0], 7);
        let opus = gst::Caps::builder("audio/x-opus")
            .field("rate", 48000i32)
            .field("channels", 2i32)
            .build();
        assert!(matches!(
            audio_track(&opus),
            Err(TrackError::Unsupported(_))
        ));
    }
}
