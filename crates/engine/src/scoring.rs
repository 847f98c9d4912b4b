//! Cosine scoring, multi-recording enrollment and the serialised [`Voiceprint`].
//!
//! A voiceprint is the L2-normalised, net-speech-weighted mean of the L2-normalised
//! embeddings of its recordings: each recording counts in proportion to how much speech
//! it holds, and normalising first keeps a loud or long-tailed embedding from dominating
//! by its norm alone. The model id travels with the vector so a score is never computed
//! across models.

use crate::EngineError;

/// Magic bytes at the start of a serialised voiceprint.
const VOICEPRINT_MAGIC: &[u8; 4] = b"VPRT";
/// Serialisation format version; bump on any layout change.
const VOICEPRINT_VERSION: u16 = 1;
/// Largest embedding dimension accepted when parsing (guards allocations on bad bytes).
pub const MAX_DIM: usize = 65_536;

/// Cosine similarity of two equal-length vectors, in [-1, 1]. Zero vectors score 0.
pub fn cosine(a: &[f32], b: &[f32]) -> Result<f32, EngineError> {
    if a.len() != b.len() {
        return Err(EngineError::DimensionMismatch { expected: a.len(), got: b.len() });
    }
    let (mut dot, mut na, mut nb) = (0f64, 0f64, 0f64);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (f64::from(x), f64::from(y));
        dot += x * y;
        na += x * x;
        nb += y * y;
    }
    if na == 0.0 || nb == 0.0 {
        return Ok(0.0);
    }
    Ok((dot / (na.sqrt() * nb.sqrt())).clamp(-1.0, 1.0) as f32)
}

/// Returns `v` scaled to unit L2 norm; errors on zero, NaN or infinite vectors.
pub fn l2_normalized(v: &[f32]) -> Result<Vec<f32>, EngineError> {
    if v.iter().any(|x| !x.is_finite()) {
        return Err(EngineError::InvalidEmbedding("embedding holds NaN or infinity".into()));
    }
    let norm = v.iter().map(|&x| f64::from(x) * f64::from(x)).sum::<f64>().sqrt();
    if norm == 0.0 {
        return Err(EngineError::InvalidEmbedding("embedding is all zeros".into()));
    }
    Ok(v.iter().map(|&x| (f64::from(x) / norm) as f32).collect())
}

/// One recording's contribution to an enrollment.
#[derive(Debug, Clone, Copy)]
pub struct EnrollmentSample<'a> {
    pub embedding: &'a [f32],
    /// Net speech seconds of the recording (its weight).
    pub net_speech_seconds: f64,
}

/// A speaker's enrolled voiceprint for one model.
#[derive(Clone, PartialEq)]
pub struct Voiceprint {
    model: String,
    values: Vec<f32>,
    net_speech_seconds: f64,
}

// Never print embedding values (they are biometric data).
impl std::fmt::Debug for Voiceprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Voiceprint")
            .field("model", &self.model)
            .field("dim", &self.values.len())
            .field("net_speech_seconds", &self.net_speech_seconds)
            .finish_non_exhaustive()
    }
}

