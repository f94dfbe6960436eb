use std::path::Path;

use kvs_gst::MediaSource;
use kvs_mkv::Frame;

pub(crate) use kvs_testkit::{aac_encoder, gst_launch};

/// A 4 s 320x240 30 fps H.264 (key frame every 30) + 44.1 kHz stereo AAC Matroska file.
pub(crate) fn make_mkv(path: &Path) {
    kvs_testkit::make_mkv(path, 4);
}

/// A 2 s 320x240 30 fps H.264 (key frame every 30) MP4 file without audio.
pub(crate) fn make_mp4(path: &Path) {
    gst_launch(&format!(
        "videotestsrc num-buffers=60 ! video/x-raw,format=I420,framerate=30/1,width=320,height=240 \
         ! x264enc key-int-max=30 tune=zerolatency ! h264parse ! mp4mux ! filesink location={}",
        path.display()
    ));
}

/// A 2 s Matroska file with AAC audio only.
pub(crate) fn make_audio_only_mkv(path: &Path) {
    let aac = aac_encoder();
    gst_launch(&format!(
        "audiotestsrc num-buffers=86 ! audio/x-raw,rate=44100,channels=2 ! audioconvert ! {aac} \
         ! aacparse ! matroskamux ! filesink location={}",
        path.display()
    ));
}

/// Reads every frame to the end of the stream.
pub(crate) fn read_all(source: &mut MediaSource) -> Vec<Frame> {
    let mut frames = Vec::new();
    while let Some(frame) = source.next_frame().unwrap() {
        frames.push(frame);
    }
    frames
}

/// Asserts timestamps never go back, per track and in the merged order, and that the stream
/// starts with a video key frame at 0.
pub(crate) fn assert_ordered(frames: &[Frame]) {
    let first = frames.first().expect("at least one frame");
    assert_eq!((first.track, first.key, first.timestamp_ns), (1, true, 0));
    for pair in frames.windows(2) {
        assert!(
            pair[1].timestamp_ns >= pair[0].timestamp_ns,
            "merged order goes back: {} then {}",
            describe(&pair[0]),
            describe(&pair[1])
        );
    }
    for track in [1, 2] {
        let times: Vec<u64> = frames
            .iter()
            .filter(|f| f.track == track)
            .map(|f| f.timestamp_ns)
            .collect();
        assert!(
            times.windows(2).all(|w| w[1] >= w[0]),
            "track {track} goes back"
        );
    }
}

fn describe(frame: &Frame) -> String {
    format!("track {} at {} ns", frame.track, frame.timestamp_ns)
}

/// Asserts `data` is AVC: 4-byte big-endian lengths that exactly tile the access unit.
pub(crate) fn assert_avc(data: &[u8]) {
    let mut rest = data;
    let mut units = 0;
    while !rest.is_empty() {
        assert!(rest.len() > 4, "truncated NAL length");
        let len = u32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
        assert!(
            len > 0 && len <= rest.len() - 4,
            "NAL length {len} overruns the frame"
        );
        rest = &rest[4 + len..];
        units += 1;
    }
    assert!(units > 0);
}

/// Asserts `private` is the `OpusHead` of 48 kHz Opus in `channels` channels (mapping family
/// 0), as opusenc writes it apart from the input rate.
pub(crate) fn assert_opus_head(private: &[u8], channels: u8) {
    assert_eq!(private.len(), 19, "{private:x?}");
    assert_eq!(&private[..8], b"OpusHead");
    assert_eq!(
        (private[8], private[9]),
        (1, channels),
        "version and channels"
    );
    let pre_skip = u16::from_le_bytes([private[10], private[11]]);
    assert!(pre_skip > 0 && pre_skip <= 48 * 80, "pre-skip {pre_skip}");
    assert_eq!(private[12..16], 48_000u32.to_le_bytes());
    assert_eq!(private[16..], [0, 0, 0], "no gain, mapping family 0");
}

pub(crate) fn count(frames: &[Frame], track: u64) -> usize {
    frames.iter().filter(|f| f.track == track).count()
}

pub(crate) fn key_count(frames: &[Frame], track: u64) -> usize {
    frames.iter().filter(|f| f.track == track && f.key).count()
}

pub(crate) use kvs_testkit::RtspServer;
