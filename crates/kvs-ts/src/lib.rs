#![doc = include_str!("../README.md")]

use kvs_mkv::{Frame, TrackInfo, TrackKind};

/// Why a segment could not be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TsError {
    /// There are no frames to write.
    #[error("no frames to write into a transport stream segment")]
    NoFrames,
    /// A codec MPEG-TS segments of KVS do not carry.
    #[error("codec {0} cannot go into an MPEG-TS segment (H.264 and AAC only)")]
    UnsupportedCodec(String),
    /// The codec private data is unusable.
    #[error("track {track}: {reason}")]
    CodecPrivate {
        /// The track number.
        track: u64,
        /// What is wrong.
        reason: String,
    },
    /// A frame is not made of length-prefixed NAL units.
    #[error("track {track}: frame at {timestamp_ns} ns is not length-prefixed NAL units")]
    BadFrame {
        /// The track number.
        track: u64,
        /// The frame's timestamp in nanoseconds.
        timestamp_ns: u64,
    },
}

const PACKET: usize = 188;
const PMT_PID: u16 = 0x1000;
const VIDEO_PID: u16 = 0x100;
const AUDIO_PID: u16 = 0x101;

enum Kind {
    Video { parameter_sets: Vec<Vec<u8>> },
    Audio { adts: [u8; 7] },
}

struct Track {
    number: u64,
    pid: u16,
    kind: Kind,
}

fn video_track(t: &TrackInfo) -> Result<Track, TsError> {
    let cp = &t.codec_private;
    let bad = |reason: &str| TsError::CodecPrivate {
        track: t.number,
        reason: reason.to_owned(),
    };
    if cp.len() < 7 || cp[0] != 1 {
        return Err(bad(
            "the AVCDecoderConfigurationRecord is missing or malformed",
        ));
    }
    let mut sets = Vec::new();
    let mut at = 5;
    for count_mask in [0x1F_u8, 0xFF] {
        let count = cp.get(at).ok_or_else(|| bad("truncated AVC record"))? & count_mask;
        at += 1;
        for _ in 0..count {
            let len = cp
                .get(at..at + 2)
                .map(|b| u16::from_be_bytes([b[0], b[1]]) as usize)
                .ok_or_else(|| bad("truncated AVC record"))?;
            let nal = cp
                .get(at + 2..at + 2 + len)
                .ok_or_else(|| bad("truncated AVC record"))?;
            sets.push(nal.to_vec());
            at += 2 + len;
        }
    }
    if sets.len() < 2 {
        return Err(bad("the AVC record has no SPS or no PPS"));
    }
    Ok(Track {
        number: t.number,
        pid: VIDEO_PID,
        kind: Kind::Video {
            parameter_sets: sets,
        },
    })
}

fn audio_track(t: &TrackInfo) -> Result<Track, TsError> {
    let cp = &t.codec_private;
    if cp.len() < 2 {
        return Err(TsError::CodecPrivate {
            track: t.number,
            reason: "the AudioSpecificConfig is missing".into(),
        });
    }
    let object_type = (cp[0] >> 3).max(1);
    let freq_index = ((cp[0] & 0x07) << 1) | (cp[1] >> 7);
    let channels = (cp[1] >> 3) & 0x0F;
    // ADTS header without CRC; the 13-bit frame length is filled in per frame.
    let profile = (object_type - 1) & 0x03;
    let adts = [
        0xFF,
        0xF1,
        (profile << 6) | (freq_index << 2) | (channels >> 2),
        (channels & 0x03) << 6,
        0,
        0x1F,
        0xFC,
    ];
    Ok(Track {
        number: t.number,
        pid: AUDIO_PID,
        kind: Kind::Audio { adts },
    })
}

/// MPEG-2 CRC-32 (polynomial 0x04C11DB7, no reflection), as PSI sections use.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= u32::from(b) << 24;
        for _ in 0..8 {
            crc = if crc & 0x8000_0000 != 0 {
                (crc << 1) ^ 0x04C1_1DB7
            } else {
                crc << 1
            };
        }
    }
    crc
}

struct Muxer {
    out: Vec<u8>,
    counters: [(u16, u8); 4],
}

impl Muxer {
    fn counter(&mut self, pid: u16) -> u8 {
        let slot = self
            .counters
            .iter_mut()
            .find(|(p, _)| *p == pid)
            .expect("every PID written has a counter");
        let c = slot.1;
        slot.1 = (c + 1) & 0x0F;
        c
    }

