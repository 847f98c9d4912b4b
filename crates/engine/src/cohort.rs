//! Impostor cohorts for adaptive S-norm: a set of unit-norm embeddings of other
//! speakers, all from one model, stored as a small binary file.
//!
//! The cohort does not know about audio: callers embed a folder of recordings (the CLI's
//! `voiceprint cohort build DIR`) and hand the vectors to [`Cohort::new`]. That keeps the
//! file format and the maths testable without model weights.

use std::path::Path;

use crate::scoring::{adaptive_s_norm, l2_normalized, ByteReader, SNormConfig, MAX_DIM};
use crate::EngineError;

const COHORT_MAGIC: &[u8; 4] = b"VPCH";
const COHORT_VERSION: u16 = 1;
/// Guards allocations when parsing untrusted files.
const MAX_COHORT_SIZE: usize = 1_000_000;

/// The cohort one trial is normalised against: a cohort, less the claimed speaker's own
/// member when the cohort is a domain's enrolled speakers (a voiceprint must not be its
/// own impostor).
#[derive(Debug, Clone, Copy)]
pub struct TrialCohort<'a> {
    pub cohort: &'a Cohort,
    /// Rows left out of both sides' statistics (the claimed speaker's voiceprint).
    pub exclude: &'a [usize],
}

impl<'a> From<&'a Cohort> for TrialCohort<'a> {
    fn from(cohort: &'a Cohort) -> Self {
        Self { cohort, exclude: &[] }
    }
}

/// Unit-norm embeddings of impostor speakers for one model.
#[derive(Clone, PartialEq)]
pub struct Cohort {
    model: String,
    dim: usize,
    /// `len × dim`, row-major, each row unit-norm.
    rows: Vec<f32>,
}

impl std::fmt::Debug for Cohort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cohort")
            .field("model", &self.model)
            .field("dim", &self.dim)
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}

impl Cohort {
    /// Builds a cohort from raw embeddings (normalised here). Needs at least two.
    pub fn new(model: &str, embeddings: &[Vec<f32>]) -> Result<Self, EngineError> {
        if embeddings.len() < 2 {
            return Err(EngineError::Cohort(format!(
                "a cohort needs at least 2 embeddings, got {}",
                embeddings.len()
            )));
        }
        if model.is_empty() || model.len() > 255 {
            return Err(EngineError::Cohort("model id must be 1-255 bytes".into()));
        }
        let dim = embeddings[0].len();
        if dim == 0 || dim > MAX_DIM {
            return Err(EngineError::Cohort(format!("embedding dimension {dim} is out of range")));
        }
        let mut rows = Vec::with_capacity(embeddings.len() * dim);
        for e in embeddings {
            if e.len() != dim {
                return Err(EngineError::DimensionMismatch { expected: dim, got: e.len() });
            }
            rows.extend(l2_normalized(e)?);
        }
        Ok(Self { model: model.to_owned(), dim, rows })
    }

    pub fn model(&self) -> &str {
        &self.model
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    pub fn len(&self) -> usize {
        self.rows.len() / self.dim
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The members, each a unit vector of `dim` values.
    pub fn rows(&self) -> impl Iterator<Item = &[f32]> {
        self.rows.chunks_exact(self.dim)
    }

    /// Cosine of `embedding` against every cohort member.
    pub fn scores(&self, embedding: &[f32]) -> Result<Vec<f32>, EngineError> {
        self.scores_excluding(embedding, &[])
    }

    /// Cosine of `embedding` against every cohort member but the rows in `exclude`.
    fn scores_excluding(&self, embedding: &[f32], exclude: &[usize]) -> Result<Vec<f32>, EngineError> {
        if embedding.len() != self.dim {
            return Err(EngineError::DimensionMismatch { expected: self.dim, got: embedding.len() });
        }
        let e = l2_normalized(embedding)?;
        Ok(self.members(exclude, None)?.map(|row| row.iter().zip(&e).map(|(a, b)| a * b).sum()).collect())
    }

    /// The members one trial is normalised against: every row but those in `exclude`,
    /// the first `size` of them when given (too few is an error, not other statistics).
    pub(crate) fn members<'a>(
        &'a self,
        exclude: &'a [usize],
        size: Option<usize>,
    ) -> Result<impl Iterator<Item = &'a [f32]>, EngineError> {
        let available = (0..self.len()).filter(|i| !exclude.contains(i)).count();
        if let Some(size) = size.filter(|&n| n > available) {
            return Err(EngineError::Cohort(format!(
                "the fusion normalises against {size} cohort members, this trial has {available}"
            )));
        }
        Ok(self
            .rows()
            .enumerate()
            .filter(move |(i, _)| !exclude.contains(i))
            .map(|(_, row)| row)
            .take(size.unwrap_or(usize::MAX)))
    }

