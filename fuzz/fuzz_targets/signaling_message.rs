//! Feeds arbitrary text to the signaling message parsers (`Incoming` from the service, `Outgoing`
//! from clients): each must return a message or a typed error, never panic; and any message that
//! parses must serialize and parse back to the same value.

#![no_main]

use libfuzzer_sys::fuzz_target;

// kvs-webrtc's own source file, compiled here: the crate itself would bring the webrtc stack,
// the AWS SDK and an embedded kvs-local into the fuzz build (see ../Cargo.toml).
#[allow(dead_code)]
#[path = "../../crates/kvs-webrtc/src/signaling/message.rs"]
mod message;

use message::{Incoming, Outgoing};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // The panic messages leave the message out: it can be 10 KB; the input is in the artifact.
    if let Ok(message) = Incoming::from_json(text) {
        let json = message.to_json();
        let again = Incoming::from_json(&json)
            .unwrap_or_else(|e| panic!("an Incoming's own JSON does not parse: {e}"));
        assert!(
            again == message,
            "an Incoming's own JSON parses to another message"
        );
    }
    if let Ok(message) = Outgoing::from_json(text) {
        let json = message
            .to_json()
            .unwrap_or_else(|e| panic!("an Outgoing that parsed does not serialize: {e}"));
        let again = Outgoing::from_json(&json)
            .unwrap_or_else(|e| panic!("an Outgoing's own JSON does not parse: {e}"));
        assert!(
            again == message,
            "an Outgoing's own JSON parses to another message"
        );
    }
});
