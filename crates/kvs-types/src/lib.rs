#![doc = include_str!("../README.md")]

mod arn;
mod enums;
mod names;
pub mod time_range;

pub use arn::{Arn, ArnError, ResourceKind};
pub use enums::{ApiName, ChannelProtocol, ChannelRole, ChannelType, ParseEnumError};
pub use names::{
    AccountId, ChannelName, DataRetention, FragmentNumber, InvalidValue, Region, StreamName,
    TagKey, TagValue,
};
pub use time_range::{TimeRange, parse_duration, parse_instant, rfc3339};

/// How a request names a stream: by name or by ARN (every KVS API accepts either).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum StreamRef {
    /// The stream's name.
    Name(StreamName),
    /// The stream's ARN.
    Arn(Arn),
}

impl StreamRef {
    /// Reads a stream reference: an ARN if it starts with `arn:`, otherwise a name.
    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        if s.starts_with("arn:") {
            let arn =
                Arn::parse(s).map_err(|e| InvalidValue::new("StreamARN", s, e.to_string()))?;
            if arn.kind() != ResourceKind::Stream {
                return Err(InvalidValue::new(
                    "StreamARN",
                    s,
                    "is a signaling channel ARN, not a stream ARN",
                ));
            }
            Ok(Self::Arn(arn))
        } else {
            StreamName::new(s).map(Self::Name)
        }
    }
}

impl std::fmt::Display for StreamRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Name(n) => n.fmt(f),
            Self::Arn(a) => a.fmt(f),
        }
    }
}

impl From<StreamName> for StreamRef {
    fn from(n: StreamName) -> Self {
        Self::Name(n)
    }
}

/// How a request names a signaling channel: by name or by ARN.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ChannelRef {
    /// The channel's name.
    Name(ChannelName),
    /// The channel's ARN.
    Arn(Arn),
}

impl ChannelRef {
    /// Reads a channel reference: an ARN if it starts with `arn:`, otherwise a name.
    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        if s.starts_with("arn:") {
            let arn =
                Arn::parse(s).map_err(|e| InvalidValue::new("ChannelARN", s, e.to_string()))?;
            if arn.kind() != ResourceKind::Channel {
                return Err(InvalidValue::new(
                    "ChannelARN",
                    s,
                    "is a stream ARN, not a signaling channel ARN",
                ));
            }
            Ok(Self::Arn(arn))
        } else {
            ChannelName::new(s).map(Self::Name)
        }
    }
}

impl std::fmt::Display for ChannelRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Name(n) => n.fmt(f),
            Self::Arn(a) => a.fmt(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refs_tell_names_from_arns() {
        assert!(matches!(
            StreamRef::parse("cam").unwrap(),
            StreamRef::Name(_)
        ));
        let arn = "arn:aws:kinesisvideo:us-east-1:123456789012:stream/cam/1";
        assert!(matches!(StreamRef::parse(arn).unwrap(), StreamRef::Arn(_)));
        assert!(ChannelRef::parse(arn).is_err());
        assert!(
            StreamRef::parse("arn:aws:kinesisvideo:us-east-1:123456789012:channel/c/1").is_err()
        );
        assert!(StreamRef::parse("no spaces").is_err());
    }
}
