//! Prints the measured high-band ratio (dB) and narrowband degree of audio files: the
//! channel measurement the fused system weights its models by (docs/CALIBRATION.md).
//!
//! `cargo run --release -p voiceprint-engine --example bandwidth -- FILES...`

fn main() {
    for path in std::env::args().skip(1) {
        match voiceprint_audio::prepare_file(std::path::Path::new(&path)) {
            Ok(p) => {
                let speech = p.speech_samples();
                println!(
                    "{path}\t{:.1} dB (whole file {:.1} dB)\tnarrowband {:.2}",
                    voiceprint_engine::fusion::high_band_ratio_db(&speech),
                    voiceprint_engine::fusion::high_band_ratio_db(&p.samples_16k),
                    voiceprint_engine::fusion::narrowband_degree(&speech)
                );
            }
            Err(e) => println!("{path}\terror: {e}"),
        }
    }
}
