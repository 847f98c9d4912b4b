//! Amazon Connect flow-language JSON: parse + validate (`Flow::from_json`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = voiceprint_flows::Flow::from_json(text);
});
