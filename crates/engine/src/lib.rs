//! voiceprint-engine: speaker embeddings, scoring and calibration.
//!
//! (skeleton: owned by the engine helpers; modules: `fbank`, `campplus`, `ge2e`,
//! `torch` (weight readers), `scoring`, `calibration`, `handle`)

pub mod calibration;
pub mod campplus;
pub mod cohort;
pub mod fbank;
pub mod fusion;
pub mod ge2e;
pub mod mel;
pub mod metrics;
pub mod models;
pub mod scorer;
pub mod scoring;
pub mod torch_legacy;
pub mod torch_zip;

/// Identifies a model family; stored with every voiceprint so scores are only ever
/// computed between embeddings of the same model.
pub type ModelId = &'static str;

/// A speaker-embedding model. Implementations own their feature extraction: the
/// trait promises nothing about feature type or embedding dimension.
pub trait Embedder: Send + Sync {
    /// Stable model identifier, e.g. `"campplus"` or `"ge2e"`.
    fn model_id(&self) -> ModelId;
    /// Embedding dimension (192 for CAM++, 256 for GE2E).
    fn dim(&self) -> usize;
    /// Embed 16 kHz mono samples in [-1, 1] (already DC-free and resampled).
    fn embed(&self, samples_16k: &[f32]) -> Result<Vec<f32>, EngineError>;
    /// The embedding a speaker-consistency check compares across chunks of one
    /// recording (is it one voice throughout?): the full embedding by default. A
    /// composite model answers with the single model the check was measured on, at a
    /// fraction of the cost (see [`fusion::FusedEmbedder`]).
    fn embed_for_consistency(&self, samples_16k: &[f32]) -> Result<Vec<f32>, EngineError> {
        self.embed(samples_16k)
    }
}

/// Everything that can go wrong in the engine.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("model weights: {0}")]
    Weights(String),
    #[error("audio too short for an embedding: {0}")]
    TooShort(String),
    #[error("inference failed: {0}")]
    Inference(String),
    #[error(transparent)]
    Audio(#[from] voiceprint_audio::AudioError),
    #[error("embedding dimension mismatch: expected {expected}, got {got}")]
    DimensionMismatch { expected: usize, got: usize },
    #[error("model mismatch: voiceprint is from {expected:?}, embedding from {got:?}")]
    ModelMismatch { expected: String, got: String },
    #[error("invalid embedding: {0}")]
    InvalidEmbedding(String),
    #[error("invalid voiceprint bytes: {0}")]
    InvalidVoiceprint(String),
    #[error("cohort: {0}")]
    Cohort(String),
    #[error("calibration: {0}")]
    Calibration(String),
    #[error("metrics: {0}")]
    Metrics(String),
}
