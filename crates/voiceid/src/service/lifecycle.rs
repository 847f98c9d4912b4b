//! The voiceprint lifecycle and engine conditions (issue 5): what Verint-class
//! engines add on top of Voice ID's ENROLLED / PENDING.
//!
//! - **Engine settings** per domain ([`EngineSettings`]): the identification
//!   attribute, minimum calls for a voiceprint, approval, cooling-off periods, the
//!   minimum verification score, detection thresholds and the invalid-segment score.
//!   Defaults reproduce Voice ID exactly (one call of 30 s, no approval, no
//!   cooling-off, Verified ⇔ ACCEPT, Detected ⇔ KNOWN_FRAUDSTER).
//! - **Training segments**: every enrollment (a session's call, a batch-job
//!   recording) becomes one segment row (`Kind::TrainingSegment`, id
//!   `<GeneratedSpeakerId>#<id>`, the call's embedding sealed like a voiceprint). The
//!   voiceprint is the speech-weighted mean of the valid segments, trained once the
//!   speaker has `MinimumCallsForVoiceprint` calls and 30 s of net speech.
//! - **States** ([`VoiceprintState`]): NOT_TRAINED → PARTIALLY_TRAINED →
//!   (PENDING_APPROVAL →) TRAINED; adding a segment to a trained voiceprint
//!   (ExistingEnrollmentAction `ENHANCE`) makes it INVALIDATED until background
//!   retraining; a segment that scores below `InvalidSegmentMaximumScore` against the
//!   rest (likely another person) is INVALID and blocks retraining until an operator
//!   accepts or removes it. Cooling-off keeps a trained voiceprint out of
//!   verification for a while after enrollment, re-enrollment or a fraud detection.
//!
//! Only TRAINED voiceprints outside cooling-off are used for authentication; every
//! other state reads as SPEAKER_NOT_ENROLLED in Voice ID terms, and the engine
//! condition ([`EngineConditions`]) says why.

use std::sync::atomic::Ordering;

use voiceprint_engine::scoring::{EnrollmentSample, Voiceprint};

use super::enrollment::{EnrollmentOutcome, ExistingEnrollmentAction, SpeakerEnrollment};
use super::*;
use crate::quality::QualityReason;

/// Net speech a voiceprint needs, over all its calls (Voice ID: 30 s).
pub const VOICEPRINT_SPEECH_SECONDS: f64 = 30.0;
/// Most calls a domain may require before a voiceprint is trained.
pub const MAX_MINIMUM_CALLS: u32 = 20;
/// Longest cooling-off period accepted (one year).
pub const MAX_COOLING_OFF_SECONDS: u64 = 365 * 86_400;
/// Segments kept per speaker; the oldest valid ones are dropped beyond this.
pub const MAX_SEGMENTS_PER_SPEAKER: usize = 50;

/// A domain's engine settings (extension operations DescribeEngineSettings /
/// UpdateEngineSettings). Members left out take their defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct EngineSettings {
    /// The call attribute the identification rule finds a voiceprint by: the
    /// session's speaker id (`CustomerId`, the default) or a session attribute.
    pub identification_attribute: String,
    /// Calls whose speech trains a voiceprint (1 = Voice ID: one call of 30 s).
    pub minimum_calls_for_voiceprint: u32,
    /// With more than one call required: least net speech a call must add.
    pub minimum_segment_speech_seconds: f64,
    /// New and retrained voiceprints wait for ApproveVoiceprint.
    pub require_approval: bool,
    pub cooling_off: CoolingOffSettings,
    /// A new segment scoring below this (0–100) against the speaker's other
    /// segments is flagged INVALID (likely another person).
    pub invalid_segment_maximum_score: u8,
    /// Verified when the score is above this; absent = Verified ⇔ ACCEPT (the
    /// session's AcceptanceThreshold − 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub minimum_verification_score: Option<u8>,
    pub detection: DetectionSettings,
    /// Enrollment-quality checks (issue 9): reject or flag enrollment speech that
    /// is too noisy, clipped or holds more than one voice (docs/ENROLLMENT-QUALITY.md).
    pub enrollment_quality: crate::quality::EnrollmentQualitySettings,
}

impl Default for EngineSettings {
    fn default() -> Self {
        EngineSettings {
            identification_attribute: "CustomerId".into(),
            minimum_calls_for_voiceprint: 1,
            minimum_segment_speech_seconds: 5.0,
            require_approval: false,
            cooling_off: CoolingOffSettings::default(),
            // Calibrated scores of different people sit far below this; the same
            // person's calls far above (docs/ENGINE-CONDITIONS.md).
            invalid_segment_maximum_score: 30,
            minimum_verification_score: None,
            detection: DetectionSettings::default(),
            enrollment_quality: crate::quality::EnrollmentQualitySettings::default(),
        }
    }
}

/// Cooling-off periods in seconds (0 = none).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct CoolingOffSettings {
    pub after_enrollment_seconds: u64,
    pub after_re_enrollment_seconds: u64,
    pub after_fraud_detection_seconds: u64,
}

/// Watchlist detection thresholds: Detected when the score is above the
/// threshold that applies, Potential Detection when above
/// `PotentialDetectionMinimumScore` but not above the threshold.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DetectionSettings {
    /// Absent = the session's RiskThreshold − 1 (Detected ⇔ KNOWN_FRAUDSTER).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub minimum_score: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub minimum_score_if_verified: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub minimum_score_if_not_verified: Option<u8>,
    /// Absent = no Potential Detection band.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub potential_detection_minimum_score: Option<u8>,
}

