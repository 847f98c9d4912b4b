//! Voiceprints in and decisions out: the rules shared by live sessions (issue 8)
//! and batch jobs (issue 6).
//!
//! - [`VoiceIdService::enroll_speaker`]: store a speaker's voiceprint (SKIP or
//!   OVERWRITE an existing enrollment; opted-out speakers are refused).
//! - [`VoiceIdService::register_fraudster`]: add a fraudster's voiceprint to a
//!   watchlist, skipping near-duplicates of fraudsters already in it.
//! - [`VoiceIdService::authenticate_speaker`]: ACCEPT / REJECT / SPEAKER_* for one
//!   test embedding.
//! - [`VoiceIdService::known_fraudster_risk`]: the closest fraudster of a watchlist.
//!
//! Scores are the calibrated 0–100 of [`Biometrics`]; comparisons use `>=` (the
//! Check Voice ID block's wording, see voiceid-api.md §1.7).

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use voiceprint_engine::fusion::SpeechConditions;
use voiceprint_engine::scoring::Voiceprint;
use voiceprint_store::{Kind, Record, Write};

use super::*;
use crate::biometrics::Biometrics;

/// `EnrollmentConfig.ExistingEnrollmentAction`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ExistingEnrollmentAction {
    #[default]
    Skip,
    Overwrite,
    /// voiceprint extension (issue 5): add this call to the trained voiceprint,
    /// which is retrained in the background.
    Enhance,
}

/// What an enrollment did (the batch output's `EnrollmentStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EnrollmentOutcome {
    NewEnrollment,
    EnrollmentOverwrite,
    DuplicateSkipped,
    /// voiceprint extension: the call was added to a trained voiceprint (ENHANCE).
    EnrollmentEnhanced,
}

/// Result of [`VoiceIdService::enroll_speaker`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpeakerEnrollment {
    pub generated_speaker_id: String,
    pub customer_speaker_id: Option<String>,
    pub outcome: EnrollmentOutcome,
    /// Where the voiceprint stands afterwards (TRAINED unless the domain's engine
    /// settings ask for more calls, approval, or a segment was flagged).
    pub voiceprint_state: super::lifecycle::VoiceprintState,
}

/// `RegistrationConfig.DuplicateRegistrationAction`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DuplicateRegistrationAction {
    #[default]
    Skip,
    RegisterAsNew,
}

/// The batch output's `RegistrationStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RegistrationStatus {
    NewRegistration,
    DuplicateSkipped,
}

/// Result of [`VoiceIdService::register_fraudster`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FraudsterRegistration {
    /// The new fraudster, or on `DuplicateSkipped` the closest existing one.
    pub generated_fraudster_id: String,
    pub status: RegistrationStatus,
    /// Similarity (0–100) to the closest fraudster already in the watchlist, if any.
    pub similarity_score: Option<u8>,
}

/// `AuthenticationDecision`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AuthenticationDecision {
    Accept,
    Reject,
    NotEnoughSpeech,
    SpeakerNotEnrolled,
    SpeakerOptedOut,
    SpeakerIdNotProvided,
    SpeakerExpired,
}

/// `FraudDetectionDecision`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FraudDetectionDecision {
    HighRisk,
    LowRisk,
    NotEnoughSpeech,
}

/// `FraudDetectionReason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FraudDetectionReason {
    KnownFraudster,
    VoiceSpoofing,
}

/// Result of [`VoiceIdService::authenticate_speaker`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpeakerAuthentication {
    pub decision: AuthenticationDecision,
    /// Only for ACCEPT and REJECT, as in Voice ID.
    pub score: Option<u8>,
    pub generated_speaker_id: Option<String>,
    pub customer_speaker_id: Option<String>,
}

/// Result of [`VoiceIdService::known_fraudster_risk`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownFraudsterMatch {
    pub generated_fraudster_id: String,
    pub watchlist_id: String,
    /// Calibrated similarity to that fraudster, 0–100.
    pub risk_score: u8,
}

/// LastAccessedAt is "accurate to one hour": refresh it at most that often, so a
/// busy caller's authentications don't each cost a durable write.
const LAST_ACCESS_RESOLUTION_SECONDS: f64 = 3600.0;

impl VoiceIdService {
    /// Attach the speaker model: sessions, jobs and the enrollment rules need it.
    pub fn with_biometrics(mut self, biometrics: Arc<Biometrics>) -> Self {
        self.biometrics = Some(biometrics);
        self
    }

    /// Attach the voice-spoofing countermeasure: batch enrollment refuses spoofed
    /// recordings with it and sessions report VoiceSpoofingRisk.
    pub fn with_spoof_scorer(mut self, scorer: Arc<dyn crate::sessions::SpoofScorer>) -> Self {
        self.spoof = Some(scorer);
        self
    }

    /// The countermeasure, when one is configured.
    pub fn spoof_scorer(&self) -> Option<&Arc<dyn crate::sessions::SpoofScorer>> {
        self.spoof.as_ref()
    }