impl Voiceprint {
    /// Combines the embeddings of several recordings of one speaker: each is
    /// L2-normalised, then averaged with weights proportional to net speech seconds,
    /// then the mean is re-normalised. If every weight is zero the recordings count
    /// equally.
    pub fn enroll(model: &str, samples: &[EnrollmentSample<'_>]) -> Result<Self, EngineError> {
        let first = samples
            .first()
            .ok_or_else(|| EngineError::InvalidEmbedding("enrollment needs at least one recording".into()))?;
        let dim = first.embedding.len();
        if dim == 0 || dim > MAX_DIM {
            return Err(EngineError::InvalidEmbedding(format!("embedding dimension {dim} is out of range")));
        }
        if model.is_empty() || model.len() > 255 {
            return Err(EngineError::InvalidEmbedding("model id must be 1-255 bytes".into()));
        }
        let total: f64 = samples.iter().map(|s| s.net_speech_seconds).sum();
        if samples.iter().any(|s| !s.net_speech_seconds.is_finite() || s.net_speech_seconds < 0.0) {
            return Err(EngineError::InvalidEmbedding("net speech seconds must be finite and >= 0".into()));
        }
        let mut sum = vec![0f64; dim];
        for s in samples {
            if s.embedding.len() != dim {
                return Err(EngineError::DimensionMismatch { expected: dim, got: s.embedding.len() });
            }
            let w = if total > 0.0 { s.net_speech_seconds / total } else { 1.0 / samples.len() as f64 };
            for (acc, x) in sum.iter_mut().zip(l2_normalized(s.embedding)?) {
                *acc += w * f64::from(x);
            }
        }
        let mean: Vec<f32> = sum.into_iter().map(|x| x as f32).collect();
        let values = l2_normalized(&mean).map_err(|_| {
            EngineError::InvalidEmbedding("recordings cancel out (opposite embeddings)".into())
        })?;
        Ok(Self { model: model.to_owned(), values, net_speech_seconds: total })
    }

    /// Adds more recordings to an existing voiceprint, weighting the existing one by its
    /// accumulated net speech (incremental re-enrollment).
    pub fn extend(&self, samples: &[EnrollmentSample<'_>]) -> Result<Self, EngineError> {
        let mut all = Vec::with_capacity(samples.len() + 1);
        all.push(EnrollmentSample { embedding: &self.values, net_speech_seconds: self.net_speech_seconds });
        all.extend_from_slice(samples);
        Self::enroll(&self.model, &all)
    }

    /// Model id the embeddings came from (e.g. `"campplus"`).
    pub fn model(&self) -> &str {
        &self.model
    }

    /// Embedding dimension.
    pub fn dim(&self) -> usize {
        self.values.len()
    }

    /// The unit-norm voiceprint vector.
    pub fn values(&self) -> &[f32] {
        &self.values
    }

    /// Total net speech seconds behind this voiceprint.
    pub fn net_speech_seconds(&self) -> f64 {
        self.net_speech_seconds
    }

    /// Cosine score of a test embedding from `model` against this voiceprint.
    pub fn score(&self, model: &str, test_embedding: &[f32]) -> Result<f32, EngineError> {
        if model != self.model {
            return Err(EngineError::ModelMismatch { expected: self.model.clone(), got: model.to_owned() });
        }
        cosine(&self.values, test_embedding)
    }

    /// Compact little-endian serialisation:
    /// `"VPRT" | version u16 | model_len u8 | model utf-8 | dim u32 | net_speech f64 | dim × f32`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(4 + 2 + 1 + self.model.len() + 4 + 8 + 4 * self.values.len());
        out.extend_from_slice(VOICEPRINT_MAGIC);
        out.extend_from_slice(&VOICEPRINT_VERSION.to_le_bytes());
        out.push(self.model.len() as u8); // enroll() caps the id at 255 bytes
        out.extend_from_slice(self.model.as_bytes());
        out.extend_from_slice(&(self.values.len() as u32).to_le_bytes());
        out.extend_from_slice(&self.net_speech_seconds.to_le_bytes());
        for v in &self.values {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out
    }

    /// Parses [`Voiceprint::to_bytes`] output; any malformed input is an error.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, EngineError> {
        let bad = |why: &str| EngineError::InvalidVoiceprint(why.to_owned());
        let mut r = ByteReader::new(bytes);
        if r.take(4).ok_or_else(|| bad("too short"))? != VOICEPRINT_MAGIC {
            return Err(bad("bad magic bytes"));
        }
        let version = r.u16().ok_or_else(|| bad("too short"))?;
        if version != VOICEPRINT_VERSION {
            return Err(bad(&format!("unsupported version {version}")));
        }
        let model_len = usize::from(r.take(1).ok_or_else(|| bad("too short"))?[0]);
        let model = std::str::from_utf8(r.take(model_len).ok_or_else(|| bad("too short"))?)
            .map_err(|_| bad("model id is not UTF-8"))?
            .to_owned();
        if model.is_empty() {
            return Err(bad("empty model id"));
        }
        let dim = r.u32().ok_or_else(|| bad("too short"))? as usize;
        if dim == 0 || dim > MAX_DIM {
            return Err(bad(&format!("dimension {dim} out of range")));
        }
        let net_speech_seconds = r.f64().ok_or_else(|| bad("too short"))?;
        if !net_speech_seconds.is_finite() || net_speech_seconds < 0.0 {
            return Err(bad("invalid net speech seconds"));
        }
        let data = r.take(dim * 4).ok_or_else(|| bad("truncated vector"))?;
        if !r.is_empty() {
            return Err(bad("trailing bytes"));
        }
        let values: Vec<f32> =
            data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        if values.iter().any(|v| !v.is_finite()) {
            return Err(bad("vector holds NaN or infinity"));
        }
        let norm = values.iter().map(|&x| f64::from(x) * f64::from(x)).sum::<f64>().sqrt();
        if (norm - 1.0).abs() > 1e-3 {
            return Err(bad("vector is not unit length"));
        }
        Ok(Self { model, values, net_speech_seconds })
    }
}

/// Cursor over a byte slice for the little-endian formats in this crate.
pub(crate) struct ByteReader<'a> {
    bytes: &'a [u8],
}

