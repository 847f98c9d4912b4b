//! GE2E parity with the reference Resemblyzer implementation: for every 16 kHz
//! file in `../shared/reference/resemblyzer-embeddings.json`, our embedding of
//! the raw samples (no DC removal, no trimming) must reach cosine ≥ 0.999 with
//! `embedding_of_raw_16k_samples`. Skips when ../shared or the weights are absent.

use std::path::{Path, PathBuf};

use voiceprint_engine::ge2e::{Ge2e, Precision};
use voiceprint_engine::Embedder;

mod common;
use common::{cosine, ge2e_weights};

fn shared_dir() -> Option<PathBuf> {
    common::shared_dir_with("reference/resemblyzer-embeddings.json")
}

/// 16 kHz FLAC as soundfile/librosa read it.
fn read_flac_16k(path: &Path) -> Vec<f32> {
    let (rate, samples) = common::read_flac(path);
    assert_eq!(rate, 16_000, "{}", path.display());
    samples
}

#[test]
fn ge2e_f32_matches_resemblyzer_on_16k_files() {
    check_parity(Precision::F32);
}

/// The default on CPUs with AVX-512 BF16; elsewhere this repeats the f32 check.
#[test]
fn ge2e_fastest_precision_matches_resemblyzer_on_16k_files() {
    check_parity(Precision::fastest_supported());
}

fn check_parity(precision: Precision) {
    let (Some(shared), Some(weights)) = (shared_dir(), ge2e_weights()) else {
        return;
    };
    let mut model = Ge2e::load(&weights).expect("load GE2E");
    let precision = model.set_precision(precision);
    let json: serde_json::Value = serde_json::from_slice(
        &std::fs::read(shared.join("reference/resemblyzer-embeddings.json")).unwrap(),
    )
    .unwrap();
    let mut checked = 0;
    for (rel, entry) in json.as_object().expect("json object") {
        if !rel.ends_with(".flac") {
            continue; // the 8 kHz WAVs were resampled by librosa/soxr; not a model-parity case
        }
        let reference: Vec<f32> = entry["embedding_of_raw_16k_samples"]
            .as_array()
            .expect("embedding array")
            .iter()
            .map(|v| v.as_f64().unwrap() as f32)
            .collect();
        let samples = read_flac_16k(&shared.join("data").join(rel));
        let ours = model.embed(&samples).expect("embed");
        assert_eq!(ours.len(), model.dim());
        let cos = cosine(&ours, &reference);
        eprintln!("{precision:?} {rel}: cosine {cos:.6}");
        assert!(cos >= 0.999, "{rel}: cosine {cos} < 0.999");
        checked += 1;
    }
    assert!(checked >= 6, "only {checked} 16 kHz files in the oracle");
}
