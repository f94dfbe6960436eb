//! WebRTC peers: a [`Master`] that serves many viewers at once, and a [`Viewer`].
//!
//! Neither knows about WebSockets. Each takes a `tokio::sync::mpsc::Sender<Outgoing>` for the
//! messages it sends (offers, answers, trickled candidates), and is fed what the signaling
//! channel delivers through `handle(Incoming)`, so a signaling client, or a test, wires them.
//!
//! - Video is H.264 only, both ways: the master sends a source's AVC frames as RTP (SPS and PPS
//!   before each key frame), starting each viewer only once its connection is up, at a key
//!   frame (by default the current group of pictures, sent at once, so a viewer need not wait
//!   for the source's next key frame). The viewer reassembles access units, drops what packet
//!   loss made undecodable up to the next key frame, and hands out [`kvs_mkv::Frame`]s, which
//!   [`MkvRecorder`] writes into a playable file.
//! - Audio is Opus, both ways: the master sends a source's Opus track (kvs-gst gives one when
//!   asked, transcoding AAC), and the viewer hands it out as track 2, on one timeline with the
//!   video. Other audio codecs are not sent.
//! - Data channels both ways, [`PeerStats`] per connection, ICE servers and relay-only mode
//!   in [`IceConfig`].

mod audio;
mod clock;
mod connection;
mod data;
mod depacketize;
mod error;
mod feed;
#[cfg(feature = "gst")]
mod gst;
mod h264;
mod ice;
mod keyframe;
mod master;
mod outbound;
mod packetize;
mod receiver;
mod record;
mod reorder;
mod sdp;
mod sender;
mod stats;
mod viewer;

pub use data::{DataMessage, KVS_DATA_CHANNEL};
pub use error::{PeerError, Result};
pub use feed::{FrameSink, KeyFrameRequests};
#[cfg(feature = "gst")]
pub use gst::GstSource;
pub use ice::{IceConfig, IceServer};
pub use master::{Master, MasterConfig, MasterEvent};
pub use record::{MkvRecorder, RecordSummary, record};
pub use stats::PeerStats;
pub use viewer::{Viewer, ViewerConfig, ViewerEvent, ViewerOutput};
