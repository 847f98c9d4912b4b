//! Enrollment quality (issue 9): refuse or flag enrollment speech that is too short,
//! too noisy, clipped, or holds more than one voice, with reasons a caller can act on.
//!
//! - **Measurements** come from `voiceprint_audio::quality` (net speech, SNR, flat-top
//!   clipping) for each recording, combined over an enrollment's recordings weighted
//!   by their speech ([`RecordingQuality`]).
//! - **Multiple voices** is a diarisation-style consistency check: the enrollment's
//!   speech is cut into consecutive chunks of a few seconds ([`speech_chunks`]), each
//!   chunk is embedded by the same speaker model, and the enrollment is flagged when a
//!   chunk's cosine to the mean of the others ([`VoiceConsistency::min_leave_one_out`])
//!   or the cosine between the means of the best two-group split of the chunks
//!   ([`VoiceConsistency::min_two_groups`]) falls below its threshold. The thresholds
//!   were measured on LibriSpeech (one speaker vs two speakers concatenated;
//!   docs/ENROLLMENT-QUALITY.md).
//! - **Policy** per domain ([`EnrollmentQualitySettings`], part of the engine
//!   settings): each check REJECTs (the default), FLAGs (enroll, keep the reason with
//!   the training segment) or is OFF. TOO_SHORT always rejects: a voiceprint needs
//!   its speech.
//!
//! Never logs audio or embeddings; findings carry only numbers about the signal.

use serde::{Deserialize, Serialize};

use crate::biometrics::Biometrics;
use crate::error::{Error, Result};
use voiceprint_audio::{AudioQuality, MODEL_SAMPLE_RATE};

/// A reason an enrollment's speech is not good enough.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum QualityReason {
    TooShort,
    TooNoisy,
    Clipped,
    MultipleVoices,
}

impl QualityReason {
    pub fn as_str(self) -> &'static str {
        match self {
            QualityReason::TooShort => "TOO_SHORT",
            QualityReason::TooNoisy => "TOO_NOISY",
            QualityReason::Clipped => "CLIPPED",
            QualityReason::MultipleVoices => "MULTIPLE_VOICES",
        }
    }
}

/// What a failed check does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum QualityAction {
    /// The enrollment fails with the reason.
    #[default]
    Reject,
    /// The enrollment goes ahead; the reason is stored with its training segment.
    Flag,
    /// The check is not run.
    Off,
}

/// A failed check: the reason, what the domain does about it, and why in words.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct QualityFinding {
    pub reason: QualityReason,
    pub action: QualityAction,
    pub message: String,
}

/// Default SNR minimum (dB); see docs/ENROLLMENT-QUALITY.md for the measurement.
pub const DEFAULT_MINIMUM_SNR_DB: f64 = 10.0;
/// Default largest share of clipped speech samples.
pub const DEFAULT_MAXIMUM_CLIPPED_FRACTION: f64 = 0.01;
/// Default least cosine of a chunk to the mean of the other chunks.
pub const DEFAULT_MULTIPLE_VOICES_MINIMUM_SIMILARITY: f64 = 0.45;
/// Default least cosine between the means of two groups of chunks (4+ chunks).
pub const DEFAULT_MULTIPLE_VOICES_MINIMUM_GROUP_SIMILARITY: f64 = 0.60;

/// A domain's enrollment-quality policy (`EngineSettings.EnrollmentQuality`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct EnrollmentQualitySettings {
    pub too_noisy_action: QualityAction,
    pub minimum_snr_db: f64,
    pub clipped_action: QualityAction,
    pub maximum_clipped_fraction: f64,
    pub multiple_voices_action: QualityAction,
    pub multiple_voices_minimum_similarity: f64,
    pub multiple_voices_minimum_group_similarity: f64,
}

