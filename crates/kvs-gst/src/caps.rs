//! GStreamer caps to KVS tracks: which streams to keep, and their `TrackInfo`.

use gstreamer as gst;
use kvs_mkv::TrackInfo;
use kvs_mkv::codec;

use crate::error::{Result, SourceError};

/// Track number of the video track.
pub(crate) const VIDEO_TRACK: u64 = 1;
/// Track number of the audio track.
pub(crate) const AUDIO_TRACK: u64 = 2;

/// What an elementary stream (or RTP stream) carries, as far as kvs-gst cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StreamKind {
    H264,
    H265,
    Aac,
    /// Video in a codec kvs-gst does not pass through; the caps name.
    OtherVideo(String),
    /// Anything else (other audio, subtitles, data); the caps name.
    Other(String),
}

impl StreamKind {
    pub(crate) fn is_video(&self) -> bool {
        matches!(self, Self::H264 | Self::H265 | Self::OtherVideo(_))
    }
}

/// Classifies parsed elementary-stream caps (the output of `parsebin`).
pub(crate) fn classify(caps: &gst::CapsRef) -> StreamKind {
    let Some(s) = caps.structure(0) else {
        return StreamKind::Other("(no caps)".into());
    };
    match s.name().as_str() {
        "video/x-h264" => StreamKind::H264,
        "video/x-h265" => StreamKind::H265,
        "audio/mpeg" if matches!(s.get::<i32>("mpegversion"), Ok(2 | 4)) => StreamKind::Aac,
        name if name.starts_with("video/") || name.starts_with("image/") => {
            StreamKind::OtherVideo(name.to_owned())
        }
        name => StreamKind::Other(name.to_owned()),
    }
}

/// Classifies the caps of an `rtspsrc` pad (`application/x-rtp` with `media` and
/// `encoding-name`).
pub(crate) fn classify_rtp(caps: &gst::CapsRef) -> StreamKind {
    let Some(s) = caps.structure(0) else {
        return StreamKind::Other("(no caps)".into());
    };
    let media = s.get::<&str>("media").unwrap_or("");
    let encoding = s
        .get::<&str>("encoding-name")
        .unwrap_or("")
        .to_ascii_uppercase();
    match (media, encoding.as_str()) {
        ("video", "H264") => StreamKind::H264,
        ("video", "H265") => StreamKind::H265,
        ("audio", "MPEG4-GENERIC") => {
            let mode = s.get::<&str>("mode").unwrap_or("").to_ascii_lowercase();
            if mode.starts_with("aac") {
                StreamKind::Aac
            } else {
                StreamKind::Other(format!("audio {encoding} mode={mode}"))
            }
        }
        ("audio", "MP4A-LATM") => StreamKind::Aac,
        ("video", _) => StreamKind::OtherVideo(format!("RTP video {encoding}")),
        _ => StreamKind::Other(format!("RTP {media} {encoding}")),
    }
}

/// The video track described by `caps` (H.264 avc/au or H.265 hvc1/au); `key_frame` is the
/// first key frame, used to rebuild missing H.264 codec data.
pub(crate) fn video_track(caps: &gst::CapsRef, key_frame: &[u8], input: &str) -> Result<TrackInfo> {
    let s = caps
        .structure(0)
        .ok_or_else(|| codec_error(input, "video caps are empty"))?;
    let dimension = |field: &str| {
        s.get::<i32>(field)
            .ok()
            .and_then(|v| u32::try_from(v).ok())
            .filter(|v| *v > 0)
            .ok_or_else(|| codec_error(input, &format!("video caps have no {field}: {s}")))
    };
    let (width, height) = (dimension("width")?, dimension("height")?);
    let codec_data = buffer_field(s, "codec_data");
    let mut track = match s.name().as_str() {
        "video/x-h264" => {
            let avcc = match codec_data {
                Some(avcc) => avcc,
                None => codec::avcc_from_access_unit(key_frame).map_err(|e| {
                    codec_error(
                        input,
                        &format!(
                            "the H.264 stream has no codec data and its first key frame has \
                             no SPS/PPS ({e}); configure the camera to send SPS/PPS in band \
                             or in the SDP (sprop-parameter-sets)"
                        ),
                    )
                })?,
            };
            TrackInfo::h264(VIDEO_TRACK, width, height, avcc)
        }
        "video/x-h265" => {
            let hvcc = codec_data.ok_or_else(|| {
                codec_error(
                    input,
                    "the H.265 stream has no codec data (HEVCDecoderConfigurationRecord); \
                     configure the source to send VPS/SPS/PPS in the SDP (sprop-vps/sps/pps)",
                )
            })?;
            TrackInfo::h265(VIDEO_TRACK, width, height, hvcc)
        }
        other => {
            return Err(SourceError::UnsupportedCodec {
                input: input.to_owned(),
                codec: other.to_owned(),
            });
        }
    };
    track.default_duration_ns = s
        .get::<gst::Fraction>("framerate")
        .ok()
        .filter(|f| f.numer() > 0 && f.denom() > 0)
        .map(|f| 1_000_000_000 * f.denom() as u64 / f.numer() as u64);
    Ok(track)
}

