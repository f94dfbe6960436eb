//! The KVS signaling protocol: JSON messages over a SigV4-presigned WebSocket.
//!
//! A viewer's messages go to the channel's master; the master addresses each message to one
//! viewer by client id. Payloads are base64 of the JSON the browser WebRTC API uses
//! (`{"type":"offer","sdp":...}`, `{"candidate":...,"sdpMid":...,"sdpMLineIndex":...}`).

mod client;
mod ice_servers;
mod message;

pub use client::{Role, SignalingClient, SignalingError, SignalingEvent, SignalingOptions};
pub use ice_servers::{IceServerError, ice_servers};

pub use message::{
    ClientId, IceCandidate, Incoming, MAX_PAYLOAD_BYTES, MessageError, Outgoing,
    SessionDescription, Signal, StatusResponse,
};