impl Default for EnrollmentQualitySettings {
    fn default() -> Self {
        EnrollmentQualitySettings {
            too_noisy_action: QualityAction::Reject,
            minimum_snr_db: DEFAULT_MINIMUM_SNR_DB,
            clipped_action: QualityAction::Reject,
            maximum_clipped_fraction: DEFAULT_MAXIMUM_CLIPPED_FRACTION,
            multiple_voices_action: QualityAction::Reject,
            multiple_voices_minimum_similarity: DEFAULT_MULTIPLE_VOICES_MINIMUM_SIMILARITY,
            multiple_voices_minimum_group_similarity:
                DEFAULT_MULTIPLE_VOICES_MINIMUM_GROUP_SIMILARITY,
        }
    }
}

impl EnrollmentQualitySettings {
    pub fn validate(&self) -> Result<()> {
        if !(-20.0..=60.0).contains(&self.minimum_snr_db) {
            return Err(Error::validation(
                "EnrollmentQuality.MinimumSnrDb must be between -20 and 60",
            ));
        }
        if !(0.0..=1.0).contains(&self.maximum_clipped_fraction) {
            return Err(Error::validation(
                "EnrollmentQuality.MaximumClippedFraction must be between 0 and 1",
            ));
        }
        for (name, v) in [
            (
                "MultipleVoicesMinimumSimilarity",
                self.multiple_voices_minimum_similarity,
            ),
            (
                "MultipleVoicesMinimumGroupSimilarity",
                self.multiple_voices_minimum_group_similarity,
            ),
        ] {
            if !(-1.0..=1.0).contains(&v) {
                return Err(Error::validation(format!(
                    "EnrollmentQuality.{name} must be between -1 and 1"
                )));
            }
        }
        Ok(())
    }
}

/// Signal quality of an enrollment's speech (all its recordings together).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct RecordingQuality {
    pub net_speech_seconds: f64,
    /// Speech-weighted mean SNR (dB) of the recordings.
    pub snr_db: f64,
    /// Share of the speech's samples that are clipped.
    pub clipped_fraction: f64,
}

impl RecordingQuality {
    pub fn from_audio(q: &AudioQuality) -> Self {
        RecordingQuality {
            net_speech_seconds: q.net_speech_seconds,
            snr_db: q.snr_db,
            clipped_fraction: q.clipped_fraction,
        }
    }

    /// Adds another recording's (or stream segment's) quality, weighted by speech.
    pub fn add(&mut self, other: &RecordingQuality) {
        let total = self.net_speech_seconds + other.net_speech_seconds;
        if total <= 0.0 {
            return;
        }
        let (a, b) = (
            self.net_speech_seconds / total,
            other.net_speech_seconds / total,
        );
        self.snr_db = a * self.snr_db + b * other.snr_db;
        self.clipped_fraction = a * self.clipped_fraction + b * other.clipped_fraction;
        self.net_speech_seconds = total;
    }
}

/// Chunks of speech the multiple-voices check embeds: aim for this much speech each.
pub const TARGET_CHUNK_SECONDS: f64 = 5.0;
/// Shortest chunk worth embedding.
pub const MIN_CHUNK_SECONDS: f64 = 2.0;
/// Most chunks one enrollment is cut into (bounds the model's extra work).
pub const MAX_CHUNKS: usize = 8;

/// How many chunks `seconds` of speech make: about [`TARGET_CHUNK_SECONDS`] each, at
/// least 3 when each can still hold [`MIN_CHUNK_SECONDS`], at most [`MAX_CHUNKS`];
/// 0 when there is too little speech for 2 chunks (the check is not applicable).
pub fn chunk_count(seconds: f64) -> usize {
    let by_target = (seconds / TARGET_CHUNK_SECONDS).floor() as usize;
    let most = (seconds / MIN_CHUNK_SECONDS).floor() as usize;
    let n = by_target.max(3).min(most).min(MAX_CHUNKS);
    if n >= 2 {
        n
    } else {
        0
    }
}

