//! Recording a viewer's frames (video, and audio when there is some) into one playable MKV
//! file, a cluster per group of pictures.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use kvs_media::{MediaFragment, MkvFileWriter};
use kvs_mkv::{Frame, TrackInfo};
use tokio::sync::mpsc;

use super::error::{PeerError, Result};
use super::viewer::Viewer;

/// A cluster is cut before its block offsets (signed 16-bit milliseconds) would overflow.
const MAX_CLUSTER_NS: u64 = 30_000_000_000;

/// What a recording holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordSummary {
    /// Frames written.
    pub frames: u64,
    /// From the first frame's timestamp to the last one's.
    pub duration: Duration,
    /// Bytes written.
    pub bytes: u64,
}

/// Writes a [`Viewer`]'s frames into an MKV file with the tracks it reports
/// ([`Viewer::tracks`]), from the first video key frame on.
pub struct MkvRecorder {
    path: PathBuf,
    writer: MkvFileWriter<BufWriter<File>>,
    tracks: Arc<Vec<TrackInfo>>,
    /// The video track's number.
    video: u64,
    /// Set at the first video key frame: frames before it are skipped.
    started: bool,
    pending: Vec<Frame>,
    frames: u64,
    first_ns: Option<u64>,
    last_ns: u64,
}

impl MkvRecorder {
    /// Creates (or truncates) the file for `tracks`, which must have a video track; frames of
    /// other tracks are not recorded.
    pub fn create(path: impl AsRef<Path>, tracks: Vec<TrackInfo>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let video = tracks
            .iter()
            .find(|t| t.is_video())
            .map(|t| t.number)
            .ok_or_else(|| PeerError::Record {
                path: path.clone(),
                reason: "there is no video track to record".into(),
            })?;
        let file = File::create(&path).map_err(|e| PeerError::Record {
            path: path.clone(),
            reason: format!("cannot create the file: {e}"),
        })?;
        Ok(Self {
            path,
            writer: MkvFileWriter::new(BufWriter::new(file)),
            tracks: Arc::new(tracks),
            video,
            started: false,
            pending: Vec::new(),
            frames: 0,
            first_ns: None,
            last_ns: 0,
        })
    }

    /// Adds a frame.
    pub fn write(&mut self, frame: Frame) -> Result<()> {
        let video_key = frame.key && frame.track == self.video;
        self.started |= video_key;
        if !self.started || !self.tracks.iter().any(|t| t.number == frame.track) {
            return Ok(());
        }
        let cluster_start = self.pending.first().map(|f| f.timestamp_ns);
        let cut = cluster_start.is_some_and(|start| {
            video_key || frame.timestamp_ns.saturating_sub(start) >= MAX_CLUSTER_NS
        });
        if cut {
            self.flush()?;
        }
        self.first_ns.get_or_insert(frame.timestamp_ns);
        self.last_ns = self.last_ns.max(frame.timestamp_ns);
        self.frames += 1;
        self.pending.push(frame);
        Ok(())
    }

    /// Writes what is buffered and closes the file.
    pub fn finish(mut self) -> Result<RecordSummary> {
        self.flush()?;
        let bytes = self.writer.bytes_written();
        let path = self.path.clone();
        self.writer.finish().map_err(|e| PeerError::Record {
            path,
            reason: e.to_string(),
        })?;
        Ok(RecordSummary {
            frames: self.frames,
            duration: Duration::from_nanos(self.last_ns.saturating_sub(self.first_ns.unwrap_or(0))),
            bytes,
        })
    }

    fn flush(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let tracks = &self.tracks;
        let frames = std::mem::take(&mut self.pending);
        let fragment = MediaFragment {
            number: None,
            server_timestamp: None,
            producer_timestamp: None,
            millis_behind_now: None,
            continuation_token: None,
            tracks: Arc::clone(tracks),
            timecode: frames.first().map_or(0, |f| f.timestamp_ns / 1_000_000),
            frames,
        };
        self.writer
            .write_fragment(&fragment)
            .map_err(|e| PeerError::Record {
                path: self.path.clone(),
                reason: e.to_string(),
            })
    }
}

/// Records `viewer`'s frames from `frames` into `path` until `duration` of media is in the
/// file or the stream ends. The file is created at the first video frame, when the viewer
/// knows its tracks.
pub async fn record(
    viewer: &Viewer,
    frames: &mut mpsc::Receiver<Frame>,
    path: impl AsRef<Path>,
    duration: Duration,
) -> Result<RecordSummary> {
    let mut recorder: Option<MkvRecorder> = None;
    let mut first: Option<u64> = None;
    while let Some(frame) = frames.recv().await {
        let recorder = match &mut recorder {
            Some(r) => r,
            None if frame.key && frame.track == super::receiver::VIDEO_TRACK => {
                recorder.insert(MkvRecorder::create(path.as_ref(), viewer.tracks())?)
            }
            None => continue,
        };
        let t = frame.timestamp_ns;
        recorder.write(frame)?;
        let first = *first.get_or_insert(t);
        if Duration::from_nanos(t.saturating_sub(first)) >= duration {
            break;
        }
    }
    match recorder {
        Some(r) => r.finish(),
        None => Err(PeerError::Record {
            path: path.as_ref().to_path_buf(),
            reason: "no video arrived".into(),
        }),
    }
}