    /// The speaker model, or an internal error saying it is not loaded.
    pub fn biometrics(&self) -> Result<&Arc<Biometrics>> {
        self.biometrics.as_ref().ok_or_else(|| {
            Error::Internal(
                "speaker model not loaded: this server started without model weights \
                 (run scripts/fetch-models.sh and set engine.models_dir)"
                    .into(),
            )
        })
    }

    /// Enrolls `speaker_id` (CustomerSpeakerId, or GeneratedSpeakerId of an existing
    /// speaker) with `voiceprint` as one training segment (see `lifecycle`), creating
    /// the speaker when the customer id is new. With the default engine settings this
    /// is Voice ID's enrollment: the voiceprint is in service at once.
    pub fn enroll_speaker(
        &self,
        domain_id: &str,
        speaker_id: &str,
        voiceprint: &Voiceprint,
        action: ExistingEnrollmentAction,
    ) -> Result<SpeakerEnrollment> {
        self.add_training_segment(domain_id, speaker_id, voiceprint, action, None, &[])
    }

    /// [`VoiceIdService::enroll_speaker`] for speech whose enrollment-quality checks
    /// flagged `quality_flags` (stored with the training segment, shown by
    /// DescribeVoiceprint).
    pub fn enroll_speaker_flagged(
        &self,
        domain_id: &str,
        speaker_id: &str,
        voiceprint: &Voiceprint,
        action: ExistingEnrollmentAction,
        quality_flags: &[crate::quality::QualityReason],
    ) -> Result<SpeakerEnrollment> {
        self.add_training_segment(
            domain_id,
            speaker_id,
            voiceprint,
            action,
            None,
            quality_flags,
        )
    }

    /// Registers a fraudster with `voiceprint` in `watchlist_id` (None = the domain's
    /// default watchlist). Under [`DuplicateRegistrationAction::Skip`], a fraudster
    /// of that watchlist scoring `>= similarity_threshold` is returned instead.
    pub fn register_fraudster(
        &self,
        domain_id: &str,
        watchlist_id: Option<&str>,
        voiceprint: &Voiceprint,
        duplicate: DuplicateRegistrationAction,
        similarity_threshold: u8,
    ) -> Result<FraudsterRegistration> {
        self.check_voiceprint_model(voiceprint)?;
        let _guard = self.lock()?;
        let watchlist_id = self.resolve_watchlist(domain_id, watchlist_id)?;
        let closest = self.closest_fraudster(
            domain_id,
            &watchlist_id,
            voiceprint.values(),
            crate::biometrics::enrollment_conditions(voiceprint),
        )?;
        let similarity_score = closest.as_ref().map(|m| m.risk_score);
        if let Some(m) = closest {
            if duplicate == DuplicateRegistrationAction::Skip
                && m.risk_score >= similarity_threshold
            {
                return Ok(FraudsterRegistration {
                    generated_fraudster_id: m.generated_fraudster_id,
                    status: RegistrationStatus::DuplicateSkipped,
                    similarity_score,
                });
            }
        }
        if self.count_watchlist_members(domain_id, &watchlist_id)?
            >= self.config.quotas.fraudsters_per_watchlist
        {
            return Err(Error::ServiceQuotaExceeded("The watchlist is full".into()));
        }
        let id = new_generated_id();
        self.apply(vec![Write::Put(Record {
            kind: Kind::Fraudster,
            domain_id: domain_id.into(),
            id: id.clone(),
            alt_key: None,
            attributes: encode(&FraudsterAttrs {
                created_at: self.now(),
                watchlist_ids: vec![watchlist_id],
            }),
            sensitive: json!({}),
            voiceprint: Some(voiceprint.to_bytes()),
        })])?;
        Ok(FraudsterRegistration {
            generated_fraudster_id: id,
            status: RegistrationStatus::NewRegistration,
            similarity_score,
        })
    }