impl<'a> ByteReader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { bytes }
    }
    pub(crate) fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.bytes.len() < n {
            return None;
        }
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        Some(head)
    }
    pub(crate) fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_le_bytes([b[0], b[1]]))
    }
    pub(crate) fn u32(&mut self) -> Option<u32> {
        self.take(4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    pub(crate) fn f64(&mut self) -> Option<f64> {
        self.take(8).map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")))
    }
    pub(crate) fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

/// Adaptive S-norm parameters: how many of the closest cohort embeddings describe the
/// impostor distribution of each side.
#[derive(Debug, Clone, Copy)]
pub struct SNormConfig {
    pub top_n: usize,
}

impl Default for SNormConfig {
    /// 200 is a common choice for cohorts of a few hundred to a few thousand speakers;
    /// a smaller cohort simply uses all of it.
    fn default() -> Self {
        Self { top_n: 200 }
    }
}

/// Mean and standard deviation of the `top_n` highest cohort scores.
pub fn top_n_stats(cohort_scores: &[f32], top_n: usize) -> Result<(f64, f64), EngineError> {
    if cohort_scores.len() < 2 {
        return Err(EngineError::Cohort("S-norm needs a cohort of at least 2 embeddings".into()));
    }
    let mut s: Vec<f32> = cohort_scores.to_vec();
    let n = top_n.clamp(2, s.len());
    // Partial selection: the n largest end up in s[..n].
    s.select_nth_unstable_by(n - 1, |a, b| b.total_cmp(a));
    let top = &s[..n];
    let mean = top.iter().map(|&x| f64::from(x)).sum::<f64>() / n as f64;
    let var = top.iter().map(|&x| (f64::from(x) - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    // A floor keeps a degenerate cohort (identical embeddings) from dividing by zero.
    Ok((mean, var.sqrt().max(1e-4)))
}

/// Adaptive symmetric score normalisation:
/// `½·((s − μ_e)/σ_e + (s − μ_t)/σ_t)` where μ/σ are the top-N statistics of the
/// enrollment-vs-cohort and test-vs-cohort scores.
pub fn adaptive_s_norm(
    raw: f32,
    enroll_vs_cohort: &[f32],
    test_vs_cohort: &[f32],
    config: SNormConfig,
) -> Result<f64, EngineError> {
    let (me, se) = top_n_stats(enroll_vs_cohort, config.top_n)?;
    let (mt, st) = top_n_stats(test_vs_cohort, config.top_n)?;
    let s = f64::from(raw);
    Ok(0.5 * ((s - me) / se + (s - mt) / st))
}
