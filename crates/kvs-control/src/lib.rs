#![doc = include_str!("../README.md")]

mod channels;
mod error;
mod streams;

pub use channels::{ChannelInfo, ChannelSpec, MasterConfiguration};
pub use error::{Error, Result};
pub use streams::{StreamInfo, StreamSpec};

use kvs_endpoint::KvsConfig;

/// Control-plane operations on streams and signaling channels.
#[derive(Debug, Clone)]
pub struct ControlPlane {
    client: aws_sdk_kinesisvideo::Client,
}

impl ControlPlane {
    /// A control plane talking to wherever `config` points.
    pub fn new(config: &KvsConfig) -> Self {
        Self {
            client: config.kinesis_video(),
        }
    }
}

fn rfc3339(t: Option<&aws_smithy_types::DateTime>) -> Option<String> {
    use aws_smithy_types::date_time::Format;
    t.and_then(|t| t.fmt(Format::DateTime).ok())
}
