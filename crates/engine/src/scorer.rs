//! [`Scorer`]: the one way a voiceprint and a test embedding become a 0–100 score, for a
//! single model (cosine or S-norm, per-model calibration) or the fused system
//! ([`crate::fusion`], per-channel calibration). The server and the CLI both score
//! through it, so `voiceprint eval` measures exactly what a call gets.
//!
//! A domain with enough enrolled speakers is its own S-norm cohort: its scorer
//! ([`Scorer::for_domain_cohort`]) fuses S-normed part scores, and every trial brings the
//! domain's voiceprints less the claimed speaker's ([`TrialCohort`]) to [`Scorer::score_with`].

use crate::calibration::{Calibration, ScoreKind};
use crate::cohort::{Cohort, TrialCohort};
use crate::fusion::{Fusion, FusionFeatures, PartScore, SpeechConditions, FUSED_MODEL_ID};
use crate::scoring::{SNormConfig, Voiceprint};
use crate::EngineError;

/// One scored trial.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrialScore {
    /// Cosine, S-norm or fused log-likelihood ratio (see [`Scorer::kind`]).
    pub raw: f64,
    /// Calibrated score in [0, 100].
    pub score: f64,
    /// The fusion's inputs, for the fused system.
    pub fusion: Option<FusionFeatures>,
}

/// Scores voiceprints of one model.
#[derive(Debug, Clone)]
pub enum Scorer {
    Single {
        model: String,
        cohort: Option<Cohort>,
        calibration: Calibration,
    },
    Fused {
        fusion: Fusion,
        cohort: Option<Cohort>,
    },
}

impl Scorer {
    /// The scorer for `model`: the fused system for [`FUSED_MODEL_ID`] (with `fusion`, or the
    /// shipped one), otherwise cosine — S-norm with a cohort — and the model's calibration.
    pub fn for_model(
        model: &str,
        cohort: Option<Cohort>,
        fusion: Option<Fusion>,
    ) -> Result<Self, EngineError> {
        if let Some(c) = &cohort {
            if c.model() != model {
                return Err(EngineError::ModelMismatch {
                    expected: model.to_owned(),
                    got: c.model().to_owned(),
                });
            }
        }
        if model == FUSED_MODEL_ID {
            let fusion = fusion.unwrap_or_else(Fusion::default_fusion);
            if fusion.part_score == PartScore::SNorm && cohort.is_none() {
                return Err(EngineError::Cohort(
                    "the fusion scores S-normed parts: give it a cohort".into(),
                ));
            }
            // A cosine fusion ignores any cohort: its weights were fitted without one.
            let cohort = if fusion.part_score == PartScore::SNorm {
                cohort
            } else {
                None
            };
            return Ok(Scorer::Fused { fusion, cohort });
        }
        let kind = if cohort.is_some() {
            ScoreKind::SNorm
        } else {
            ScoreKind::Cosine
        };
        let calibration = Calibration::for_model(model, kind).ok_or_else(|| {
            EngineError::Calibration(format!("no calibration for model {model:?}"))
        })?;
        Ok(Scorer::Single {
            model: model.to_owned(),
            cohort,
            calibration,
        })
    }

    /// The fused scorer of a domain whose enrolled speakers are its own cohort: `fusion`
    /// must fuse S-normed part scores ([`Fusion::domain_fusion`] when `None`), and every
    /// trial must bring its cohort to [`Scorer::score_with`].
    pub fn for_domain_cohort(fusion: Option<Fusion>) -> Result<Self, EngineError> {
        let fusion = fusion.unwrap_or_else(Fusion::domain_fusion);
        if fusion.part_score != PartScore::SNorm || fusion.cohort_size.is_none() {
            return Err(EngineError::Cohort(
                "a domain cohort needs a fusion fitted on S-normed part scores against a fixed \
                 cohort size (voiceprint fusion fit --domain-cohort)"
                    .into(),
            ));
        }
        Ok(Scorer::Fused { fusion, cohort: None })
    }

    /// Cohort members each trial of a domain scorer is normalised against (None: all).
    pub fn cohort_size(&self) -> Option<usize> {
        match self {
            Scorer::Fused { fusion, .. } => fusion.cohort_size,
            Scorer::Single { .. } => None,
        }
    }

    /// What [`TrialScore::raw`] is.
    pub fn kind(&self) -> ScoreKind {
        match self {
            Scorer::Single {
                cohort: Some(_), ..
            } => ScoreKind::SNorm,
            Scorer::Single { cohort: None, .. } => ScoreKind::Cosine,
            Scorer::Fused { fusion, .. } if fusion.part_score == PartScore::SNorm => {
                ScoreKind::FusedSNorm
            }
            Scorer::Fused { .. } => ScoreKind::Fused,
        }
    }

    /// Scores `test` (an embedding of the voiceprint's model, measured under
    /// `conditions`) against `voiceprint`. Only the fused system weighs the conditions.
    pub fn score(
        &self,
        voiceprint: &Voiceprint,
        test: &[f32],
        conditions: SpeechConditions,
    ) -> Result<TrialScore, EngineError> {
        self.score_with(voiceprint, test, conditions, None)
    }

    /// [`Scorer::score`], S-normed against `trial_cohort` when given (instead of the
    /// scorer's own cohort). A cosine fusion ignores it.
    pub fn score_with(
        &self,
        voiceprint: &Voiceprint,
        test: &[f32],
        conditions: SpeechConditions,
        trial_cohort: Option<TrialCohort<'_>>,
    ) -> Result<TrialScore, EngineError> {
        match self {
            Scorer::Single {
                model,
                cohort,
                calibration,
            } => {
                let cosine = voiceprint.score(model, test)?;
                let raw = match trial_cohort.or(cohort.as_ref().map(TrialCohort::from)) {
                    Some(c) => c.cohort.s_norm(
                        model,
                        cosine,
                        voiceprint.values(),
                        test,
                        SNormConfig::default(),
                        c.exclude,
                    )?,
                    None => f64::from(cosine),
                };
                Ok(TrialScore {
                    raw,
                    score: calibration.score(raw),
                    fusion: None,
                })
            }
            Scorer::Fused { fusion, cohort } => {
                if voiceprint.model() != FUSED_MODEL_ID {
                    return Err(EngineError::ModelMismatch {
                        expected: FUSED_MODEL_ID.into(),
                        got: voiceprint.model().into(),
                    });
                }
                let cohort = trial_cohort.or(cohort.as_ref().map(TrialCohort::from));
                let features = fusion.features(voiceprint.values(), test, conditions, cohort)?;
                let raw = fusion.fused_score(&features);
                let score = fusion.calibration_for(features.condition()).score(raw);
                Ok(TrialScore {
                    raw,
                    score,
                    fusion: Some(features),
                })
            }
        }
    }
}
