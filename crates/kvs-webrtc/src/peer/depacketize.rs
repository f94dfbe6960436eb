//! RTP packets back into H.264 access units in AVC form (4-byte length before each NAL unit,
//! as MKV and KVS carry them).
//!
//! An access unit is the packets sharing one RTP timestamp, ending at the marker bit. A packet
//! lost inside one makes it undecodable, and so is everything after it until the next key
//! frame: those are dropped rather than handed to a decoder.

use bytes::{Bytes, BytesMut};
use rtc::rtp::codec::h264::H264Packet;
use rtc::rtp::packet::Packet;
use rtc::rtp::packetizer::Depacketizer;

use super::h264::avc_has_idr;

/// One reassembled access unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AccessUnit {
    /// AVC-form NAL units.
    pub(crate) data: Bytes,
    /// Holds an IDR slice.
    pub(crate) key: bool,
    /// RTP time, extended past 32-bit wrap-around.
    pub(crate) rtp_time: i64,
}

/// What happened to the packets pushed so far, besides the access units produced.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Losses {
    /// Packets missing from the sequence.
    pub(crate) packets: u64,
    /// Access units dropped because incomplete or not decodable without a lost one.
    pub(crate) frames: u64,
}

pub(crate) struct Assembler {
    depacketizer: H264Packet,
    current: BytesMut,
    current_ts: Option<u32>,
    broken: bool,
    need_key: bool,
    last_seq: Option<u16>,
    last_ts: Option<u32>,
    extended_ts: i64,
    losses: Losses,
}

fn avc_depacketizer() -> H264Packet {
    let mut depacketizer = H264Packet::default();
    depacketizer.is_avc = true;
    depacketizer
}

impl Default for Assembler {
    fn default() -> Self {
        Self {
            depacketizer: avc_depacketizer(),
            current: BytesMut::new(),
            current_ts: None,
            broken: false,
            need_key: true,
            last_seq: None,
            last_ts: None,
            extended_ts: 0,
            losses: Losses::default(),
        }
    }
}

impl Assembler {
    /// Losses counted so far.
    pub(crate) fn losses(&self) -> Losses {
        self.losses
    }

    /// Whether the stream waits for a key frame (at the start, or after a loss).
    pub(crate) fn needs_key_frame(&self) -> bool {
        self.need_key
    }

    /// Adds a packet; completed access units go to `out`.
    pub(crate) fn push(&mut self, packet: &Packet, out: &mut Vec<AccessUnit>) {
        let seq = packet.header.sequence_number;
        let mut gap = true;
        if let Some(last) = self.last_seq {
            let step = seq.wrapping_sub(last);
            if step == 0 || step > u16::MAX / 2 {
                // A duplicate, or a retransmission too late to be of use.
                return;
            }
            gap = step > 1;
            if gap {
                self.losses.packets += u64::from(step - 1);
                self.lose_current();
            }
        }
        self.last_seq = Some(seq);

        let ts = packet.header.timestamp;
        if self.current_ts.is_some_and(|t| t != ts) {
            // The previous access unit's marker never came.
            self.finish(out);
        }
        if gap && !self.depacketizer.is_partition_head(&packet.payload) {
            // The start of this access unit's first NAL unit is missing too.
            self.broken = true;
        }
        self.current_ts = Some(ts);
        match self.depacketizer.depacketize(&packet.payload) {
            Ok(nals) => self.current.extend_from_slice(&nals),
            Err(e) => {
                tracing::debug!("undecodable H.264 RTP payload: {e}");
                self.broken = true;
            }
        }
        if packet.header.marker {
            self.finish(out);
        }
    }

    fn lose_current(&mut self) {
        self.broken = true;
        self.need_key = true;
        // A fragment buffered before the gap would be glued to one after it.
        self.depacketizer = avc_depacketizer();
    }

    fn finish(&mut self, out: &mut Vec<AccessUnit>) {
        let Some(ts) = self.current_ts.take() else {
            return;
        };
        let data = std::mem::take(&mut self.current).freeze();
        let broken = std::mem::take(&mut self.broken);
        if broken || data.is_empty() {
            self.losses.frames += 1;
            self.need_key = true;
            return;
        }
        let key = avc_has_idr(&data);
        if self.need_key && !key {
            self.losses.frames += 1;
            return;
        }
        self.need_key = false;
        let rtp_time = self.extend(ts);
        out.push(AccessUnit {
            data,
            key,
            rtp_time,
        });
    }

