use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A value that breaks the service's rules for its field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {field} {value:?}: {reason}")]
pub struct InvalidValue {
    field: &'static str,
    value: String,
    reason: String,
}

impl InvalidValue {
    /// A new error for `field` holding `value`.
    pub fn new(field: &'static str, value: &str, reason: impl Into<String>) -> Self {
        Self {
            field,
            value: value.chars().take(300).collect(),
            reason: reason.into(),
        }
    }

    /// The field whose value is bad, as the service names it (`StreamName`, ...).
    pub fn field(&self) -> &'static str {
        self.field
    }

    /// Why the value is bad.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

fn check_len(field: &'static str, s: &str, min: usize, max: usize) -> Result<(), InvalidValue> {
    let n = s.chars().count();
    if n < min || n > max {
        return Err(InvalidValue::new(
            field,
            s,
            format!("must be {min} to {max} characters long, is {n}"),
        ));
    }
    Ok(())
}

fn check_resource_name(field: &'static str, s: &str) -> Result<(), InvalidValue> {
    check_len(field, s, 1, 256)?;
    if let Some(bad) = s
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
    {
        return Err(InvalidValue::new(
            field,
            s,
            format!("may hold only letters, digits, '_', '.' and '-' (found {bad:?})"),
        ));
    }
    Ok(())
}

macro_rules! string_type {
    ($(#[$doc:meta])* $name:ident, $field:literal, $check:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// Validates `s` as the service does.
            pub fn new(s: impl Into<String>) -> Result<Self, InvalidValue> {
                let s = s.into();
                let check: fn(&'static str, &str) -> Result<(), InvalidValue> = $check;
                check($field, &s)?;
                Ok(Self(s))
            }

            /// The value as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = InvalidValue;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::new(s)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::new(s).map_err(serde::de::Error::custom)
            }
        }
    };
}

string_type!(
    /// A stream name: 1-256 characters of `[a-zA-Z0-9_.-]`.
    StreamName,
    "StreamName",
    check_resource_name
);

string_type!(
    /// A signaling channel name: 1-256 characters of `[a-zA-Z0-9_.-]`.
    ChannelName,
    "ChannelName",
    check_resource_name
);

string_type!(
    /// An AWS region code such as `us-west-2`.
    Region,
    "Region",
    |field, s| {
        check_len(field, s, 1, 64)?;
        if !s
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            return Err(InvalidValue::new(
                field,
                s,
                "may hold only lowercase letters, digits and '-'",
            ));
        }
        Ok(())
    }
);

string_type!(
    /// A 12-digit AWS account id.
    AccountId,
    "AccountId",
    |field, s| {
        if s.len() != 12 || !s.chars().all(|c| c.is_ascii_digit()) {
            return Err(InvalidValue::new(field, s, "must be exactly 12 digits"));
        }
        Ok(())
    }
);

fn check_tag_chars(field: &'static str, s: &str) -> Result<(), InvalidValue> {
    if let Some(bad) = s.chars().find(|c| {
        !(c.is_alphanumeric()
            || c.is_whitespace()
            || matches!(c, '_' | '.' | ':' | '/' | '=' | '+' | '-' | '@'))
    }) {
        return Err(InvalidValue::new(
            field,
            s,
            format!("may hold only letters, digits, spaces and _.:/=+-@ (found {bad:?})"),
        ));
    }
    Ok(())
}

string_type!(
    /// A tag key: 1-128 characters, not starting with the reserved `aws:` prefix.
    TagKey,
    "TagKey",
    |field, s| {
        check_len(field, s, 1, 128)?;
        check_tag_chars(field, s)?;
        if s.to_ascii_lowercase().starts_with("aws:") {
            return Err(InvalidValue::new(field, s, "the prefix 'aws:' is reserved"));
        }
        Ok(())
    }
);

string_type!(
    /// A tag value: 0-256 characters.
    TagValue,
    "TagValue",
    |field, s| {
        check_len(field, s, 0, 256)?;
        check_tag_chars(field, s)
    }
);

string_type!(
    /// A fragment number as KVS assigns it: a decimal string of up to 128 digits, increasing
    /// with time within a stream.
    FragmentNumber,
    "FragmentNumber",
    |field, s| {
        check_len(field, s, 1, 128)?;
        if !s.chars().all(|c| c.is_ascii_digit()) {
            return Err(InvalidValue::new(field, s, "must be decimal digits"));
        }
        Ok(())
    }
);

/// How long a stream keeps its media, in whole hours: 0 (no retention) to 87600 (ten years).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize)]
pub struct DataRetention(u32);

impl DataRetention {
    /// The longest retention KVS allows, in hours (ten years).
    pub const MAX_HOURS: u32 = 87_600;

