//! PutMedia acknowledgements: newline-separated JSON events on the response body.

use kvs_types::FragmentNumber;
use serde::Deserialize;

/// What an acknowledgement reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckEventType {
    /// The first byte of a fragment arrived.
    Buffering,
    /// The whole fragment arrived.
    Received,
    /// The fragment is stored durably.
    Persisted,
    /// The fragment (or the connection) failed; `error_id` says why.
    Error,
    /// No data for a while; the service keeps the connection alive.
    Idle,
}

/// One acknowledgement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    /// What happened to the fragment (`EventType`).
    pub event: AckEventType,
    /// The fragment's cluster timecode, as sent.
    pub fragment_timecode: Option<u64>,
    /// The fragment number the service assigned.
    pub fragment_number: Option<FragmentNumber>,
    /// KVS error id (4000-5001) for ERROR events.
    pub error_id: Option<u32>,
}

/// An acknowledgement line that could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AckError {
    /// Not JSON of the acknowledgement shape.
    #[error("malformed PutMedia acknowledgement {line:?}: {reason}")]
    Malformed {
        /// The line (cut to 200 characters).
        line: String,
        /// What was wrong.
        reason: String,
    },
    /// A line longer than any acknowledgement.
    #[error("PutMedia acknowledgement line over {0} bytes")]
    TooLong(usize),
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Wire {
    event_type: String,
    fragment_timecode: Option<u64>,
    fragment_number: Option<String>,
    error_id: Option<u32>,
}

impl Ack {
    /// Parses one line.
    pub fn parse(line: &str) -> Result<Self, AckError> {
        let bad = |reason: String| AckError::Malformed {
            line: line.chars().take(200).collect(),
            reason,
        };
        let w: Wire = serde_json::from_str(line).map_err(|e| bad(e.to_string()))?;
        let event = match w.event_type.as_str() {
            "BUFFERING" => AckEventType::Buffering,
            "RECEIVED" => AckEventType::Received,
            "PERSISTED" => AckEventType::Persisted,
            "ERROR" => AckEventType::Error,
            "IDLE" => AckEventType::Idle,
            other => return Err(bad(format!("unknown EventType {other:?}"))),
        };
        let fragment_number = w
            .fragment_number
            .map(FragmentNumber::new)
            .transpose()
            .map_err(|e| bad(e.to_string()))?;
        Ok(Self {
            event,
            fragment_timecode: w.fragment_timecode,
            fragment_number,
            error_id: w.error_id,
        })
    }
}

/// Splits a byte stream into acknowledgement lines.
#[derive(Debug, Default)]
pub struct AckDecoder {
    buf: Vec<u8>,
}

impl AckDecoder {
    /// The longest line accepted, in bytes; a longer one is [`AckError::TooLong`].
    pub const MAX_LINE: usize = 64 * 1024;

    /// Adds bytes; returns every complete line's acknowledgement (blank lines skipped).
    pub fn feed(&mut self, data: &[u8]) -> Vec<Result<Ack, AckError>> {
        let mut out = Vec::new();
        for &b in data {
            if b == b'\n' {
                let line = String::from_utf8_lossy(&self.buf).trim().to_owned();
                self.buf.clear();
                if !line.is_empty() {
                    out.push(Ack::parse(&line));
                }
            } else if self.buf.len() < Self::MAX_LINE {
                self.buf.push(b);
            } else {
                self.buf.clear();
                out.push(Err(AckError::TooLong(Self::MAX_LINE)));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kvs_acks_across_chunks() {
        let mut d = AckDecoder::default();
        let text = b"{\"EventType\":\"BUFFERING\",\"FragmentTimecode\":1700000000000,\"FragmentNumber\":\"91343852333181432392682062607743920146264929\"}\n{\"EventType\":\"IDLE\"}\n{\"EventType\":\"ERROR\",\"FragmentTimecode\":5,\"ErrorId\":4004}\n";
        let mut acks = Vec::new();
        for chunk in text.chunks(7) {
            acks.extend(d.feed(chunk));
        }
        let acks: Vec<Ack> = acks.into_iter().map(Result::unwrap).collect();
        assert_eq!(acks.len(), 3);
        assert_eq!(acks[0].event, AckEventType::Buffering);
        assert_eq!(acks[0].fragment_timecode, Some(1_700_000_000_000));
        assert_eq!(acks[1].event, AckEventType::Idle);
        assert_eq!(acks[2].error_id, Some(4004));
        assert!(
            d.feed(b"{\"EventType\":\"NOPE\"}\nnot json\n")
                .iter()
                .all(Result::is_err)
        );
    }
}
