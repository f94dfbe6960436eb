//! The video behind a match: its frame (GetImages) or a clip around it (GetClip).

use std::path::Path;
use std::time::Duration;

use kvs_archive::{ArchiveClient, ClipSummary, Clock, StillFormat};
use kvs_types::{StreamRef, TimeRange, rfc3339};

use crate::record::FaceMatch;
use crate::{Error, Result};

/// How far apart the stills asked for around a frame are (GetImages' smallest interval).
const STILL_INTERVAL: Duration = Duration::from_millis(200);

fn stream_of(m: &FaceMatch) -> Result<StreamRef> {
    StreamRef::parse(&m.stream_arn)
        .map_err(|e| Error::invalid("StreamArn", &m.stream_arn, e.to_string()))
}

fn range(m: &FaceMatch, before: Duration, after: Duration) -> Result<TimeRange> {
    let at = m.frame_time();
    let start = at.checked_sub(before).unwrap_or(at);
    TimeRange::between(start, at + after)
        .map_err(|e| Error::invalid("time range", &rfc3339(at), e.to_string()))
}

/// The matched frame as an image: the first still GetImages has at the frame's producer time
/// (or within 400 ms after it). The video stream must keep media (retention above zero).
pub async fn frame_image(
    archive: &ArchiveClient,
    m: &FaceMatch,
    format: StillFormat,
) -> Result<Vec<u8>> {
    let stream = stream_of(m)?;
    let stills = archive
        .images(&stream, range(m, Duration::ZERO, 2 * STILL_INTERVAL)?)
        .clock(Clock::Producer)
        .every(STILL_INTERVAL)
        .format(format)
        .fetch()
        .await?;
    let mut why = "GetImages returned no image".to_owned();
    for still in stills {
        match still.image {
            Ok(bytes) => return Ok(bytes),
            Err(e) => why = e,
        }
    }
    Err(Error::NoFrame {
        stream: m.stream_arn.clone(),
        at: rfc3339(m.frame_time()),
        reason: why,
    })
}

/// Downloads an MP4 of the video from `before` the matched frame to `after` it into `path`
/// (refusing to replace a file unless `overwrite`).
pub async fn clip_around(
    archive: &ArchiveClient,
    m: &FaceMatch,
    before: Duration,
    after: Duration,
    path: &Path,
    overwrite: bool,
) -> Result<ClipSummary> {
    let stream = stream_of(m)?;
    Ok(archive
        .clip(&stream, range(m, before, after)?)
        .clock(Clock::Producer)
        .overwrite(overwrite)
        .to_file(path)
        .await?)
}
