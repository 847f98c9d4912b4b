//! Engine conditions of a call (issue 5): the Verint-style reading of a session's
//! results — No Attribute, No Voice Print (with its reason), Verified / Not
//! Verified, Potential Detection / Detected — reported next to Voice ID's decisions
//! (EvaluateSession and DescribeSession's `EngineConditions`) and offered to flows
//! as the Check Voice ID option `engineCondition`.
//!
//! Pure: [`engine_conditions`] maps what the session already computed (scores,
//! speech, the speaker's voiceprint state) through the domain's
//! [`EngineSettings`]. Thresholds are "above" thresholds, as Verint words them;
//! their defaults are one below Voice ID's `>=` thresholds, so with default
//! settings Verified ⇔ ACCEPT and Detected ⇔ KNOWN_FRAUDSTER.

use serde::{Deserialize, Serialize};

use crate::service::lifecycle::{EngineSettings, NoVoicePrintReason};

/// Whether the identification rule found a voiceprint for the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum IdentificationCondition {
    /// The call lacks the identification attribute (no speaker id).
    NoAttribute,
    /// The attribute is there but there is no usable voiceprint (see the reason).
    NoVoicePrint,
    /// A usable voiceprint was found.
    VoicePrint,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum VerificationCondition {
    Verified,
    NotVerified,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum NotVerifiedReason {
    /// The score is at or below the minimum verification score.
    ScoreAtOrBelowMinimum,
    /// Audio processing stopped (the call ended) before enough speech for a result.
    AudioStopped,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DetectionCondition {
    Detected,
    PotentialDetection,
    NotDetected,
}

/// The conditions of one call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EngineConditions {
    pub identification: IdentificationCondition,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub no_voice_print_reason: Option<NoVoicePrintReason>,
    /// Absent while verification has neither a result nor a reason to give up.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub verification: Option<VerificationCondition>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub not_verified_reason: Option<NotVerifiedReason>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub verification_score: Option<u8>,
    pub minimum_verification_score: u8,
    /// Absent until the call has enough speech for watchlist detection.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub detection: Option<DetectionCondition>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub detection_score: Option<u8>,
    /// The threshold that applied (it may depend on the verification outcome).
    pub detection_threshold: u8,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub potential_detection_minimum_score: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub generated_fraudster_id: Option<String>,
    /// Every condition the call has, spelled as the flow operands of the Check
    /// Voice ID option `engineCondition` (e.g. `NoVoicePrint`, `CoolingOff`,
    /// `Verified`, `PotentialDetection`).
    pub conditions: Vec<String>,
}

/// What a session knows when its conditions are read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConditionInputs {
    /// The identification attribute's value (the session's speaker), if any.
    pub has_attribute: bool,
    /// None = the speaker has a usable voiceprint.
    pub no_voice_print: Option<NoVoicePrintReason>,
    /// The verification score, when authentication produced one.
    pub verification_score: Option<u8>,
    pub acceptance_threshold: u8,
    /// The call has ended (no more audio will come).
    pub ended: bool,
    /// Watchlist score, when the call had enough speech for detection.
    pub detection_score: Option<u8>,
    pub generated_fraudster_id: Option<String>,
    pub risk_threshold: u8,
}

/// Flow operand of a no-voiceprint reason.
pub fn reason_operand(reason: NoVoicePrintReason) -> &'static str {
    use NoVoicePrintReason as R;
    match reason {
        R::UnknownPerson => "UnknownPerson",
        R::OptedOut => "OptedOut",
        R::NotTrained => "NotTrained",
        R::PartiallyTrained => "PartiallyTrained",
        R::PendingApproval => "PendingApproval",
        R::Invalidated => "Invalidated",
        R::CoolingOff => "CoolingOff",
        R::Expired => "Expired",
    }
}

