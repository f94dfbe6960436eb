use std::path::PathBuf;
use std::time::{Duration, Instant};

use kvs_gst::{MediaSource, Source, SourceError, SourceOptions, TestPattern};

use crate::support::{gst_launch, make_audio_only_mkv};

fn open(source: &Source) -> SourceError {
    MediaSource::open(source, SourceOptions::default()).unwrap_err()
}

#[test]
fn a_missing_file_is_named() {
    let path = PathBuf::from("/nonexistent/kvs-gst/missing.mkv");
    let err = open(&Source::File(path.clone()));
    assert!(matches!(err, SourceError::FileNotFound { .. }), "{err:?}");
    assert!(
        err.to_string().contains("/nonexistent/kvs-gst/missing.mkv"),
        "{err}"
    );
}

#[test]
fn a_file_that_is_not_media_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.mkv");
    std::fs::write(
        &path,
        b"these are not the frames you are looking for\n".repeat(200),
    )
    .unwrap();
    let err = open(&Source::File(path.clone()));
    let message = err.to_string();
    assert!(
        matches!(
            err,
            SourceError::NotMedia { .. } | SourceError::NoVideo { .. }
        ),
        "{err:?}"
    );
    assert!(message.contains(path.to_str().unwrap()), "{message}");

    let err = open(&Source::File(dir.path().to_owned()));
    assert!(matches!(err, SourceError::NotMedia { .. }), "{err:?}");
}

#[test]
fn a_file_without_video_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audio.mkv");
    make_audio_only_mkv(&path);
    let err = open(&Source::File(path));
    assert!(matches!(err, SourceError::NoVideo { .. }), "{err:?}");
    assert!(err.to_string().contains("AAC audio"), "{err}");
}

#[test]
fn a_file_with_vp8_video_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vp8.webm");
    gst_launch(&format!(
        "videotestsrc num-buffers=10 ! video/x-raw,width=160,height=120 ! vp8enc ! webmmux \
         ! filesink location={}",
        path.display()
    ));
    let err = open(&Source::File(path));
    assert!(
        matches!(err, SourceError::UnsupportedCodec { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("video/x-vp8"), "{err}");
}

#[test]
fn a_closed_rtsp_port_fails_fast() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let url = format!("rtsp://user:secret@127.0.0.1:{port}/test");
    let started = Instant::now();
    let err = open(&Source::rtsp(url));
    assert!(started.elapsed() < Duration::from_secs(20));
    assert!(matches!(err, SourceError::Rtsp { .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.contains(&format!("127.0.0.1:{port}/test")),
        "{message}"
    );
    assert!(
        !message.contains("secret"),
        "the password is masked: {message}"
    );
}

#[test]
fn a_bad_rtsp_url_is_refused() {
    let err = open(&Source::rtsp("http://127.0.0.1/test"));
    assert!(matches!(err, SourceError::InvalidSettings(_)), "{err:?}");
}

#[test]
fn a_missing_device_is_named() {
    let err = open(&Source::Device(PathBuf::from("/dev/kvs-gst-no-such-video")));
    assert!(matches!(err, SourceError::Device { .. }), "{err:?}");
    assert!(
        err.to_string().contains("/dev/kvs-gst-no-such-video"),
        "{err}"
    );
}

#[test]
fn a_device_that_is_not_v4l2_is_refused() {
    let err = open(&Source::Device(PathBuf::from("/dev/null")));
    assert!(matches!(err, SourceError::Device { .. }), "{err:?}");
    assert!(err.to_string().contains("/dev/null"), "{err}");
}

#[test]
fn bad_test_pattern_settings_are_refused() {
    let err = open(&Source::TestPattern(TestPattern {
        fps: 0,
        ..TestPattern::default()
    }));
    assert!(matches!(err, SourceError::InvalidSettings(_)), "{err:?}");
}

#[test]
fn media_source_is_send() {
    fn send<T: Send>() {}
    send::<MediaSource>();
}
