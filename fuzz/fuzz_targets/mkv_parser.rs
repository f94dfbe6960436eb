//! Feeds arbitrary bytes to the MKV parser in arbitrary chunk sizes: it must return events or
//! a typed error, never panic, hang or grow without bound.

#![no_main]

use kvs_mkv::{Limits, Parser};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&chunk, rest)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(chunk).max(1);
    let mut parser = Parser::with_limits(Limits {
        max_element_size: 1 << 20,
        ..Limits::default()
    });
    for piece in rest.chunks(chunk) {
        parser.feed(piece);
        loop {
            match parser.next_event() {
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(_) => return,
            }
        }
        assert!(parser.buffered() <= rest.len());
    }
    let _ = parser.finish();
});
