//! Helpers shared by the engine's integration tests: where ../shared and the
//! fetched weights are (with a printed skip when absent), reading the oracle
//! files exactly as the Python references did, and cosine similarity.
#![allow(dead_code)] // each test binary uses a subset

use std::path::{Path, PathBuf};

/// `../shared` (or `$VOICEPRINT_SHARED`) when `oracle` (relative to it) exists;
/// otherwise prints why the test is skipped.
pub fn shared_dir_with(oracle: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("VOICEPRINT_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"));
    let path = dir.join(oracle);
    if path.is_file() {
        Some(dir)
    } else {
        eprintln!("skipping: {} not found", path.display());
        None
    }
}

/// The weights folder: `$VOICEPRINT_MODELS_DIR` or `<repo>/models`.
pub fn models_dir() -> PathBuf {
    std::env::var_os("VOICEPRINT_MODELS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models"))
}

/// A weight file under the models folder, or a printed skip when not fetched.
pub fn weights(relative: &str) -> Option<PathBuf> {
    let path = models_dir().join(relative);
    if path.is_file() {
        Some(path)
    } else {
        eprintln!(
            "skipping: {} not found (run scripts/fetch-models.sh)",
            path.display()
        );
        None
    }
}

pub fn ge2e_weights() -> Option<PathBuf> {
    weights("ge2e/pretrained.pt")
}

pub fn campplus_weights() -> Option<PathBuf> {
    weights("campplus/campplus_cn_en_common.pt")
}

/// Mono 16-bit FLAC to (rate, f32 in [-1, 1)) exactly as soundfile/librosa read it.
pub fn read_flac(path: &Path) -> (u32, Vec<f32>) {
    let mut reader =
        claxon::FlacReader::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let info = reader.streaminfo();
    assert_eq!(info.channels, 1, "{}", path.display());
    let scale = 1.0 / (1u32 << (info.bits_per_sample - 1)) as f32;
    let samples = reader
        .samples()
        .map(|s| s.expect("flac sample") as f32 * scale)
        .collect();
    (info.sample_rate, samples)
}

pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (na * nb)
}
