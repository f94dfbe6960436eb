//! Integration tests of the `kvssink` element: real GStreamer pipelines (the element registered
//! statically, and the built plugin through gst-inspect-1.0 and gst-launch-1.0) against a real kvs-local on
//! 127.0.0.1. No mocks.
#![allow(clippy::unwrap_used)]

/// Helpers: plugin registration, an in-process kvs-local, pipelines run to EOS.
mod support;

/// Bad property values fail the state change with a message naming the property.
mod errors;
/// The seed's file pipeline (MKV with H.264 + AAC, demuxed into two pads) to kvs-local.
mod file;
/// H.265 video; G.711 audio linked to the audio pad by its caps.
mod formats;
/// The built libgstkvssink.so, loaded by gst-inspect-1.0 and gst-launch-1.0.
mod plugin;
/// The seed's RTSP camera pipeline to kvs-local.
mod rtsp;
/// Stopping a live pipeline without EOS.
mod stop;
