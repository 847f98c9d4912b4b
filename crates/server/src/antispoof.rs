//! The voice-spoofing countermeasure as the server uses it: AASIST
//! (`voiceprint-antispoof`) behind the `SpoofScorer` hook that sessions and batch
//! jobs call, loaded from the `[antispoof]` folders at start.

use std::sync::Arc;

use voiceprint_antispoof::{AntispoofError, SpoofDetector};
use voiceprint_voiceid::sessions::SpoofScorer;
use voiceprint_voiceid::Error as VoiceIdError;

use crate::config::AntispoofSection;

/// AASIST behind the `SpoofScorer` hook.
pub struct AasistScorer(SpoofDetector);

impl SpoofScorer for AasistScorer {
    fn risk_score(&self, speech_16k: &[f32]) -> Result<u8, VoiceIdError> {
        match self.0.risk_score(speech_16k) {
            Ok(a) => Ok(a.risk_score),
            // Under a second of speech says nothing either way: no risk from it.
            Err(AntispoofError::InvalidInput(_)) => Ok(0),
            Err(e) => Err(VoiceIdError::Internal(format!(
                "spoofing countermeasure: {e}"
            ))),
        }
    }
}

/// Loads the countermeasure when `[antispoof]` enables it and its weights are
/// there; `None` (with a log line saying why) otherwise.
pub fn load(config: &AntispoofSection) -> Option<Arc<dyn SpoofScorer>> {
    if !config.enabled {
        tracing::info!("voice-spoofing countermeasure disabled ([antispoof] enabled = false)");
        return None;
    }
    match SpoofDetector::load(&config.asvspoof2019_dir, &config.asvspoof5_dir) {
        Ok(detector) => {
            tracing::info!("voice-spoofing countermeasure loaded (AASIST, two checkpoints)");
            Some(Arc::new(AasistScorer(detector)))
        }
        Err(e) => {
            tracing::warn!(error = %e,
                "voice-spoofing countermeasure not loaded: VoiceSpoofingRisk stays 0 (see docs/SPOOFING.md for the weights)");
            None
        }
    }
}
