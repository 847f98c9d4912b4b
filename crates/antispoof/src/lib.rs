//! voiceprint-antispoof: the voice spoofing countermeasure behind Voice ID's
//! `VoiceSpoofingRisk.RiskScore`.
//!
//! What it does: runs two AASIST checkpoints (a pure-Rust port of the released
//! PyTorch model, see [`aasist`]) — clovaai's ASVspoof 2019 LA model and the
//! ASVspoof 5 baseline — over 64,600-sample windows of a call's 16 kHz audio,
//! averages each model's bona-fide-minus-spoof logit over the windows, fuses
//! the two with a logistic regression fitted on our own development spoofs
//! (docs/SPOOFING.md, scripts/spoof/) and reports the spoof probability as a
//! 0–100 risk score.
//!
//! What it does not: decode audio (callers pass 16 kHz samples from
//! `voiceprint-audio`), decide HIGH_RISK (the session's risk threshold lives in
//! `voiceid`; [`SpoofAssessment::is_high_risk`] is the comparison it uses), or
//! fetch weights (users download them; see docs/SPOOFING.md).
//!
//! Key decision: fuse both models instead of picking one. Measured on our
//! spoofs they fail on different attacks (the 2019 model misses modern
//! vocoders and flags telephone audio, the ASVspoof 5 model passes formant
//! TTS), so neither alone is usable; the fusion weights are data, fitted and
//! documented, not tuned by hand.

pub mod aasist;
pub mod config;
mod nn;

use std::path::{Path, PathBuf};

pub use aasist::Aasist;
pub use config::AasistConfig;

/// Everything that can go wrong in the countermeasure.
#[derive(Debug, thiserror::Error)]
pub enum AntispoofError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("model config: {0}")]
    Config(String),
    #[error("model weights: {0}")]
    Weights(String),
    #[error("invalid audio for the spoofing countermeasure: {0}")]
    InvalidInput(String),
}

/// Shortest audio scored (1 s). Shorter clips would be tiled more than four
/// times to fill a window, which the models never saw in training.
pub const MIN_SAMPLES: usize = 16_000;
/// Default cap on windows scored per call (spread evenly over the audio, see
/// [`window_starts`]). One window through both models costs about 1.5 CPU s
/// on the development machine (docs/SPOOFING.md), so two windows keep a call
/// of a minute or more within 5 % of one core.
pub const DEFAULT_MAX_WINDOWS: usize = 2;

/// Fusion and calibration: `logit P(spoof) = bias + w_2019·s_2019 + w_5·s_5`
/// where `s` is a model's mean (bona fide − spoof) logit over the windows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Calibration {
    pub bias: f32,
    pub weight_2019: f32,
    pub weight_asvspoof5: f32,
}

impl Calibration {
    /// Fitted by `scripts/spoof/evaluate.py` on the `fit` half of the development
    /// set of docs/SPOOFING.md (bona fide from shared/data and espeak-ng,
    /// Festival, WORLD and Griffin-Lim spoofs, 16 kHz and 8 kHz μ-law pooled;
    /// one centred window per file). The ASVspoof 5 weight fitted positive
    /// (that model scores old-style TTS as very genuine), and a model's bona
    /// fide evidence must never raise the risk, so it is held at 0 until
    /// development data with modern clones is available: refit then.
    pub const FITTED: Calibration = Calibration {
        bias: -1.057_51,
        weight_2019: -0.322_922,
        weight_asvspoof5: 0.0,
    };

    /// Spoof probability for the two model scores.
    pub fn spoof_probability(&self, score_2019: f32, score_asvspoof5: f32) -> f32 {
        let z = self.bias + self.weight_2019 * score_2019 + self.weight_asvspoof5 * score_asvspoof5;
        1.0 / (1.0 + (-z).exp())
    }
}

/// The countermeasure's verdict on one call or recording.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpoofAssessment {
    /// `VoiceSpoofingRisk.RiskScore`: round(100 · P(spoof)), 0..=100.
    pub risk_score: u8,
    /// Calibrated probability that the audio is synthetic or converted.
    pub spoof_probability: f32,
    /// ASVspoof 2019 LA model: mean (bona fide − spoof) logit; higher is more genuine.
    pub score_2019: f32,
    /// ASVspoof 5 model: mean (bona fide − spoof) logit; higher is more genuine.
    pub score_asvspoof5: f32,
    /// Windows scored.
    pub windows: usize,
}

impl SpoofAssessment {
    /// Voice ID's rule: the fraud result is HIGH_RISK with reason VOICE_SPOOFING
    /// when the risk score reaches the session's risk threshold.
    pub fn is_high_risk(&self, risk_threshold: u8) -> bool {
        self.risk_score >= risk_threshold
    }
}

