//! Time ranges as users say them: "the last 5 minutes", or two RFC 3339 instants.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::InvalidValue;

/// A closed interval of wall-clock time, `start <= end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRange {
    start: SystemTime,
    end: SystemTime,
}

/// Parses a duration like `90s`, `5m`, `2h`, `1d` or `1h30m`.
pub fn parse_duration(s: &str) -> Result<Duration, InvalidValue> {
    let bad = |why: &str| InvalidValue::new("duration", s, why.to_owned());
    let mut total = 0u64;
    let mut digits = String::new();
    let mut any = false;
    for c in s.trim().chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return Err(bad("use a number with s, m, h or d, e.g. 30s, 5m, 2h, 1d")),
        };
        let n: u64 = digits
            .parse()
            .map_err(|_| bad("each unit needs a number before it, e.g. 1h30m"))?;
        total = n
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(|| bad("too long"))?;
        digits.clear();
        any = true;
    }
    if !digits.is_empty() || !any {
        return Err(bad("use a number with s, m, h or d, e.g. 30s, 5m, 2h, 1d"));
    }
    Ok(Duration::from_secs(total))
}

/// Parses an RFC 3339 instant such as `2024-05-01T12:00:00Z` or `2024-05-01T14:00:00+02:00`.
pub fn parse_instant(s: &str) -> Result<SystemTime, InvalidValue> {
    let t = OffsetDateTime::parse(s.trim(), &Rfc3339).map_err(|e| {
        InvalidValue::new(
            "time",
            s,
            format!("not an RFC 3339 time like 2024-05-01T12:00:00Z ({e})"),
        )
    })?;
    Ok(SystemTime::from(t))
}

impl TimeRange {
    /// `[start, end]`; an error if `start` is after `end`.
    pub fn between(start: SystemTime, end: SystemTime) -> Result<Self, InvalidValue> {
        if start > end {
            return Err(InvalidValue::new(
                "time range",
                &format!("{} .. {}", rfc3339(start), rfc3339(end)),
                "the start is after the end",
            ));
        }
        Ok(Self { start, end })
    }

    /// The `length` up to `now`.
    pub fn last(length: Duration, now: SystemTime) -> Self {
        Self {
            start: now.checked_sub(length).unwrap_or(UNIX_EPOCH),
            end: now,
        }
    }

    /// From a `--last` duration or `--start`/`--end` instants (end defaults to now).
    pub fn from_args(
        last: Option<&str>,
        start: Option<&str>,
        end: Option<&str>,
        now: SystemTime,
    ) -> Result<Self, InvalidValue> {
        match (last, start) {
            (Some(_), Some(_)) => Err(InvalidValue::new(
                "time range",
                "",
                "give --last or --start, not both",
            )),
            (Some(l), None) => Ok(Self::last(parse_duration(l)?, now)),
            (None, Some(s)) => {
                let end = end.map(parse_instant).transpose()?.unwrap_or(now);
                Self::between(parse_instant(s)?, end)
            }
            (None, None) => Err(InvalidValue::new(
                "time range",
                "",
                "give --last DURATION or --start TIME",
            )),
        }
    }

    /// The start.
    pub fn start(&self) -> SystemTime {
        self.start
    }

    /// The end.
    pub fn end(&self) -> SystemTime {
        self.end
    }

    /// The start in epoch seconds.
    pub fn start_secs(&self) -> f64 {
        epoch_secs(self.start)
    }

    /// The end in epoch seconds.
    pub fn end_secs(&self) -> f64 {
        epoch_secs(self.end)
    }
}

fn epoch_secs(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Formats an instant as RFC 3339 (UTC).
pub fn rfc3339(t: SystemTime) -> String {
    OffsetDateTime::from(t)
        .format(&Rfc3339)
        .unwrap_or_else(|_| format!("{:.3}", epoch_secs(t)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("1d").unwrap(), Duration::from_secs(86_400));
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("m").is_err());
        assert!(parse_duration("5 minutes").is_err());
    }

    #[test]
    fn ranges() {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let r = TimeRange::from_args(Some("5m"), None, None, now).unwrap();
        assert_eq!(r.start_secs(), 1_699_999_700.0);
        assert_eq!(r.end_secs(), 1_700_000_000.0);
        let r = TimeRange::from_args(
            None,
            Some("2023-11-14T22:13:20Z"),
            Some("2023-11-14T23:13:20+01:00"),
            now,
        )
        .unwrap();
        assert_eq!(r.start_secs(), 1_700_000_000.0);
        assert_eq!(r.end_secs(), 1_700_000_000.0);
        assert!(
            TimeRange::from_args(
                None,
                Some("2023-11-15T00:00:00Z"),
                Some("2023-11-14T00:00:00Z"),
                now
            )
            .is_err()
        );
        assert!(TimeRange::from_args(None, None, None, now).is_err());
        assert!(TimeRange::from_args(None, Some("yesterday"), None, now).is_err());
        assert_eq!(rfc3339(now), "2023-11-14T22:13:20Z");
    }
}
