//! Integration tests of kvs-gst. Every test runs real GStreamer pipelines (no mocks); network
//! traffic stays on 127.0.0.1.
#![allow(clippy::unwrap_used)]

/// Helpers: media files made with gst-launch-1.0, an RTSP server, frame checks.
mod support;

/// Error cases: bad paths, non-media files, closed ports, missing devices.
mod errors;
/// MKV (H.264 + AAC) and MP4 (H.264 only) files, offline and in real time.
mod file;
/// An RTSP server inside the test, read over TCP.
mod rtsp;
/// The live test pattern with audio (AAC or Opus).
mod test_pattern;
