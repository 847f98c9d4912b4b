//! Fusion of several speaker models into one score whose weights depend on the call's
//! measured channel, and a 0–100 calibration per channel.
//!
//! Why: CAM++ is far better than GE2E on wideband speech, but on 8 kHz telephone audio
//! the two are about level and their errors differ, so a weighted sum beats either — with
//! weights that must change with the channel. The session never has to say which channel
//! it is on: the [`FusedEmbedder`] *measures* the bandwidth of the audio it embeds and
//! carries that measurement inside the embedding, so voiceprints (averages of embeddings)
//! and live tests both know their channel, through storage and streaming unchanged.
//!
//! Channel matching: wideband audio is embedded twice, as received and band-limited
//! through the simulated 8 kHz μ-law channel. When either side of a trial is narrowband,
//! the band-limited versions are compared, so a caller enrolled on wideband audio and
//! verified on a phone call is compared on the phone's band (cross-channel EER 9 % → 3 %
//! on the development lists, docs/CALIBRATION.md).
//!
//! Fused embedding layout (five unit blocks scaled by `1/√5`, so the vector has unit norm
//! and the net-speech-weighted averaging of [`crate::scoring::Voiceprint`] averages each
//! block): `[CAM++ (192) | GE2E (256)]` as received, the same band-limited, then
//! `[cos θ, sin θ]` with `θ = narrowband · π/2`, `narrowband` ∈ [0, 1] from
//! [`narrowband_degree`]. Narrowband audio is its own band-limited version (one copy of
//! the embeddings serves both). Averaging keeps the angle meaningful: an enrollment of
//! half wideband, half telephone speech reads back as 0.5.
//!
//! Score: per model, the cosine of the matching channel versions (or its adaptive S-norm
//! against a cohort of fused embeddings, see [`crate::cohort`]); then `w · features` with the features of
//! [`FusionFeatures::vector`] (each model's score alone, times the test's narrowband
//! degree, and times the enrollment/test channel mismatch); weights fitted by
//! [`fit_logistic`] (prior-weighted logistic regression) with `voiceprint fusion fit`.
//! The test's net speech ([`SpeechConditions`]) then shifts (and for S-normed parts
//! rescales) that score, with weights fitted in a second stage ([`fit_two_stage`]): a
//! 1.5 s call's scores sit lower for targets and impostors alike.
//! The fused score is a log-likelihood ratio; [`Fusion::calibration_for`] maps it to 0–100
//! with anchors fitted per channel, so that 90 holds FAR ≤ 1 % on wideband and telephone
//! audio alike.

use std::sync::Arc;

use realfft::RealFftPlanner;
use serde::{Deserialize, Serialize};

use crate::calibration::Calibration;
use crate::cohort::{Cohort, TrialCohort};
use crate::scoring::{cosine, l2_normalized, SNormConfig};
use crate::{Embedder, EngineError, ModelId};

/// Model id of fused embeddings and voiceprints.
pub const FUSED_MODEL_ID: ModelId = "fusion";
/// The part models, in layout order.
pub const PART_MODELS: [ModelId; 2] = ["campplus", "ge2e"];
const PART_DIMS: [usize; 2] = [192, 256];
/// One channel version of both parts.
const HALF_DIM: usize = PART_DIMS[0] + PART_DIMS[1];
/// Fused embedding dimension: both parts as received and band-limited, plus the two
/// channel dimensions.
pub const FUSED_DIM: usize = 2 * HALF_DIM + 2;
/// Five unit blocks (two parts × two channel versions, and the channel angle) scaled to
/// a unit vector.
const PART_SCALE: f32 = 0.447_213_6; // 1/√5

/// Where part `model` (0 = CAM++, 1 = GE2E) of the received (`narrow = false`) or
/// band-limited (`narrow = true`) version sits in a fused vector.
fn part_range(model: usize, narrow: bool) -> std::ops::Range<usize> {
    let start = if narrow { HALF_DIM } else { 0 } + if model == 0 { 0 } else { PART_DIMS[0] };
    start..start + PART_DIMS[model]
}

/// High-band (4.3–7.5 kHz) to speech-band (0.3–3.4 kHz) energy ratio, in dB, of 16 kHz
/// samples. Wideband speech sits around −10…−30 dB; audio that went through an 8 kHz
/// channel has nothing above 4 kHz but resampler leakage, far below −50 dB.
pub fn high_band_ratio_db(samples_16k: &[f32]) -> f64 {
    const N: usize = 512;
    let fft = RealFftPlanner::<f32>::new().plan_fft_forward(N);
    let (mut input, mut spectrum) = (fft.make_input_vec(), fft.make_output_vec());
    let bin_hz = 16_000.0 / N as f64;
    let band = |lo: f64, hi: f64| (lo / bin_hz).round() as usize..=(hi / bin_hz).round() as usize;
    let (speech_band, high_band) = (band(300.0, 3400.0), band(4300.0, 7500.0));
    // Hann window: without one, leakage of the strong low band alone reads about −30 dB.
    let window: Vec<f32> = (0..N)
        .map(|i| (std::f32::consts::PI * i as f32 / N as f32).sin().powi(2))
        .collect();
    let (mut speech, mut high) = (0f64, 0f64);
    for frame in samples_16k.chunks_exact(N) {
        for ((x, s), w) in input.iter_mut().zip(frame).zip(&window) {
            *x = s * w;
        }
        if fft.process(&mut input, &mut spectrum).is_err() {
            continue;
        }
        let power = |i: usize| f64::from(spectrum[i].norm_sqr());
        speech += speech_band.clone().map(power).sum::<f64>();
        high += high_band.clone().map(power).sum::<f64>();
    }
    if speech <= 0.0 {
        return 0.0; // silence or too short: no evidence of a narrow channel
    }
    10.0 * ((high + 1e-12 * speech) / speech).log10()
}

/// Ratio (dB) below which audio counts as fully narrowband; see [`narrowband_degree`].
const NARROWBAND_RATIO_DB: f64 = -45.0;
/// Ratio (dB) above which audio counts as fully wideband.
const WIDEBAND_RATIO_DB: f64 = -35.0;

/// How narrowband (telephone-like) audio is: 1 for an 8 kHz channel, 0 for wideband,
/// linear in between (measured, see docs/CALIBRATION.md).
pub fn narrowband_degree(samples_16k: &[f32]) -> f64 {
    let r = high_band_ratio_db(samples_16k);
    ((WIDEBAND_RATIO_DB - r) / (WIDEBAND_RATIO_DB - NARROWBAND_RATIO_DB)).clamp(0.0, 1.0)
}

/// Runs every part model on the same speech and lays their embeddings out with the
/// measured channel (module docs).
pub struct FusedEmbedder {
    parts: Vec<Arc<dyn Embedder>>,
}

