//! Where a reader is in a shard: sequence numbers and shard iterators.
//!
//! Sequence numbers are a per-stream counter written as 56 decimal digits (`49` and the counter
//! zero-padded), so they compare the same as strings and as big integers, like Kinesis's own.
//! A shard iterator names a stream (by its internal id, so a re-created stream does not accept
//! old iterators), a shard, the last sequence already read and an expiry; it is signed with the
//! server's key so a client cannot forge one.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::auth::{constant_time_eq, hmac};

/// How long a shard iterator is valid, as on Kinesis.
pub(crate) const ITERATOR_LIFETIME_MS: i64 = 5 * 60 * 1000;

const SEQUENCE_PREFIX: &str = "49";
const SEQUENCE_DIGITS: usize = 56;
const ITERATOR_VERSION: &str = "kl1";
/// Bytes of the HMAC kept in an iterator.
const TAG_LEN: usize = 16;

/// The sequence number string of counter value `n`.
pub(crate) fn format_sequence(n: i64) -> String {
    let width = SEQUENCE_DIGITS - SEQUENCE_PREFIX.len();
    format!("{SEQUENCE_PREFIX}{:0width$}", n.max(0))
}

/// The counter value of a sequence number string, if it is one of ours.
pub(crate) fn parse_sequence(s: &str) -> Option<i64> {
    let digits = s.strip_prefix(SEQUENCE_PREFIX)?;
    if s.len() != SEQUENCE_DIGITS || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// A reader's place: the next record read is the first in `shard` with a counter above `after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Position {
    pub(crate) stream_id: i64,
    pub(crate) shard: u32,
    pub(crate) after: i64,
}

/// Why an iterator was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IteratorError {
    /// Not an iterator this server issued (or altered).
    Invalid,
    /// Issued, but older than [`ITERATOR_LIFETIME_MS`].
    Expired,
}

fn tag(key: &[u8], payload: &str) -> String {
    let mac = hmac(key, payload.as_bytes());
    hex::encode(&mac[..TAG_LEN.min(mac.len())])
}

/// An iterator at `pos`, valid until `expires_ms` (epoch ms).
pub(crate) fn encode_iterator(key: &[u8], pos: Position, expires_ms: i64) -> String {
    let payload = format!(
        "{ITERATOR_VERSION}:{}:{}:{}:{expires_ms}",
        pos.stream_id, pos.shard, pos.after
    );
    let tag = tag(key, &payload);
    URL_SAFE_NO_PAD.encode(format!("{payload}:{tag}"))
}

/// The position in an iterator, checked against `key` and the time `now_ms`.
pub(crate) fn decode_iterator(
    key: &[u8],
    iterator: &str,
    now_ms: i64,
) -> Result<Position, IteratorError> {
    let raw = URL_SAFE_NO_PAD
        .decode(iterator)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or(IteratorError::Invalid)?;
    let (payload, given) = raw.rsplit_once(':').ok_or(IteratorError::Invalid)?;
    if !constant_time_eq(tag(key, payload).as_bytes(), given.as_bytes()) {
        return Err(IteratorError::Invalid);
    }
    let fields: Vec<&str> = payload.split(':').collect();
    let [ITERATOR_VERSION, stream_id, shard, after, expires_ms] = fields[..] else {
        return Err(IteratorError::Invalid);
    };
    let number = |s: &str| s.parse::<i64>().map_err(|_| IteratorError::Invalid);
    let pos = Position {
        stream_id: number(stream_id)?,
        shard: shard.parse().map_err(|_| IteratorError::Invalid)?,
        after: number(after)?,
    };
    if now_ms > number(expires_ms)? {
        return Err(IteratorError::Expired);
    }
    Ok(pos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_numbers_sort_as_strings_and_as_numbers() {
        let a = format_sequence(9);
        let b = format_sequence(10);
        let c = format_sequence(i64::MAX);
        assert_eq!(a.len(), 56);
        assert_eq!(c.len(), 56);
        assert!(a < b && b < c);
        assert_eq!(parse_sequence(&a), Some(9));
        assert_eq!(parse_sequence(&c), Some(i64::MAX));
        assert_eq!(parse_sequence("49"), None);
        assert_eq!(parse_sequence(&format!("48{}", &a[2..])), None);
        assert_eq!(parse_sequence(&format!("{a}0")), None);
        assert_eq!(parse_sequence(&a.replace('9', "x")), None);
    }

    #[test]
    fn iterators_round_trip_until_they_expire() {
        let key = b"secret";
        let pos = Position {
            stream_id: 3,
            shard: 1,
            after: 42,
        };
        let it = encode_iterator(key, pos, 1_000);
        assert_eq!(decode_iterator(key, &it, 999), Ok(pos));
        assert_eq!(decode_iterator(key, &it, 1_000), Ok(pos));
        assert_eq!(
            decode_iterator(key, &it, 1_001),
            Err(IteratorError::Expired)
        );
    }

    #[test]
    fn forged_or_garbled_iterators_are_refused() {
        let pos = Position {
            stream_id: 3,
            shard: 1,
            after: 42,
        };
        let it = encode_iterator(b"secret", pos, 1_000);
        assert_eq!(
            decode_iterator(b"other", &it, 0),
            Err(IteratorError::Invalid)
        );
        let raw = String::from_utf8(URL_SAFE_NO_PAD.decode(&it).unwrap()).unwrap();
        let forged = URL_SAFE_NO_PAD.encode(raw.replace(":42:", ":0:"));
        assert_eq!(
            decode_iterator(b"secret", &forged, 0),
            Err(IteratorError::Invalid)
        );
        for junk in ["", "!!!", "a2wx", &URL_SAFE_NO_PAD.encode("kl1:1:2:3")] {
            assert_eq!(
                decode_iterator(b"secret", junk, 0),
                Err(IteratorError::Invalid)
            );
        }
    }
}
