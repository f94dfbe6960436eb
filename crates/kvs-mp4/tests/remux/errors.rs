//! Bad input gives the documented error, never a panic.

use bytes::Bytes;
use kvs_mkv::{Frame, TrackInfo};
use kvs_mp4::{Mp4Error, clip, init_segment, media_segment};

/// A structurally valid avcC (one SPS, one PPS); enough for box-level checks.
pub(crate) const AVCC: &[u8] = &[
    1, 0x42, 0xC0, 0x1E, 0xFF, 0xE1, 0, 4, 0x67, 0x42, 0xC0, 0x1E, 1, 0, 2, 0x68, 0xCE,
];
/// AAC-LC, 48 kHz, stereo.
pub(crate) const ASC: &[u8] = &[0x11, 0x90];

fn frame(track: u64, ms: u64, key: bool) -> Frame {
    Frame {
        track,
        timestamp_ns: ms * 1_000_000,
        key,
        data: Bytes::from_static(&[0, 0, 0, 1, 0x65]),
    }
}

#[test]
fn no_frames() {
    let tracks = [TrackInfo::h264(1, 320, 240, AVCC.to_vec())];
    assert_eq!(clip(&tracks, &[]), Err(Mp4Error::NoFrames));
    assert_eq!(
        media_segment(&tracks, &[], 1, None),
        Err(Mp4Error::NoFrames)
    );
    // Frames exist, but none on the selected track.
    let tracks = [
        TrackInfo::h264(1, 320, 240, AVCC.to_vec()),
        TrackInfo::aac(2, 48000.0, 2, ASC.to_vec()),
    ];
    assert_eq!(
        media_segment(&tracks, &[frame(1, 0, true)], 1, Some(2)),
        Err(Mp4Error::NoFrames)
    );
    assert_eq!(init_segment(&[]), Err(Mp4Error::NoTracks));
}

#[test]
fn garbage_codec_private_names_the_track() {
    let tracks = [
        TrackInfo::aac(1, 48000.0, 2, ASC.to_vec()),
        TrackInfo::h264(2, 320, 240, b"not an avcC record".to_vec()),
    ];
    let frames = [frame(1, 0, true), frame(2, 0, true)];
    for err in [
        clip(&tracks, &frames).unwrap_err(),
        init_segment(&tracks).unwrap_err(),
        media_segment(&tracks, &frames, 1, None).unwrap_err(),
    ] {
        assert!(
            matches!(&err, Mp4Error::CodecPrivate { track: 2, codec_id, .. } if codec_id == TrackInfo::H264),
            "{err:?}"
        );
        assert!(err.to_string().contains("track 2"), "{err}");
    }

    // Truncated inside the SPS, missing PPS, empty, HEVC garbage, short AAC config.
    let bad = [
        TrackInfo::h264(1, 320, 240, AVCC[..10].to_vec()),
        TrackInfo::h264(
            1,
            320,
            240,
            vec![1, 0x42, 0, 0x1E, 0xFF, 0xE1, 0, 1, 0x67, 0],
        ),
        TrackInfo::h264(1, 320, 240, Vec::new()),
        TrackInfo::h265(1, 320, 240, vec![1, 2, 3]),
        TrackInfo::aac(1, 48000.0, 2, vec![0x11]),
    ];
    for t in bad {
        let err = clip(std::slice::from_ref(&t), &[frame(1, 0, true)]).unwrap_err();
        assert!(
            matches!(err, Mp4Error::CodecPrivate { track: 1, .. }),
            "{t:?}: {err:?}"
        );
    }
}

#[test]
fn unsupported_codec() {
    let mut vp8 = TrackInfo::h264(1, 320, 240, Vec::new());
    vp8.codec_id = "V_VP8".into();
    let err = clip(&[vp8.clone()], &[frame(1, 0, true)]).unwrap_err();
    assert_eq!(err, Mp4Error::UnsupportedCodec("V_VP8".into()));
    assert!(err.to_string().contains("V_VP8"));
    assert_eq!(
        init_segment(&[vp8]),
        Err(Mp4Error::UnsupportedCodec("V_VP8".into()))
    );
}

#[test]
fn unknown_and_invalid_tracks() {
    let tracks = [TrackInfo::h264(1, 320, 240, AVCC.to_vec())];
    assert_eq!(
        clip(&tracks, &[frame(1, 0, true), frame(9, 0, true)]),
        Err(Mp4Error::UnknownTrack(9))
    );
    assert_eq!(
        media_segment(&tracks, &[frame(1, 0, true)], 1, Some(3)),
        Err(Mp4Error::UnknownTrack(3))
    );
    let zero = [TrackInfo::h264(0, 320, 240, AVCC.to_vec())];
    assert!(matches!(
        clip(&zero, &[frame(0, 0, true)]),
        Err(Mp4Error::InvalidTrack { track: 0, .. })
    ));
    let huge = [TrackInfo::h264(1, 70_000, 240, AVCC.to_vec())];
    assert!(matches!(
        init_segment(&huge),
        Err(Mp4Error::InvalidTrack { track: 1, .. })
    ));
    let no_rate = [TrackInfo::aac(1, 0.0, 2, ASC.to_vec())];
    assert!(matches!(
        init_segment(&no_rate),
        Err(Mp4Error::InvalidTrack { track: 1, .. })
    ));
    let twice = [
        TrackInfo::h264(1, 320, 240, AVCC.to_vec()),
        TrackInfo::aac(1, 48000.0, 2, ASC.to_vec()),
    ];
    assert!(matches!(
        init_segment(&twice),
        Err(Mp4Error::InvalidTrack { track: 1, .. })
    ));
}

#[test]
fn single_frame_and_hour_long_gap() {
    let tracks = [TrackInfo::h264(1, 320, 240, AVCC.to_vec())];
    assert!(clip(&tracks, &[frame(1, 0, true)]).is_ok());
    // Two frames 14 hours apart: beyond a 32-bit duration at 90 kHz.
    let far = [frame(1, 0, true), frame(1, 14 * 3600 * 1000, true)];
    assert!(matches!(
        clip(&tracks, &far),
        Err(Mp4Error::Timing { track: 1, .. })
    ));
}
