//! Puts RTP packets back in sequence order, waiting a little for a missing one: a packet
//! the network reordered, or one NACK had retransmitted, arrives after its successors, and
//! without the wait every such packet would cost a group of pictures.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rtc::rtp::packet::Packet;

/// Packets held behind a gap before it is given up on (a large key frame is a few hundred).
const MAX_HELD: usize = 4096;

/// A jitter buffer in sequence-number order.
pub(crate) struct Reorder {
    /// How long a gap is waited on, while NACKs ask for it again.
    max_wait: Duration,
    /// Extended sequence number of the next packet to release.
    next: Option<u64>,
    /// The highest extended sequence number seen, for extending the next one.
    highest: Option<u64>,
    held: BTreeMap<u64, Packet>,
    gap_since: Option<Instant>,
}

impl Reorder {
    pub(crate) fn new(max_wait: Duration) -> Self {
        Self {
            max_wait,
            next: None,
            highest: None,
            held: BTreeMap::new(),
            gap_since: None,
        }
    }

    /// Adds a packet that arrived at `now`; packets now in order go to `out`.
    pub(crate) fn push(&mut self, packet: Packet, now: Instant, out: &mut Vec<Packet>) {
        let seq = self.extend(packet.header.sequence_number);
        let next = *self.next.get_or_insert(seq);
        if seq < next {
            // A duplicate, or too late: its gap was already given up on.
            return;
        }
        self.held.entry(seq).or_insert(packet);
        self.release(out);
        if self.held.is_empty() {
            self.gap_since = None;
            return;
        }
        let since = *self.gap_since.get_or_insert(now);
        if now.duration_since(since) >= self.max_wait || self.held.len() > MAX_HELD {
            // Give up on the gap; the depacketizer sees the jump in sequence numbers.
            self.next = self.held.keys().next().copied();
            self.gap_since = None;
            self.release(out);
            if !self.held.is_empty() {
                self.gap_since = Some(now);
            }
        }
    }

    fn release(&mut self, out: &mut Vec<Packet>) {
        while let Some(next) = self.next {
            let Some(packet) = self.held.remove(&next) else {
                return;
            };
            out.push(packet);
            self.next = Some(next + 1);
            self.gap_since = None;
        }
    }

    fn extend(&mut self, seq: u16) -> u64 {
        let Some(highest) = self.highest else {
            // Far from zero, so a packet from just before the first never underflows.
            let ext = (1 << 32) + u64::from(seq);
            self.highest = Some(ext);
            return ext;
        };
        let delta = i64::from(seq.wrapping_sub(highest as u16) as i16);
        let ext = highest.saturating_add_signed(delta);
        self.highest = Some(highest.max(ext));
        ext
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(seq: u16) -> Packet {
        let mut p = Packet::default();
        p.header.sequence_number = seq;
        p
    }

    const MAX_WAIT: Duration = Duration::from_millis(500);

    fn seqs(out: &[Packet]) -> Vec<u16> {
        out.iter().map(|p| p.header.sequence_number).collect()
    }

    #[test]
    fn a_late_packet_is_put_back_in_place() {
        let (mut r, mut out, t) = (Reorder::new(MAX_WAIT), Vec::new(), Instant::now());
        for seq in [65534, 65535, 1, 2, 0, 3] {
            r.push(packet(seq), t, &mut out);
        }
        assert_eq!(seqs(&out), [65534, 65535, 0, 1, 2, 3]);
    }

    #[test]
    fn a_lost_packet_is_given_up_on_after_a_while() {
        let (mut r, mut out, t) = (Reorder::new(MAX_WAIT), Vec::new(), Instant::now());
        r.push(packet(10), t, &mut out);
        r.push(packet(12), t, &mut out);
        r.push(
            packet(13),
            t + MAX_WAIT - Duration::from_millis(1),
            &mut out,
        );
        assert_eq!(seqs(&out), [10]);
        r.push(packet(14), t + MAX_WAIT, &mut out);
        assert_eq!(seqs(&out), [10, 12, 13, 14]);
        r.push(packet(11), t + MAX_WAIT, &mut out);
        r.push(packet(14), t + MAX_WAIT, &mut out);
        assert_eq!(seqs(&out), [10, 12, 13, 14], "too late, and a duplicate");
    }
}
