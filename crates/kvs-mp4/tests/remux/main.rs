#![allow(clippy::unwrap_used)]
//! Remux tests against real encoders (GStreamer) and real players (ffprobe/ffmpeg).
//!
//! - `common`: make H.264/H.265 + AAC MKVs with gst-launch-1.0, read them with kvs-mkv,
//!   probe and decode MP4s with ffprobe/ffmpeg;
//! - `clip`: plain MP4s decode fully, with the right duration, B-frames and late tracks;
//! - `fmp4`: init + media segments decode concatenated and one segment at a time;
//! - `errors`: bad input gives the documented errors;
//! - `parts`: `clip_parts` is `clip` without copying the frames;
//! - `prop`: random sample sizes and timings survive a decode with mp4-atom.

mod clip;
mod common;
mod errors;
mod fmp4;
mod parts;
mod prop;
