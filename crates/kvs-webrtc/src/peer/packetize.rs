//! Annex-B access units to RTP packets for one viewer (RFC 6184 packetization mode 1: single NAL
//! units, STAP-A for SPS+PPS, FU-A for large slices), timestamped from the frames' own times.

use bytes::Bytes;
use rtc::rtp::codec::h264::H264Payloader;
use rtc::rtp::header::Header;
use rtc::rtp::packet::Packet;
use rtc::rtp::packetizer::Payloader;

use super::clock::RtpClock;

/// Bytes an RTP packet may take, header included, so that SRTP + UDP + IP fit in 1280.
const RTP_MTU: usize = 1200;
const RTP_HEADER: usize = 12;
const CLOCK_RATE: u32 = 90_000;

/// Packetizes one viewer's video stream.
pub(crate) struct H264Packetizer {
    payloader: H264Payloader,
    ssrc: u32,
    payload_type: u8,
    sequence: u16,
    clock: RtpClock,
    last_rtp_time: Option<u32>,
}

impl H264Packetizer {
    pub(crate) fn new(ssrc: u32, payload_type: u8) -> Self {
        Self {
            payloader: H264Payloader::default(),
            ssrc,
            payload_type,
            sequence: rand::random(),
            clock: RtpClock::new(CLOCK_RATE),
            last_rtp_time: None,
        }
    }

    /// The RTP timestamp of a frame at `timestamp_ns`; the first frame asked about sets the
    /// origin.
    pub(crate) fn rtp_time(&mut self, timestamp_ns: u64) -> u32 {
        self.clock.rtp_time(timestamp_ns)
    }

    /// Maps frame time `timestamp_ns` to `rtp_time` from now on.
    pub(crate) fn reanchor(&mut self, timestamp_ns: u64, rtp_time: u32) {
        self.clock.reanchor(timestamp_ns, rtp_time);
    }

    /// The RTP time of the last frame packetized.
    pub(crate) fn last_rtp_time(&self) -> Option<u32> {
        self.last_rtp_time
    }

    /// The RTP packets of one Annex-B access unit at RTP time `rtp_time`; the last one carries
    /// the marker bit.
    pub(crate) fn packetize(&mut self, annexb: &Bytes, rtp_time: u32) -> Vec<Packet> {
        let payloads = match self.payloader.payload(RTP_MTU - RTP_HEADER, annexb) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!("H.264 access unit cannot be packetized, skipping it: {e}");
                return Vec::new();
            }
        };
        self.last_rtp_time = Some(rtp_time);
        let last = payloads.len().saturating_sub(1);
        payloads
            .into_iter()
            .enumerate()
            .map(|(i, payload)| {
                let sequence_number = self.sequence;
                self.sequence = self.sequence.wrapping_add(1);
                Packet {
                    header: Header {
                        version: 2,
                        marker: i == last,
                        payload_type: self.payload_type,
                        sequence_number,
                        timestamp: rtp_time,
                        ssrc: self.ssrc,
                        ..Header::default()
                    },
                    payload,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use rtc::rtp::codec::h264::{FUA_NALU_TYPE, STAPA_NALU_TYPE};

    fn annexb(nals: &[&[u8]]) -> Bytes {
        let mut out = Vec::new();
        for n in nals {
            out.extend_from_slice(&[0, 0, 0, 1]);
            out.extend_from_slice(n);
        }
        Bytes::from(out)
    }

    #[test]
    fn key_frames_become_stap_a_then_fu_a() {
        let mut p = H264Packetizer::new(7, 102);
        let idr: Vec<u8> = std::iter::once(0x65)
            .chain((0..3000).map(|i| i as u8 | 1))
            .collect();
        let packets = p.packetize(
            &annexb(&[&[0x67, 0x42, 0, 0x1f], &[0x68, 0xce], &idr]),
            1000,
        );
        assert_eq!(packets[0].payload[0] & 0x1F, STAPA_NALU_TYPE);
        assert!(
            packets[1..]
                .iter()
                .all(|p| p.payload[0] & 0x1F == FUA_NALU_TYPE)
        );
        assert!(
            packets
                .iter()
                .all(|p| p.payload.len() <= RTP_MTU - RTP_HEADER)
        );
        assert!(packets.last().unwrap().header.marker);
        assert_eq!(packets.iter().filter(|p| p.header.marker).count(), 1);
        let seqs: Vec<u16> = packets.iter().map(|p| p.header.sequence_number).collect();
        assert!(seqs.windows(2).all(|w| w[1] == w[0].wrapping_add(1)));
        assert!(
            packets
                .iter()
                .all(|p| p.header.ssrc == 7 && p.header.payload_type == 102)
        );
    }

    #[test]
    fn rtp_time_follows_the_frame_times() {
        let mut p = H264Packetizer::new(1, 96);
        let t0 = p.rtp_time(5_000_000_000);
        assert_eq!(
            p.rtp_time(5_000_000_000 + 1_000_000_000 / 30),
            t0.wrapping_add(3000)
        );
        assert_eq!(p.rtp_time(4_999_000_000), t0.wrapping_sub(90));
        p.reanchor(9_000_000_000, 7);
        assert_eq!(p.rtp_time(9_000_000_000 + 1_000_000), 97);
    }
}
