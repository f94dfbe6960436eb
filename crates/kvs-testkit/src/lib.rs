//! Test helpers shared by the kvs-rs test suites (never used by the libraries themselves).
//!
//! - [`local`]: an in-process kvs-local on a free loopback port with a `KvsConfig` for it
//!   (and [`local::config_at`], one for a kvs-local started some other way);
//! - [`video`]: synthetic H.264 frames and their CodecPrivate, made without GStreamer, and
//!   the tracks and frames of an MKV file ([`video::read_mkv`]);
//! - [`net`]: a proxy that cuts an HTTP response off mid-body, and a free loopback port;
//! - [`lossy`]: two network namespaces joined by a link that drops a share of UDP packets;
//! - [`ffprobe`], to check what was written;
//! - [`process`]: for benchmarks, kvs-local as its own process and `/proc` CPU and memory;
//! - with the `gst` feature: media files made with `gst-launch-1.0` ([`make_mkv`],
//!   [`gst_launch`]) and an RTSP server on loopback ([`RtspServer`]).
//!
//! They panic with a message saying what to install when a tool is missing.

#![allow(clippy::unwrap_used)]

#[cfg(feature = "gst")]
mod gst;
pub mod local;
pub mod lossy;
pub mod net;
mod probe;
pub mod process;
pub mod video;

#[cfg(feature = "gst")]
#[doc(inline)]
pub use gst::{RtspServer, aac_encoder, gst_launch, init, make_mkv, video_of_photo};
/// The client side the fixtures hand out configurations of, for tests of crates that must not
/// depend on it themselves (kvs-local: kvs-endpoint depends on it).
pub use kvs_endpoint;
#[doc(inline)]
pub use local::LocalKvs;
#[doc(inline)]
pub use net::{CutAfter, CutProxy};
#[doc(inline)]
pub use probe::{VideoProbe, ffprobe, probe_video};
#[doc(inline)]
pub use video::SyntheticVideo;
