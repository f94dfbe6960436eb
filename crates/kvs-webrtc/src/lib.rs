//! Kinesis Video Streams WebRTC in Rust.
//!
//! - [`signaling`]: the KVS signaling protocol: typed messages, and a client that connects to a
//!   channel's WebSocket endpoint as master or viewer with a SigV4-presigned URL, keeps the
//!   connection alive and reconnects after drops and `GO_AWAY`.
//!
//! Everything works the same against AWS and kvs-local: endpoints come from
//! [`kvs_endpoint::EndpointResolver`].

pub mod peer;
pub mod signaling;