/// Consecutive, equal chunks of 16 kHz speech-only samples (see [`chunk_count`]).
pub fn speech_chunks(speech_16k: &[f32]) -> Vec<&[f32]> {
    let seconds = speech_16k.len() as f64 / f64::from(MODEL_SAMPLE_RATE);
    let n = chunk_count(seconds);
    if n == 0 {
        return Vec::new();
    }
    let len = speech_16k.len() / n;
    (0..n)
        .map(|i| {
            let end = if i + 1 == n {
                speech_16k.len()
            } else {
                (i + 1) * len
            };
            &speech_16k[i * len..end]
        })
        .collect()
}

/// How consistent an enrollment's chunks are with one voice.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VoiceConsistency {
    pub chunks: usize,
    /// Least cosine of a chunk's embedding to the mean of the others' (unit) embeddings.
    pub min_leave_one_out: f64,
    /// With 4+ chunks: least cosine between the means of two groups of at least two
    /// chunks each, over all splits (the split that separates them best).
    pub min_two_groups: Option<f64>,
}

fn unit(v: &[f32]) -> Vec<f64> {
    let norm = v
        .iter()
        .map(|&x| f64::from(x) * f64::from(x))
        .sum::<f64>()
        .sqrt();
    v.iter().map(|&x| f64::from(x) / norm.max(1e-12)).collect()
}

fn cosine(a: &[f64], b: &[f64]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na = a.iter().map(|x| x * x).sum::<f64>().sqrt();
    let nb = b.iter().map(|x| x * x).sum::<f64>().sqrt();
    dot / (na * nb).max(1e-12)
}

fn mean_of<'a>(vs: impl Iterator<Item = &'a Vec<f64>>, dim: usize) -> Vec<f64> {
    let mut sum = vec![0.0; dim];
    for v in vs {
        sum.iter_mut().zip(v).for_each(|(s, x)| *s += x);
    }
    sum
}

/// Consistency statistics of chunk embeddings; None for fewer than 2 chunks.
pub fn voice_consistency(chunk_embeddings: &[Vec<f32>]) -> Option<VoiceConsistency> {
    let n = chunk_embeddings.len();
    if n < 2 {
        return None;
    }
    let units: Vec<Vec<f64>> = chunk_embeddings.iter().map(|e| unit(e)).collect();
    let dim = units[0].len();
    let min_leave_one_out = (0..n)
        .map(|i| {
            let others = mean_of(
                units
                    .iter()
                    .enumerate()
                    .filter(|(j, _)| *j != i)
                    .map(|(_, u)| u),
                dim,
            );
            cosine(&units[i], &others)
        })
        .fold(f64::INFINITY, f64::min);
    let min_two_groups = (n >= 4).then(|| {
        // Every split into two groups of 2+ chunks (chunk 0 always in group A).
        let mut best = f64::INFINITY;
        for mask in 0u32..(1 << (n - 1)) {
            let in_b = |i: usize| i > 0 && mask & (1 << (i - 1)) != 0;
            let size_b = (0..n).filter(|&i| in_b(i)).count();
            if size_b < 2 || n - size_b < 2 {
                continue;
            }
            let a = mean_of(
                units
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| !in_b(*i))
                    .map(|(_, u)| u),
                dim,
            );
            let b = mean_of(
                units
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| in_b(*i))
                    .map(|(_, u)| u),
                dim,
            );
            best = best.min(cosine(&a, &b));
        }
        best
    });
    Some(VoiceConsistency {
        chunks: n,
        min_leave_one_out,
        min_two_groups,
    })
}

