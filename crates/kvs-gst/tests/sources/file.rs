use std::time::{Duration, Instant};

use kvs_gst::{AudioCodec, MediaSource, Source, SourceOptions};
use kvs_mkv::{Frame, TrackInfo, TrackKind};

use crate::support::{
    assert_avc, assert_opus_head, assert_ordered, count, gst_launch, key_count, make_mkv, make_mp4,
    read_all,
};

const OFFLINE: SourceOptions = SourceOptions::realtime(false);

#[test]
fn mkv_with_h264_and_aac_is_passed_through() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("av.mkv");
    make_mkv(&path);

    let mut source = MediaSource::open(&Source::File(path), OFFLINE).unwrap();
    let tracks = source.tracks().to_vec();
    assert_eq!(tracks.len(), 2);
    assert_eq!(tracks[0].codec_id, TrackInfo::H264);
    assert_eq!(
        tracks[0].kind,
        TrackKind::Video {
            width: 320,
            height: 240
        }
    );
    assert_eq!(tracks[0].codec_private[0], 1);
    assert_eq!(tracks[1].codec_id, TrackInfo::AAC);
    assert_eq!(
        tracks[1].kind,
        TrackKind::Audio {
            sampling_frequency: 44_100.0,
            channels: 2
        }
    );
    assert_eq!(
        tracks[1].codec_private[..2],
        [0x12, 0x10],
        "AAC-LC 44.1 kHz stereo"
    );

    let frames = read_all(&mut source);
    assert_ordered(&frames);
    assert_eq!(count(&frames, 1), 120);
    assert_eq!(key_count(&frames, 1), 4);
    // 172 buffers of 1024 samples, give or take the encoder's priming and flush.
    let audios = count(&frames, 2);
    assert!((168..=176).contains(&audios), "{audios} audio frames");
    for frame in frames.iter().filter(|f| f.track == 1) {
        assert_avc(&frame.data);
    }
    // The 120th frame of 30 fps video is at 119/30 s (Matroska stores milliseconds).
    let last_video = frames.iter().rfind(|f| f.track == 1).unwrap().timestamp_ns;
    assert!(
        last_video.abs_diff(3_966_666_666) < 2_000_000,
        "last video at {last_video}"
    );
}

#[test]
fn mkv_frames_come_out_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("av.mkv");
    make_mkv(&path);

    let mut parser = kvs_mkv::Parser::new();
    parser.feed(&std::fs::read(&path).unwrap());
    let mut in_file = Vec::new();
    while let Some(event) = parser.next_event().unwrap() {
        if let kvs_mkv::Event::Frame(f) = event {
            in_file.push((f.track, f.data.to_vec()));
        }
    }
    let mut source = MediaSource::open(&Source::File(path), OFFLINE).unwrap();
    let read: Vec<_> = read_all(&mut source)
        .into_iter()
        .map(|f| (f.track, f.data.to_vec()))
        .collect();
    for track in [1, 2] {
        let want: Vec<_> = in_file.iter().filter(|f| f.0 == track).collect();
        let have: Vec<_> = read.iter().filter(|f| f.0 == track).collect();
        assert_eq!(have.len(), want.len(), "track {track} frame count");
        for (i, (w, h)) in want.iter().zip(&have).enumerate() {
            assert!(
                w.1 == h.1,
                "track {track} frame {i}: {} bytes in the file, {} read",
                w.1.len(),
                h.1.len()
            );
        }
    }
}

#[test]
fn mp4_with_video_only_is_passed_through() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v.mp4");
    make_mp4(&path);

    let mut source = MediaSource::open(&Source::File(path), OFFLINE).unwrap();
    assert_eq!(source.tracks().len(), 1);
    assert_eq!(source.tracks()[0].codec_id, TrackInfo::H264);
    assert_eq!(
        source.tracks()[0].kind,
        TrackKind::Video {
            width: 320,
            height: 240
        }
    );
    let frames = read_all(&mut source);
    assert_ordered(&frames);
    assert_eq!(count(&frames, 1), 60);
    assert_eq!(count(&frames, 2), 0);
    assert_eq!(key_count(&frames, 1), 2);
    let times: Vec<u64> = frames.iter().map(|f| f.timestamp_ns).collect();
    assert!(times.windows(2).all(|w| w[1] > w[0]), "strictly increasing");
}

