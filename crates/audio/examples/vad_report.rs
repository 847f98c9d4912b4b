//! Prints duration, net speech and speech segments for audio files, wideband and through
//! the simulated telephone channel: `cargo run -p voiceprint-audio --example vad_report -- FILES`.
//! A tuning aid for the voice-activity detector.

use std::path::Path;

use voiceprint_audio::{
    detect_speech, net_speech_seconds, prepare_file, simulate_telephone_channel,
};

fn main() {
    for arg in std::env::args().skip(1) {
        match prepare_file(Path::new(&arg)) {
            Ok(p) => {
                let phone =
                    net_speech_seconds(&detect_speech(&simulate_telephone_channel(&p.samples_16k)));
                let segments: Vec<String> = p
                    .speech
                    .iter()
                    .map(|r| format!("{:.2}-{:.2}", r.start as f64 / 16e3, r.end as f64 / 16e3))
                    .collect();
                println!(
                    "{arg}: {:.2} s, speech {:.2} s, telephone {:.2} s, dc {:+.3}, segments {}",
                    p.duration_seconds,
                    p.net_speech_seconds(),
                    phone,
                    p.dc_offset_removed,
                    segments.join(" ")
                );
            }
            Err(e) => println!("{arg}: error: {e}"),
        }
    }
}