impl FusedEmbedder {
    /// `parts` must be CAM++ then GE2E.
    pub fn new(parts: Vec<Arc<dyn Embedder>>) -> Result<Self, EngineError> {
        let ids: Vec<&str> = parts.iter().map(|p| p.model_id()).collect();
        let dims: Vec<usize> = parts.iter().map(|p| p.dim()).collect();
        if ids != PART_MODELS || dims != PART_DIMS {
            return Err(EngineError::Weights(format!(
                "fusion needs models {PART_MODELS:?} with dimensions {PART_DIMS:?}, got {ids:?} {dims:?}"
            )));
        }
        Ok(Self { parts })
    }
}

impl FusedEmbedder {
    /// Appends every part model's unit embedding of `samples_16k`, scaled to its block.
    fn append_parts(&self, samples_16k: &[f32], out: &mut Vec<f32>) -> Result<(), EngineError> {
        for part in &self.parts {
            out.extend(
                l2_normalized(&part.embed(samples_16k)?)?
                    .into_iter()
                    .map(|x| x * PART_SCALE),
            );
        }
        Ok(())
    }
}

impl Embedder for FusedEmbedder {
    fn model_id(&self) -> ModelId {
        FUSED_MODEL_ID
    }

    fn dim(&self) -> usize {
        FUSED_DIM
    }

    fn embed(&self, samples_16k: &[f32]) -> Result<Vec<f32>, EngineError> {
        let narrowband = narrowband_degree(samples_16k);
        let mut out = Vec::with_capacity(FUSED_DIM);
        self.append_parts(samples_16k, &mut out)?;
        if narrowband >= 0.5 {
            out.extend_from_within(..HALF_DIM);
        } else {
            let band_limited = voiceprint_audio::simulate_telephone_channel(samples_16k);
            self.append_parts(&band_limited, &mut out)?;
        }
        let theta = narrowband * std::f64::consts::FRAC_PI_2;
        out.push(theta.cos() as f32 * PART_SCALE);
        out.push(theta.sin() as f32 * PART_SCALE);
        Ok(out)
    }

    /// CAM++ alone, as received: what the multiple-voices check's thresholds were
    /// measured on (the same cosines as the fused vector's CAM++ block), without the
    /// GE2E and band-limited passes — about a third of [`FusedEmbedder::embed`]'s cost on
    /// wideband audio.
    fn embed_for_consistency(&self, samples_16k: &[f32]) -> Result<Vec<f32>, EngineError> {
        self.parts[0].embed(samples_16k)
    }
}

/// A fused embedding (or voiceprint vector) and its measured channel.
#[derive(Debug, Clone, Copy)]
pub struct FusedParts<'a> {
    vector: &'a [f32],
    /// Measured narrowband degree in [0, 1].
    pub narrowband: f64,
}

impl<'a> FusedParts<'a> {
    pub fn split(vector: &'a [f32]) -> Result<Self, EngineError> {
        if vector.len() != FUSED_DIM {
            return Err(EngineError::DimensionMismatch {
                expected: FUSED_DIM,
                got: vector.len(),
            });
        }
        let theta = f64::from(vector[FUSED_DIM - 1]).atan2(f64::from(vector[FUSED_DIM - 2]));
        Ok(Self {
            vector,
            narrowband: (theta / std::f64::consts::FRAC_PI_2).clamp(0.0, 1.0),
        })
    }

    /// Part `model` (0 = CAM++, 1 = GE2E), received or band-limited.
    pub fn part(&self, model: usize, narrow: bool) -> &'a [f32] {
        &self.vector[part_range(model, narrow)]
    }
}

/// Whether a trial compares the band-limited versions: when either side is narrowband.
fn compare_band_limited(enroll_narrowband: f64, test_narrowband: f64) -> bool {
    enroll_narrowband >= 0.5 || test_narrowband >= 0.5
}

/// Measured conditions of a test recording that the fused score depends on besides its
/// channel. Net speech: below about 5 s, a test's scores sit lower for targets and
/// impostors alike, so without it a 1.5 s call that a 5 s call would pass is refused, or
/// the 90 anchor has to be set for the shortest calls and refuses ordinary ones
/// (docs/CALIBRATION.md, "Net speech"). Noise does the same to targets, and less to
/// impostors (docs/CALIBRATION.md, "Noise").
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpeechConditions {
    /// Seconds of speech the voice-activity detector found in the test.
    pub net_speech_seconds: f64,
    /// The test's speech-to-noise ratio measured without a VAD
    /// (`voiceprint_audio::quality::stnr_db`); None when not measured (scored as clean).
    pub stnr_db: Option<f64>,
}

impl SpeechConditions {
    /// Net speech from which a test counts as full length (condition features zero):
    /// Voice ID's shortest verification. The ordinary development tests hold 2–10 s, so
    /// the channel weights fitted on them are the weights of a full-length test.
    pub const NOMINAL_NET_SPEECH_SECONDS: f64 = 5.0;

    /// STNR from which a test counts as clean (noise feature zero). Measured: clean
    /// development tests read 25–58 dB (AudioMNIST) and 17–83 dB (LibriSpeech, a few
    /// audiobooks with a real noise floor), and their scores do not move with it; below
    /// about 25 dB noisy tests' target scores fall (docs/CALIBRATION.md, "Noise").
    pub const CLEAN_STNR_DB: f64 = 25.0;

    /// A clean test of nominal length: the fusion scores it by its channel alone. For
    /// callers that cannot measure the test.
    pub const NOMINAL: SpeechConditions = SpeechConditions {
        net_speech_seconds: Self::NOMINAL_NET_SPEECH_SECONDS,
        stnr_db: None,
    };

    /// Conditions with net speech measured and noise not.
    pub fn with_net_speech(net_speech_seconds: f64) -> Self {
        SpeechConditions { net_speech_seconds, stnr_db: None }
    }

    /// `ln(net speech / 5 s)`, net speech clamped to 1–5 s: −1.6 for a 1 s test, 0 from
    /// 5 s on; 0 when not a number. Longer tests are not set apart: letting the feature
    /// grow above 5 s made the cross-channel list rank worse than CAM++ alone (μ-law
    /// tests' net speech is inflated by line noise the VAD keeps, docs/CALIBRATION.md).
    pub fn duration_feature(&self) -> f64 {
        let seconds = if self.net_speech_seconds.is_finite() {
            self.net_speech_seconds.clamp(1.0, Self::NOMINAL_NET_SPEECH_SECONDS)
        } else {
            Self::NOMINAL_NET_SPEECH_SECONDS
        };
        (seconds / Self::NOMINAL_NET_SPEECH_SECONDS).ln()
    }

    /// `(25 dB − STNR) / 10 dB`, STNR clamped to 0–25 dB: 0 for a clean test, 2.5 at
    /// 0 dB and below; 0 when not measured or not a number.
    pub fn noise_feature(&self) -> f64 {
        match self.stnr_db {
            Some(stnr) if stnr.is_finite() => {
                (Self::CLEAN_STNR_DB - stnr.clamp(0.0, Self::CLEAN_STNR_DB)) / 10.0
            }
            _ => 0.0,
        }
    }
}

