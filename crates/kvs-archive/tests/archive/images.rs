use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kvs_archive::{Clock, StillFormat};

use crate::support::Recording;

/// Width and height from a JPEG's start-of-frame segment.
fn jpeg_size(jpeg: &[u8]) -> Option<(u16, u16)> {
    let mut i = 2;
    while i + 9 < jpeg.len() {
        if jpeg[i] != 0xFF {
            return None;
        }
        let marker = jpeg[i + 1];
        let len = usize::from(u16::from_be_bytes([jpeg[i + 2], jpeg[i + 3]]));
        if (0xC0..=0xC3).contains(&marker) {
            let height = u16::from_be_bytes([jpeg[i + 5], jpeg[i + 6]]);
            let width = u16::from_be_bytes([jpeg[i + 7], jpeg[i + 8]]);
            return Some((width, height));
        }
        i += 2 + len;
    }
    None
}

fn ms(t: SystemTime) -> u128 {
    (t.duration_since(UNIX_EPOCH).unwrap().as_micros() + 500) / 1000
}

#[tokio::test]
async fn images_are_scaled_jpegs_of_the_range() {
    let rec = Recording::new(5).await;
    let stills = rec
        .archive()
        .images(&rec.stream, rec.range(1.0, 3.0))
        .clock(Clock::Producer)
        .every(Duration::from_millis(500))
        .format(StillFormat::Jpeg(80))
        .width(32)
        .fetch()
        .await
        .unwrap();
    assert!((4..=5).contains(&stills.len()), "{} stills", stills.len());
    for pair in stills.windows(2) {
        assert!(pair[0].timestamp < pair[1].timestamp);
    }
    for still in &stills {
        // Timestamps travel as floating-point seconds: compare whole milliseconds.
        let at = ms(still.timestamp);
        assert!(
            (ms(rec.at(1.0))..=ms(rec.at(3.0))).contains(&at),
            "{:?} is outside the range",
            still.timestamp
        );
        let jpeg = still
            .image
            .as_ref()
            .unwrap_or_else(|e| panic!("no image: {e}"));
        assert_eq!(&jpeg[..2], &[0xFF, 0xD8], "a JPEG starts with SOI");
        assert_eq!(&jpeg[jpeg.len() - 2..], &[0xFF, 0xD9], "and ends with EOI");
        assert_eq!(jpeg_size(jpeg), Some((32, 24)), "scaled to 32 px wide");
    }
}
