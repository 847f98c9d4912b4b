//! The zip-format torch checkpoint reader (CAM++ and AASIST weights): zip
//! container walk + pickle VM.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = voiceprint_engine::torch_zip::parse_state_dict(data);
});