/// Per-trial inputs of the fusion: each model's (normalised) score, the channels and
/// the test's speech conditions.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FusionFeatures {
    pub campplus: f64,
    pub ge2e: f64,
    pub enroll_narrowband: f64,
    pub test_narrowband: f64,
    pub test_conditions: SpeechConditions,
}

/// Number of channel weights (length of [`FusionFeatures::vector`]).
pub const FEATURES: usize = 9;
/// Names of the channel features, in order (the fusion file lists weights by these names).
pub const FEATURE_NAMES: [&str; FEATURES] = [
    "bias",
    "campplus",
    "ge2e",
    "narrowband",
    "narrowband*campplus",
    "narrowband*ge2e",
    "mismatch",
    "mismatch*campplus",
    "mismatch*ge2e",
];
/// Number of speech-condition weights ([`FusionFeatures::condition_vector`]).
pub const CONDITION_FEATURES: usize = 3;
/// Names of the speech-condition features, in order. Files may hold the first two only
/// (written before noise was weighed): the noise weight is then 0.
pub const CONDITION_FEATURE_NAMES: [&str; CONDITION_FEATURES] = ["duration", "duration*channel_score", "noise"];
/// Index of the noise weight in [`CONDITION_FEATURE_NAMES`].
pub const NOISE_WEIGHT: usize = 2;

/// The channel condition a trial is calibrated for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChannelCondition {
    Wideband = 0,
    Narrowband = 1,
    CrossChannel = 2,
}

impl ChannelCondition {
    pub const ALL: [ChannelCondition; 3] = [
        ChannelCondition::Wideband,
        ChannelCondition::Narrowband,
        ChannelCondition::CrossChannel,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ChannelCondition::Wideband => "wideband",
            ChannelCondition::Narrowband => "narrowband",
            ChannelCondition::CrossChannel => "cross-channel",
        }
    }
}

impl FusionFeatures {
    /// Cross-channel when enrollment and test differ by half the scale or more; otherwise
    /// the test's channel.
    pub fn condition(&self) -> ChannelCondition {
        if (self.enroll_narrowband - self.test_narrowband).abs() >= 0.5 {
            ChannelCondition::CrossChannel
        } else if self.test_narrowband >= 0.5 {
            ChannelCondition::Narrowband
        } else {
            ChannelCondition::Wideband
        }
    }

    /// `[1, c, g, nb, nb·c, nb·g, mm, mm·c, mm·g]`: nb is the test's narrowband degree and
    /// mm the enrollment/test channel mismatch, so each channel gets its own affine map.
    pub fn vector(&self) -> [f64; FEATURES] {
        let (c, g, nb) = (self.campplus, self.ge2e, self.test_narrowband);
        let mm = (self.enroll_narrowband - self.test_narrowband).abs();
        [1.0, c, g, nb, nb * c, nb * g, mm, mm * c, mm * g]
    }

    /// `[d, d·s, n]`: the test's duration feature ([`SpeechConditions::duration_feature`])
    /// alone and times the channel score `s` (`channel weights · vector()`), so a short
    /// test's log-likelihood ratio is shifted and, where the fit allows it, rescaled; and
    /// its noise feature ([`SpeechConditions::noise_feature`]), a shift.
    pub fn condition_vector(&self, channel_score: f64) -> [f64; CONDITION_FEATURES] {
        let d = self.test_conditions.duration_feature();
        [d, d * channel_score, self.test_conditions.noise_feature()]
    }
}

/// `weights · features.vector()`: the fused score of weights fitted by [`fit_logistic`].
pub fn linear_score(weights: &[f64; FEATURES], features: &FusionFeatures) -> f64 {
    weights
        .iter()
        .zip(features.vector())
        .map(|(w, x)| w * x)
        .sum()
}

/// Which per-model score the fusion consumes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PartScore {
    Cosine,
    SNorm,
}

/// Fusion weights and per-channel calibration, as stored in a fusion file (JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fusion {
    /// Per-model score the weights were fitted on.
    pub part_score: PartScore,
    /// `FEATURE_NAMES[i]` → weight.
    pub weights: Vec<(String, f64)>,
    /// `CONDITION_FEATURE_NAMES[i]` → weight; empty in files written before speech
    /// conditions (every test then scores as a nominal one).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub condition_weights: Vec<(String, f64)>,
    /// Fused score → 0–100 when enrollment and test are both wideband.
    pub wideband: Anchors,
    /// … both narrowband (telephone).
    pub narrowband: Anchors,
    /// … on different channels (e.g. enrolled on a wideband app, tested on a call).
    pub cross_channel: Anchors,
    /// Where the numbers came from (free text written by `voiceprint fusion fit`).
    #[serde(default)]
    pub fitted_on: Vec<String>,
    /// How many of the closest cohort members describe each side's impostors (S-norm
    /// only): a domain cohort of a few dozen speakers wants far fewer than a big one.
    #[serde(default = "default_top_n")]
    pub snorm_top_n: usize,
    /// S-norm against exactly this many cohort members (the first ones a trial does not
    /// leave out), so the statistics mean the same in every domain; None: all of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cohort_size: Option<usize>,
}

fn default_top_n() -> usize {
    SNormConfig::default().top_n
}

/// Calibration anchors in a fusion file.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Anchors {
    pub raw_at_50: f64,
    pub raw_at_90: f64,
}

impl From<Calibration> for Anchors {
    fn from(c: Calibration) -> Self {
        Self {
            raw_at_50: c.raw_at_50,
            raw_at_90: c.raw_at_90,
        }
    }
}

/// The fusion shipped with the engine (fitted with `voiceprint fusion fit`, see
/// docs/CALIBRATION.md).
const DEFAULT_FUSION_JSON: &str = include_str!("../fusion-default.json");
/// The shipped fusion for domains with enough enrolled speakers to serve as their own
/// S-norm cohort (fitted with `voiceprint fusion fit --part-score s-norm --domain-cohort`).
const DOMAIN_FUSION_JSON: &str = include_str!("../fusion-domain.json");

/// Members every trial of the shipped domain fusion is normalised against (`voiceprint
/// fusion fit --cohort-size`). Fixed, because top-N statistics drift with the cohort's
/// size and the calibration with them (measured: 22 members let 3 % of impostors reach
/// 90, docs/CALIBRATION.md); a domain needs one more enrolled speaker than this (the
/// claimed speaker is never their own impostor).
pub const DOMAIN_COHORT_SIZE: usize = 55;

impl Fusion {
    /// The shipped fusion (cosine part scores, no cohort).
    pub fn default_fusion() -> Self {
        Self::from_json(DEFAULT_FUSION_JSON).expect("the shipped fusion file is valid")
    }

