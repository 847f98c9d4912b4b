//! Live-audio WebSocket text frames: the native protocol's format/stop frames
//! and Twilio Media Streams messages. First byte: which parser.
#![no_main]

use libfuzzer_sys::fuzz_target;
use voiceprint_server::stream::{native, twilio};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, bytes)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    match selector % 3 {
        0 => drop(native::parse_text(text, false)),
        1 => drop(native::parse_text(text, true)),
        _ => drop(twilio::parse(text)),
    }
});