    fn section(&mut self, pid: u16, table: &[u8]) {
        let mut section = table.to_vec();
        let crc = crc32(&section);
        section.extend_from_slice(&crc.to_be_bytes());
        let cc = self.counter(pid);
        let mut p = vec![0x47, 0x40 | (pid >> 8) as u8, pid as u8, 0x10 | cc, 0x00];
        p.extend_from_slice(&section);
        p.resize(PACKET, 0xFF);
        self.out.extend_from_slice(&p);
    }

    fn pat_pmt(&mut self, tracks: &[Track]) {
        // PAT: program 1 -> PMT_PID
        let pat = [
            0x00,
            0xB0,
            0x0D,
            0x00,
            0x01,
            0xC1,
            0x00,
            0x00,
            0x00,
            0x01,
            0xE0 | (PMT_PID >> 8) as u8,
            PMT_PID as u8,
        ];
        self.section(0, &pat);
        let pcr_pid = tracks.first().map_or(VIDEO_PID, |t| t.pid);
        let mut es = Vec::new();
        for t in tracks {
            let stream_type = match t.kind {
                Kind::Video { .. } => 0x1B,
                Kind::Audio { .. } => 0x0F,
            };
            es.extend_from_slice(&[
                stream_type,
                0xE0 | (t.pid >> 8) as u8,
                t.pid as u8,
                0xF0,
                0x00,
            ]);
        }
        let section_len = 9 + es.len() + 4;
        let mut pmt = vec![
            0x02,
            0xB0 | ((section_len >> 8) as u8 & 0x0F),
            section_len as u8,
            0x00,
            0x01,
            0xC1,
            0x00,
            0x00,
            0xE0 | (pcr_pid >> 8) as u8,
            pcr_pid as u8,
            0xF0,
            0x00,
        ];
        pmt.extend_from_slice(&es);
        self.section(PMT_PID, &pmt);
    }

    fn pes(
        &mut self,
        pid: u16,
        stream_id: u8,
        pts: u64,
        dts: Option<u64>,
        pcr: Option<u64>,
        payload: &[u8],
    ) {
        let mut header = vec![0x00, 0x00, 0x01, stream_id];
        let optional_len = if dts.is_some() { 10 } else { 5 };
        let pes_len = 3 + optional_len + payload.len();
        let len_field = if stream_id == 0xE0 || pes_len > 0xFFFF {
            0
        } else {
            pes_len as u16
        };
        header.extend_from_slice(&len_field.to_be_bytes());
        header.extend_from_slice(&[
            0x80,
            if dts.is_some() { 0xC0 } else { 0x80 },
            optional_len as u8,
        ]);
        let timestamp = |prefix: u8, t: u64| {
            let t = t & 0x1_FFFF_FFFF;
            [
                (prefix << 4) | (((t >> 30) as u8 & 0x07) << 1) | 1,
                (t >> 22) as u8,
                (((t >> 15) as u8) << 1) | 1,
                (t >> 7) as u8,
                ((t as u8) << 1) | 1,
            ]
        };
        header.extend_from_slice(&timestamp(if dts.is_some() { 3 } else { 2 }, pts));
        if let Some(d) = dts {
            header.extend_from_slice(&timestamp(1, d));
        }
        let mut data = header;
        data.extend_from_slice(payload);

        let mut rest = &data[..];
        let mut first = true;
        while !rest.is_empty() {
            // The adaptation field body (after its length byte): flags, PCR, stuffing.
            let mut adaptation: Option<Vec<u8>> = None;
            if first && let Some(pcr) = pcr {
                let base = pcr & 0x1_FFFF_FFFF;
                adaptation = Some(vec![
                    0x50, // random access indicator + PCR flag
                    (base >> 25) as u8,
                    (base >> 17) as u8,
                    (base >> 9) as u8,
                    (base >> 1) as u8,
                    (((base & 1) as u8) << 7) | 0x7E,
                    0x00,
                ]);
            }
            let overhead = adaptation.as_ref().map_or(0, |a| 1 + a.len());
            let room = PACKET - 4 - overhead;
            let take = rest.len().min(room);
            if take < room {
                // The last packet of the PES: stuff the adaptation field up to 188 bytes.
                let body_len = PACKET - 4 - take - 1;
                let a = adaptation.get_or_insert_with(Vec::new);
                if a.is_empty() && body_len > 0 {
                    a.push(0x00);
                }
                a.resize(body_len, 0xFF);
            }
            let cc = self.counter(pid);
            let control = if adaptation.is_some() { 0x30 } else { 0x10 };
            let mut p = vec![
                0x47,
                (if first { 0x40 } else { 0x00 }) | (pid >> 8) as u8,
                pid as u8,
                control | cc,
            ];
            if let Some(a) = &adaptation {
                p.push(a.len() as u8);
                p.extend_from_slice(a);
            }
            p.extend_from_slice(&rest[..take]);
            debug_assert_eq!(p.len(), PACKET);
            self.out.extend_from_slice(&p);
            rest = &rest[take..];
            first = false;
        }
    }
}