    /// The shipped fusion of S-normed part scores against a domain's own enrolled speakers.
    pub fn domain_fusion() -> Self {
        Self::from_json(DOMAIN_FUSION_JSON).expect("the shipped domain fusion file is valid")
    }

    pub fn from_json(text: &str) -> Result<Self, EngineError> {
        let f: Fusion = serde_json::from_str(text)
            .map_err(|e| EngineError::Calibration(format!("fusion file: {e}")))?;
        f.validate()?;
        Ok(f)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("fusion serialises")
    }

    pub fn load(path: &std::path::Path) -> Result<Self, EngineError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| EngineError::Calibration(format!("reading {}: {e}", path.display())))?;
        Self::from_json(&text)
    }

    fn validate(&self) -> Result<(), EngineError> {
        let names: Vec<&str> = self.weights.iter().map(|(n, _)| n.as_str()).collect();
        if names != FEATURE_NAMES {
            return Err(EngineError::Calibration(format!(
                "fusion weights must be {FEATURE_NAMES:?}, got {names:?}"
            )));
        }
        let names: Vec<&str> = self.condition_weights.iter().map(|(n, _)| n.as_str()).collect();
        // Whole generations only: none (before net speech), the duration pair (before
        // noise), or all.
        if ![0, 2, CONDITION_FEATURES].contains(&names.len()) || names != CONDITION_FEATURE_NAMES[..names.len()] {
            return Err(EngineError::Calibration(format!(
                "fusion condition weights must be {CONDITION_FEATURE_NAMES:?} (or the first two, or none), got {names:?}"
            )));
        }
        if self.snorm_top_n < 2 || self.cohort_size.is_some_and(|n| n < 2) {
            return Err(EngineError::Calibration(
                "snorm_top_n and cohort_size must be at least 2".into(),
            ));
        }
        if self.weights.iter().chain(&self.condition_weights).any(|(_, w)| !w.is_finite()) {
            return Err(EngineError::Calibration(
                "fusion weights must be finite".into(),
            ));
        }
        Calibration::new(self.wideband.raw_at_50, self.wideband.raw_at_90)?;
        Calibration::new(self.narrowband.raw_at_50, self.narrowband.raw_at_90)?;
        Calibration::new(self.cross_channel.raw_at_50, self.cross_channel.raw_at_90)?;
        Ok(())
    }

    /// Builds a fusion from fitted weights and anchors.
    pub fn new(
        part_score: PartScore,
        weights: FusionWeights,
        calibrations: [Calibration; 3],
        fitted_on: Vec<String>,
    ) -> Self {
        let named = |names: &[&str], values: &[f64]| -> Vec<(String, f64)> {
            names.iter().zip(values).map(|(n, w)| ((*n).to_owned(), *w)).collect()
        };
        Self {
            part_score,
            weights: named(&FEATURE_NAMES, &weights.channel),
            condition_weights: named(&CONDITION_FEATURE_NAMES, &weights.conditions),
            wideband: calibrations[ChannelCondition::Wideband as usize].into(),
            narrowband: calibrations[ChannelCondition::Narrowband as usize].into(),
            cross_channel: calibrations[ChannelCondition::CrossChannel as usize].into(),
            fitted_on,
            snorm_top_n: default_top_n(),
            cohort_size: None,
        }
    }

    /// The weights as numbers (validate() checked the names; an older file's missing
    /// condition weights are zero).
    pub fn fusion_weights(&self) -> FusionWeights {
        FusionWeights {
            channel: std::array::from_fn(|i| self.weights[i].1),
            conditions: std::array::from_fn(|i| self.condition_weights.get(i).map_or(0.0, |(_, w)| *w)),
        }
    }

    /// Fused log-likelihood-ratio score of one trial.
    pub fn fused_score(&self, features: &FusionFeatures) -> f64 {
        self.fusion_weights().score(features)
    }

    /// The 0–100 map for a trial's channel condition.
    pub fn calibration_for(&self, condition: ChannelCondition) -> Calibration {
        let a = match condition {
            ChannelCondition::Wideband => self.wideband,
            ChannelCondition::Narrowband => self.narrowband,
            ChannelCondition::CrossChannel => self.cross_channel,
        };
        Calibration {
            raw_at_50: a.raw_at_50,
            raw_at_90: a.raw_at_90,
        }
    }

    /// Per-model scores and channels of a voiceprint vector against a test embedding,
    /// both fused, with the test's measured `conditions`; S-norm against `cohort` when
    /// the fusion was fitted on S-norm scores.
    pub fn features(
        &self,
        enroll: &[f32],
        test: &[f32],
        conditions: SpeechConditions,
        cohort: Option<TrialCohort<'_>>,
    ) -> Result<FusionFeatures, EngineError> {
        let (e, t) = (FusedParts::split(enroll)?, FusedParts::split(test)?);
        let narrow = compare_band_limited(e.narrowband, t.narrowband);
        let mut scores = [0f64; 2];
        for (i, score) in scores.iter_mut().enumerate() {
            let raw = cosine(e.part(i, narrow), t.part(i, narrow))?;
            *score = match (self.part_score, cohort) {
                (PartScore::Cosine, _) => f64::from(raw),
                (PartScore::SNorm, Some(c)) => {
                    let (ec, tc) = c.cohort.part_scores(
                        part_range(i, narrow),
                        enroll,
                        test,
                        c.exclude,
                        self.cohort_size,
                    )?;
                    let config = SNormConfig { top_n: self.snorm_top_n };
                    crate::scoring::adaptive_s_norm(raw, &ec, &tc, config)?
                }
                (PartScore::SNorm, None) => {
                    return Err(EngineError::Cohort(
                        "this fusion scores S-normed parts and needs a cohort".into(),
                    ))
                }
            };
        }
        Ok(FusionFeatures {
            campplus: scores[0],
            ge2e: scores[1],
            enroll_narrowband: e.narrowband,
            test_narrowband: t.narrowband,
            test_conditions: conditions,
        })
    }
}

impl Cohort {
    /// Cosines of the block `range` of two fused vectors against the same block of every
    /// member but the rows in `exclude` — the first `size` of them when given (the cohort
    /// must hold fused embeddings).
    fn part_scores(
        &self,
        range: std::ops::Range<usize>,
        enroll: &[f32],
        test: &[f32],
        exclude: &[usize],
        size: Option<usize>,
    ) -> Result<(Vec<f32>, Vec<f32>), EngineError> {
        if self.model() != FUSED_MODEL_ID {
            return Err(EngineError::ModelMismatch {
                expected: FUSED_MODEL_ID.into(),
                got: self.model().into(),
            });
        }
        let score = |v: &[f32]| -> Result<Vec<f32>, EngineError> {
            let q = l2_normalized(&v[range.clone()])?;
            Ok(self
                .members(exclude, size)?
                .map(|row| {
                    let r = &row[range.clone()];
                    // Rows are unit-norm as a whole; each block carries 1/√5 of it.
                    r.iter().zip(&q).map(|(a, b)| a * b).sum::<f32>() / PART_SCALE
                })
                .collect())
        };
        Ok((score(enroll)?, score(test)?))
    }
}

