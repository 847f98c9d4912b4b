//! The AASIST `.conf` reader (architecture JSON shipped next to the weights),
//! including the derived sizes it computes from a validated config.
#![no_main]

use libfuzzer_sys::fuzz_target;
use voiceprint_antispoof::AasistConfig;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(config) = AasistConfig::from_json(text) {
        let _ = config.kernel_size();
        let _ = config.sinc_filters();
    }
});