/// Both countermeasure models plus their fusion. Immutable: `Send + Sync`,
/// share it behind an `Arc` and call it from any thread.
#[derive(Debug, Clone)]
pub struct SpoofDetector {
    la2019: Aasist,
    asvspoof5: Aasist,
    calibration: Calibration,
    max_windows: usize,
}

/// File names as released: clovaai/aasist `models/weights/` + `config/`, and
/// the ASVspoof 5 `Baseline-AASIST` checkpoint with its config.
/// Sub-directories of a models directory (see [`SpoofDetector::load_dir`]).
pub const DIR_2019: &str = "aasist";
pub const DIR_ASVSPOOF5: &str = "aasist-asvspoof5";
const FILES_2019: (&str, &str) = ("AASIST.conf", "AASIST.pth");
const FILES_ASVSPOOF5: (&str, &str) = ("AASIST_ASVspoof5.conf", "AASIST-ASVspoof5.pth");

impl SpoofDetector {
    /// Loads `AASIST.conf` + `AASIST.pth` from `dir_2019` and
    /// `AASIST_ASVspoof5.conf` + `AASIST-ASVspoof5.pth` from `dir_asvspoof5`
    /// (a directory holding exactly one `.conf` and one `.pth` also works).
    pub fn load(dir_2019: &Path, dir_asvspoof5: &Path) -> Result<Self, AntispoofError> {
        let (c, w) = model_files(dir_2019, FILES_2019)?;
        let la2019 = Aasist::load(&c, &w)?;
        let (c, w) = model_files(dir_asvspoof5, FILES_ASVSPOOF5)?;
        let asvspoof5 = Aasist::load(&c, &w)?;
        Ok(Self::from_models(la2019, asvspoof5))
    }

    /// Loads from one models directory laid out as `<dir>/aasist/` and
    /// `<dir>/aasist-asvspoof5/` (the server's `[antispoof] models_dir`).
    pub fn load_dir(models_dir: &Path) -> Result<Self, AntispoofError> {
        Self::load(&models_dir.join(DIR_2019), &models_dir.join(DIR_ASVSPOOF5))
    }

    /// Two already-loaded models with the fitted calibration.
    pub fn from_models(la2019: Aasist, asvspoof5: Aasist) -> Self {
        SpoofDetector {
            la2019,
            asvspoof5,
            calibration: Calibration::FITTED,
            max_windows: DEFAULT_MAX_WINDOWS,
        }
    }

    pub fn with_calibration(mut self, calibration: Calibration) -> Self {
        self.calibration = calibration;
        self
    }

    /// Caps the windows scored per call (at least 1).
    pub fn with_max_windows(mut self, max_windows: usize) -> Self {
        self.max_windows = max_windows.max(1);
        self
    }

    /// The ASVspoof 2019 LA model (for per-model evaluation).
    pub fn model_2019(&self) -> &Aasist {
        &self.la2019
    }

    /// The ASVspoof 5 model (for per-model evaluation).
    pub fn model_asvspoof5(&self) -> &Aasist {
        &self.asvspoof5
    }

    pub fn calibration(&self) -> Calibration {
        self.calibration
    }

    /// Scores a call's 16 kHz mono audio (at least [`MIN_SAMPLES`]).
    pub fn risk_score(&self, samples_16k: &[f32]) -> Result<SpoofAssessment, AntispoofError> {
        let score_2019 = model_score(&self.la2019, samples_16k, self.max_windows)?;
        let score_asvspoof5 = model_score(&self.asvspoof5, samples_16k, self.max_windows)?;
        Ok(self.assess(
            score_2019,
            score_asvspoof5,
            window_starts(
                samples_16k.len(),
                self.la2019.window_len(),
                self.max_windows,
            )
            .len(),
        ))
    }

    /// Fuses two model scores into an assessment (no audio involved).
    pub fn assess(&self, score_2019: f32, score_asvspoof5: f32, windows: usize) -> SpoofAssessment {
        let p = self
            .calibration
            .spoof_probability(score_2019, score_asvspoof5);
        SpoofAssessment {
            risk_score: (p * 100.0).round().clamp(0.0, 100.0) as u8,
            spoof_probability: p,
            score_2019,
            score_asvspoof5,
            windows,
        }
    }
}

fn model_files(
    dir: &Path,
    (conf, pth): (&str, &str),
) -> Result<(PathBuf, PathBuf), AntispoofError> {
    let (c, w) = (dir.join(conf), dir.join(pth));
    if c.is_file() && w.is_file() {
        return Ok((c, w));
    }
    let entries = std::fs::read_dir(dir).map_err(|e| AntispoofError::Io {
        path: dir.to_owned(),
        source: e,
    })?;
    let mut confs = Vec::new();
    let mut pths = Vec::new();
    for entry in entries.flatten() {
        let p = entry.path();
        match p.extension().and_then(|e| e.to_str()) {
            Some("conf") => confs.push(p),
            Some("pth") => pths.push(p),
            _ => {}
        }
    }
    match (confs.as_slice(), pths.as_slice()) {
        ([c], [w]) => Ok((c.clone(), w.clone())),
        _ => Err(AntispoofError::Weights(format!(
            "{}: expected {conf} and {pth} (or exactly one .conf and one .pth); see docs/SPOOFING.md for where to get them",
            dir.display()
        ))),
    }
}

