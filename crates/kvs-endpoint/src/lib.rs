//! The shared front door of every kvs-rs crate to Kinesis Video Streams:
//!
//! - [`KvsConfig`]: the AWS SDK configuration from the standard environment/profile chain, an
//!   explicit endpoint, or (with the `embedded` feature, when nothing is configured) an
//!   in-process kvs-local;
//! - [`EndpointResolver`]: `GetDataEndpoint` per (stream, API) and `GetSignalingChannelEndpoint`
//!   per (channel, role, protocol), cached with a TTL, one lookup shared by concurrent callers;
//! - [`RequestSigner`]: SigV4 for the requests the SDKs do not make (PutMedia, the signaling
//!   WebSocket URL), built on `aws-sigv4`;
//! - [`ServiceError`]: an SDK error reduced to what callers branch on.

mod cache;
mod config;
mod error;
mod resolver;
mod signer;

pub use config::{ConfigError, KvsConfig, LoadOptions, Target};
pub use error::{ErrorKind, ServiceError};
pub use resolver::{EndpointResolver, ResolveError};
pub use signer::{Payload, RequestSigner, SignError};
