//! Shared by the engine's criterion benches: a real LibriSpeech utterance when
//! ../shared is present, else 10 s of a synthetic signal (with a note).

use std::path::PathBuf;

pub fn speech() -> Vec<f32> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/librispeech-251spk/1034-121119-0000.flac");
    if let Ok(mut reader) = claxon::FlacReader::open(&path) {
        let samples: Result<Vec<i32>, _> = reader.samples().collect();
        if let Ok(s) = samples {
            return s.into_iter().map(|x| x as f32 / 32768.0).collect();
        }
    }
    eprintln!(
        "note: {} not found; benchmarking 10 s of a synthetic signal",
        path.display()
    );
    (0..160_000)
        .map(|i| ((i as f32 * 0.031).sin() + (i as f32 * 0.0071).sin()) * 0.2)
        .collect()
}

/// The weights folder: `$VOICEPRINT_MODELS_DIR` or `<repo>/models`.
pub fn models_dir() -> PathBuf {
    std::env::var_os("VOICEPRINT_MODELS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models"))
}