    /// Adaptive S-norm of the raw cosine `raw` between `enroll` and `test` (both from
    /// this cohort's model), leaving out the rows in `exclude`.
    pub fn s_norm(
        &self,
        model: &str,
        raw: f32,
        enroll: &[f32],
        test: &[f32],
        config: SNormConfig,
        exclude: &[usize],
    ) -> Result<f64, EngineError> {
        if model != self.model {
            return Err(EngineError::ModelMismatch { expected: self.model.clone(), got: model.to_owned() });
        }
        let side = |v: &[f32]| self.scores_excluding(v, exclude);
        adaptive_s_norm(raw, &side(enroll)?, &side(test)?, config)
    }

    /// `"VPCH" | version u16 | model_len u8 | model | dim u32 | count u32 | count×dim f32`, little-endian.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 + self.model.len() + self.rows.len() * 4);
        out.extend_from_slice(COHORT_MAGIC);
        out.extend_from_slice(&COHORT_VERSION.to_le_bytes());
        out.push(self.model.len() as u8);
        out.extend_from_slice(self.model.as_bytes());
        out.extend_from_slice(&(self.dim as u32).to_le_bytes());
        out.extend_from_slice(&(self.len() as u32).to_le_bytes());
        for v in &self.rows {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, EngineError> {
        let bad = |why: &str| EngineError::Cohort(format!("invalid cohort file: {why}"));
        let mut r = ByteReader::new(bytes);
        if r.take(4).ok_or_else(|| bad("too short"))? != COHORT_MAGIC {
            return Err(bad("bad magic bytes"));
        }
        let version = r.u16().ok_or_else(|| bad("too short"))?;
        if version != COHORT_VERSION {
            return Err(bad(&format!("unsupported version {version}")));
        }
        let model_len = usize::from(r.take(1).ok_or_else(|| bad("too short"))?[0]);
        let model = std::str::from_utf8(r.take(model_len).ok_or_else(|| bad("too short"))?)
            .map_err(|_| bad("model id is not UTF-8"))?
            .to_owned();
        let dim = r.u32().ok_or_else(|| bad("too short"))? as usize;
        let count = r.u32().ok_or_else(|| bad("too short"))? as usize;
        if model.is_empty() || dim == 0 || dim > MAX_DIM || !(2..=MAX_COHORT_SIZE).contains(&count) {
            return Err(bad("header out of range"));
        }
        let data = r.take(dim * count * 4).ok_or_else(|| bad("truncated"))?;
        if !r.is_empty() {
            return Err(bad("trailing bytes"));
        }
        let rows: Vec<f32> =
            data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        for row in rows.chunks_exact(dim) {
            let norm: f32 = row.iter().map(|x| x * x).sum::<f32>().sqrt();
            if !norm.is_finite() || (norm - 1.0).abs() > 1e-3 {
                return Err(bad("a row is not a unit vector"));
            }
        }
        Ok(Self { model, dim, rows })
    }

    pub fn save(&self, path: &Path) -> Result<(), EngineError> {
        std::fs::write(path, self.to_bytes())
            .map_err(|e| EngineError::Cohort(format!("writing {}: {e}", path.display())))
    }

    pub fn load(path: &Path) -> Result<Self, EngineError> {
        let bytes = std::fs::read(path)
            .map_err(|e| EngineError::Cohort(format!("reading {}: {e}", path.display())))?;
        Self::from_bytes(&bytes)
    }
}
