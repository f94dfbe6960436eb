//! GStreamer media sources for the kvs-rs producer: a file, an RTSP camera, a V4L2 device or a
//! generated test pattern, read as [`kvs_mkv::Frame`]s ready to be packaged into KVS fragments.
//!
//! [`MediaSource::open`] builds and starts a GStreamer pipeline for a [`Source`] and reports its
//! [`tracks`](MediaSource::tracks) (video as track 1: H.264 `avc`/`au` with its AVCC record, or
//! H.265 `hvc1`/`au`; audio as track 2 when present: AAC, or Opus for WebRTC with
//! [`SourceOptions::with_audio`]).
//! [`MediaSource::next_frame`] then blocks for the next frame of any track, in timestamp order,
//! starting with a video key frame at timestamp 0. Files and cameras are passed through (parsed,
//! never re-encoded; only their AAC audio is transcoded when Opus is asked for); the test
//! pattern and V4L2 devices are encoded with x264.
//!
//! `kvs_media::upload(move || source.next_frame(), &producer, ..)` feeds a source into a
//! producer (PutMedia), reading the blocking source on its own thread.
//!
//! What it is not: it does not speak PutMedia itself (the producer in `kvs-media` does), it does
//! not write MKV (`kvs-mkv` does), and sources need no async runtime: every call blocks. It is not a
//! GStreamer element either; to use kvs-rs from `gst-launch-1.0`, the `kvssink` element of
//! `kvs-sink` wraps the producer.
//!
//! ```no_run
//! use kvs_gst::{MediaSource, Source, SourceOptions};
//!
//! let mut source = MediaSource::open(
//!     &Source::rtsp("rtsp://127.0.0.1:8554/cam"),
//!     SourceOptions::default(),
//! )?;
//! println!("tracks: {:?}", source.tracks());
//! while let Some(frame) = source.next_frame()? {
//!     println!("track {} at {} ns, {} bytes", frame.track, frame.timestamp_ns, frame.data.len());
//! }
//! # Ok::<(), kvs_gst::SourceError>(())
//! ```

mod caps;
mod elements;
mod encoder;
mod error;
mod images;
mod media;
mod merge;
mod pipeline;
mod source;

#[doc(inline)]
pub use encoder::{EncodedFrame, PixelFormat, RawVideoEncoder};
#[doc(inline)]
pub use error::{Result, SourceError};
#[doc(inline)]
pub use images::{ImageFormat, still_images};
#[doc(inline)]
pub use media::{KeyFrameTrigger, MediaSource};
#[doc(inline)]
pub use source::{AudioCodec, Source, SourceOptions, TestPattern};