    fn extend(&mut self, ts: u32) -> i64 {
        if let Some(last) = self.last_ts {
            self.extended_ts += i64::from(ts.wrapping_sub(last) as i32);
        }
        self.last_ts = Some(ts);
        self.extended_ts
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::super::packetize::H264Packetizer;
    use super::*;

    fn au(nals: &[&[u8]]) -> Bytes {
        let mut out = Vec::new();
        for n in nals {
            out.extend_from_slice(&[0, 0, 0, 1]);
            out.extend_from_slice(n);
        }
        Bytes::from(out)
    }

    fn avc(nals: &[&[u8]]) -> Bytes {
        let mut out = Vec::new();
        for n in nals {
            out.extend_from_slice(&(n.len() as u32).to_be_bytes());
            out.extend_from_slice(n);
        }
        Bytes::from(out)
    }

    fn big_slice(kind: u8) -> Vec<u8> {
        std::iter::once(kind)
            .chain((0..4000).map(|i| (i % 251) as u8 | 1))
            .collect()
    }

    #[test]
    fn packetized_frames_come_back_whole() {
        let (sps, pps, idr, p) = (
            [0x67, 0x42, 0, 0x1f],
            [0x68, 0xce],
            big_slice(0x65),
            big_slice(0x41),
        );
        let mut tx = H264Packetizer::new(1, 96);
        let mut rx = Assembler::default();
        let mut out = Vec::new();
        for (i, frame) in [au(&[&sps, &pps, &idr]), au(&[&p]), au(&[&p])]
            .iter()
            .enumerate()
        {
            let t = tx.rtp_time(i as u64 * 33_333_333);
            for packet in tx.packetize(frame, t) {
                rx.push(&packet, &mut out);
            }
        }
        assert_eq!(out.len(), 3);
        assert_eq!(out[0].data, avc(&[&sps, &pps, &idr]));
        assert!(out[0].key && !out[1].key);
        assert_eq!(out[1].data, avc(&[&p]));
        assert_eq!(out[1].rtp_time - out[0].rtp_time, 3000);
        assert_eq!(rx.losses(), Losses::default());
    }

    #[test]
    fn a_lost_packet_drops_frames_until_the_next_key_frame() {
        let mut tx = H264Packetizer::new(1, 96);
        let mut rx = Assembler::default();
        let mut out = Vec::new();
        let frames = [
            (
                au(&[&[0x67, 0x42, 0, 0x1f], &[0x68, 0xce], &big_slice(0x65)]),
                true,
            ),
            (au(&[&big_slice(0x41)]), false),
            (au(&[&big_slice(0x41)]), false),
            (
                au(&[&[0x67, 0x42, 0, 0x1f], &[0x68, 0xce], &big_slice(0x65)]),
                true,
            ),
        ];
        for (i, (frame, _)) in frames.iter().enumerate() {
            let t = tx.rtp_time(i as u64 * 33_333_333);
            let packets = tx.packetize(frame, t);
            for (j, packet) in packets.iter().enumerate() {
                if i == 1 && j == 1 {
                    continue;
                }
                rx.push(packet, &mut out);
            }
        }
        let keys: Vec<bool> = out.iter().map(|a| a.key).collect();
        assert_eq!(keys, [true, true], "frames 1 and 2 are dropped");
        assert_eq!(rx.losses().packets, 1);
        assert_eq!(rx.losses().frames, 2);
    }

    #[test]
    fn nothing_is_delivered_before_a_key_frame() {
        let mut tx = H264Packetizer::new(1, 96);
        let mut rx = Assembler::default();
        let mut out = Vec::new();
        for packet in tx.packetize(&au(&[&[0x41, 1, 2]]), 0) {
            rx.push(&packet, &mut out);
        }
        assert!(out.is_empty());
        assert!(rx.needs_key_frame());
    }

    #[test]
    fn rtp_time_survives_wrap_around() {
        let mut rx = Assembler::default();
        assert_eq!(rx.extend(u32::MAX - 10), 0);
        assert_eq!(rx.extend(20), 31);
    }
}