/// The audio track described by `caps`: AAC (`audio/mpeg, stream-format=raw`) or Opus
/// (`audio/x-opus`, from opusenc).
pub(crate) fn audio_track(caps: &gst::CapsRef, input: &str) -> Result<TrackInfo> {
    let s = caps
        .structure(0)
        .ok_or_else(|| codec_error(input, "audio caps are empty"))?;
    if s.name() == "audio/x-opus" {
        return opus_track(s, input);
    }
    let positive = |field: &str| {
        s.get::<i32>(field)
            .ok()
            .and_then(|v| u32::try_from(v).ok())
            .filter(|v| *v > 0)
            .ok_or_else(|| codec_error(input, &format!("AAC caps have no {field}: {s}")))
    };
    let rate = positive("rate")?;
    let channels = u8::try_from(positive("channels")?)
        .map_err(|_| codec_error(input, "AAC stream has more than 255 channels"))?;
    let asc = match buffer_field(s, "codec_data") {
        Some(asc) => asc,
        None => codec::aac_audio_specific_config(rate, channels)
            .map_err(|e| codec_error(input, &format!("AAC stream has no codec data: {e}")))?,
    };
    Ok(TrackInfo::aac(AUDIO_TRACK, f64::from(rate), channels, asc))
}

/// The Opus track of opusenc's caps. Its codec private is rebuilt rather than copied from
/// the `streamheader`, whose input rate is the raw audio's, but keeps the encoder's pre-skip
/// (the samples a decoder drops at the start).
fn opus_track(s: &gst::StructureRef, input: &str) -> Result<TrackInfo> {
    let channels = s
        .get::<i32>("channels")
        .ok()
        .and_then(|c| u8::try_from(c).ok())
        .filter(|c| (1..=2).contains(c))
        .ok_or_else(|| codec_error(input, &format!("Opus caps have no 1 or 2 channels: {s}")))?;
    let pre_skip = s
        .get::<gst::ArrayRef>("streamheader")
        .ok()
        .and_then(|headers| headers.first()?.get::<gst::Buffer>().ok())
        .and_then(|head| opus_pre_skip(&head.map_readable().ok()?));
    let mut track = TrackInfo::opus(AUDIO_TRACK, channels);
    if let Some(pre_skip) = pre_skip {
        track.codec_private = codec::opus_head(channels, pre_skip);
    }
    Ok(track)
}

/// The pre-skip of an `OpusHead` (RFC 7845 5.1); `None` if `head` is not one.
fn opus_pre_skip(head: &[u8]) -> Option<u16> {
    if head.len() < 19 || !head.starts_with(b"OpusHead") {
        return None;
    }
    Some(u16::from_le_bytes([head[10], head[11]]))
}

fn buffer_field(s: &gst::StructureRef, field: &str) -> Option<Vec<u8>> {
    let buffer = s.get::<gst::Buffer>(field).ok()?;
    let map = buffer.map_readable().ok()?;
    (!map.is_empty()).then(|| map.to_vec())
}

