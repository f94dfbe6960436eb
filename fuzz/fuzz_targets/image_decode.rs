//! Feeds arbitrary bytes to the image decoder (JPEG, PNG, EXIF orientation) that reads users'
//! uploads: it must return an image or a typed error, never panic. libfuzzer-sys aborts on any
//! panic, so one that `decode_image`'s own `catch_unwind` would have turned into an error still
//! counts as a crash here.

#![no_main]

use kvs_faces::decode_image;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(image) = decode_image(data) {
        let pixels = u64::from(image.width) * u64::from(image.height);
        assert!(pixels > 0 && pixels <= kvs_faces::MAX_PIXELS);
        assert_eq!(image.data.len() as u64, pixels * 3);
    }
});