    /// Validates a retention in hours.
    pub fn from_hours(hours: i64) -> Result<Self, InvalidValue> {
        match u32::try_from(hours) {
            Ok(h) if h <= Self::MAX_HOURS => Ok(Self(h)),
            _ => Err(InvalidValue::new(
                "DataRetentionInHours",
                &hours.to_string(),
                format!("must be 0 to {} hours", Self::MAX_HOURS),
            )),
        }
    }

    /// The retention in hours.
    pub fn hours(self) -> u32 {
        self.0
    }
}

impl fmt::Display for DataRetention {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}h", self.0)
    }
}

/// Reads a retention as people write it: hours (`24`), or a number with the unit `h` or `d`
/// (`24h`, `7d`; either case), with surrounding spaces ignored. What [`Display`](fmt::Display)
/// writes (`24h`) reads back.
impl std::str::FromStr for DataRetention {
    type Err = InvalidValue;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        const FIELD: &str = "DataRetentionInHours";
        let t = s.trim();
        let (digits, hours_per_unit) = match t.char_indices().last() {
            Some((i, 'h' | 'H')) => (&t[..i], 1),
            Some((i, 'd' | 'D')) => (&t[..i], 24),
            _ => (t, 1),
        };
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(InvalidValue::new(
                FIELD,
                s,
                "must be hours (24), or a number with the unit h or d (24h, 7d)",
            ));
        }
        digits
            .parse::<u64>()
            .ok()
            .and_then(|n| n.checked_mul(hours_per_unit))
            .and_then(|h| u32::try_from(h).ok())
            .filter(|h| *h <= Self::MAX_HOURS)
            .map(Self)
            .ok_or_else(|| {
                InvalidValue::new(
                    FIELD,
                    s,
                    format!("must be 0 to {} hours (10 years, 3650d)", Self::MAX_HOURS),
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_names_follow_the_service_rules() {
        assert!(StreamName::new("my-stream_1.0").is_ok());
        assert!(StreamName::new("a".repeat(256)).is_ok());
        let err = StreamName::new("a".repeat(257)).unwrap_err();
        assert!(err.to_string().contains("1 to 256"), "{err}");
        let err = StreamName::new("bad name").unwrap_err();
        assert_eq!(err.field(), "StreamName");
        assert!(err.to_string().contains("' '"), "{err}");
        assert!(StreamName::new("").is_err());
        assert!(ChannelName::new("ch/1").is_err());
    }

    #[test]
    fn retention_range() {
        assert_eq!(DataRetention::from_hours(0).unwrap().hours(), 0);
        assert_eq!(DataRetention::from_hours(87_600).unwrap().hours(), 87_600);
        assert!(DataRetention::from_hours(87_601).is_err());
        assert!(DataRetention::from_hours(-1).is_err());
    }

    #[test]
    fn retention_reads_hours_and_units() {
        let hours = |s: &str| s.parse::<DataRetention>().map(DataRetention::hours);
        assert_eq!(hours("24"), Ok(24));
        assert_eq!(hours("24h"), Ok(24));
        assert_eq!(hours("24H"), Ok(24));
        assert_eq!(hours("7d"), Ok(168));
        assert_eq!(hours(" 7D "), Ok(168));
        assert_eq!(hours("0"), Ok(0));
        assert_eq!(hours("87600"), Ok(87_600));
        assert_eq!(hours("3650d"), Ok(87_600));
        let r = DataRetention::from_hours(36).unwrap();
        assert_eq!(r.to_string().parse(), Ok(r), "Display reads back");
    }

    #[test]
    fn retention_refuses_other_forms_and_says_what_is_accepted() {
        for bad in ["", "h", "7w", "-1", "+1", "1.5h", "7 d", "d7", "24hh"] {
            let err = bad.parse::<DataRetention>().unwrap_err();
            assert_eq!(err.field(), "DataRetentionInHours");
            assert!(err.reason().contains("24h, 7d"), "{bad:?}: {err}");
        }
        for big in ["87601", "3651d", "99999999999999999999", "4294967295d"] {
            let err = big.parse::<DataRetention>().unwrap_err();
            assert!(err.reason().contains("87600"), "{big:?}: {err}");
        }
    }

    #[test]
    fn tags_and_ids() {
        assert!(TagKey::new("team").is_ok());
        assert!(TagKey::new("aws:owner").is_err());
        assert!(TagKey::new("").is_err());
        assert!(TagValue::new("").is_ok());
        assert!(TagValue::new("a;b").is_err());
        assert!(AccountId::new("123456789012").is_ok());
        assert!(AccountId::new("12345").is_err());
        assert!(Region::new("us-west-2").is_ok());
        assert!(Region::new("US").is_err());
    }

    #[test]
    fn serde_validates() {
        let ok: StreamName = serde_json::from_str("\"cam-1\"").unwrap();
        assert_eq!(ok.as_str(), "cam-1");
        assert!(serde_json::from_str::<StreamName>("\"cam 1\"").is_err());
    }
}
