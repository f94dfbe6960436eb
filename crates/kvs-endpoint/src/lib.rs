#![doc = include_str!("../README.md")]

mod cache;
mod config;
mod error;
mod resolver;
mod signer;
mod trust;

pub use config::{ConfigError, KvsConfig, LoadOptions, StaticKeys, Target};
pub use error::{ErrorKind, ServiceError};
pub use resolver::{EndpointResolver, ResolveError};
pub use signer::{Payload, RequestSigner, SignError};