impl EngineSettings {
    fn validate(&self) -> Result<()> {
        self.enrollment_quality.validate()?;
        let attr = &self.identification_attribute;
        if attr.is_empty()
            || attr.len() > 64
            || !attr
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
        {
            return Err(Error::validation(
                "IdentificationAttribute must be 1-64 characters of [A-Za-z0-9_.-]",
            ));
        }
        if !(1..=MAX_MINIMUM_CALLS).contains(&self.minimum_calls_for_voiceprint) {
            return Err(Error::validation(format!(
                "MinimumCallsForVoiceprint must be between 1 and {MAX_MINIMUM_CALLS}"
            )));
        }
        if !(1.0..=VOICEPRINT_SPEECH_SECONDS).contains(&self.minimum_segment_speech_seconds) {
            return Err(Error::validation(
                "MinimumSegmentSpeechSeconds must be between 1 and 30",
            ));
        }
        let c = self.cooling_off;
        for (name, v) in [
            ("AfterEnrollmentSeconds", c.after_enrollment_seconds),
            ("AfterReEnrollmentSeconds", c.after_re_enrollment_seconds),
            (
                "AfterFraudDetectionSeconds",
                c.after_fraud_detection_seconds,
            ),
        ] {
            if v > MAX_COOLING_OFF_SECONDS {
                return Err(Error::validation(format!(
                    "CoolingOff.{name} must be at most {MAX_COOLING_OFF_SECONDS} (one year)"
                )));
            }
        }
        let d = self.detection;
        for (name, v) in [
            (
                "InvalidSegmentMaximumScore",
                Some(self.invalid_segment_maximum_score),
            ),
            ("MinimumVerificationScore", self.minimum_verification_score),
            ("Detection.MinimumScore", d.minimum_score),
            (
                "Detection.MinimumScoreIfVerified",
                d.minimum_score_if_verified,
            ),
            (
                "Detection.MinimumScoreIfNotVerified",
                d.minimum_score_if_not_verified,
            ),
            (
                "Detection.PotentialDetectionMinimumScore",
                d.potential_detection_minimum_score,
            ),
        ] {
            if v.is_some_and(|v| v > 100) {
                return Err(Error::validation(format!(
                    "{name} must be between 0 and 100"
                )));
            }
        }
        Ok(())
    }
}

/// Where a speaker's voiceprint stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum VoiceprintState {
    /// No segment (or all removed / rejected).
    #[default]
    NotTrained,
    /// Fewer calls or less speech than the domain requires.
    PartiallyTrained,
    /// Trained, waiting for ApproveVoiceprint.
    PendingApproval,
    Trained,
    /// Retraining pending, or blocked by INVALID segments.
    Invalidated,
}

/// Why a voiceprint is cooling off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CoolingOffReason {
    Enrollment,
    ReEnrollment,
    FraudDetection,
}

/// Stored with the speaker (plaintext attributes: states and counts, no biometrics).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Training {
    pub state: VoiceprintState,
    #[serde(default)]
    pub retrain_pending: bool,
    #[serde(default)]
    pub invalid_segments: u32,
    /// Valid calls and their net speech.
    #[serde(default)]
    pub calls: u32,
    #[serde(default)]
    pub speech_seconds: f64,
    /// How many times a voiceprint was trained (re-enrollment after the first).
    #[serde(default)]
    pub times_trained: u32,
    #[serde(default)]
    pub cooling_off_until: Option<f64>,
    #[serde(default)]
    pub cooling_off_reason: Option<CoolingOffReason>,
    /// Enrollment-quality reasons flagged on the speaker's current segments.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub quality_flags: Vec<QualityReason>,
}

/// A training segment's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SegmentStatus {
    Valid,
    /// Scored below InvalidSegmentMaximumScore against the speaker's other segments.
    Invalid,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct SegmentAttrs {
    created_at: f64,
    net_speech_seconds: f64,
    status: SegmentStatus,
    /// Score (0–100) against the speaker's other valid segments when added.
    #[serde(default)]
    score: Option<u8>,
    #[serde(default)]
    session_id: Option<String>,
    /// Enrollment-quality reasons the domain chose to flag rather than reject.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    quality_flags: Vec<QualityReason>,
}

/// One training segment as DescribeVoiceprint shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TrainingSegment {
    pub segment_id: String,
    pub created_at: Timestamp,
    pub net_speech_seconds: f64,
    pub status: SegmentStatus,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub score: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub session_id: Option<String>,
    /// Enrollment-quality reasons flagged when the segment was added.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub quality_flags: Vec<QualityReason>,
}