/// Start offsets of the windows scored for `len` samples: windows of `win`
/// samples spread evenly from the start to the end of the audio (overlapping
/// a little so the last one ends exactly at the end), at most `max_windows`.
/// Audio shorter than a window gives one window at 0 (it is tiled, see
/// [`window_samples`]).
pub fn window_starts(len: usize, win: usize, max_windows: usize) -> Vec<usize> {
    if len <= win {
        return vec![0];
    }
    let n = len.div_ceil(win).min(max_windows.max(1));
    if n == 1 {
        // Capped at one: the middle of the call.
        return vec![(len - win) / 2];
    }
    let span = len - win;
    (0..n).map(|i| i * span / (n - 1)).collect()
}

/// The window starting at `start`; audio shorter than a window is repeated
/// until it fills one, as upstream's evaluation loader does.
pub fn window_samples(samples: &[f32], start: usize, win: usize) -> Vec<f32> {
    if samples.len() >= start + win {
        return samples[start..start + win].to_vec();
    }
    samples.iter().copied().cycle().take(win).collect()
}

/// Mean (bona fide − spoof) logit of one model over the call's windows.
pub fn model_score(
    model: &Aasist,
    samples_16k: &[f32],
    max_windows: usize,
) -> Result<f32, AntispoofError> {
    if samples_16k.len() < MIN_SAMPLES {
        return Err(AntispoofError::InvalidInput(format!(
            "{} samples; at least {MIN_SAMPLES} (1 s at 16 kHz) are needed",
            samples_16k.len()
        )));
    }
    if let Some(i) = samples_16k.iter().position(|v| !v.is_finite()) {
        return Err(AntispoofError::InvalidInput(format!(
            "sample {i} is not a finite number"
        )));
    }
    let win = model.window_len();
    let starts = window_starts(samples_16k.len(), win, max_windows);
    let mut sum = 0.0f32;
    for &s in &starts {
        let [spoof, bona] = model.logits(&window_samples(samples_16k, s, win))?;
        sum += bona - spoof;
    }
    Ok(sum / starts.len() as f32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_cover_the_call_and_respect_the_cap() {
        assert_eq!(window_starts(10, 100, 8), vec![0]);
        assert_eq!(window_starts(100, 100, 8), vec![0]);
        // 2.5 windows of audio → 3 windows, first at 0, last ending at the end.
        let s = window_starts(250, 100, 8);
        assert_eq!(s, vec![0, 75, 150]);
        // Long call, cap 4: evenly spread, still reaching the end.
        let s = window_starts(10_000, 100, 4);
        assert_eq!(s.len(), 4);
        assert_eq!(*s.last().unwrap(), 9_900);
        assert_eq!(window_starts(10_000, 100, 1), vec![4_950]);
    }

    #[test]
    fn short_audio_is_tiled_like_upstream() {
        let x = [1.0, 2.0, 3.0];
        assert_eq!(
            window_samples(&x, 0, 7),
            vec![1.0, 2.0, 3.0, 1.0, 2.0, 3.0, 1.0]
        );
        assert_eq!(window_samples(&[1.0, 2.0, 3.0, 4.0], 1, 2), vec![2.0, 3.0]);
    }

    #[test]
    fn calibration_maps_genuine_scores_low_and_spoof_scores_high() {
        let c = Calibration::FITTED;
        // Both models confident bona fide → low risk; both confident spoof → high.
        assert!(c.spoof_probability(8.0, 8.0) < 0.1);
        assert!(c.spoof_probability(-12.0, -12.0) > 0.9);
        // Never does a more genuine-looking score raise the risk.
        assert!(c.weight_2019 <= 0.0 && c.weight_asvspoof5 <= 0.0);
        assert!(c.spoof_probability(1.0, 0.0) <= c.spoof_probability(0.0, 0.0));
    }

    #[test]
    fn high_risk_is_risk_score_at_or_above_threshold() {
        let a = SpoofAssessment {
            risk_score: 90,
            spoof_probability: 0.9,
            score_2019: -1.0,
            score_asvspoof5: -1.0,
            windows: 1,
        };
        assert!(a.is_high_risk(90));
        assert!(a.is_high_risk(50));
        assert!(!a.is_high_risk(91));
    }

    #[test]
    fn missing_model_directory_is_a_typed_error() {
        let err = SpoofDetector::load(Path::new("/nonexistent/a"), Path::new("/nonexistent/b"))
            .unwrap_err();
        assert!(matches!(err, AntispoofError::Io { .. }), "{err}");
    }
}
