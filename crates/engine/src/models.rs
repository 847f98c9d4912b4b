//! The one place that maps a model name to its weight file and loader.
//!
//! Weights live under a models folder as written by `scripts/fetch-models.sh`:
//! `campplus/campplus_cn_en_common.pt` and `ge2e/pretrained.pt`. Nothing is
//! downloaded here; a missing file is an [`EngineError::Weights`].

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use crate::campplus::CamPlusPlus;
use crate::fusion::{FusedEmbedder, FUSED_MODEL_ID};
use crate::ge2e::Ge2e;
use crate::{Embedder, EngineError};

/// The embedding models this engine can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Model {
    /// CAM++ (3D-Speaker, `speech_campplus_sv_zh_en_16k-common_advanced`), 192-d.
    Campplus,
    /// GE2E (Resemblyzer), 256-d.
    Ge2e,
}

impl Model {
    pub const ALL: [Model; 2] = [Model::Campplus, Model::Ge2e];

    /// The model id stored with voiceprints (`Embedder::model_id`).
    pub fn id(self) -> &'static str {
        match self {
            Model::Campplus => "campplus",
            Model::Ge2e => "ge2e",
        }
    }

    /// Path of this model's weights under `models_dir`.
    pub fn weights_path(self, models_dir: &Path) -> PathBuf {
        match self {
            Model::Campplus => models_dir.join("campplus/campplus_cn_en_common.pt"),
            Model::Ge2e => models_dir.join("ge2e/pretrained.pt"),
        }
    }
}

impl FromStr for Model {
    type Err = EngineError;

    fn from_str(name: &str) -> Result<Self, EngineError> {
        Model::ALL
            .into_iter()
            .find(|m| m.id().eq_ignore_ascii_case(name))
            .ok_or_else(|| {
                EngineError::Weights(format!("unknown model {name:?} (known: campplus, ge2e, fusion)"))
            })
    }
}

/// Loads `model` from its weight file under `models_dir`.
pub fn load_embedder(model: Model, models_dir: &Path) -> Result<Arc<dyn Embedder>, EngineError> {
    let path = model.weights_path(models_dir);
    if !path.is_file() {
        return Err(EngineError::Weights(format!(
            "{} not found (run scripts/fetch-models.sh)",
            path.display()
        )));
    }
    Ok(match model {
        Model::Campplus => Arc::new(CamPlusPlus::load(&path)?),
        Model::Ge2e => Arc::new(Ge2e::load(&path)?),
    })
}

/// Loads both models as one [`FusedEmbedder`] (see [`crate::fusion`]).
pub fn load_fused_embedder(models_dir: &Path) -> Result<Arc<dyn Embedder>, EngineError> {
    let parts = Model::ALL
        .into_iter()
        .map(|m| load_embedder(m, models_dir))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Arc::new(FusedEmbedder::new(parts)?))
}

/// [`load_embedder`] by name (`"campplus"`, `"ge2e"`, or `"fusion"` for both fused;
/// case-insensitive).
pub fn load_embedder_by_name(
    name: &str,
    models_dir: &Path,
) -> Result<Arc<dyn Embedder>, EngineError> {
    if name.eq_ignore_ascii_case(FUSED_MODEL_ID) {
        return load_fused_embedder(models_dir);
    }
    load_embedder(name.parse()?, models_dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_case_insensitively_and_unknown_names_are_refused() {
        assert_eq!("campplus".parse::<Model>().unwrap(), Model::Campplus);
        assert_eq!("GE2E".parse::<Model>().unwrap(), Model::Ge2e);
        let err = "ecapa".parse::<Model>().unwrap_err();
        assert!(matches!(err, EngineError::Weights(m) if m.contains("ecapa")));
    }

    #[test]
    fn missing_weights_are_a_weights_error_naming_the_file() {
        for model in Model::ALL {
            let err = load_embedder(model, Path::new("/nonexistent-models"))
                .err()
                .unwrap();
            let EngineError::Weights(message) = err else {
                panic!("{model:?}: expected a weights error");
            };
            assert!(message.contains("/nonexistent-models"), "{message}");
        }
    }

    #[test]
    fn loads_each_model_with_its_id_and_dimension() {
        let dir = std::env::var_os("VOICEPRINT_MODELS_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models"));
        for (model, dim) in [(Model::Campplus, 192), (Model::Ge2e, 256)] {
            if !model.weights_path(&dir).is_file() {
                eprintln!("skipping {model:?}: weights not fetched");
                continue;
            }
            let embedder = load_embedder_by_name(model.id(), &dir).expect("load");
            assert_eq!(embedder.model_id(), model.id());
            assert_eq!(embedder.dim(), dim);
        }
    }
}
