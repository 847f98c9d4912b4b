//! The legacy (pre-1.6) torch checkpoint reader: pickle VM + raw storages
//! (GE2E/Resemblyzer weights).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = voiceprint_engine::torch_legacy::parse_state_dict(data);
});
