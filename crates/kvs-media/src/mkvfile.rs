//! Writes GetMedia fragments into one playable MKV file (one header, then a cluster per
//! fragment), which players and ffprobe read; GetMedia's own output is one document per fragment.

use std::io::Write;

use kvs_mkv::{MkvWriter, WriteError, WriterConfig};

use crate::MediaFragment;

/// Why a fragment could not be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FileError {
    /// Writing failed.
    #[error("writing the MKV file: {0}")]
    Io(#[from] std::io::Error),
    /// The fragment's tracks cannot be written.
    #[error(transparent)]
    Write(#[from] WriteError),
    /// The tracks changed between fragments; one file holds one set of tracks.
    #[error("the stream's tracks changed at fragment {0:?}; write the rest to another file")]
    TracksChanged(Option<String>),
}

/// A single-segment MKV file built from fragments.
pub struct MkvFileWriter<W: Write> {
    out: W,
    writer: Option<MkvWriter>,
    bytes: u64,
}

impl<W: Write> MkvFileWriter<W> {
    /// A writer into `out`.
    pub fn new(out: W) -> Self {
        Self {
            out,
            writer: None,
            bytes: 0,
        }
    }

    /// Bytes written so far.
    pub fn bytes_written(&self) -> u64 {
        self.bytes
    }

    /// Appends a fragment as one cluster (the header goes before the first).
    pub fn write_fragment(&mut self, f: &MediaFragment) -> Result<(), FileError> {
        let mut buf = Vec::new();
        let writer = match &mut self.writer {
            Some(w) => {
                if w.tracks() != f.tracks.as_slice() {
                    return Err(FileError::TracksChanged(
                        f.number.as_ref().map(|n| n.to_string()),
                    ));
                }
                w
            }
            None => {
                let w = MkvWriter::new(WriterConfig::default(), f.tracks.to_vec())?;
                w.write_header(&mut buf);
                self.writer.insert(w)
            }
        };
        let Some(start) = f.frames.iter().map(|fr| fr.timestamp_ns).min() else {
            return Ok(());
        };
        writer.start_cluster(start, &mut buf);
        for frame in &f.frames {
            writer.write_frame(frame, &mut buf)?;
        }
        self.out.write_all(&buf)?;
        self.bytes += buf.len() as u64;
        Ok(())
    }

    /// Flushes and returns the output.
    pub fn finish(mut self) -> Result<W, FileError> {
        self.out.flush()?;
        Ok(self.out)
    }
}