/// The engine conditions for `inputs` under `settings`.
pub fn engine_conditions(inputs: &ConditionInputs, settings: &EngineSettings) -> EngineConditions {
    let mut conditions = Vec::new();
    let (identification, reason) = match (inputs.has_attribute, inputs.no_voice_print) {
        (false, _) => (IdentificationCondition::NoAttribute, None),
        (true, Some(r)) => (IdentificationCondition::NoVoicePrint, Some(r)),
        (true, None) => (IdentificationCondition::VoicePrint, None),
    };
    match identification {
        IdentificationCondition::NoAttribute => conditions.push("NoAttribute".to_owned()),
        IdentificationCondition::NoVoicePrint => {
            conditions.push("NoVoicePrint".to_owned());
            conditions.extend(reason.map(|r| reason_operand(r).to_owned()));
        }
        IdentificationCondition::VoicePrint => {}
    }
    let minimum_verification_score = settings
        .minimum_verification_score
        .unwrap_or(inputs.acceptance_threshold.saturating_sub(1));
    let (verification, not_verified_reason) = match (identification, inputs.verification_score) {
        (IdentificationCondition::VoicePrint, Some(score))
            if score > minimum_verification_score =>
        {
            (Some(VerificationCondition::Verified), None)
        }
        (IdentificationCondition::VoicePrint, Some(_)) => (
            Some(VerificationCondition::NotVerified),
            Some(NotVerifiedReason::ScoreAtOrBelowMinimum),
        ),
        (IdentificationCondition::VoicePrint, None) if inputs.ended => (
            Some(VerificationCondition::NotVerified),
            Some(NotVerifiedReason::AudioStopped),
        ),
        _ => (None, None),
    };
    match verification {
        Some(VerificationCondition::Verified) => conditions.push("Verified".to_owned()),
        Some(VerificationCondition::NotVerified) => conditions.push("NotVerified".to_owned()),
        None => {}
    }
    let d = settings.detection;
    let base = d
        .minimum_score
        .unwrap_or(inputs.risk_threshold.saturating_sub(1));
    let detection_threshold = match verification {
        Some(VerificationCondition::Verified) => d.minimum_score_if_verified.unwrap_or(base),
        Some(VerificationCondition::NotVerified) => d.minimum_score_if_not_verified.unwrap_or(base),
        None => base,
    };
    let detection = inputs.detection_score.map(|score| {
        if score > detection_threshold {
            DetectionCondition::Detected
        } else if d
            .potential_detection_minimum_score
            .is_some_and(|p| score > p)
        {
            DetectionCondition::PotentialDetection
        } else {
            DetectionCondition::NotDetected
        }
    });
    match detection {
        Some(DetectionCondition::Detected) => conditions.push("Detected".to_owned()),
        Some(DetectionCondition::PotentialDetection) => {
            conditions.push("PotentialDetection".to_owned())
        }
        Some(DetectionCondition::NotDetected) => conditions.push("NotDetected".to_owned()),
        None => {}
    }
    EngineConditions {
        identification,
        no_voice_print_reason: reason,
        verification,
        not_verified_reason,
        verification_score: inputs
            .verification_score
            .filter(|_| identification == IdentificationCondition::VoicePrint),
        minimum_verification_score,
        detection,
        detection_score: inputs.detection_score,
        detection_threshold,
        potential_detection_minimum_score: d.potential_detection_minimum_score,
        generated_fraudster_id: inputs
            .generated_fraudster_id
            .clone()
            .filter(|_| detection.is_some_and(|d| d != DetectionCondition::NotDetected)),
        conditions,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::lifecycle::DetectionSettings;

    fn inputs() -> ConditionInputs {
        ConditionInputs {
            has_attribute: true,
            acceptance_threshold: 90,
            risk_threshold: 50,
            ..ConditionInputs::default()
        }
    }

    #[test]
    fn defaults_agree_with_voice_id_thresholds() {
        let s = EngineSettings::default();
        for (score, verified) in [(89, false), (90, true), (100, true), (0, false)] {
            let c = engine_conditions(
                &ConditionInputs {
                    verification_score: Some(score),
                    ..inputs()
                },
                &s,
            );
            assert_eq!(
                c.verification == Some(VerificationCondition::Verified),
                verified,
                "score {score}"
            );
        }
        for (score, detected) in [(49, false), (50, true)] {
            let c = engine_conditions(
                &ConditionInputs {
                    detection_score: Some(score),
                    ..inputs()
                },
                &s,
            );
            assert_eq!(c.detection == Some(DetectionCondition::Detected), detected);
        }
    }

    #[test]
    fn potential_detection_band_and_verification_dependent_thresholds() {
        let s = EngineSettings {
            detection: DetectionSettings {
                minimum_score: Some(60),
                minimum_score_if_verified: Some(80),
                minimum_score_if_not_verified: Some(40),
                potential_detection_minimum_score: Some(30),
            },
            ..EngineSettings::default()
        };
        let at = |verification_score: Option<u8>, detection: u8, ended: bool| {
            engine_conditions(
                &ConditionInputs {
                    verification_score,
                    detection_score: Some(detection),
                    ended,
                    ..inputs()
                },
                &s,
            )
        };
        // Verified caller: threshold 80.
        let c = at(Some(95), 70, false);
        assert_eq!(c.detection_threshold, 80);
        assert_eq!(c.detection, Some(DetectionCondition::PotentialDetection));
        assert_eq!(c.conditions, ["Verified", "PotentialDetection"]);
        // Not verified: threshold 40, so 70 is a detection.
        let c = at(Some(20), 70, false);
        assert_eq!(c.detection_threshold, 40);
        assert_eq!(c.detection, Some(DetectionCondition::Detected));
        assert_eq!(
            c.not_verified_reason,
            Some(NotVerifiedReason::ScoreAtOrBelowMinimum)
        );
        // Undecided verification: the plain minimum score.
        let c = at(None, 61, false);
        assert_eq!(c.verification, None);
        assert_eq!(c.detection_threshold, 60);
        assert_eq!(c.detection, Some(DetectionCondition::Detected));
        // At or below the potential minimum: nothing.
        assert_eq!(
            at(Some(95), 30, false).detection,
            Some(DetectionCondition::NotDetected)
        );
        // The call ended before a verification result: Not Verified, audio stopped.
        let c = at(None, 10, true);
        assert_eq!(c.verification, Some(VerificationCondition::NotVerified));
        assert_eq!(c.not_verified_reason, Some(NotVerifiedReason::AudioStopped));
    }

    #[test]
    fn identification_conditions() {
        let s = EngineSettings::default();
        let c = engine_conditions(
            &ConditionInputs {
                has_attribute: false,
                verification_score: Some(99),
                ..inputs()
            },
            &s,
        );
        assert_eq!(c.identification, IdentificationCondition::NoAttribute);
        assert_eq!(
            c.verification, None,
            "no verification without a claimed identity"
        );
        assert_eq!(c.conditions, ["NoAttribute"]);
        let c = engine_conditions(
            &ConditionInputs {
                no_voice_print: Some(NoVoicePrintReason::CoolingOff),
                ended: true,
                ..inputs()
            },
            &s,
        );
        assert_eq!(c.identification, IdentificationCondition::NoVoicePrint);
        assert_eq!(
            c.no_voice_print_reason,
            Some(NoVoicePrintReason::CoolingOff)
        );
        assert_eq!(c.verification, None);
        assert_eq!(c.conditions, ["NoVoicePrint", "CoolingOff"]);
    }
}
