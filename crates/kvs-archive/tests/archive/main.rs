//! kvs-archive against a real in-process kvs-local (`kvs_testkit::LocalKvs`), with synthetic
//! H.264 (`kvs_testkit::SyntheticVideo`) uploaded through the kvs-media producer.

#![allow(clippy::unwrap_used)]

/// Recording a stream and pointing clients at it.
mod support;

/// `clip_to_file`: the MP4 it writes, and the files it refuses to replace.
mod clip;
/// `images`: JPEG stills of the recording.
mod images;
/// Downloads that break off or are abandoned: nothing is left behind.
mod interrupted;
/// `hls_url` / `dash_url`: sessions whose playlists and manifests lead to playable media.
mod playback;