#[test]
fn realtime_files_play_at_real_speed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v.mp4");
    make_mp4(&path);

    let started = Instant::now();
    let mut source = MediaSource::open(&Source::File(path), SourceOptions::realtime(true)).unwrap();
    let frames = read_all(&mut source);
    assert_eq!(frames.len(), 60);
    // 2 s of media cannot come out of clock-synchronised sinks much faster than in 2 s.
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(1800), "took {elapsed:?}");
}

#[test]
fn mkv_with_h265_is_passed_through_as_hvc1() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h265.mkv");
    gst_launch(&format!(
        "videotestsrc num-buffers=60 ! video/x-raw,format=I420,framerate=30/1,width=320,height=240 \
         ! x265enc key-int-max=30 tune=zerolatency ! h265parse ! matroskamux ! filesink location={}",
        path.display()
    ));
    let mut source = MediaSource::open(&Source::File(path), OFFLINE).unwrap();
    let track = &source.tracks()[0];
    assert_eq!(track.codec_id, TrackInfo::H265);
    assert_eq!(
        track.kind,
        TrackKind::Video {
            width: 320,
            height: 240
        }
    );
    assert_eq!(
        track.codec_private[0], 1,
        "HEVCDecoderConfigurationRecord version 1"
    );
    let frames = read_all(&mut source);
    assert_ordered(&frames);
    assert_eq!(count(&frames, 1), 60);
    assert_eq!(key_count(&frames, 1), 2);
    for frame in &frames {
        assert_avc(&frame.data);
    }
}

#[test]
fn mkv_aac_read_as_opus_keeps_the_video_and_the_audio_span() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("av.mkv");
    make_mkv(&path);

    let mut aac = MediaSource::open(&Source::File(path.clone()), OFFLINE).unwrap();
    let aac_frames = read_all(&mut aac);
    let mut opus =
        MediaSource::open(&Source::File(path), OFFLINE.with_audio(AudioCodec::Opus)).unwrap();
    let tracks = opus.tracks().to_vec();
    assert_eq!(tracks.len(), 2);
    assert_eq!(tracks[0], aac.tracks()[0], "the video track is unchanged");
    assert_eq!(tracks[1].codec_id, TrackInfo::OPUS);
    assert_eq!(
        tracks[1].kind,
        TrackKind::Audio {
            sampling_frequency: 48_000.0,
            channels: 2
        }
    );
    assert_opus_head(&tracks[1].codec_private, 2);
    let opus_frames = read_all(&mut opus);
    assert_ordered(&opus_frames);

    // Video passes through byte for byte, with the same timestamps and key flags.
    let video = |frames: &[Frame]| -> Vec<Frame> {
        frames.iter().filter(|f| f.track == 1).cloned().collect()
    };
    let (want, have) = (video(&aac_frames), video(&opus_frames));
    assert_eq!(have.len(), 120);
    for (i, (w, h)) in want.iter().zip(&have).enumerate() {
        assert!(w == h, "video frame {i} differs: {w:?} vs {h:?}");
    }
    assert_eq!(have.len(), want.len());

    // The audio covers the same time: 4 s of 20 ms packets against 1024-sample AAC frames.
    let span = |frames: &[Frame], frame_ns: u64| {
        let mut audio = frames
            .iter()
            .filter(|f| f.track == 2)
            .map(|f| f.timestamp_ns);
        let first = audio.next().unwrap();
        (first, audio.last().unwrap() + frame_ns)
    };
    let (aac_start, aac_end) = span(&aac_frames, 1_000_000_000 * 1024 / 44_100);
    let (opus_start, opus_end) = span(&opus_frames, 20_000_000);
    assert!(
        aac_start.abs_diff(opus_start) < 100_000_000 && aac_end.abs_diff(opus_end) < 100_000_000,
        "AAC {aac_start}..{aac_end} ns, Opus {opus_start}..{opus_end} ns"
    );
    let packets = count(&opus_frames, 2);
    assert!((195..=210).contains(&packets), "{packets} Opus packets");
    assert!(opus_frames.iter().filter(|f| f.track == 2).all(|f| f.key));
}
