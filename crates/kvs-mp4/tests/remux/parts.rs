//! `clip_parts()`: the head plus the frames' shared payloads are `clip()`'s bytes.

use bytes::Bytes;
use kvs_mkv::{Frame, TrackInfo};
use kvs_mp4::{clip, clip_parts};

use crate::errors::{ASC, AVCC};

/// 2 s of 30 fps video in I P B B decode order, interleaved with 48 kHz AAC frames.
fn reordered_av() -> (Vec<TrackInfo>, Vec<Frame>) {
    let tracks = vec![
        TrackInfo::h264(1, 320, 240, AVCC.to_vec()),
        TrackInfo::aac(2, 48000.0, 2, ASC.to_vec()),
    ];
    let base = 1_700_000_000_000_000_000u64;
    let frame_ns = 33_333_333u64;
    // Presentation index of each decode-order frame within a group of 4: I0 P3 B1 B2.
    let order = [0u64, 3, 1, 2];
    let mut frames = Vec::new();
    let mut audio_t = base;
    for i in 0..60u64 {
        let pts = base + ((i / 4) * 4 + order[(i % 4) as usize]) * frame_ns;
        frames.push(Frame {
            track: 1,
            timestamp_ns: pts,
            key: i % 30 == 0,
            data: Bytes::from(vec![(i % 251) as u8; 100 + i as usize * 7]),
        });
        while audio_t <= base + i * frame_ns {
            frames.push(Frame {
                track: 2,
                timestamp_ns: audio_t,
                key: true,
                data: Bytes::from(vec![0xA0 | (audio_t % 16) as u8; 150]),
            });
            audio_t += 21_333_333;
        }
    }
    (tracks, frames)
}

#[test]
fn parts_concatenated_are_the_clip() {
    let (tracks, frames) = reordered_av();
    let whole = clip(&tracks, &frames).unwrap();
    let parts = clip_parts(&tracks, &frames).unwrap();

    let joined: Vec<u8> = parts.parts().flat_map(|p| p.iter().copied()).collect();
    assert_eq!(joined, whole);
    assert_eq!(parts.len(), whole.len() as u64);
    assert_eq!(parts.to_vec().unwrap(), whole);
    let owned: Vec<u8> = parts.clone().into_iter().flatten().collect();
    assert_eq!(owned, whole);
    // The head ends with the mdat header, whose size covers every payload.
    let payload: u64 = parts.payloads().iter().map(|p| p.len() as u64).sum();
    let head = parts.head();
    assert_eq!(&head[head.len() - 4..], b"mdat");
    let mdat_size = u32::from_be_bytes(head[head.len() - 8..head.len() - 4].try_into().unwrap());
    assert_eq!(u64::from(mdat_size), payload + 8);
}

#[test]
fn payloads_share_the_frames_memory() {
    let (tracks, frames) = reordered_av();
    let parts = clip_parts(&tracks, &frames).unwrap();
    assert_eq!(parts.payloads().len(), frames.len());
    for (p, f) in parts.payloads().iter().zip(&frames) {
        assert_eq!(p.as_ptr(), f.data.as_ptr(), "payload copied, not shared");
        assert_eq!(p.len(), f.data.len());
    }
}

#[test]
fn parts_errors_match_clip() {
    let (tracks, frames) = reordered_av();
    assert_eq!(
        clip_parts(&tracks, &[]).unwrap_err(),
        clip(&tracks, &[]).unwrap_err()
    );
    assert_eq!(
        clip_parts(&tracks[1..], &frames).unwrap_err(),
        clip(&tracks[1..], &frames).unwrap_err()
    );
}