/// The part of a `model_id` embedding the multiple-voices check compares: the
/// thresholds were measured on CAM++ cosines, so a full fused embedding is compared by
/// its CAM++ part as received (`voiceprint_engine::fusion` owns the layout); GE2E's
/// cosines run much higher for any two voices, and the channel part is the same for all
/// chunks of one call. Chunks from [`Biometrics::embed_for_consistency`] already are that
/// part (fused embeddings only come from sessions stored by older versions).
pub fn speaker_part<'a>(model_id: &str, embedding: &'a [f32]) -> &'a [f32] {
    use voiceprint_engine::fusion::{FusedParts, FUSED_MODEL_ID};
    match FusedParts::split(embedding) {
        Ok(parts) if model_id == FUSED_MODEL_ID => parts.part(0, false),
        _ => embedding,
    }
}

/// Embeds each chunk of `speech_16k` on the engine threads and measures consistency.
/// None when there is too little speech for the check.
pub fn measure_voice_consistency(
    biometrics: &Biometrics,
    speech_16k: &[f32],
) -> Result<Option<VoiceConsistency>> {
    let chunks = speech_chunks(speech_16k);
    if chunks.len() < 2 {
        return Ok(None);
    }
    let embeddings = chunks
        .into_iter()
        .map(|c| {
            biometrics.embed_for_consistency(c.to_vec())
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(voice_consistency(&embeddings))
}

/// The findings of an enrollment's checks under `settings`: failed checks only.
pub fn assess(
    settings: &EnrollmentQualitySettings,
    signal: Option<&RecordingQuality>,
    voices: Option<&VoiceConsistency>,
) -> Vec<QualityFinding> {
    let mut out = Vec::new();
    if let Some(q) = signal {
        if settings.too_noisy_action != QualityAction::Off && q.snr_db < settings.minimum_snr_db {
            out.push(QualityFinding {
                reason: QualityReason::TooNoisy,
                action: settings.too_noisy_action,
                message: format!(
                    "the speech is too noisy: signal-to-noise ratio {:.1} dB, the minimum is {:.1} dB",
                    q.snr_db, settings.minimum_snr_db
                ),
            });
        }
        if settings.clipped_action != QualityAction::Off
            && q.clipped_fraction > settings.maximum_clipped_fraction
        {
            out.push(QualityFinding {
                reason: QualityReason::Clipped,
                action: settings.clipped_action,
                message: format!(
                    "the speech is clipped: {:.2} % of its samples are at full scale, the maximum is {:.2} %",
                    100.0 * q.clipped_fraction,
                    100.0 * settings.maximum_clipped_fraction
                ),
            });
        }
    }
    if let (Some(v), true) = (
        voices,
        settings.multiple_voices_action != QualityAction::Off,
    ) {
        let pair = v
            .min_two_groups
            .filter(|&g| g < settings.multiple_voices_minimum_group_similarity);
        if v.min_leave_one_out < settings.multiple_voices_minimum_similarity || pair.is_some() {
            let detail = match pair {
                Some(g) => format!(
                    "two groups of its {} chunks are dissimilar (cosine {g:.2} < {:.2})",
                    v.chunks, settings.multiple_voices_minimum_group_similarity
                ),
                None => format!(
                    "one of its {} chunks differs from the rest (cosine {:.2} < {:.2})",
                    v.chunks, v.min_leave_one_out, settings.multiple_voices_minimum_similarity
                ),
            };
            out.push(QualityFinding {
                reason: QualityReason::MultipleVoices,
                action: settings.multiple_voices_action,
                message: format!("the speech seems to hold more than one voice: {detail}"),
            });
        }
    }
    out
}

/// A finding that rejects, as the error message an enrollment fails with:
/// `"enrollment quality: CLIPPED: the speech is clipped ..."` (all rejecting reasons).
pub fn rejection(findings: &[QualityFinding]) -> Option<String> {
    let rejecting: Vec<String> = findings
        .iter()
        .filter(|f| f.action == QualityAction::Reject)
        .map(|f| format!("{}: {}", f.reason.as_str(), f.message))
        .collect();
    (!rejecting.is_empty()).then(|| format!("enrollment quality: {}", rejecting.join("; ")))
}

/// The reasons that flag (not reject).
pub fn flags(findings: &[QualityFinding]) -> Vec<QualityReason> {
    findings
        .iter()
        .filter(|f| f.action == QualityAction::Flag)
        .map(|f| f.reason)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_counts() {
        assert_eq!(chunk_count(3.0), 0);
        assert_eq!(chunk_count(4.0), 2);
        assert_eq!(chunk_count(6.0), 3);
        assert_eq!(chunk_count(12.0), 3);
        assert_eq!(chunk_count(20.0), 4);
        assert_eq!(chunk_count(30.0), 6);
        assert_eq!(chunk_count(300.0), MAX_CHUNKS);
        let speech = vec![0.0f32; 16_000 * 11];
        let chunks = speech_chunks(&speech);
        assert_eq!(chunks.len(), 3);
        assert_eq!(chunks.iter().map(|c| c.len()).sum::<usize>(), speech.len());
    }

    fn around(base: &[f32], tweak: usize) -> Vec<f32> {
        let mut v = base.to_vec();
        v[tweak % base.len()] += 0.2;
        v
    }

    #[test]
    fn one_voice_is_consistent_and_two_are_not() {
        let a: Vec<f32> = (0..16).map(|i| if i < 8 { 1.0 } else { 0.1 }).collect();
        let b: Vec<f32> = (0..16).map(|i| if i < 8 { 0.1 } else { 1.0 }).collect();
        let same: Vec<Vec<f32>> = (0..4).map(|i| around(&a, i)).collect();
        let v = voice_consistency(&same).unwrap();
        assert!(
            v.min_leave_one_out > 0.95 && v.min_two_groups.unwrap() > 0.95,
            "{v:?}"
        );
        let mixed = vec![around(&a, 0), around(&a, 1), around(&b, 2), around(&b, 3)];
        let v = voice_consistency(&mixed).unwrap();
        assert!(v.min_two_groups.unwrap() < 0.3, "{v:?}");
        let s = EnrollmentQualitySettings::default();
        let f = assess(&s, None, Some(&v));
        assert_eq!(f[0].reason, QualityReason::MultipleVoices);
        assert!(rejection(&f).unwrap().contains("MULTIPLE_VOICES"));
    }

    #[test]
    fn policy_rejects_flags_or_ignores() {
        let noisy_clipped = RecordingQuality {
            net_speech_seconds: 30.0,
            snr_db: 3.0,
            clipped_fraction: 0.2,
        };
        let mut s = EnrollmentQualitySettings::default();
        let f = assess(&s, Some(&noisy_clipped), None);
        assert_eq!(
            f.iter().map(|f| f.reason).collect::<Vec<_>>(),
            [QualityReason::TooNoisy, QualityReason::Clipped]
        );
        assert!(rejection(&f).is_some());
        s.too_noisy_action = QualityAction::Flag;
        s.clipped_action = QualityAction::Off;
        let f = assess(&s, Some(&noisy_clipped), None);
        assert!(rejection(&f).is_none());
        assert_eq!(flags(&f), [QualityReason::TooNoisy]);
        let clean = RecordingQuality {
            net_speech_seconds: 30.0,
            snr_db: 40.0,
            clipped_fraction: 0.0,
        };
        assert!(assess(&EnrollmentQualitySettings::default(), Some(&clean), None).is_empty());
    }

    #[test]
    fn qualities_combine_weighted_by_speech() {
        let mut q = RecordingQuality {
            net_speech_seconds: 10.0,
            snr_db: 30.0,
            clipped_fraction: 0.0,
        };
        q.add(&RecordingQuality {
            net_speech_seconds: 30.0,
            snr_db: 10.0,
            clipped_fraction: 0.04,
        });
        assert!((q.net_speech_seconds - 40.0).abs() < 1e-9);
        assert!((q.snr_db - 15.0).abs() < 1e-9);
        assert!((q.clipped_fraction - 0.03).abs() < 1e-9);
    }
}
