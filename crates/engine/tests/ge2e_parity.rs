//! GE2E parity with the reference Resemblyzer implementation: for every 16 kHz
//! file in `../shared/reference/resemblyzer-embeddings.json`, our embedding of
//! the raw samples (no DC removal, no trimming) must reach cosine ≥ 0.999 with
//! `embedding_of_raw_16k_samples`. Skips when ../shared or the weights are absent.

use std::path::{Path, PathBuf};

use voiceprint_engine::ge2e::{Ge2e, Precision};
use voiceprint_engine::Embedder;

fn shared_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared");
    if dir.join("reference/resemblyzer-embeddings.json").is_file() {
        Some(dir)
    } else {
        eprintln!(
            "skipping: {} not found",
            dir.join("reference/resemblyzer-embeddings.json").display()
        );
        None
    }
}

fn ge2e_weights() -> Option<PathBuf> {
    let dir = std::env::var_os("VOICEPRINT_MODELS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models"));
    let path = dir.join("ge2e/pretrained.pt");
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

/// 16-bit FLAC to f32 in [-1, 1) exactly as soundfile/librosa read it.
fn read_flac_16k(path: &Path) -> Vec<f32> {
    let mut reader =
        claxon::FlacReader::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let info = reader.streaminfo();
    assert_eq!(info.sample_rate, 16_000, "{}", path.display());
    assert_eq!(info.channels, 1, "{}", path.display());
    let scale = 1.0 / (1u32 << (info.bits_per_sample - 1)) as f32;
    reader
        .samples()
        .map(|s| s.expect("flac sample") as f32 * scale)
        .collect()
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (na * nb)
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