/// One development trial for fitting: features, label, and the list it came from.
#[derive(Debug, Clone, Copy)]
pub struct FitTrial {
    pub features: FusionFeatures,
    pub target: bool,
    pub list: usize,
}

/// All the weights of a fusion.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FusionWeights {
    /// Channel weights, by [`FEATURE_NAMES`].
    pub channel: [f64; FEATURES],
    /// Speech-condition weights, by [`CONDITION_FEATURE_NAMES`].
    pub conditions: [f64; CONDITION_FEATURES],
}

impl FusionWeights {
    /// The fused log-likelihood ratio: the channel score `s = channel · vector()`, plus
    /// `conditions · condition_vector(s)`.
    pub fn score(&self, features: &FusionFeatures) -> f64 {
        let channel_score = linear_score(&self.channel, features);
        let conditions: f64 = self
            .conditions
            .iter()
            .zip(features.condition_vector(channel_score))
            .map(|(w, x)| w * x)
            .sum();
        channel_score + conditions
    }
}

/// Prior-weighted logistic regression (Newton–Raphson, L2 penalty `l2` on all but the
/// bias): every list weighs the same and, within a list, targets and non-targets each
/// weigh half, so neither a big list nor the many non-targets dominate. Deterministic.
pub fn fit_logistic(trials: &[FitTrial], l2: f64) -> Result<[f64; FEATURES], EngineError> {
    let rows: Vec<Row<FEATURES>> =
        trials.iter().map(|t| (t.features.vector(), 0.0, t.target, t.list)).collect();
    newton_logistic(&rows, l2, true)
}

/// The shipped fit's first two stages. The channel weights come from the trials of lists
/// where `channel_list(list)` is true — lists of ordinary tests on each channel — with
/// [`fit_logistic`]. Then, with them fixed, the duration weights from every list,
/// including lists of short and long tests: a logistic regression whose inputs are
/// [`FusionFeatures::condition_vector`]'s duration terms and whose offset is each
/// trial's channel score. The noise weight is left at 0 for [`choose_noise_shift`].
/// So net speech recalibrates the channel fusion's score and cannot trade the models'
/// balance on ordinary calls for what suits the extremes (measured: letting each
/// model's weight vary with net speech and SNR, in one stage, took AudioMNIST's fused
/// EER from 0.15 to 0.49 %, docs/CALIBRATION.md).
///
/// `rescale`: also fit the `duration·channel score` weight (else it stays 0, a shift
/// only). Measured: it serves S-normed part scores and hurts cosine ones.
pub fn fit_two_stage(
    trials: &[FitTrial],
    channel_list: impl Fn(usize) -> bool,
    l2: f64,
    rescale: bool,
) -> Result<FusionWeights, EngineError> {
    let channel_trials: Vec<FitTrial> =
        trials.iter().filter(|t| channel_list(t.list)).copied().collect();
    let channel = fit_logistic(&channel_trials, l2)?;
    let inputs = trials.iter().map(|t| {
        let s = linear_score(&channel, &t.features);
        (t.features.condition_vector(s), s, t.target, t.list)
    });
    let conditions = if rescale {
        let rows: Vec<Row<2>> = inputs.map(|(x, s, target, list)| ([x[0], x[1]], s, target, list)).collect();
        let [shift, scale] = newton_logistic(&rows, l2, false)?;
        [shift, scale, 0.0]
    } else {
        let rows: Vec<Row<1>> = inputs.map(|(x, s, target, list)| ([x[0]], s, target, list)).collect();
        let [shift] = newton_logistic(&rows, l2, false)?;
        [shift, 0.0, 0.0]
    };
    Ok(FusionWeights { channel, conditions })
}

/// Noise shifts [`choose_noise_shift`] tries: 0 to 4 in steps of 0.05 (per 10 dB of
/// STNR below [`SpeechConditions::CLEAN_STNR_DB`]).
pub const NOISE_SHIFT_GRID: std::ops::RangeInclusive<u32> = 0..=80;
const NOISE_SHIFT_STEP: f64 = 0.05;

/// The third stage of the shipped fit: the noise weight, with every other weight fixed,
/// chosen on [`NOISE_SHIFT_GRID`] as the one whose `objective` is lowest (ties: the
/// smaller shift). The CLI's objective is the mean FRR at 90 over the development
/// lists, each channel's anchors set anew for every candidate.
///
/// Why not the logistic regression of the other stages: noise lowers targets' scores
/// more than impostors' (measured at STNR 25–30 dB on AudioMNIST: targets −1.6,
/// impostors −0.9), and the regression shifts by the targets' fall, which lifts the
/// noisy impostors' tail above the clean ones'. The 90 anchor then follows the noisy
/// impostors and clean calls are refused (AudioMNIST FRR at 90 0 → 17 %,
/// docs/CALIBRATION.md, "Noise"). Searching on the operating point itself keeps the
/// shift where noisy impostors stay below clean ones.
pub fn choose_noise_shift<E>(
    weights: FusionWeights,
    mut objective: impl FnMut(&FusionWeights) -> Result<f64, E>,
) -> Result<FusionWeights, E> {
    let mut best: Option<(f64, FusionWeights)> = None;
    for step in NOISE_SHIFT_GRID {
        let mut candidate = weights;
        candidate.conditions[NOISE_WEIGHT] = f64::from(step) * NOISE_SHIFT_STEP;
        let value = objective(&candidate)?;
        if best.as_ref().is_none_or(|(b, _)| value < *b) {
            best = Some((value, candidate));
        }
    }
    Ok(best.map_or(weights, |(_, w)| w))
}

/// One trial of a logistic regression: inputs, fixed offset added to the score, label,
/// list.
type Row<const N: usize> = ([f64; N], f64, bool, usize);