    /// The authentication decision for `embedding` (a test measured under `conditions`)
    /// against `speaker_id`'s voiceprint.
    pub fn authenticate_speaker(
        &self,
        domain_id: &str,
        speaker_id: &str,
        embedding: &[f32],
        conditions: SpeechConditions,
        acceptance_threshold: u8,
    ) -> Result<SpeakerAuthentication> {
        let biometrics = self.biometrics()?;
        self.domain_record(domain_id)?;
        let now = self.now();
        let Some(rec) = self.find_speaker(domain_id, speaker_id)? else {
            return Ok(SpeakerAuthentication {
                decision: AuthenticationDecision::SpeakerNotEnrolled,
                score: None,
                generated_speaker_id: None,
                customer_speaker_id: (!is_generated_id(speaker_id)).then(|| speaker_id.to_owned()),
            });
        };
        let view = self.speaker_view(&rec, now)?;
        let undecided = |decision| SpeakerAuthentication {
            decision,
            score: None,
            generated_speaker_id: Some(view.generated_speaker_id.clone()),
            customer_speaker_id: view.customer_speaker_id.clone(),
        };
        use super::lifecycle::{NoVoicePrintReason as R, VoiceprintAvailability as A};
        let voiceprint = match self.voiceprint_availability(&rec, now)? {
            A::Usable(voiceprint) => voiceprint,
            A::Unusable(R::OptedOut) => {
                return Ok(undecided(AuthenticationDecision::SpeakerOptedOut))
            }
            A::Unusable(R::Expired) => {
                return Ok(undecided(AuthenticationDecision::SpeakerExpired))
            }
            // Not trained, partially trained, pending approval, invalidated or
            // cooling off: Voice ID has one word for all of them.
            A::Unusable(_) => return Ok(undecided(AuthenticationDecision::SpeakerNotEnrolled)),
        };
        let domain_cohort = self.domain_cohort(domain_id)?;
        let trial_cohort = domain_cohort.as_deref().and_then(|c| c.for_speaker(&rec.id));
        let score =
            biometrics.score_in_domain(&voiceprint, embedding, conditions, trial_cohort)?;
        let decision = if score >= acceptance_threshold {
            AuthenticationDecision::Accept
        } else {
            AuthenticationDecision::Reject
        };
        if decision == AuthenticationDecision::Accept
            && view
                .last_accessed_at
                .is_none_or(|t| now - t >= LAST_ACCESS_RESOLUTION_SECONDS)
        {
            self.touch_speaker(domain_id, &view.generated_speaker_id, now)?;
        }
        Ok(SpeakerAuthentication {
            decision,
            score: Some(score),
            generated_speaker_id: Some(view.generated_speaker_id),
            customer_speaker_id: view.customer_speaker_id,
        })
    }

    /// The fraudster of `watchlist_id` (None = default watchlist) closest to
    /// `embedding`, or None when the watchlist holds no fraudster.
    pub fn known_fraudster_risk(
        &self,
        domain_id: &str,
        watchlist_id: Option<&str>,
        embedding: &[f32],
        conditions: SpeechConditions,
    ) -> Result<Option<KnownFraudsterMatch>> {
        let watchlist_id = self.resolve_watchlist(domain_id, watchlist_id)?;
        self.closest_fraudster(domain_id, &watchlist_id, embedding, conditions)
    }

    /// The domain's watchlist `watchlist_id`, or its default watchlist when None;
    /// errors when either the domain or the watchlist does not exist.
    fn resolve_watchlist(&self, domain_id: &str, watchlist_id: Option<&str>) -> Result<String> {
        let domain = self.domain_record(domain_id)?;
        match watchlist_id {
            Some(w) => Ok(self.watchlist_record(domain_id, w)?.id),
            None => {
                let attrs: DomainAttrs = decode(&domain.attributes)?;
                Ok(attrs.default_watchlist_id)
            }
        }
    }

    fn closest_fraudster(
        &self,
        domain_id: &str,
        watchlist_id: &str,
        embedding: &[f32],
        conditions: SpeechConditions,
    ) -> Result<Option<KnownFraudsterMatch>> {
        let biometrics = self.biometrics()?;
        let mut best: Option<KnownFraudsterMatch> = None;
        for rec in self.all(Kind::Fraudster, domain_id)? {
            let attrs: FraudsterAttrs = decode(&rec.attributes)?;
            if !attrs.watchlist_ids.iter().any(|w| w == watchlist_id) {
                continue;
            }
            let Some(bytes) = rec.voiceprint.as_deref() else {
                continue;
            };
            let score =
                biometrics.score(&biometrics.parse_voiceprint(bytes)?, embedding, conditions)?;
            if best.as_ref().is_none_or(|b| score > b.risk_score) {
                best = Some(KnownFraudsterMatch {
                    generated_fraudster_id: rec.id.clone(),
                    watchlist_id: watchlist_id.to_owned(),
                    risk_score: score,
                });
            }
        }
        Ok(best)
    }

    /// Refreshes LastAccessedAt after a successful authentication, unless the
    /// speaker changed meanwhile (it is re-read under the write lock).
    fn touch_speaker(&self, domain_id: &str, generated_speaker_id: &str, now: f64) -> Result<()> {
        let _guard = self.lock()?;
        let Some(mut rec) = self
            .store
            .get(Kind::Speaker, domain_id, generated_speaker_id)?
        else {
            return Ok(());
        };
        let mut attrs: SpeakerAttrs = decode(&rec.attributes)?;
        if attrs.status != SpeakerStatus::Enrolled {
            return Ok(());
        }
        attrs.last_accessed_at = Some(now);
        rec.attributes = encode(&attrs);
        self.apply(vec![Write::Put(rec)])?;
        Ok(())
    }

    pub(super) fn check_voiceprint_model(&self, voiceprint: &Voiceprint) -> Result<()> {
        let biometrics = self.biometrics()?;
        if voiceprint.model() != biometrics.model_id() {
            return Err(Error::Internal(format!(
                "voiceprint from model {:?} offered to a server running {:?}",
                voiceprint.model(),
                biometrics.model_id()
            )));
        }
        Ok(())
    }
}
