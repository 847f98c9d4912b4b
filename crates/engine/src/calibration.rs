//! Maps raw scores (cosine, or S-normed cosine) to a 0–100 score whose thresholds mean
//! something, in the spirit of Amazon Connect Voice ID: **90** is the default
//! authentication threshold ("high security": at most 1 % false acceptance on the
//! development sets) and **50** the default fraud-risk threshold (about the equal-error
//! point).
//!
//! The map is a logistic curve `100 / (1 + exp(-k·(raw − raw_at_50)))` with
//! `k = ln 9 / (raw_at_90 − raw_at_50)`, so it is strictly increasing, stays in [0, 100]
//! and hits exactly 50 and 90 at the two fitted raw thresholds. The two anchors are the
//! constants: they read directly as "the raw cosine at which we say 50 / 90".
//!
//! [`fit`] derives them from development trial lists: `raw_at_90` is the highest of the
//! per-list 1 %-FAR thresholds (so every list, 16 kHz and 8 kHz μ-law alike, keeps FAR
//! ≤ 1 % at 90) and `raw_at_50` the mean of the per-list EER thresholds. Refit with
//! `voiceprint calibrate` (see docs/CALIBRATION.md).

use crate::metrics::ScoreSet;
use crate::EngineError;

/// Which raw score a calibration applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScoreKind {
    /// Plain cosine similarity between voiceprint and test embedding.
    Cosine,
    /// Adaptive S-norm of the cosine against an impostor cohort.
    SNorm,
    /// Fused log-likelihood ratio of several models (`crate::fusion`), calibrated per channel.
    Fused,
    /// Fused log-likelihood ratio of adaptive S-normed model scores (a domain cohort).
    FusedSNorm,
}

impl std::fmt::Display for ScoreKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ScoreKind::Cosine => "cosine",
            ScoreKind::SNorm => "s-norm",
            ScoreKind::Fused => "fused",
            ScoreKind::FusedSNorm => "fused-s-norm",
        })
    }
}

/// Default authentication threshold on the 0–100 scale.
pub const AUTHENTICATION_THRESHOLD: f64 = 90.0;
/// Default fraud-risk threshold on the 0–100 scale.
pub const FRAUD_RISK_THRESHOLD: f64 = 50.0;
/// FAR the 90 anchor is fitted for.
pub const TARGET_FAR_AT_90: f64 = 0.01;

/// ln(0.9 / 0.1): the logit of 90 %.
const LOGIT_90: f64 = 2.197_224_577_336_219_6;

/// A fitted raw → 0–100 map.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Calibration {
    /// Raw score that maps to 50.
    pub raw_at_50: f64,
    /// Raw score that maps to 90; always greater than `raw_at_50`.
    pub raw_at_90: f64,
}

impl Calibration {
    /// Validates the anchors.
    pub fn new(raw_at_50: f64, raw_at_90: f64) -> Result<Self, EngineError> {
        if !(raw_at_50.is_finite() && raw_at_90.is_finite() && raw_at_90 > raw_at_50) {
            return Err(EngineError::Calibration(format!(
                "need finite anchors with raw_at_90 > raw_at_50 (got {raw_at_50}, {raw_at_90})"
            )));
        }
        Ok(Self { raw_at_50, raw_at_90 })
    }

    /// Shipped constants for a model and score kind, or `None` for an unknown model.
    ///
    /// Fitted with `scripts/make-trials.py` + `voiceprint calibrate` on the development
    /// lists AudioMNIST-AZ 16 kHz, the same through the simulated 8 kHz μ-law channel,
    /// and FSDD 8 kHz (see docs/CALIBRATION.md for the commands and the resulting
    /// operating points).
    pub fn for_model(model: &str, kind: ScoreKind) -> Option<Self> {
        let (raw_at_50, raw_at_90) = match (model, kind) {
            ("campplus", ScoreKind::Cosine) => (CAMPPLUS_COSINE.0, CAMPPLUS_COSINE.1),
            ("campplus", ScoreKind::SNorm) => (CAMPPLUS_SNORM.0, CAMPPLUS_SNORM.1),
            ("ge2e", ScoreKind::Cosine) => (GE2E_COSINE.0, GE2E_COSINE.1),
            ("ge2e", ScoreKind::SNorm) => (GE2E_SNORM.0, GE2E_SNORM.1),
            _ => return None,
        };
        Some(Self { raw_at_50, raw_at_90 })
    }