/// A speaker's voiceprint lifecycle (DescribeVoiceprint, ListVoiceprints).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct VoiceprintDescription {
    pub domain_id: String,
    pub generated_speaker_id: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub customer_speaker_id: Option<String>,
    pub speaker_status: SpeakerStatus,
    pub state: VoiceprintState,
    pub retraining_pending: bool,
    pub calls: u32,
    pub required_calls: u32,
    pub net_speech_seconds: f64,
    pub required_net_speech_seconds: f64,
    pub invalid_segments: u32,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub cooling_off_until: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub cooling_off_reason: Option<CoolingOffReason>,
    /// Enrollment-quality reasons flagged on the voiceprint's segments.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub quality_flags: Vec<QualityReason>,
    /// Only in DescribeVoiceprint.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub segments: Option<Vec<TrainingSegment>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EngineSettingsResponse {
    pub domain_id: String,
    pub engine_settings: EngineSettings,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateEngineSettingsRequest {
    pub domain_id: String,
    pub engine_settings: EngineSettings,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct VoiceprintResponse {
    pub voiceprint: VoiceprintDescription,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListVoiceprintsRequest {
    pub domain_id: String,
    /// Only voiceprints in this state (e.g. PENDING_APPROVAL, INVALIDATED).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub state: Option<VoiceprintState>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub max_results: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub next_token: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListVoiceprintsResponse {
    pub voiceprints: Vec<VoiceprintDescription>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub next_token: Option<String>,
}

/// `UpdateTrainingSegment.Action`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SegmentAction {
    /// The segment is the speaker after all: mark it VALID and retrain.
    Accept,
    /// Delete the segment (for real) and retrain without it.
    Remove,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateTrainingSegmentRequest {
    pub domain_id: String,
    pub speaker_id: String,
    pub segment_id: String,
    pub action: SegmentAction,
}

const PAGE_VOICEPRINTS: Page = Page::new("ListVoiceprints", Kind::Speaker, 100);

/// Why a call has no usable voiceprint (the engine condition's reason).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum NoVoicePrintReason {
    UnknownPerson,
    OptedOut,
    NotTrained,
    PartiallyTrained,
    PendingApproval,
    Invalidated,
    CoolingOff,
    /// Voice ID's EXPIRED: unused for three years, must enroll again.
    Expired,
}

/// A speaker's voiceprint as verification sees it.
#[derive(Debug, Clone, PartialEq)]
pub enum VoiceprintAvailability {
    Usable(Voiceprint),
    Unusable(NoVoicePrintReason),
}

fn segment_prefix(speaker_id: &str) -> String {
    format!("{speaker_id}#")
}

fn invalidated() -> Error {
    Error::validation("the segment does not exist")
}

impl VoiceIdService {
    // ---------- settings ----------

    /// The domain's engine settings (defaults when never set).
    pub fn engine_settings(&self, domain_id: &str) -> Result<EngineSettings> {
        let a: DomainAttrs = decode(&self.domain_record(domain_id)?.attributes)?;
        Ok(a.engine.unwrap_or_default())
    }

    pub fn describe_engine_settings(&self, req: DomainIdRequest) -> Result<EngineSettingsResponse> {
        Ok(EngineSettingsResponse {
            engine_settings: self.engine_settings(&req.domain_id)?,
            domain_id: req.domain_id,
        })
    }

    /// Replaces the domain's engine settings. Existing voiceprints are re-evaluated
    /// against new training requirements on their next segment or retraining.
    pub fn update_engine_settings(
        &self,
        req: UpdateEngineSettingsRequest,
    ) -> Result<EngineSettingsResponse> {
        req.engine_settings.validate()?;
        let _guard = self.lock()?;
        let mut rec = self.domain_record(&req.domain_id)?;
        let mut a: DomainAttrs = decode(&rec.attributes)?;
        a.engine = Some(req.engine_settings.clone());
        a.updated_at = self.now();
        rec.attributes = encode(&a);
        self.apply(vec![Write::Put(rec)])?;
        Ok(EngineSettingsResponse {
            domain_id: req.domain_id,
            engine_settings: req.engine_settings,
        })
    }

    // ---------- segments ----------

    fn segment_records(&self, domain_id: &str, speaker_id: &str) -> Result<Vec<Record>> {
        let prefix = segment_prefix(speaker_id);
        let mut out = Vec::new();
        let mut after = prefix.clone();
        loop {
            let batch = self
                .store
                .list(Kind::TrainingSegment, domain_id, Some(&after), 100)?;
            let done = batch.len() < 100;
            for rec in batch {
                if !rec.id.starts_with(&prefix) {
                    return Ok(out);
                }
                after = rec.id.clone();
                out.push(rec);
            }
            if done {
                return Ok(out);
            }
        }
    }

    /// Deletes of every training segment of a speaker (deleting or opting out the
    /// speaker deletes them with it, in the same atomic batch).
    pub(super) fn segment_deletes(&self, domain_id: &str, speaker_id: &str) -> Result<Vec<Write>> {
        Ok(self
            .segment_records(domain_id, speaker_id)?
            .into_iter()
            .map(|r| Write::Delete {
                kind: Kind::TrainingSegment,
                domain_id: r.domain_id,
                id: r.id,
            })
            .collect())
    }

    /// Adds `segment` (one call's or recording's speech) to `speaker_id`'s voiceprint
    /// and trains it when the domain's requirements are met. `action` applies to a
    /// speaker whose voiceprint is TRAINED: SKIP leaves it, OVERWRITE starts a new
    /// voiceprint from this segment, ENHANCE adds the segment and retrains in the
    /// background. Opted-out speakers are refused.
    pub fn add_training_segment(
        &self,
        domain_id: &str,
        speaker_id: &str,
        segment: &Voiceprint,
        action: ExistingEnrollmentAction,
        session_id: Option<&str>,
        quality_flags: &[QualityReason],
    ) -> Result<SpeakerEnrollment> {
        self.check_voiceprint_model(segment)?;
        let _guard = self.lock()?;
        self.domain_record(domain_id)?;
        let settings = self.engine_settings(domain_id)?;
        let now = self.now();
        let mut writes = Vec::new();
        let (mut rec, mut outcome) = match self.find_speaker(domain_id, speaker_id)? {
            Some(rec) => {
                let view = self.speaker_view(&rec, now)?;
                let attrs: SpeakerAttrs = decode(&rec.attributes)?;
                let trained = attrs.training.as_ref().is_none_or(|t| t.times_trained > 0);
                let outcome = match view.status {
                    SpeakerStatus::OptedOut => return Err(Error::conflict(
                        ConflictType::SpeakerOptedOut,
                        "The speaker has opted out; delete the speaker before enrolling it again",
                    )),
                    SpeakerStatus::Expired => {
                        writes = self.segment_deletes(domain_id, &rec.id)?;
                        EnrollmentOutcome::EnrollmentOverwrite
                    }
                    _ if !trained
                        || rec.voiceprint.is_none() && view.status == SpeakerStatus::Pending =>
                    {
                        EnrollmentOutcome::NewEnrollment
                    }
                    _ => match action {
                        ExistingEnrollmentAction::Skip => {
                            return Ok(SpeakerEnrollment {
                                generated_speaker_id: view.generated_speaker_id,
                                customer_speaker_id: view.customer_speaker_id,
                                outcome: EnrollmentOutcome::DuplicateSkipped,
                                voiceprint_state: attrs
                                    .training
                                    .map_or(VoiceprintState::Trained, |t| t.state),
                            });
                        }
                        ExistingEnrollmentAction::Overwrite => {
                            writes = self.segment_deletes(domain_id, &rec.id)?;
                            EnrollmentOutcome::EnrollmentOverwrite
                        }
                        ExistingEnrollmentAction::Enhance => EnrollmentOutcome::EnrollmentEnhanced,
                    },
                };
                (rec, outcome)
            }
            None if is_generated_id(speaker_id) => {
                return Err(Error::not_found(
                    ResourceType::Speaker,
                    "The speaker does not exist",
                ));
            }
            None => {
                self.check_speaker_quota(domain_id, 1)?;
                let rec = Record {
                    kind: Kind::Speaker,
                    domain_id: domain_id.into(),
                    id: new_generated_id(),
                    alt_key: Some(speaker_id.into()),
                    attributes: encode(&SpeakerAttrs {
                        created_at: now,
                        updated_at: now,
                        last_accessed_at: None,
                        status: SpeakerStatus::Pending,
                        training: Some(Training::default()),
                    }),
                    sensitive: encode(&SpeakerSecret {
                        customer_speaker_id: Some(speaker_id.into()),
                    }),
                    voiceprint: None,
                };
                (rec, EnrollmentOutcome::NewEnrollment)
            }
        };
        let mut attrs: SpeakerAttrs = decode(&rec.attributes)?;
        let overwrite = !writes.is_empty() || outcome == EnrollmentOutcome::EnrollmentOverwrite;
        // A speaker enrolled before training segments existed: its voiceprint
        // becomes its first segment, so ENHANCE builds on it.
        let mut segments = if overwrite {
            Vec::new()
        } else {
            self.segment_records(domain_id, &rec.id)?
        };
        if !overwrite && segments.is_empty() {
            if let (Some(bytes), true) = (rec.voiceprint.clone(), attrs.training.is_none()) {
                let legacy = self.segment_record(&rec, &bytes, attrs.created_at, None, None)?;
                writes.push(Write::Put(legacy.clone()));
                segments.push(legacy);
            }
        }
        let previously_trained = attrs
            .training
            .as_ref()
            .map_or(rec.voiceprint.is_some(), |t| t.times_trained > 0);
        let mut training = if overwrite {
            Training {
                times_trained: attrs
                    .training
                    .as_ref()
                    .map_or(1, |t| t.times_trained.max(1)),
                ..Training::default()
            }
        } else {
            attrs.training.clone().unwrap_or(Training {
                state: VoiceprintState::Trained,
                times_trained: u32::from(rec.voiceprint.is_some()),
                ..Training::default()
            })
        };
        // Flag a segment far from the speaker's others (likely another person).
        let valid: Vec<Voiceprint> = segments
            .iter()
            .filter(|r| {
                decode::<SegmentAttrs>(&r.attributes)
                    .is_ok_and(|a| a.status == SegmentStatus::Valid)
            })
            .filter_map(|r| r.voiceprint.as_deref())
            .map(|b| self.biometrics()?.parse_voiceprint(b))
            .collect::<Result<_>>()?;
        let score = if valid.is_empty() {
            None
        } else {
            Some(
                self.biometrics()?.score(
                    &mean_voiceprint(&valid)?,
                    segment.values(),
                    crate::biometrics::enrollment_conditions(segment),
                )?,
            )
        };
        let status = match score {
            Some(s) if s < settings.invalid_segment_maximum_score => SegmentStatus::Invalid,
            _ => SegmentStatus::Valid,
        };
        let mut new_segment =
            self.segment_record(&rec, &segment.to_bytes(), now, score, session_id)?;
        new_segment.attributes = encode(&SegmentAttrs {
            status,
            quality_flags: quality_flags.to_vec(),
            ..decode(&new_segment.attributes)?
        });
        writes.push(Write::Put(new_segment.clone()));
        segments.push(new_segment);
        if segments.len() > MAX_SEGMENTS_PER_SPEAKER {
            // Oldest first out: a voice changes over years.
            segments.sort_by(|a, b| segment_time(a).total_cmp(&segment_time(b)));
            for old in segments.drain(..segments.len() - MAX_SEGMENTS_PER_SPEAKER) {
                writes.push(Write::Delete {
                    kind: Kind::TrainingSegment,
                    domain_id: old.domain_id,
                    id: old.id,
                });
            }
        }
        if previously_trained && !overwrite && outcome == EnrollmentOutcome::EnrollmentEnhanced {
            // The old voiceprint no longer describes all the speaker's calls:
            // unusable until retrained in the background.
            training.state = VoiceprintState::Invalidated;
            training.retrain_pending = true;
            count_segments(&segments, &mut training)?;
        } else {
            if outcome == EnrollmentOutcome::EnrollmentEnhanced {
                outcome = EnrollmentOutcome::NewEnrollment;
            }
            self.train(
                &mut rec,
                &mut attrs,
                &mut training,
                &segments,
                &settings,
                now,
            )?;
        }
        attrs.training = Some(training.clone());
        attrs.updated_at = now;
        rec.attributes = encode(&attrs);
        let secret: SpeakerSecret = decode(&rec.sensitive)?;
        let generated_speaker_id = rec.id.clone();
        writes.push(Write::Put(rec));
        self.apply(writes)?;
        if training.retrain_pending {
            // Only once the pending flag is stored: a background pass that took the hint
            // before would scan, find nothing, and leave the voiceprint INVALIDATED.
            self.retrain_hint.store(true, Ordering::Relaxed);
        }
        Ok(SpeakerEnrollment {
            generated_speaker_id,
            customer_speaker_id: secret.customer_speaker_id,
            outcome,
            voiceprint_state: training.state,
        })
    }

    fn segment_record(
        &self,
        speaker: &Record,
        voiceprint: &[u8],
        created_at: f64,
        score: Option<u8>,
        session_id: Option<&str>,
    ) -> Result<Record> {
        let seconds = self
            .biometrics()?
            .parse_voiceprint(voiceprint)?
            .net_speech_seconds();
        Ok(Record {
            kind: Kind::TrainingSegment,
            domain_id: speaker.domain_id.clone(),
            id: format!("{}{}", segment_prefix(&speaker.id), new_id22()),
            alt_key: None,
            attributes: encode(&SegmentAttrs {
                created_at,
                net_speech_seconds: seconds,
                status: SegmentStatus::Valid,
                score,
                session_id: session_id.map(str::to_owned),
                quality_flags: Vec::new(),
            }),
            sensitive: json!({}),
            voiceprint: Some(voiceprint.to_vec()),
        })
    }

    /// Trains the voiceprint from `segments` as the settings require and sets the
    /// speaker's Voice ID status to match: ENROLLED only for a TRAINED voiceprint.
    fn train(
        &self,
        rec: &mut Record,
        attrs: &mut SpeakerAttrs,
        training: &mut Training,
        segments: &[Record],
        settings: &EngineSettings,
        now: f64,
    ) -> Result<()> {
        let valid = count_segments(segments, training)?;
        training.retrain_pending = false;
        // One call (Voice ID): the caller already required its speech (30 s in a
        // session, `jobs.min_speech_seconds` in a batch job). Over several calls, the
        // calls together must reach 30 s.
        let enough = training.calls >= settings.minimum_calls_for_voiceprint
            && (settings.minimum_calls_for_voiceprint == 1
                || training.speech_seconds + 1e-6 >= VOICEPRINT_SPEECH_SECONDS);
        training.state = if training.invalid_segments > 0 {
            VoiceprintState::Invalidated
        } else if valid.is_empty() {
            VoiceprintState::NotTrained
        } else if !enough {
            VoiceprintState::PartiallyTrained
        } else if settings.require_approval {
            VoiceprintState::PendingApproval
        } else {
            VoiceprintState::Trained
        };
        match training.state {
            VoiceprintState::Invalidated => {
                // Blocked: the voiceprint is unusable until an operator decides.
                rec.voiceprint = None;
                if attrs.status == SpeakerStatus::Enrolled {
                    attrs.status = SpeakerStatus::Pending;
                }
            }
            VoiceprintState::NotTrained | VoiceprintState::PartiallyTrained => {
                rec.voiceprint = None;
                attrs.status = SpeakerStatus::Pending;
            }
            VoiceprintState::PendingApproval => {
                rec.voiceprint = Some(mean_voiceprint(&valid)?.to_bytes());
                attrs.status = SpeakerStatus::Pending;
            }
            VoiceprintState::Trained => {
                rec.voiceprint = Some(mean_voiceprint(&valid)?.to_bytes());
                self.put_in_service(attrs, training, settings, now);
            }
        }
        Ok(())
    }

    /// A trained (and, where required, approved) voiceprint goes into service:
    /// ENROLLED, with the cooling-off of a first enrollment or a re-enrollment.
    fn put_in_service(
        &self,
        attrs: &mut SpeakerAttrs,
        training: &mut Training,
        settings: &EngineSettings,
        now: f64,
    ) {
        let (reason, seconds) = if training.times_trained == 0 {
            (
                CoolingOffReason::Enrollment,
                settings.cooling_off.after_enrollment_seconds,
            )
        } else {
            (
                CoolingOffReason::ReEnrollment,
                settings.cooling_off.after_re_enrollment_seconds,
            )
        };
        training.times_trained += 1;
        training.state = VoiceprintState::Trained;
        if seconds > 0 {
            training.cooling_off_until = Some(now + seconds as f64);
            training.cooling_off_reason = Some(reason);
        }
        attrs.status = SpeakerStatus::Enrolled;
        attrs.last_accessed_at = Some(now);
    }

    /// Retrains every voiceprint waiting for it (ENHANCE'd, or a segment accepted or
    /// removed). Cheap when there is nothing to do; the server calls it every few
    /// seconds. Returns how many voiceprints were retrained.
    pub fn retrain_pending_voiceprints(&self) -> Result<usize> {
        if !self.retrain_hint.swap(false, Ordering::Relaxed) {
            return Ok(0);
        }
        let mut done = 0;
        let result = (|| -> Result<()> {
            for domain in self.all(Kind::Domain, "")? {
                let mut after: Option<String> = None;
                loop {
                    let batch = self.store.list_without_voiceprints(
                        Kind::Speaker,
                        &domain.id,
                        after.as_deref(),
                        1000,
                    )?;
                    let exhausted = batch.len() < 1000;
                    after = batch.last().map(|r| r.id.clone());
                    for rec in batch {
                        let a: SpeakerAttrs = decode(&rec.attributes)?;
                        if a.training.is_some_and(|t| t.retrain_pending) {
                            done += usize::from(self.retrain(&domain.id, &rec.id)?);
                        }
                    }
                    if exhausted {
                        break;
                    }
                }
            }
            Ok(())
        })();
        if result.is_err() {
            // Try again on the next call.
            self.retrain_hint.store(true, Ordering::Relaxed);
        }
        result.map(|()| done)
    }

    /// Retrains one speaker's voiceprint from its segments, under the write lock.
    fn retrain(&self, domain_id: &str, speaker_id: &str) -> Result<bool> {
        let _guard = self.lock()?;
        let Some(mut rec) = self.store.get(Kind::Speaker, domain_id, speaker_id)? else {
            return Ok(false);
        };
        let mut attrs: SpeakerAttrs = decode(&rec.attributes)?;
        let Some(mut training) = attrs.training.clone() else {
            return Ok(false);
        };
        if attrs.status == SpeakerStatus::OptedOut {
            return Ok(false);
        }
        let settings = self.engine_settings(domain_id)?;
        let segments = self.segment_records(domain_id, speaker_id)?;
        let now = self.now();
        self.train(
            &mut rec,
            &mut attrs,
            &mut training,
            &segments,
            &settings,
            now,
        )?;
        attrs.training = Some(training);
        attrs.updated_at = now;
        rec.attributes = encode(&attrs);
        self.apply(vec![Write::Put(rec)])?;
        Ok(true)
    }

    // ---------- operator operations ----------

    fn voiceprint_description(
        &self,
        rec: &Record,
        settings: &EngineSettings,
        with_segments: bool,
    ) -> Result<VoiceprintDescription> {
        let now = self.now();
        let view = self.speaker_view(rec, now)?;
        let a: SpeakerAttrs = decode(&rec.attributes)?;
        let t = a.training.clone().unwrap_or(Training {
            state: if view.status == SpeakerStatus::Enrolled {
                VoiceprintState::Trained
            } else {
                VoiceprintState::NotTrained
            },
            ..Training::default()
        });
        let segments = if with_segments {
            let mut list = self
                .segment_records(&rec.domain_id, &rec.id)?
                .into_iter()
                .map(|r| {
                    let s: SegmentAttrs = decode(&r.attributes)?;
                    Ok(TrainingSegment {
                        segment_id: r.id[r.id.len().min(rec.id.len() + 1)..].to_owned(),
                        created_at: s.created_at,
                        net_speech_seconds: s.net_speech_seconds,
                        status: s.status,
                        score: s.score,
                        session_id: s.session_id,
                        quality_flags: s.quality_flags,
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            list.sort_by(|a, b| a.created_at.total_cmp(&b.created_at));
            Some(list)
        } else {
            None
        };
        let cooling = t.cooling_off_until.filter(|&u| u > now);
        Ok(VoiceprintDescription {
            domain_id: rec.domain_id.clone(),
            generated_speaker_id: rec.id.clone(),
            customer_speaker_id: view.customer_speaker_id,
            speaker_status: view.status,
            state: t.state,
            retraining_pending: t.retrain_pending,
            calls: t.calls,
            required_calls: settings.minimum_calls_for_voiceprint,
            net_speech_seconds: t.speech_seconds,
            required_net_speech_seconds: VOICEPRINT_SPEECH_SECONDS,
            invalid_segments: t.invalid_segments,
            cooling_off_until: cooling,
            cooling_off_reason: cooling.and(t.cooling_off_reason),
            quality_flags: t.quality_flags.clone(),
            segments,
        })
    }

    /// DescribeVoiceprint: the speaker's voiceprint state, counts and segments.
    pub fn describe_voiceprint(&self, req: SpeakerRequest) -> Result<VoiceprintResponse> {
        let settings = self.engine_settings(&req.domain_id)?;
        let rec = self.speaker_record(&req.domain_id, &req.speaker_id)?;
        Ok(VoiceprintResponse {
            voiceprint: self.voiceprint_description(&rec, &settings, true)?,
        })
    }

    /// ListVoiceprints: speakers' voiceprints, optionally in one state (the
    /// approval queue is `State = PENDING_APPROVAL`).
    pub fn list_voiceprints(&self, req: ListVoiceprintsRequest) -> Result<ListVoiceprintsResponse> {
        let settings = self.engine_settings(&req.domain_id)?;
        let wanted = req.state;
        let filter = wanted.map(|s| encode(&s).as_str().unwrap_or_default().to_owned());
        let keep = |rec: &Record| -> Result<bool> {
            let a: SpeakerAttrs = decode(&rec.attributes)?;
            let state = match a.training {
                Some(t) => t.state,
                None if a.status == SpeakerStatus::Enrolled => VoiceprintState::Trained,
                None => VoiceprintState::NotTrained,
            };
            Ok(a.status != SpeakerStatus::OptedOut && wanted.is_none_or(|w| w == state))
        };
        let (rows, next_token) = self.page(
            &PAGE_VOICEPRINTS,
            &req.domain_id,
            filter.as_deref(),
            req.max_results,
            req.next_token.as_deref(),
            &keep,
        )?;
        Ok(ListVoiceprintsResponse {
            voiceprints: rows
                .iter()
                .map(|r| self.voiceprint_description(r, &settings, false))
                .collect::<Result<_>>()?,
            next_token,
        })
    }

    fn pending_approval(&self, req: &SpeakerRequest) -> Result<(Record, SpeakerAttrs, Training)> {
        self.domain_record(&req.domain_id)?;
        let rec = self.speaker_record(&req.domain_id, &req.speaker_id)?;
        let attrs: SpeakerAttrs = decode(&rec.attributes)?;
        match attrs.training.clone() {
            Some(t) if t.state == VoiceprintState::PendingApproval => Ok((rec, attrs, t)),
            _ => Err(Error::conflict(
                ConflictType::ConcurrentChanges,
                "The speaker's voiceprint is not pending approval",
            )),
        }
    }

    /// ApproveVoiceprint: a PENDING_APPROVAL voiceprint goes into service.
    pub fn approve_voiceprint(&self, req: SpeakerRequest) -> Result<VoiceprintResponse> {
        let _guard = self.lock()?;
        let (mut rec, mut attrs, mut training) = self.pending_approval(&req)?;
        let settings = self.engine_settings(&req.domain_id)?;
        let now = self.now();
        self.put_in_service(&mut attrs, &mut training, &settings, now);
        attrs.training = Some(training);
        attrs.updated_at = now;
        rec.attributes = encode(&attrs);
        self.apply(vec![Write::Put(rec.clone())])?;
        Ok(VoiceprintResponse {
            voiceprint: self.voiceprint_description(&rec, &settings, true)?,
        })
    }

    /// RejectVoiceprint: a PENDING_APPROVAL voiceprint and its segments are deleted
    /// (for real); the speaker is NOT_TRAINED and may enroll again.
    pub fn reject_voiceprint(&self, req: SpeakerRequest) -> Result<VoiceprintResponse> {
        let _guard = self.lock()?;
        let (mut rec, mut attrs, training) = self.pending_approval(&req)?;
        let settings = self.engine_settings(&req.domain_id)?;
        let mut writes = self.segment_deletes(&rec.domain_id, &rec.id)?;
        attrs.training = Some(Training {
            times_trained: training.times_trained,
            ..Training::default()
        });
        attrs.status = SpeakerStatus::Pending;
        attrs.updated_at = self.now();
        rec.attributes = encode(&attrs);
        rec.voiceprint = None;
        writes.push(Write::Put(rec.clone()));
        self.apply(writes)?;
        Ok(VoiceprintResponse {
            voiceprint: self.voiceprint_description(&rec, &settings, true)?,
        })
    }

    /// UpdateTrainingSegment: ACCEPT an INVALID segment (it is the speaker) or REMOVE
    /// a segment; the voiceprint is retrained in the background.
    pub fn update_training_segment(
        &self,
        req: UpdateTrainingSegmentRequest,
    ) -> Result<VoiceprintResponse> {
        let settings = self.engine_settings(&req.domain_id)?;
        {
            let _guard = self.lock()?;
            let mut rec = self.speaker_record(&req.domain_id, &req.speaker_id)?;
            let mut attrs: SpeakerAttrs = decode(&rec.attributes)?;
            if attrs.status == SpeakerStatus::OptedOut {
                return Err(Error::conflict(
                    ConflictType::SpeakerOptedOut,
                    "The speaker has opted out",
                ));
            }
            if req.segment_id.is_empty() || req.segment_id.contains('#') {
                return Err(invalidated());
            }
            let id = format!("{}{}", segment_prefix(&rec.id), req.segment_id);
            let Some(mut segment) = self.store.get(Kind::TrainingSegment, &req.domain_id, &id)?
            else {
                return Err(Error::not_found(
                    ResourceType::Speaker,
                    "The training segment does not exist",
                ));
            };
            let write = match req.action {
                SegmentAction::Remove => Write::Delete {
                    kind: Kind::TrainingSegment,
                    domain_id: req.domain_id.clone(),
                    id,
                },
                SegmentAction::Accept => {
                    let mut s: SegmentAttrs = decode(&segment.attributes)?;
                    s.status = SegmentStatus::Valid;
                    segment.attributes = encode(&s);
                    Write::Put(segment)
                }
            };
            let mut training = attrs.training.clone().unwrap_or_default();
            training.retrain_pending = true;
            if training.state == VoiceprintState::Trained {
                training.state = VoiceprintState::Invalidated;
            }
            attrs.training = Some(training);
            attrs.updated_at = self.now();
            rec.attributes = encode(&attrs);
            self.apply(vec![write, Write::Put(rec)])?;
            self.retrain_hint.store(true, Ordering::Relaxed);
        }
        let rec = self.speaker_record(&req.domain_id, &req.speaker_id)?;
        Ok(VoiceprintResponse {
            voiceprint: self.voiceprint_description(&rec, &settings, true)?,
        })
    }

    // ---------- verification side ----------

    /// The voiceprint verification may use for `rec`, or why there is none.
    pub(super) fn voiceprint_availability(
        &self,
        rec: &Record,
        now: f64,
    ) -> Result<VoiceprintAvailability> {
        let view = self.speaker_view(rec, now)?;
        let a: SpeakerAttrs = decode(&rec.attributes)?;
        use NoVoicePrintReason as R;
        let unusable = |r| Ok(VoiceprintAvailability::Unusable(r));
        match view.status {
            SpeakerStatus::OptedOut => return unusable(R::OptedOut),
            SpeakerStatus::Expired => return unusable(R::Expired),
            _ => {}
        }
        if let Some(t) = &a.training {
            match t.state {
                VoiceprintState::NotTrained => return unusable(R::NotTrained),
                VoiceprintState::PartiallyTrained => return unusable(R::PartiallyTrained),
                VoiceprintState::PendingApproval => return unusable(R::PendingApproval),
                VoiceprintState::Invalidated => return unusable(R::Invalidated),
                VoiceprintState::Trained => {}
            }
            if t.cooling_off_until.is_some_and(|u| now < u) {
                return unusable(R::CoolingOff);
            }
        }
        match (view.status, rec.voiceprint.as_deref()) {
            (SpeakerStatus::Enrolled, Some(bytes)) => Ok(VoiceprintAvailability::Usable(
                self.biometrics()?.parse_voiceprint(bytes)?,
            )),
            _ => unusable(R::NotTrained),
        }
    }

    /// Why `speaker_id` has no usable voiceprint, or None when it has one.
    pub fn no_voiceprint_reason(
        &self,
        domain_id: &str,
        speaker_id: &str,
    ) -> Result<Option<NoVoicePrintReason>> {
        let Some(rec) = self.find_speaker(domain_id, speaker_id)? else {
            return Ok(Some(NoVoicePrintReason::UnknownPerson));
        };
        Ok(match self.voiceprint_availability(&rec, self.now())? {
            VoiceprintAvailability::Usable(_) => None,
            VoiceprintAvailability::Unusable(r) => Some(r),
        })
    }

    /// A watchlist detection on `speaker_id`'s call: starts the domain's
    /// cooling-off after fraud detection (when it has one) for a trained voiceprint.
    pub fn cool_off_after_fraud_detection(&self, domain_id: &str, speaker_id: &str) -> Result<()> {
        let settings = self.engine_settings(domain_id)?;
        let seconds = settings.cooling_off.after_fraud_detection_seconds;
        if seconds == 0 {
            return Ok(());
        }
        let _guard = self.lock()?;
        let Some(mut rec) = self.find_speaker(domain_id, speaker_id)? else {
            return Ok(());
        };
        let mut attrs: SpeakerAttrs = decode(&rec.attributes)?;
        if attrs.status != SpeakerStatus::Enrolled {
            return Ok(());
        }
        let now = self.now();
        let mut t = attrs.training.clone().unwrap_or(Training {
            state: VoiceprintState::Trained,
            times_trained: 1,
            ..Training::default()
        });
        let until = now + seconds as f64;
        if t.cooling_off_until.is_some_and(|u| u >= until) {
            return Ok(());
        }
        t.cooling_off_until = Some(until);
        t.cooling_off_reason = Some(CoolingOffReason::FraudDetection);
        attrs.training = Some(t);
        attrs.updated_at = now;
        rec.attributes = encode(&attrs);
        self.apply(vec![Write::Put(rec)])?;
        Ok(())
    }
}

fn segment_time(rec: &Record) -> f64 {
    decode::<SegmentAttrs>(&rec.attributes).map_or(0.0, |a| a.created_at)
}

/// Counts valid calls, their speech and invalid segments into `training`; returns
/// the valid segments' voiceprints.
fn count_segments(segments: &[Record], training: &mut Training) -> Result<Vec<Voiceprint>> {
    let mut valid = Vec::new();
    training.calls = 0;
    training.speech_seconds = 0.0;
    training.invalid_segments = 0;
    training.quality_flags.clear();
    for r in segments {
        let a: SegmentAttrs = decode(&r.attributes)?;
        for f in &a.quality_flags {
            if !training.quality_flags.contains(f) {
                training.quality_flags.push(*f);
            }
        }
        match a.status {
            SegmentStatus::Invalid => training.invalid_segments += 1,
            SegmentStatus::Valid => {
                let Some(bytes) = r.voiceprint.as_deref() else {
                    continue;
                };
                let vp = Voiceprint::from_bytes(bytes).map_err(|e| {
                    Error::Internal(format!("a training segment does not decode: {e}"))
                })?;
                training.calls += 1;
                training.speech_seconds += a.net_speech_seconds;
                valid.push(vp);
            }
        }
    }
    Ok(valid)
}

/// The speech-weighted mean of segment voiceprints (as one enrollment of them all).
fn mean_voiceprint(segments: &[Voiceprint]) -> Result<Voiceprint> {
    let model = segments
        .first()
        .ok_or_else(|| Error::Internal("training needs at least one segment".into()))?
        .model()
        .to_owned();
    let samples: Vec<EnrollmentSample<'_>> = segments
        .iter()
        .map(|s| EnrollmentSample {
            embedding: s.values(),
            net_speech_seconds: s.net_speech_seconds(),
        })
        .collect();
    Voiceprint::enroll(&model, &samples)
        .map_err(|e| Error::Internal(format!("training the voiceprint: {e}")))
}
