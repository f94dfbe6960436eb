use std::time::Duration;

use kvs_gst::{AudioCodec, MediaSource, Source, SourceOptions, TestPattern};
use kvs_mkv::{TrackInfo, TrackKind};

use crate::support::{assert_avc, assert_opus_head, assert_ordered, count, read_all};

#[test]
fn test_pattern_with_audio_gives_h264_and_aac_in_order() {
    let pattern = TestPattern {
        audio: true,
        duration: Some(Duration::from_secs(3)),
        ..TestPattern::default()
    };
    let fps = pattern.fps as usize;
    let mut source =
        MediaSource::open(&Source::TestPattern(pattern), SourceOptions::default()).unwrap();

    let tracks = source.tracks().to_vec();
    assert_eq!(tracks.len(), 2);
    let (video, audio) = (&tracks[0], &tracks[1]);
    assert_eq!(
        (video.number, video.codec_id.as_str()),
        (1, TrackInfo::H264)
    );
    assert_eq!(
        video.kind,
        TrackKind::Video {
            width: 640,
            height: 480
        }
    );
    assert_eq!(
        video.codec_private[0], 1,
        "AVCC records start with version 1"
    );
    assert_eq!(video.default_duration_ns, Some(1_000_000_000 / 30));
    assert_eq!((audio.number, audio.codec_id.as_str()), (2, TrackInfo::AAC));
    assert_eq!(
        audio.kind,
        TrackKind::Audio {
            sampling_frequency: 48_000.0,
            channels: 2
        }
    );
    // AAC-LC 48 kHz stereo (an encoder may append an SBR sync extension).
    assert_eq!(
        audio.codec_private[..2],
        [0x11, 0x90],
        "{:x?}",
        audio.codec_private
    );

    let frames = read_all(&mut source);
    assert_ordered(&frames);
    let videos = count(&frames, 1);
    assert!(
        (3 * fps - 2..=3 * fps + 2).contains(&videos),
        "{videos} video frames"
    );
    // 3 s of 1024-sample AAC frames at 48 kHz is about 140, less any before the first key frame.
    let audios = count(&frames, 2);
    assert!((120..=145).contains(&audios), "{audios} audio frames");
    assert!(frames.iter().filter(|f| f.track == 2).all(|f| f.key));
    for frame in frames.iter().filter(|f| f.track == 1) {
        assert_avc(&frame.data);
    }
    // Key frames every 2 * fps: at 0 and 2 s.
    let keys: Vec<u64> = frames
        .iter()
        .filter(|f| f.track == 1 && f.key)
        .map(|f| f.timestamp_ns)
        .collect();
    assert_eq!(keys.len(), 2, "key frames at {keys:?}");
    let last = frames.last().unwrap().timestamp_ns;
    assert!(
        (2_800_000_000..3_200_000_000).contains(&last),
        "last frame at {last} ns"
    );
    assert_eq!(source.next_frame().unwrap(), None, "stays at the end");
}

#[test]
fn a_requested_key_frame_comes_before_the_gop_ends() {
    let pattern = TestPattern {
        duration: Some(Duration::from_secs(3)),
        ..TestPattern::default()
    };
    let gop = 2 * pattern.fps as usize;
    let mut source =
        MediaSource::open(&Source::TestPattern(pattern), SourceOptions::default()).unwrap();
    let trigger = source.key_frame_trigger().expect("a test pattern encodes");
    let mut keys = Vec::new();
    let mut index = 0;
    while let Some(frame) = source.next_frame().unwrap() {
        if frame.track != 1 {
            continue;
        }
        if frame.key {
            keys.push(index);
        }
        if index == 10 {
            assert!(trigger.request(), "the pipeline refused the request");
        }
        index += 1;
    }
    // Without the request the second key frame would be frame `gop` (60); the encoder's
    // queue delays the forced one by a few frames.
    assert_eq!(keys[0], 0);
    assert!(
        keys.get(1).is_some_and(|&k| k > 10 && k < 25),
        "key frames at {keys:?} (GOP {gop})"
    );
    assert!(!Source::File("a.mkv".into()).encodes());
    assert!(!Source::rtsp("rtsp://cam/live").encodes());
}

#[test]
fn test_pattern_with_audio_as_opus_gives_20_ms_packets_in_order() {
    let pattern = TestPattern {
        audio: true,
        duration: Some(Duration::from_secs(3)),
        ..TestPattern::default()
    };
    let options = SourceOptions::realtime(true).with_audio(AudioCodec::Opus);
    let mut source = MediaSource::open(&Source::TestPattern(pattern), options).unwrap();

    let tracks = source.tracks().to_vec();
    assert_eq!(tracks.len(), 2);
    assert_eq!(tracks[0].codec_id, TrackInfo::H264);
    let audio = &tracks[1];
    assert_eq!(
        (audio.number, audio.codec_id.as_str()),
        (2, TrackInfo::OPUS)
    );
    assert_eq!(
        audio.kind,
        TrackKind::Audio {
            sampling_frequency: 48_000.0,
            channels: 2
        }
    );
    assert_opus_head(&audio.codec_private, 2);

    let frames = read_all(&mut source);
    assert_ordered(&frames);
    let audio: Vec<_> = frames.iter().filter(|f| f.track == 2).collect();
    // 3 s of 20 ms packets is 150, less any before the first key frame.
    assert!(
        (135..=155).contains(&audio.len()),
        "{} Opus packets",
        audio.len()
    );
    assert!(audio.iter().all(|f| f.key && !f.data.is_empty()));
    // 50 packets a second, 20 ms apart (opusenc shifts all but the first by its pre-skip).
    let second = audio
        .iter()
        .filter(|f| (1_000_000_000..2_000_000_000).contains(&f.timestamp_ns))
        .count();
    assert!((49..=51).contains(&second), "{second} packets in second 1");
    for pair in audio[1..].windows(2) {
        let step = pair[1].timestamp_ns - pair[0].timestamp_ns;
        assert!(
            step.abs_diff(20_000_000) < 1_000_000,
            "{step} ns between packets"
        );
    }
    // The video is as with AAC.
    assert!((88..=92).contains(&count(&frames, 1)));
    for frame in frames.iter().filter(|f| f.track == 1) {
        assert_avc(&frame.data);
    }
}
