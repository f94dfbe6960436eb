use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{AccountId, InvalidValue, Region};

/// What a Kinesis Video ARN names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResourceKind {
    /// A video stream (`...:stream/NAME/ID`).
    Stream,
    /// A signaling channel (`...:channel/NAME/ID`).
    Channel,
}

impl ResourceKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Stream => "stream",
            Self::Channel => "channel",
        }
    }
}

/// Why a string is not a Kinesis Video ARN.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ArnError {
    /// Not of the form `arn:PARTITION:kinesisvideo:REGION:ACCOUNT:KIND/NAME/ID`.
    #[error(
        "not a Kinesis Video ARN (expected arn:aws:kinesisvideo:REGION:ACCOUNT:stream|channel/NAME/ID)"
    )]
    Shape,
    /// One part of the ARN is invalid.
    #[error(transparent)]
    Part(#[from] InvalidValue),
}

/// A Kinesis Video stream or signaling channel ARN:
/// `arn:aws:kinesisvideo:us-west-2:123456789012:stream/NAME/1700000000000`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Arn {
    text: String,
    kind: ResourceKind,
    region: Region,
    account: AccountId,
    name_start: usize,
    name_end: usize,
}

impl Arn {
    /// Builds an ARN; `id` is the numeric suffix KVS gives each resource (its creation time in ms).
    pub fn new(
        partition: &str,
        region: &Region,
        account: &AccountId,
        kind: ResourceKind,
        name: &str,
        id: u64,
    ) -> Result<Self, ArnError> {
        Self::parse(&format!(
            "arn:{partition}:kinesisvideo:{region}:{account}:{}/{name}/{id}",
            kind.as_str()
        ))
    }

    /// Parses an ARN as the service validates it.
    pub fn parse(s: &str) -> Result<Self, ArnError> {
        if s.is_empty() || s.len() > 1024 {
            return Err(ArnError::Shape);
        }
        let mut parts = s.splitn(6, ':');
        let (
            Some("arn"),
            Some(partition),
            Some("kinesisvideo"),
            Some(region),
            Some(account),
            Some(resource),
        ) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        )
        else {
            return Err(ArnError::Shape);
        };
        if partition.is_empty()
            || !partition
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            return Err(ArnError::Shape);
        }
        let region = Region::new(region)?;
        if account.is_empty() || !account.chars().all(|c| c.is_ascii_digit()) {
            return Err(ArnError::Shape);
        }
        let account = AccountId::new(account)?;
        let mut res = resource.split('/');
        let (Some(kind), Some(name), Some(id), None) =
            (res.next(), res.next(), res.next(), res.next())
        else {
            return Err(ArnError::Shape);
        };
        let kind = match kind {
            "stream" => ResourceKind::Stream,
            "channel" => ResourceKind::Channel,
            _ => return Err(ArnError::Shape),
        };
        match kind {
            ResourceKind::Stream => crate::StreamName::new(name).map(drop)?,
            ResourceKind::Channel => crate::ChannelName::new(name).map(drop)?,
        }
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_digit()) {
            return Err(ArnError::Shape);
        }
        let name_start = s.len() - resource.len() + kind.as_str().len() + 1;
        Ok(Self {
            text: s.to_owned(),
            kind,
            region,
            account,
            name_start,
            name_end: name_start + name.len(),
        })
    }

    /// Whether this names a stream or a channel.
    pub fn kind(&self) -> ResourceKind {
        self.kind
    }

    /// The resource's name (stream or channel name).
    pub fn resource_name(&self) -> &str {
        &self.text[self.name_start..self.name_end]
    }

    /// The region in the ARN.
    pub fn region(&self) -> &Region {
        &self.region
    }

    /// The account in the ARN.
    pub fn account(&self) -> &AccountId {
        &self.account
    }

    /// The whole ARN.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for Arn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::str::FromStr for Arn {
    type Err = ArnError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for Arn {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Arn {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stream_and_channel_arns() {
        let a =
            Arn::parse("arn:aws:kinesisvideo:us-west-2:123456789012:stream/cam-1/1700000000000")
                .unwrap();
        assert_eq!(a.kind(), ResourceKind::Stream);
        assert_eq!(a.resource_name(), "cam-1");
        assert_eq!(a.region().as_str(), "us-west-2");
        assert_eq!(a.account().as_str(), "123456789012");
        let c = Arn::parse("arn:aws:kinesisvideo:eu-west-1:123456789012:channel/door/1").unwrap();
        assert_eq!(c.kind(), ResourceKind::Channel);
        assert_eq!(c.resource_name(), "door");
    }

    #[test]
    fn rejects_malformed_arns() {
        for bad in [
            "",
            "arn:aws:s3:::bucket",
            "arn:aws:kinesisvideo:us-west-2:123456789012:stream/cam-1",
            "arn:aws:kinesisvideo:us-west-2:123456789012:stream/cam 1/17",
            "arn:aws:kinesisvideo:us-west-2:123456789012:bucket/cam/17",
            "arn:aws:kinesisvideo:us-west-2:12345:stream/cam/17",
            "arn:aws:kinesisvideo:us-west-2:123456789012:stream/cam/17/x",
            "arn:aws:kinesisvideo:us-west-2:123456789012:stream/cam/abc",
        ] {
            assert!(Arn::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn builds_what_it_parses() {
        let a = Arn::new(
            "aws",
            &Region::new("us-east-1").unwrap(),
            &AccountId::new("123456789012").unwrap(),
            ResourceKind::Channel,
            "ch",
            42,
        )
        .unwrap();
        assert_eq!(
            a.as_str(),
            "arn:aws:kinesisvideo:us-east-1:123456789012:channel/ch/42"
        );
    }
}