fn annexb(track: &Track, frame: &Frame, parameter_sets: &[Vec<u8>]) -> Result<Vec<u8>, TsError> {
    let mut out = Vec::with_capacity(frame.data.len() + 64);
    out.extend_from_slice(&[0, 0, 0, 1, 0x09, 0xF0]);
    if frame.key {
        for set in parameter_sets {
            out.extend_from_slice(&[0, 0, 0, 1]);
            out.extend_from_slice(set);
        }
    }
    let mut rest = &frame.data[..];
    let bad = || TsError::BadFrame {
        track: track.number,
        timestamp_ns: frame.timestamp_ns,
    };
    while !rest.is_empty() {
        let len = rest
            .get(..4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
            .ok_or_else(bad)?;
        let nal = rest.get(4..4 + len).ok_or_else(bad)?;
        // An access unit delimiter is already written first.
        if nal.first().map(|b| b & 0x1F) != Some(9) {
            out.extend_from_slice(&[0, 0, 0, 1]);
            out.extend_from_slice(nal);
        }
        rest = &rest[4 + len..];
    }
    Ok(out)
}

fn ticks_90k(ns: u64) -> u64 {
    (u128::from(ns) * 9 / 100_000) as u64
}

/// One MPEG-TS segment holding `frames` (in stream order) of `tracks`.
pub fn segment(tracks: &[TrackInfo], frames: &[Frame]) -> Result<Vec<u8>, TsError> {
    if frames.is_empty() {
        return Err(TsError::NoFrames);
    }
    let mut ts_tracks = Vec::new();
    for t in tracks {
        if !frames.iter().any(|f| f.track == t.number) {
            continue;
        }
        ts_tracks.push(match (&t.kind, t.codec_id.as_str()) {
            (TrackKind::Video { .. }, TrackInfo::H264) => video_track(t)?,
            (TrackKind::Audio { .. }, TrackInfo::AAC) => audio_track(t)?,
            (_, other) => return Err(TsError::UnsupportedCodec(other.to_owned())),
        });
    }
    // Video first: it carries the PCR.
    ts_tracks.sort_by_key(|t| !matches!(t.kind, Kind::Video { .. }));
    let mut mux = Muxer {
        out: Vec::with_capacity(frames.iter().map(|f| f.data.len() + 64).sum::<usize>() * 11 / 10),
        counters: [(0, 0), (PMT_PID, 0), (VIDEO_PID, 0), (AUDIO_PID, 0)],
    };
    mux.pat_pmt(&ts_tracks);
    // A decode clock slightly behind presentation, so PTS >= DTS with reordered frames.
    let offset = 9_000;
    for f in frames {
        let Some(track) = ts_tracks.iter().find(|t| t.number == f.track) else {
            continue;
        };
        let pts = ticks_90k(f.timestamp_ns) + offset;
        match &track.kind {
            Kind::Video { parameter_sets } => {
                let data = annexb(track, f, parameter_sets)?;
                let dts = pts - offset;
                mux.pes(track.pid, 0xE0, pts, Some(dts), Some(dts), &data);
            }
            Kind::Audio { adts } => {
                let len = f.data.len() + 7;
                let mut h = *adts;
                h[3] |= ((len >> 11) & 0x03) as u8;
                h[4] = (len >> 3) as u8;
                h[5] = (((len & 0x07) as u8) << 5) | 0x1F;
                let mut data = h.to_vec();
                data.extend_from_slice(&f.data);
                mux.pes(track.pid, 0xC0, pts, None, None, &data);
            }
        }
    }
    Ok(mux.out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_matches_the_mpeg2_reference() {
        // The PAT of program 1 on PID 0x1000 has this well-known CRC.
        let pat = [
            0x00, 0xB0, 0x0D, 0x00, 0x01, 0xC1, 0x00, 0x00, 0x00, 0x01, 0xF0, 0x00,
        ];
        assert_eq!(crc32(&pat), 0x2AB1_04B2);
    }
}