fn codec_error(input: &str, reason: &str) -> SourceError {
    SourceError::CodecData {
        input: input.to_owned(),
        reason: reason.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const SPS: [u8; 5] = [0x67, 0x64, 0x00, 0x1F, 0xAC];
    const PPS: [u8; 4] = [0x68, 0xEE, 0x3C, 0x80];
    const IDR: [u8; 3] = [0x65, 0x88, 0x84];

    fn init() {
        gst::init().unwrap();
    }

    #[test]
    fn avcc_from_an_avc_key_frame() {
        let mut au = Vec::new();
        for nal in [&SPS[..], &PPS[..], &IDR[..]] {
            au.extend_from_slice(&(nal.len() as u32).to_be_bytes());
            au.extend_from_slice(nal);
        }
        let avcc = codec::avcc_from_access_unit(&au).unwrap();
        assert_eq!(&avcc[..6], &[1, 0x64, 0x00, 0x1F, 0xFF, 0xE1]);
        assert_eq!(
            avcc,
            kvs_mkv::codec::avcc_from_parameter_sets(&[&SPS], &[&PPS]).unwrap()
        );
        // A delta frame has no parameter sets; a truncated one neither.
        assert!(codec::avcc_from_access_unit(&[0, 0, 0, 3, 0x41, 1, 2]).is_err());
        assert!(codec::avcc_from_access_unit(&[0, 0, 0, 9, 0x67]).is_err());
    }

    #[test]
    fn avcc_from_an_annexb_key_frame() {
        let mut au = vec![0, 0, 0, 1];
        au.extend_from_slice(&SPS);
        au.extend_from_slice(&[0, 0, 1]);
        au.extend_from_slice(&PPS);
        au.extend_from_slice(&[0, 0, 1]);
        au.extend_from_slice(&IDR);
        assert_eq!(
            codec::avcc_from_access_unit(&au).unwrap(),
            kvs_mkv::codec::avcc_from_parameter_sets(&[&SPS], &[&PPS]).unwrap()
        );
    }

    #[test]
    fn video_caps_without_codec_data_use_the_key_frame() {
        init();
        let caps = gst::Caps::builder("video/x-h264")
            .field("stream-format", "avc")
            .field("alignment", "au")
            .field("width", 320i32)
            .field("height", 240i32)
            .field("framerate", gst::Fraction::new(25, 1))
            .build();
        let mut au = Vec::new();
        for nal in [&SPS[..], &PPS[..], &IDR[..]] {
            au.extend_from_slice(&(nal.len() as u32).to_be_bytes());
            au.extend_from_slice(nal);
        }
        let track = video_track(&caps, &au, "test").unwrap();
        assert_eq!(track.codec_id, TrackInfo::H264);
        assert_eq!(track.codec_private[0], 1);
        assert_eq!(track.default_duration_ns, Some(40_000_000));
        let err = video_track(&caps, &IDR, "test").unwrap_err();
        assert!(matches!(err, SourceError::CodecData { .. }), "{err}");
        assert!(err.to_string().contains("SPS/PPS"));
    }

    #[test]
    fn audio_caps_without_codec_data_get_an_asc() {
        init();
        let caps = gst::Caps::builder("audio/mpeg")
            .field("mpegversion", 4i32)
            .field("stream-format", "raw")
            .field("rate", 48_000i32)
            .field("channels", 2i32)
            .build();
        assert_eq!(classify(&caps), StreamKind::Aac);
        let track = audio_track(&caps, "test").unwrap();
        assert_eq!(track.codec_private, vec![0x11, 0x90]);
        assert_eq!(track.number, AUDIO_TRACK);
    }

    #[test]
    fn opus_caps_give_an_opus_head_with_the_pre_skip() {
        init();
        // opusenc's OpusHead for 44.1 kHz mono input with a pre-skip of 312.
        let head =
            gst::Buffer::from_slice(*b"OpusHead\x01\x01\x38\x01\x44\xac\x00\x00\x00\x00\x00");
        assert_eq!(opus_pre_skip(&head.map_readable().unwrap()), Some(312));
        assert_eq!(
            opus_pre_skip(b"OpusTags\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"),
            None
        );
        assert_eq!(opus_pre_skip(b"OpusHead"), None);
        let caps = |channels: i32, headers: Option<gst::Array>| {
            let mut caps = gst::Caps::builder("audio/x-opus")
                .field("rate", 48_000i32)
                .field("channels", channels)
                .field("channel-mapping-family", 0i32);
            if let Some(headers) = headers {
                caps = caps.field("streamheader", headers);
            }
            caps.build()
        };
        let track = audio_track(&caps(1, Some(gst::Array::new([head]))), "test").unwrap();
        assert_eq!(track.codec_id, TrackInfo::OPUS);
        assert_eq!(track.number, AUDIO_TRACK);
        assert_eq!(
            track.kind,
            kvs_mkv::TrackKind::Audio {
                sampling_frequency: 48_000.0,
                channels: 1
            }
        );
        assert_eq!(track.codec_private, codec::opus_head(1, 312));
        // Without a stream header the pre-skip is unknown: 0.
        let track = audio_track(&caps(2, None), "test").unwrap();
        assert_eq!(track.codec_private, codec::opus_head(2, 0));
        let err = audio_track(&caps(6, None), "test").unwrap_err();
        assert!(matches!(err, SourceError::CodecData { .. }), "{err}");
    }

    #[test]
    fn rtp_caps_are_classified() {
        init();
        let rtp = |media: &str, encoding: &str| {
            gst::Caps::builder("application/x-rtp")
                .field("media", media)
                .field("encoding-name", encoding)
                .field("mode", "AAC-hbr")
                .build()
        };
        assert_eq!(classify_rtp(&rtp("video", "H264")), StreamKind::H264);
        assert_eq!(classify_rtp(&rtp("video", "H265")), StreamKind::H265);
        assert_eq!(
            classify_rtp(&rtp("audio", "MPEG4-GENERIC")),
            StreamKind::Aac
        );
        assert!(matches!(
            classify_rtp(&rtp("video", "VP8")),
            StreamKind::OtherVideo(_)
        ));
        assert!(matches!(
            classify_rtp(&rtp("audio", "PCMU")),
            StreamKind::Other(_)
        ));
        assert!(matches!(
            classify(&gst::Caps::new_empty_simple("video/x-vp9")),
            StreamKind::OtherVideo(_)
        ));
        assert!(matches!(
            classify(&gst::Caps::new_empty_simple("text/x-raw")),
            StreamKind::Other(_)
        ));
    }
}
