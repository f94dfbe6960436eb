//! Feeds arbitrary bytes to the reader of Rekognition stream processor records (Kinesis data
//! stream records): it must return a record or a typed error, never panic, and what the reader
//! does next with a record (its matches and their times) must not panic either.

#![no_main]

use libfuzzer_sys::fuzz_target;

// kvs-rekognition's own source file, compiled here: the crate itself would bring the AWS SDK and
// an embedded kvs-local into the fuzz build (see ../Cargo.toml).
#[allow(dead_code)]
#[path = "../../crates/kvs-rekognition/src/record.rs"]
mod record;

fuzz_target!(|data: &[u8]| {
    let Ok(record) = record::parse_record(data) else {
        return;
    };
    if let Some(video) = record.kinesis_video() {
        let _ = video.frame_time();
    }
    for m in record.matches() {
        let _ = (m.frame_time(), m.server_frame_time(), m.who());
    }
});
