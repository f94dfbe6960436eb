//! What a user's program would do with kvs-rs: create a stream, put frames it makes itself,
//! and fetch them back as an MP4 clip. The test in tests/ runs it against kvs-local.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use kvs_archive::{ArchiveClient, ClipSummary};
use kvs_control::{ControlPlane, StreamSpec};
use kvs_endpoint::KvsConfig;
use kvs_media::Producer;
use kvs_mkv::{Frame, TrackInfo};
use kvs_types::{DataRetention, StreamName, StreamRef, TimeRange};

/// Any error, for a short program.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// What [`round_trip`] did.
#[derive(Debug)]
pub struct RoundTrip {
    /// Fragments KVS stored (PERSISTED acks).
    pub persisted: u64,
    /// The clip written.
    pub clip: ClipSummary,
}

/// Creates `stream`, puts `seconds` of 10 fps frames ending now (a key frame every second)
/// and downloads their clip into `clip_path`.
pub async fn round_trip(
    config: &KvsConfig,
    stream: &str,
    seconds: u64,
    clip_path: &Path,
) -> Result<RoundTrip, Error> {
    let name = StreamName::new(stream)?;
    ControlPlane::new(config)
        .ensure_stream(&StreamSpec::new(name.clone()).retention(DataRetention::from_hours(24)?))
        .await?;
    let stream = StreamRef::Name(name);

    // An SPS/PPS pair of a 320x240 baseline stream, enough for a container to describe it.
    let avcc = kvs_mkv::codec::avcc_from_parameter_sets(
        &[&[0x67, 0x42, 0xc0, 0x0d, 0xd9, 0x01, 0x41, 0xfb, 0x01, 0x10]],
        &[&[0x68, 0xcb, 0x83, 0xcb, 0x20]],
    )?;
    let producer = Producer::builder(config, stream.clone())
        .track(TrackInfo::h264(1, 320, 240, avcc))
        .start()?;
    let frames = seconds * 10;
    let end = SystemTime::now().duration_since(UNIX_EPOCH)?;
    let start = end - Duration::from_secs(seconds);
    for i in 0..frames {
        let at = start + Duration::from_millis(i * 100);
        producer
            .push(Frame {
                track: 1,
                timestamp_ns: u64::try_from(at.as_nanos())?,
                key: i % 10 == 0,
                // One length-prefixed NAL unit: an IDR slice on key frames, else a P slice.
                data: Bytes::from(
                    [
                        &[0, 0, 0, 4][..],
                        &[if i % 10 == 0 { 0x65 } else { 0x41 }, 0x88, 0x84, 0x00],
                    ]
                    .concat(),
                ),
            })
            .await?;
    }
    let stats = producer.finish(Duration::from_secs(30)).await?;

    let range = TimeRange::between(
        UNIX_EPOCH + start - Duration::from_secs(1),
        UNIX_EPOCH + end + Duration::from_secs(1),
    )?;
    let clip = ArchiveClient::new(config)
        .clip(&stream, range)
        .to_file(clip_path)
        .await?;
    Ok(RoundTrip {
        persisted: stats.persisted,
        clip,
    })
}
