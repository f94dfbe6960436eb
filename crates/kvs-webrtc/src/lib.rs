//! Kinesis Video Streams WebRTC in Rust.
//!
//! - [`signaling`]: the KVS signaling protocol: typed messages, and a client that connects to a
//!   channel's WebSocket endpoint as master or viewer with a SigV4-presigned URL, keeps the
//!   connection alive and reconnects after drops and `GO_AWAY`.
//! - [`peer`]: WebRTC peers on the `webrtc` crate: a master serving many viewers, a viewer.
//! - [`session`]: a master or viewer wired to a signaling client, with the channel's ICE
//!   servers: what `kvs webrtc master|viewer` runs.
//!
//! Everything works the same against AWS and kvs-local: endpoints come from
//! [`kvs_endpoint::EndpointResolver`].

pub mod peer;
pub mod session;
pub mod signaling;
