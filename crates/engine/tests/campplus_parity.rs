//! CAM++ parity with the official 3D-Speaker PyTorch implementation: for every
//! file in `../shared/reference/campplus-embeddings.json`, our embedding of the
//! file's samples must reach cosine ≥ 0.999 with `embedding_of_raw_16k_samples`
//! and produce `fbank_frames` frames. 16 kHz FLACs are read exactly as
//! soundfile reads them; the 8 kHz WAVs (under 100 frames, where the CAM
//! segment pooling's ceil mode matters) are resampled with sox's HQ resampler
//! (the reference used librosa's soxr_hq; skipped if sox is missing), and the
//! cosine through voiceprint-audio's own resampler is printed for information.
//! Skips when ../shared or the weights are absent.
//!
//! Also: the weight reader turns missing and wrong files into
//! `EngineError::Weights`.

use std::path::{Path, PathBuf};

use voiceprint_engine::campplus::CamPlusPlus;
use voiceprint_engine::fbank::KaldiFbank;
use voiceprint_engine::{Embedder, EngineError};

mod common;
use common::{campplus_weights, cosine, models_dir, read_flac};

fn shared_dir() -> Option<PathBuf> {
    common::shared_dir_with("reference/campplus-embeddings.json")
}

/// Mono 16-bit PCM WAV to f32 in [-1, 1).
fn read_wav_pcm16(path: &Path) -> (u32, Vec<f32>) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(&bytes[..4], b"RIFF", "{}", path.display());
    let mut at = 12;
    let mut rate = 0;
    loop {
        let id = &bytes[at..at + 4];
        let len = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap()) as usize;
        let body = &bytes[at + 8..(at + 8 + len).min(bytes.len())];
        if id == b"fmt " {
            assert_eq!(u16::from_le_bytes([body[0], body[1]]), 1, "PCM");
            assert_eq!(u16::from_le_bytes([body[2], body[3]]), 1, "mono");
            assert_eq!(u16::from_le_bytes([body[14], body[15]]), 16, "16-bit");
            rate = u32::from_le_bytes(body[4..8].try_into().unwrap());
        } else if id == b"data" {
            let samples = body
                .chunks_exact(2)
                .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0)
                .collect();
            return (rate, samples);
        }
        at += 8 + len + (len & 1);
    }
}

/// The file resampled to 16 kHz by sox's high-quality resampler (libsoxr's
/// HQ, the one librosa's default `soxr_hq` uses), as f32; None (with a
/// message) when sox is not installed.
fn sox_hq_16k(path: &Path) -> Option<Vec<f32>> {
    let out = std::process::Command::new("sox")
        .arg(path)
        .args([
            "-e",
            "floating-point",
            "-b",
            "32",
            "-t",
            "raw",
            "-",
            "rate",
            "-h",
            "16000",
        ])
        .output();
    match out {
        Ok(o) if o.status.success() => Some(
            o.stdout
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
        ),
        _ => {
            eprintln!(
                "skipping {}: sox not available to resample it",
                path.display()
            );
            None
        }
    }
}

#[test]
fn campplus_matches_3d_speaker_reference() {
    let (Some(shared), Some(weights)) = (shared_dir(), campplus_weights()) else {
        return;
    };
    let model = CamPlusPlus::load(&weights).expect("load CAM++");
    assert_eq!(model.dim(), 192);
    assert_eq!(model.model_id(), "campplus");
    let json: serde_json::Value = serde_json::from_slice(
        &std::fs::read(shared.join("reference/campplus-embeddings.json")).unwrap(),
    )
    .unwrap();
    let mut checked = 0;
    for (rel, entry) in json.as_object().expect("json object") {
        let reference: Vec<f32> = entry["embedding_of_raw_16k_samples"]
            .as_array()
            .expect("embedding array")
            .iter()
            .map(|v| v.as_f64().unwrap() as f32)
            .collect();
        let path = shared.join("data").join(rel);
        let (rate, samples) = if rel.ends_with(".flac") {
            read_flac(&path)
        } else {
            read_wav_pcm16(&path)
        };
        let samples = if rate == 16_000 {
            samples
        } else {
            let ours = voiceprint_audio::resample(&samples, rate, 16_000).expect("resample");
            let e = model.embed(&ours).expect("embed");
            eprintln!(
                "{rel}: through voiceprint-audio's resampler (not librosa's): cosine {:.6}",
                cosine(&e, &reference)
            );
            match sox_hq_16k(&path) {
                Some(s) => s,
                None => continue,
            }
        };
        let frames = KaldiFbank::num_frames(samples.len());
        let ours = model.embed(&samples).expect("embed");
        assert_eq!(ours.len(), 192);
        let cos = cosine(&ours, &reference);
        eprintln!(
            "{rel}: {rate} Hz, {} samples at 16 kHz (reference {}), {frames} frames: cosine {cos:.6}",
            samples.len(),
            entry["samples_16k"]
        );
        {
            assert_eq!(
                frames as u64,
                entry["fbank_frames"].as_u64().unwrap(),
                "{rel}: frame count"
            );
        }
        assert!(cos >= 0.999, "{rel}: cosine {cos} < 0.999");
        checked += 1;
    }
    assert!(checked >= 6, "only {checked} files checked");
}

#[test]
fn missing_weight_file_is_a_weights_error() {
    let err = CamPlusPlus::load(Path::new("/nonexistent/campplus.pt")).unwrap_err();
    assert!(matches!(err, EngineError::Weights(_)), "{err:?}");
}

#[test]
fn wrong_weight_file_is_a_weights_error() {
    let dir = std::env::temp_dir().join(format!("campplus-wrong-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let not_zip = dir.join("not-a-checkpoint.pt");
    std::fs::write(&not_zip, b"this is not a torch checkpoint").unwrap();
    let err = CamPlusPlus::load(&not_zip).unwrap_err();
    assert!(matches!(err, EngineError::Weights(_)), "{err:?}");

    // A real torch file of a different model (GE2E, legacy format) is refused too.
    let ge2e = models_dir().join("ge2e/pretrained.pt");
    if ge2e.is_file() {
        let err = CamPlusPlus::load(&ge2e).unwrap_err();
        assert!(matches!(err, EngineError::Weights(_)), "{err:?}");
    }

    // A truncated copy of the real checkpoint.
    if let Some(weights) = campplus_weights() {
        let bytes = std::fs::read(&weights).unwrap();
        let cut = dir.join("truncated.pt");
        std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
        let err = CamPlusPlus::load(&cut).unwrap_err();
        assert!(matches!(err, EngineError::Weights(_)), "{err:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn too_short_input_is_a_typed_error() {
    let Some(weights) = campplus_weights() else {
        return;
    };
    let model = CamPlusPlus::load(&weights).expect("load CAM++");
    for n in [0, 399, 600] {
        let err = model.embed(&vec![0.1; n]).unwrap_err();
        assert!(matches!(err, EngineError::TooShort(_)), "{n}: {err:?}");
    }
    // Three frames is the minimum that pools to a defined std.
    assert_eq!(KaldiFbank::num_frames(720), 3);
    let tone: Vec<f32> = (0..720).map(|i| (i as f32 * 0.3).sin() * 0.1).collect();
    let e = model.embed(&tone).expect("3 frames embed");
    assert!(e.iter().all(|v| v.is_finite()));
}
