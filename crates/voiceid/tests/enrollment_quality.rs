//! Enrollment quality's multiple-voices detector on real speech (issue 9): the
//! default thresholds pass single-speaker LibriSpeech recordings and catch the
//! same recordings concatenated pairwise across speakers (A then B).
//!
//! Needs `../shared/data/librispeech-251spk` and the CAM++ weights; skips with a
//! message when either is missing. The full measurement (all 251 speakers, and
//! 30 s single/two-speaker digit enrollments) is the `enrollment_quality` example;
//! numbers in docs/ENROLLMENT-QUALITY.md.

use std::path::{Path, PathBuf};

use voiceprint_voiceid::quality::{
    assess, measure_voice_consistency, EnrollmentQualitySettings, QualityReason,
};
use voiceprint_voiceid::Biometrics;

/// Recordings in the sample (the first ones by name).
const SAMPLE: usize = 24;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn flagged(settings: &EnrollmentQualitySettings, bio: &Biometrics, speech: &[f32]) -> bool {
    let v = measure_voice_consistency(bio, speech).expect("embeds");
    assess(settings, None, v.as_ref())
        .iter()
        .any(|f| f.reason == QualityReason::MultipleVoices)
}

#[test]
fn multiple_voices_detector_on_librispeech_pairs() {
    let data = repo().join("../shared/data/librispeech-251spk");
    let models = std::env::var_os("VOICEPRINT_MODELS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("models"));
    if !data.is_dir() {
        eprintln!("skipping: {} not found (development data)", data.display());
        return;
    }
    if !models.join("campplus/campplus_cn_en_common.pt").is_file() {
        eprintln!("skipping: CAM++ weights not found (run scripts/fetch-models.sh)");
        return;
    }
    let bio = Biometrics::load(&models, "campplus", 2).expect("model loads");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&data)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "flac"))
        .collect();
    files.sort();
    files.truncate(SAMPLE);
    let speech: Vec<Vec<f32>> = files
        .iter()
        .map(|f| voiceprint_audio::prepare_file(f).unwrap().speech_samples())
        .collect();
    let settings = EnrollmentQualitySettings::default();
    let (mut singles, mut false_flags, mut pairs, mut detected) = (0, 0, 0, 0);
    for (i, s) in speech.iter().enumerate() {
        if s.len() >= 16_000 * 4 {
            singles += 1;
            false_flags += usize::from(flagged(&settings, &bio, s));
        }
        let mut pair = s.clone();
        pair.extend_from_slice(&speech[(i + 1) % speech.len()]);
        pairs += 1;
        detected += usize::from(flagged(&settings, &bio, &pair));
    }
    eprintln!(
        "single speaker: {false_flags}/{singles} flagged; two speakers: {detected}/{pairs} flagged"
    );
    // Measured on all 251: no single flagged, 89 % of pairs caught.
    assert_eq!(false_flags, 0, "single-speaker recordings flagged");
    assert!(
        detected * 100 >= pairs * 75,
        "only {detected}/{pairs} two-speaker recordings caught"
    );
}
