//! Feeding a master from a GStreamer source of `kvs-gst` (test pattern, file, RTSP camera,
//! V4L2 device).

use kvs_gst::{AudioCodec, MediaSource, Source, SourceOptions};
use kvs_mkv::TrackInfo;
use tokio::task::JoinHandle;

use super::error::{PeerError, Result};
use super::feed::FrameSink;

/// An opened GStreamer source whose tracks are known, ready to feed a
/// [`Master`](super::Master).
///
/// ```no_run
/// # async fn demo(transport: tokio::sync::mpsc::Sender<kvs_webrtc::signaling::Outgoing>)
/// # -> Result<(), kvs_webrtc::peer::PeerError> {
/// use kvs_webrtc::peer::{GstSource, Master, MasterConfig};
///
/// let source = GstSource::open(kvs_gst::Source::rtsp("rtsp://127.0.0.1:8554/cam")).await?;
/// let (master, _events) = Master::new(MasterConfig::default(), source.tracks(), transport)?;
/// let feeding = source.start(master.frame_sink());
/// # Ok(()) }
/// ```
pub struct GstSource {
    source: MediaSource,
}

impl GstSource {
    /// Opens the source on a blocking thread (GStreamer waits up to 15 s for the first key
    /// frame). Files are read in real time, as a camera would deliver them; AAC audio is
    /// transcoded to Opus.
    pub async fn open(source: Source) -> Result<Self> {
        // WebRTC carries Opus, not AAC: the source transcodes its audio.
        let options = SourceOptions::realtime(true).with_audio(AudioCodec::Opus);
        let source = tokio::task::spawn_blocking(move || MediaSource::open(&source, options))
            .await
            .map_err(|e| PeerError::SourceThread(e.to_string()))??;
        Ok(Self { source })
    }

    /// The source's tracks: H.264 video first.
    pub fn tracks(&self) -> &[TrackInfo] {
        self.source.tracks()
    }

    /// Reads the source on a blocking thread into `sink` until the source ends or the master
    /// is closed; the task returns the number of frames read. A source that encodes (test
    /// pattern, capture device) makes a key frame whenever a viewer asks for one.
    pub fn start(self, sink: FrameSink) -> JoinHandle<Result<u64>> {
        let mut source = self.source;
        if let Some(trigger) = source.key_frame_trigger() {
            let mut requests = sink.key_frame_requests();
            tokio::spawn(async move {
                while requests.next().await {
                    if !trigger.request() {
                        tracing::debug!("the encoder did not take a key frame request");
                    }
                }
            });
        }
        tokio::task::spawn_blocking(move || {
            let mut frames = 0;
            while let Some(frame) = source.next_frame()? {
                if sink.send(frame).is_err() {
                    break;
                }
                frames += 1;
            }
            Ok(frames)
        })
    }
}

impl std::fmt::Debug for GstSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GstSource")
            .field("tracks", &self.tracks())
            .finish()
    }
}