    /// Logistic slope.
    fn slope(&self) -> f64 {
        LOGIT_90 / (self.raw_at_90 - self.raw_at_50)
    }

    /// Maps a raw score to [0, 100]. Strictly increasing in `raw`; NaN maps to 0 so a
    /// broken score can never authenticate.
    pub fn score(&self, raw: f64) -> f64 {
        if raw.is_nan() {
            return 0.0;
        }
        let z = self.slope() * (raw - self.raw_at_50);
        // 1/(1+e^-z) computed on the stable side.
        let p = if z >= 0.0 { 1.0 / (1.0 + (-z).exp()) } else { let e = z.exp(); e / (1.0 + e) };
        (100.0 * p).clamp(0.0, 100.0)
    }

    /// The raw score that maps to `score` (inverse of [`Calibration::score`]); `score`
    /// must lie strictly between 0 and 100.
    pub fn raw_threshold(&self, score: f64) -> Result<f64, EngineError> {
        if !(score > 0.0 && score < 100.0) {
            return Err(EngineError::Calibration(format!("threshold {score} must be strictly between 0 and 100")));
        }
        let p = score / 100.0;
        Ok(self.raw_at_50 + (p / (1.0 - p)).ln() / self.slope())
    }
}

// Constants: (raw_at_50, raw_at_90). Refit with `voiceprint calibrate` (docs/CALIBRATION.md).
// Fitted 2026-11-30 on AudioMNIST-AZ 16 kHz, the same through the telephone channel, and
// FSDD 8 kHz; S-norm against a 251-speaker LibriSpeech cohort (operating points in
// docs/CALIBRATION.md).
const CAMPPLUS_COSINE: (f64, f64) = (0.7674, 0.8501);
const CAMPPLUS_SNORM: (f64, f64) = (8.8206, 10.9820);
const GE2E_COSINE: (f64, f64) = (0.8905, 0.9367);
const GE2E_SNORM: (f64, f64) = (6.3757, 7.6072);

/// Operating points of one development list, reported by [`fit`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ListFit {
    pub eer: f64,
    pub eer_threshold: f64,
    /// Lowest raw threshold with FAR ≤ [`TARGET_FAR_AT_90`].
    pub far_threshold: f64,
}

/// Result of [`fit`]: the calibration and the per-list numbers it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct FitReport {
    pub calibration: Calibration,
    pub lists: Vec<ListFit>,
}

/// Fits the two anchors on one or more development score sets (see module docs).
///
/// When a list is so well separated that its 1 %-FAR threshold falls below the EER
/// threshold (EER under 1 %), the 50 anchor is moved down to keep the map increasing:
/// half a non-target standard deviation below the 90 anchor.
pub fn fit(sets: &[ScoreSet]) -> Result<FitReport, EngineError> {
    if sets.is_empty() {
        return Err(EngineError::Calibration("need at least one score set to fit".into()));
    }
    let lists: Vec<ListFit> = sets
        .iter()
        .map(|s| {
            let e = s.eer();
            ListFit { eer: e.eer, eer_threshold: e.threshold, far_threshold: s.at_far(TARGET_FAR_AT_90).threshold }
        })
        .collect();
    let raw_at_90 = lists.iter().map(|l| l.far_threshold).fold(f64::NEG_INFINITY, f64::max);
    let mut raw_at_50 = lists.iter().map(|l| l.eer_threshold).sum::<f64>() / lists.len() as f64;
    let non: Vec<f64> = sets.iter().flat_map(|s| s.nontarget().iter().copied()).collect();
    let mean = non.iter().sum::<f64>() / non.len() as f64;
    let std = (non.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / non.len() as f64).sqrt();
    let min_gap = (0.5 * std).max(1e-6);
    if raw_at_90 - raw_at_50 < min_gap {
        raw_at_50 = raw_at_90 - min_gap;
    }
    Ok(FitReport { calibration: Calibration::new(raw_at_50, raw_at_90)?, lists })
}