/// Prior-weighted logistic regression of `rows` (see [`fit_logistic`]): L2 penalty on
/// every weight but the first when `free_first` (a bias). Newton steps, halved until the
/// objective falls, so a weight that multiplies the offset cannot overshoot.
fn newton_logistic<const N: usize>(
    rows: &[Row<N>],
    l2: f64,
    free_first: bool,
) -> Result<[f64; N], EngineError> {
    let lists = rows.iter().map(|r| r.3 + 1).max().unwrap_or(0);
    let mut counts = vec![[0usize; 2]; lists];
    for r in rows {
        counts[r.3][usize::from(r.2)] += 1;
    }
    let used = counts.iter().filter(|c| c[0] > 0 && c[1] > 0).count();
    if used == 0 {
        return Err(EngineError::Calibration(
            "fusion fit needs target and non-target trials".into(),
        ));
    }
    let weight = |r: &Row<N>| {
        let c = counts[r.3];
        if c[0] == 0 || c[1] == 0 {
            0.0
        } else {
            0.5 / (used as f64 * c[usize::from(r.2)] as f64)
        }
    };
    let penalised = |i: usize| !(free_first && i == 0);
    let z = |w: &[f64; N], r: &Row<N>| r.1 + w.iter().zip(&r.0).map(|(a, b)| a * b).sum::<f64>();
    let objective = |w: &[f64; N]| -> f64 {
        let loss: f64 = rows
            .iter()
            .map(|r| {
                // −log p(label) = ln(1 + e^−margin), written to stay finite for large |z|.
                let margin = if r.2 { z(w, r) } else { -z(w, r) };
                weight(r) * ((-margin.abs()).exp().ln_1p() + (-margin).max(0.0))
            })
            .sum();
        loss + 0.5 * l2 * (0..N).filter(|&i| penalised(i)).map(|i| w[i] * w[i]).sum::<f64>()
    };
    let mut w = [0f64; N];
    for _ in 0..50 {
        let mut grad = [0f64; N];
        let mut hess = [[0f64; N]; N];
        for r in rows {
            let x = r.0;
            let p = 1.0 / (1.0 + (-z(&w, r)).exp());
            let y = if r.2 { 1.0 } else { 0.0 };
            let a = weight(r);
            for i in 0..N {
                grad[i] += a * (p - y) * x[i];
                for j in 0..N {
                    hess[i][j] += a * p * (1.0 - p) * x[i] * x[j];
                }
            }
        }
        for i in (0..N).filter(|&i| penalised(i)) {
            grad[i] += l2 * w[i];
            hess[i][i] += l2;
        }
        hess[0][0] += 1e-9;
        let step = solve(hess, grad)
            .ok_or_else(|| EngineError::Calibration("fusion fit: singular system".into()))?;
        let before = objective(&w);
        let mut scale = 1.0;
        let mut next = w;
        for _ in 0..30 {
            next = std::array::from_fn(|i| w[i] - scale * step[i]);
            if objective(&next) <= before {
                break;
            }
            scale /= 2.0;
        }
        let max_step = step.iter().fold(0f64, |m, s| m.max((scale * s).abs()));
        w = next;
        if max_step < 1e-9 {
            break;
        }
    }
    if w.iter().any(|x| !x.is_finite()) {
        return Err(EngineError::Calibration("fusion fit diverged".into()));
    }
    Ok(w)
}

