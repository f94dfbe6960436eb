//! Recording a viewer's frames into one playable MKV file, a cluster per group of pictures.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use kvs_media::{MediaFragment, MkvFileWriter};
use kvs_mkv::{Frame, TrackInfo};
use tokio::sync::mpsc;

use super::error::{PeerError, Result};
use super::h264::{avc_sps, sps_dimensions};

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

/// Writes H.264 frames (AVC form, as a [`Viewer`](super::Viewer) gives them) into an MKV file.
/// The track's codec private data comes from the first key frame's SPS and PPS; frames before
/// it are skipped.
pub struct MkvRecorder {
    path: PathBuf,
    writer: MkvFileWriter<BufWriter<File>>,
    tracks: Option<Arc<Vec<TrackInfo>>>,
    pending: Vec<Frame>,
    frames: u64,
    first_ns: Option<u64>,
    last_ns: u64,
}

impl MkvRecorder {
    /// Creates (or truncates) the file.
    pub fn create(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let file = File::create(&path).map_err(|e| PeerError::Record {
            path: path.clone(),
            reason: format!("cannot create the file: {e}"),
        })?;
        Ok(Self {
            path,
            writer: MkvFileWriter::new(BufWriter::new(file)),
            tracks: None,
            pending: Vec::new(),
            frames: 0,
            first_ns: None,
            last_ns: 0,
        })
    }

    /// Adds a frame.
    pub fn write(&mut self, frame: Frame) -> Result<()> {
        if self.tracks.is_none() {
            if !frame.key {
                return Ok(());
            }
            self.tracks = Some(Arc::new(vec![self.track_of(&frame)?]));
        }
        let cluster_start = self.pending.first().map(|f| f.timestamp_ns);
        let cut = cluster_start.is_some_and(|start| {
            frame.key || frame.timestamp_ns.saturating_sub(start) >= MAX_CLUSTER_NS
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

    fn track_of(&self, key_frame: &Frame) -> Result<TrackInfo> {
        let avcc = kvs_mkv::codec::avcc_from_access_unit(&key_frame.data).map_err(|e| {
            PeerError::Record {
                path: self.path.clone(),
                reason: format!("the first key frame has no usable SPS and PPS: {e}"),
            }
        })?;
        let (width, height) = avc_sps(&key_frame.data)
            .and_then(sps_dimensions)
            .unwrap_or((0, 0));
        Ok(TrackInfo::h264(key_frame.track, width, height, avcc))
    }

    fn flush(&mut self) -> Result<()> {
        let (Some(tracks), false) = (&self.tracks, self.pending.is_empty()) else {
            return Ok(());
        };
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

/// Records frames from `frames` into `path` until `duration` of media is in the file or the
/// stream ends.
pub async fn record(
    frames: &mut mpsc::Receiver<Frame>,
    path: impl AsRef<Path>,
    duration: Duration,
) -> Result<RecordSummary> {
    let mut recorder = MkvRecorder::create(path)?;
    let mut first: Option<u64> = None;
    while let Some(frame) = frames.recv().await {
        let t = frame.timestamp_ns;
        let started = frame.key || first.is_some();
        recorder.write(frame)?;
        if started {
            let first = *first.get_or_insert(t);
            if Duration::from_nanos(t.saturating_sub(first)) >= duration {
                break;
            }
        }
    }
    recorder.finish()
}
