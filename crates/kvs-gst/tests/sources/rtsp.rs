use kvs_gst::{AudioCodec, MediaSource, Source, SourceOptions};
use kvs_mkv::{TrackInfo, TrackKind};

use crate::support::{RtspServer, assert_avc};

#[test]
fn rtsp_over_tcp_gives_h264_frames() {
    let server = RtspServer::start(
        "( videotestsrc is-live=true ! video/x-raw,format=I420,width=320,height=240,framerate=15/1 \
         ! x264enc tune=zerolatency key-int-max=15 ! rtph264pay name=pay0 pt=96 )",
    );
    let source = Source::Rtsp {
        url: server.url(),
        tcp: true,
    };
    let mut media = MediaSource::open(&source, SourceOptions::default()).unwrap();
    assert_eq!(media.tracks().len(), 1);
    let video = &media.tracks()[0];
    assert_eq!(video.codec_id, TrackInfo::H264);
    assert_eq!(
        video.kind,
        TrackKind::Video {
            width: 320,
            height: 240
        }
    );
    assert_eq!(video.codec_private[0], 1);

    let mut frames = Vec::new();
    while let Some(frame) = media.next_frame().unwrap() {
        let at = frame.timestamp_ns;
        frames.push(frame);
        if at >= 3_000_000_000 {
            break;
        }
    }
    drop(media);
    assert!(frames.len() >= 30, "{} frames", frames.len());
    assert!(frames[0].key && frames[0].track == 1 && frames[0].timestamp_ns == 0);
    assert!(frames.iter().all(|f| f.track == 1));
    assert!(
        frames
            .windows(2)
            .all(|w| w[1].timestamp_ns > w[0].timestamp_ns),
        "timestamps increase"
    );
    assert!(
        frames.iter().filter(|f| f.key).count() >= 2,
        "a key frame every second"
    );
    for frame in &frames {
        assert_avc(&frame.data);
    }
}

#[test]
fn rtsp_with_aac_gives_both_tracks_in_order() {
    let aac = crate::support::aac_encoder();
    let server = RtspServer::start(&format!(
        "( videotestsrc is-live=true ! video/x-raw,format=I420,width=320,height=240,framerate=15/1 \
         ! x264enc tune=zerolatency key-int-max=15 ! rtph264pay name=pay0 pt=96 \
         audiotestsrc is-live=true ! audio/x-raw,rate=48000,channels=1 ! audioconvert ! {aac} \
         ! rtpmp4gpay name=pay1 pt=97 )"
    ));
    let mut media =
        MediaSource::open(&Source::rtsp(server.url()), SourceOptions::default()).unwrap();
    let tracks = media.tracks().to_vec();
    assert_eq!(tracks.len(), 2);
    assert_eq!(tracks[0].codec_id, TrackInfo::H264);
    assert_eq!(tracks[1].codec_id, TrackInfo::AAC);
    assert_eq!(
        tracks[1].kind,
        TrackKind::Audio {
            sampling_frequency: 48_000.0,
            channels: 1
        }
    );

    let mut frames = Vec::new();
    while let Some(frame) = media.next_frame().unwrap() {
        let at = frame.timestamp_ns;
        frames.push(frame);
        if at >= 2_000_000_000 {
            break;
        }
    }
    drop(media);
    crate::support::assert_ordered(&frames);
    let videos = crate::support::count(&frames, 1);
    let audios = crate::support::count(&frames, 2);
    assert!(videos >= 20, "{videos} video frames");
    // 2 s of 1024-sample frames at 48 kHz is about 94.
    assert!(audios >= 60, "{audios} audio frames");
}

#[test]
fn rtsp_aac_can_be_read_as_mono_opus() {
    let aac = crate::support::aac_encoder();
    let server = RtspServer::start(&format!(
        "( videotestsrc is-live=true ! video/x-raw,format=I420,width=320,height=240,framerate=15/1 \
         ! x264enc tune=zerolatency key-int-max=15 ! rtph264pay name=pay0 pt=96 \
         audiotestsrc is-live=true ! audio/x-raw,rate=44100,channels=1 ! audioconvert ! {aac} \
         ! rtpmp4gpay name=pay1 pt=97 )"
    ));
    let options = SourceOptions::default().with_audio(AudioCodec::Opus);
    let mut media = MediaSource::open(&Source::rtsp(server.url()), options).unwrap();
    let tracks = media.tracks().to_vec();
    assert_eq!(tracks.len(), 2);
    assert_eq!(tracks[0].codec_id, TrackInfo::H264);
    assert_eq!(tracks[1].codec_id, TrackInfo::OPUS);
    assert_eq!(
        tracks[1].kind,
        TrackKind::Audio {
            sampling_frequency: 48_000.0,
            channels: 1
        },
        "mono stays mono"
    );
    crate::support::assert_opus_head(&tracks[1].codec_private, 1);

    let mut frames = Vec::new();
    while let Some(frame) = media.next_frame().unwrap() {
        let at = frame.timestamp_ns;
        frames.push(frame);
        if at >= 2_000_000_000 {
            break;
        }
    }
    drop(media);
    crate::support::assert_ordered(&frames);
    assert!(crate::support::count(&frames, 1) >= 20);
    // 2 s of 20 ms packets is 100.
    let audios = crate::support::count(&frames, 2);
    assert!(audios >= 70, "{audios} Opus packets");
}