/// Gaussian elimination with partial pivoting.
fn solve<const N: usize>(mut a: [[f64; N]; N], mut b: [f64; N]) -> Option<[f64; N]> {
    for col in 0..N {
        let pivot = (col..N).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[pivot][col].abs() < 1e-15 {
            return None;
        }
        a.swap(col, pivot);
        b.swap(col, pivot);
        let pivot_row = a[col];
        for row in col + 1..N {
            let f = a[row][col] / pivot_row[col];
            for (x, p) in a[row][col..].iter_mut().zip(&pivot_row[col..]) {
                *x -= f * p;
            }
            b[row] -= f * b[col];
        }
    }
    let mut x = [0f64; N];
    for row in (0..N).rev() {
        let s: f64 = (row + 1..N).map(|k| a[row][k] * x[k]).sum();
        x[row] = (b[row] - s) / a[row][row];
    }
    Some(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_domain_fusion_normalises_against_a_fixed_cohort_and_needs_one() {
        let domain = Fusion::domain_fusion();
        assert_eq!(domain.part_score, PartScore::SNorm);
        assert_eq!(domain.cohort_size, Some(DOMAIN_COHORT_SIZE));
        let scorer = crate::scorer::Scorer::for_domain_cohort(None).unwrap();
        assert_eq!(scorer.kind(), crate::calibration::ScoreKind::FusedSNorm);
        // A cosine fusion cannot serve a domain cohort.
        assert!(crate::scorer::Scorer::for_domain_cohort(Some(Fusion::default_fusion())).is_err());

        // Fused-layout vectors: unit part blocks scaled by 1/√5, wideband angle.
        let vector = |seed: usize| -> Vec<f32> {
            let mut v: Vec<f32> = (0..FUSED_DIM - 2)
                .map(|i| (((i + 1) * (seed + 7) * 2_654_435_761) % 1_000_003) as f32 / 1_000_003.0 - 0.5)
                .collect();
            for block in [0..192, 192..448, 448..640, 640..896] {
                let n = v[block.clone()].iter().map(|x| x * x).sum::<f32>().sqrt();
                v[block].iter_mut().for_each(|x| *x *= PART_SCALE / n);
            }
            v.extend([PART_SCALE, 0.0]);
            v
        };
        let voiceprint = crate::scoring::Voiceprint::enroll(
            FUSED_MODEL_ID,
            &[crate::scoring::EnrollmentSample { embedding: &vector(1), net_speech_seconds: 30.0 }],
        )
        .unwrap();
        let members: Vec<Vec<f32>> = (0..=DOMAIN_COHORT_SIZE).map(|i| vector(100 + i)).collect();
        let cohort = Cohort::new(FUSED_MODEL_ID, &members).unwrap();
        let test = vector(2);
        // size + 1 members, one left out: exactly the size.
        let trial = TrialCohort { cohort: &cohort, exclude: &[0] };
        assert!(scorer.score_with(&voiceprint, &test, SpeechConditions::NOMINAL, Some(trial)).is_ok());
        // Two left out: one member short, refused rather than scored on other statistics.
        let short = TrialCohort { cohort: &cohort, exclude: &[0, 1] };
        let err = scorer.score_with(&voiceprint, &test, SpeechConditions::NOMINAL, Some(short)).unwrap_err();
        assert!(err.to_string().contains("cohort members"), "{err}");
        // No cohort at all: refused too.
        assert!(scorer.score(&voiceprint, &test, SpeechConditions::NOMINAL).is_err());
    }

    #[test]
    fn the_shipped_fusion_file_parses() {
        let f = Fusion::default_fusion();
        assert_eq!(f.weights.len(), FEATURES);
        assert_eq!(Fusion::from_json(&f.to_json()).unwrap(), f);
    }

    #[test]
    fn the_duration_feature_is_zero_from_nominal_length_on_and_clamped_below_1_second() {
        let at = SpeechConditions::with_net_speech;
        assert_eq!(SpeechConditions::NOMINAL.duration_feature(), 0.0);
        assert!((at(1.0).duration_feature() - (1.0f64 / 5.0).ln()).abs() < 1e-12);
        assert!((at(2.5).duration_feature() - 0.5f64.ln()).abs() < 1e-12);
        assert_eq!(at(0.2).duration_feature(), at(1.0).duration_feature());
        assert_eq!(at(30.0).duration_feature(), 0.0);
        // Unmeasurable: nominal, never a NaN score.
        assert_eq!(at(f64::NAN).duration_feature(), 0.0);
        assert_eq!(at(f64::INFINITY).duration_feature(), 0.0);
    }

    #[test]
    fn the_noise_feature_is_zero_when_clean_or_unmeasured_and_grows_below_25_db() {
        let at = |stnr_db| SpeechConditions { net_speech_seconds: 5.0, stnr_db }.noise_feature();
        assert_eq!(at(None), 0.0);
        assert_eq!(at(Some(25.0)), 0.0);
        assert_eq!(at(Some(60.0)), 0.0);
        assert!((at(Some(15.0)) - 1.0).abs() < 1e-12);
        assert!((at(Some(0.0)) - 2.5).abs() < 1e-12);
        assert_eq!(at(Some(-8.0)), at(Some(0.0)));
        assert_eq!(at(Some(f64::NAN)), 0.0);
        assert_eq!(SpeechConditions::NOMINAL.noise_feature(), 0.0);
    }

    #[test]
    fn the_noise_shift_is_the_grid_point_with_the_lowest_objective() {
        let start = FusionWeights { channel: [0.5; FEATURES], conditions: [-1.0, 0.2, 0.0] };
        // A bowl with its bottom at 1.3: chosen exactly (1.3 is on the 0.05 grid), and
        // nothing but the noise weight moves.
        let chosen = choose_noise_shift(start, |w| {
            Ok::<_, ()>((w.conditions[NOISE_WEIGHT] - 1.3).powi(2))
        })
        .unwrap();
        assert!((chosen.conditions[NOISE_WEIGHT] - 1.3).abs() < 1e-9, "{chosen:?}");
        assert_eq!((chosen.channel, &chosen.conditions[..2]), (start.channel, &start.conditions[..2]));
        // Flat: the smallest shift (none).
        let flat = choose_noise_shift(start, |_| Ok::<_, ()>(0.5)).unwrap();
        assert_eq!(flat.conditions[NOISE_WEIGHT], 0.0);
        // The objective's error is the caller's.
        assert_eq!(choose_noise_shift(start, |_| Err::<f64, _>("no lists")), Err("no lists"));
    }

    #[test]
    fn the_shipped_fusions_read_a_noisy_test_s_score_as_stronger_evidence() {
        // Measured on the development lists (docs/CALIBRATION.md, "Noise"): noise lowers
        // targets' scores more than impostors', so the same part scores on a noisy test
        // are more evidence than on a clean one; clean (25 dB and up) or unmeasured tests
        // score alike.
        for fusion in [Fusion::default_fusion(), Fusion::domain_fusion()] {
            assert!(fusion.fusion_weights().conditions[NOISE_WEIGHT] > 0.0, "{:?}", fusion.part_score);
            let at = |stnr_db| {
                let mut t = trial_features(0.5, 0.6, 0.0, 5.0);
                t.test_conditions.stnr_db = stnr_db;
                fusion.fused_score(&t)
            };
            assert!(at(Some(5.0)) > at(Some(15.0)) && at(Some(15.0)) > at(Some(25.0)));
            assert_eq!(at(Some(25.0)), at(None));
            assert_eq!(at(Some(40.0)), at(None));
        }
    }

    fn trial_features(campplus: f64, ge2e: f64, narrowband: f64, seconds: f64) -> FusionFeatures {
        FusionFeatures {
            campplus,
            ge2e,
            enroll_narrowband: narrowband,
            test_narrowband: narrowband,
            test_conditions: SpeechConditions::with_net_speech(seconds),
        }
    }

    #[test]
    fn an_older_fusion_file_without_condition_weights_loads_and_scores_every_length_alike() {
        let mut older = Fusion::default_fusion();
        older.condition_weights.clear();
        let json = older.to_json();
        assert!(!json.contains("condition_weights"), "{json}");
        let older = Fusion::from_json(&json).unwrap();
        assert_eq!(
            older.fused_score(&trial_features(0.6, 0.7, 1.0, 1.5)),
            older.fused_score(&trial_features(0.6, 0.7, 1.0, 20.0))
        );
        // A file from before noise was weighed (the duration pair only): loads, and a
        // noisy test scores as a clean one.
        let mut before_noise = Fusion::default_fusion();
        before_noise.condition_weights.truncate(2);
        let before_noise = Fusion::from_json(&before_noise.to_json()).unwrap();
        let noisy = |stnr_db| {
            let mut t = trial_features(0.6, 0.7, 0.0, 5.0);
            t.test_conditions.stnr_db = stnr_db;
            t
        };
        assert_eq!(before_noise.fusion_weights().conditions[NOISE_WEIGHT], 0.0);
        assert_eq!(before_noise.fused_score(&noisy(Some(3.0))), before_noise.fused_score(&noisy(None)));
        // Misnamed or partial condition weights: refused.
        for keep in [1, CONDITION_FEATURES + 1] {
            let mut partial = Fusion::default_fusion();
            partial.condition_weights.resize(keep, ("duration".into(), 0.0));
            assert!(Fusion::from_json(&partial.to_json()).is_err(), "{keep} condition weights");
        }
        let mut misnamed = Fusion::default_fusion();
        misnamed.condition_weights[0].0 = "snr".into();
        assert!(Fusion::from_json(&misnamed.to_json()).is_err());
    }

    #[test]
    fn the_shipped_fusions_weigh_net_speech_and_read_a_short_test_s_score_as_stronger_evidence() {
        // Measured on the development lists (docs/CALIBRATION.md): a short test's scores
        // sit lower for targets and impostors alike, so the same part scores on a 1.5 s
        // test are more evidence than on a 5 s one; from 5 s on, length changes nothing.
        for fusion in [Fusion::default_fusion(), Fusion::domain_fusion()] {
            let names: Vec<&str> = fusion.condition_weights.iter().map(|(n, _)| n.as_str()).collect();
            assert_eq!(names, CONDITION_FEATURE_NAMES);
            let (campplus, ge2e) = match fusion.part_score {
                PartScore::Cosine => (0.55, 0.7),
                PartScore::SNorm => (3.0, 2.0),
            };
            for narrowband in [0.0, 1.0] {
                let at = |seconds| fusion.fused_score(&trial_features(campplus, ge2e, narrowband, seconds));
                assert!(
                    at(1.5) > at(3.0) && at(3.0) > at(5.0) && at(5.0) == at(20.0),
                    "{:?}, narrowband {narrowband}: 1.5 s {}, 3 s {}, 5 s {}, 20 s {}",
                    fusion.part_score,
                    at(1.5),
                    at(3.0),
                    at(5.0),
                    at(20.0)
                );
            }
        }
    }

    /// Synthetic trials: the campplus score separates the classes; on 1.5 s tests it sits
    /// 0.2 lower for targets and impostors alike (as on real speech). List 0 holds 5 s
    /// tests, list 1 short ones.
    fn short_and_nominal_trials() -> Vec<FitTrial> {
        let mut state = 11u32;
        let mut rnd = || {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            f64::from(state >> 8) / f64::from(1u32 << 24) - 0.5
        };
        (0..4000)
            .map(|i| {
                let target = i % 10 == 0;
                let short = (i / 10) % 2 == 0;
                let c = if target { 0.7 } else { 0.3 } - if short { 0.2 } else { 0.0 } + 0.2 * rnd();
                FitTrial {
                    features: trial_features(c, 0.5 + 0.4 * rnd(), 0.0, if short { 1.5 } else { 5.0 }),
                    target,
                    list: usize::from(short),
                }
            })
            .collect()
    }

    #[test]
    fn the_two_stage_fit_keeps_the_channel_weights_of_the_ordinary_lists_and_learns_the_duration_shift() {
        let trials = short_and_nominal_trials();
        let nominal: Vec<FitTrial> = trials.iter().filter(|t| t.list == 0).copied().collect();
        let channel_only = fit_logistic(&nominal, 1e-3).unwrap();
        let w = fit_two_stage(&trials, |list| list == 0, 1e-3, false).unwrap();
        assert_eq!(w.channel, channel_only);
        // Short tests need their scores raised: a negative weight on ln(1.5 / 5) < 0.
        assert!(w.conditions[0] < 0.0, "{w:?}");
        // Which makes the short targets' log-likelihood ratios positive, as the 5 s
        // targets' are, while short impostors stay negative.
        let share_positive = |weights: &FusionWeights, target: bool| {
            let of: Vec<&FitTrial> = trials.iter().filter(|t| t.list == 1 && t.target == target).collect();
            of.iter().filter(|t| weights.score(&t.features) > 0.0).count() as f64 / of.len() as f64
        };
        assert_eq!(w.conditions[1], 0.0, "a shift only");
        let without = FusionWeights { channel: channel_only, conditions: [0.0; CONDITION_FEATURES] };
        assert!(share_positive(&without, true) < 0.6, "{}", share_positive(&without, true));
        assert!(share_positive(&w, true) > 0.8, "{}", share_positive(&w, true));
        assert!(share_positive(&w, false) < 0.05, "{}", share_positive(&w, false));
        // Rescaling too: the same channel weights, and no worse on the short targets.
        let rescaled = fit_two_stage(&trials, |list| list == 0, 1e-3, true).unwrap();
        assert_eq!(rescaled.channel, channel_only);
        assert!(share_positive(&rescaled, true) > 0.8, "{}", share_positive(&rescaled, true));
        assert!(share_positive(&rescaled, false) < 0.05, "{}", share_positive(&rescaled, false));
    }

    #[test]
    fn a_fusion_file_with_wrong_weight_names_is_refused() {
        let mut f = Fusion::default_fusion();
        f.weights[1].0 = "ecapa".into();
        assert!(Fusion::from_json(&f.to_json()).is_err());
        assert!(Fusion::from_json("{").is_err());
    }

    #[test]
    fn a_white_noise_band_limited_to_4_khz_reads_as_narrowband() {
        // Deterministic noise: full band vs the same through a crude 8 kHz channel
        // (decimate by 2 with a moving average, then repeat each sample).
        let mut state = 12345u32;
        let noise: Vec<f32> = (0..16_000)
            .map(|_| {
                state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (state >> 8) as f32 / (1u32 << 24) as f32 - 0.5
            })
            .collect();
        assert!(
            narrowband_degree(&noise) < 0.01,
            "{}",
            high_band_ratio_db(&noise)
        );
        let narrow = voiceprint_audio::simulate_telephone_channel(&noise);
        assert!(
            narrowband_degree(&narrow) > 0.99,
            "{}",
            high_band_ratio_db(&narrow)
        );
        assert_eq!(narrowband_degree(&[0.0; 4000]), 0.0);
    }

    #[test]
    fn fused_parts_round_trip_the_channel_angle() {
        let mut v = vec![0f32; FUSED_DIM];
        for (block, start) in [0, 192, 448, 640].into_iter().enumerate() {
            v[start + block] = PART_SCALE;
        }
        let theta = 0.3 * std::f64::consts::FRAC_PI_2;
        v[FUSED_DIM - 2] = (theta.cos() as f32) * PART_SCALE;
        v[FUSED_DIM - 1] = (theta.sin() as f32) * PART_SCALE;
        let p = FusedParts::split(&v).unwrap();
        assert!((p.narrowband - 0.3).abs() < 1e-5);
        // Each block is where the layout says, received and band-limited.
        assert_eq!(p.part(0, false)[0], PART_SCALE);
        assert_eq!(p.part(1, false)[1], PART_SCALE);
        assert_eq!(p.part(0, true)[2], PART_SCALE);
        assert_eq!(p.part(1, true)[3], PART_SCALE);
        assert!(
            compare_band_limited(0.0, 1.0)
                && compare_band_limited(1.0, 0.0)
                && !compare_band_limited(0.2, 0.3)
        );
        assert!(FusedParts::split(&v[..100]).is_err());
    }

    #[test]
    fn logistic_fit_weights_the_informative_model_and_separates_the_classes() {
        // campplus separates the classes, ge2e is noise: the fit must lean on campplus.
        let mut trials = Vec::new();
        let mut state = 7u32;
        let mut rnd = || {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            f64::from(state >> 8) / f64::from(1u32 << 24) - 0.5
        };
        for i in 0..2000 {
            let target = i % 10 == 0;
            let c = if target { 0.8 } else { 0.3 } + 0.2 * rnd();
            let g = 0.5 + 0.4 * rnd();
            let f = FusionFeatures {
                campplus: c,
                ge2e: g,
                enroll_narrowband: 0.0,
                test_narrowband: 0.0,
                test_conditions: SpeechConditions::NOMINAL,
            };
            trials.push(FitTrial {
                features: f,
                target,
                list: 0,
            });
        }
        let w = fit_logistic(&trials, 1e-3).unwrap();
        assert!(w[1] > 5.0 * w[2].abs(), "{w:?}");
        let fused = |t: &FitTrial| {
            w.iter()
                .zip(t.features.vector())
                .map(|(a, b)| a * b)
                .sum::<f64>()
        };
        let min_target = trials
            .iter()
            .filter(|t| t.target)
            .map(fused)
            .fold(f64::INFINITY, f64::min);
        let max_non = trials
            .iter()
            .filter(|t| !t.target)
            .map(fused)
            .fold(f64::NEG_INFINITY, f64::max);
        assert!(min_target > max_non);
        assert!(
            fit_logistic(&trials[1..10], 1e-3).is_err(),
            "no targets in the list"
        );
    }
}
