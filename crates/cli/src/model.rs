//! Shared model/audio options and the one path from a file to an embedding. Every
//! subcommand goes through [`EmbedOptions::embed_file`] so eval, compare and embed see
//! exactly the same front end.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::{Args, ValueEnum};
use voiceprint_engine::fusion::SpeechConditions;
use voiceprint_engine::Embedder;

use crate::error::CliError;

/// Embedding model to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModelChoice {
    /// CAM++ (3D-Speaker), 192-d; the more accurate single model.
    Campplus,
    /// GE2E (Resemblyzer), 256-d; faster.
    Ge2e,
    /// Both, fused with weights that follow the measured channel (docs/CALIBRATION.md); the default.
    Fusion,
}

impl ModelChoice {
    /// Weight file of this model under the models folder.
    pub fn weights(self, models_dir: &Path) -> PathBuf {
        match self {
            ModelChoice::Campplus => models_dir.join("campplus/campplus_cn_en_common.pt"),
            ModelChoice::Ge2e => models_dir.join("ge2e/pretrained.pt"),
            ModelChoice::Fusion => models_dir.to_owned(),
        }
    }
}

/// Channel applied to every file before embedding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Channel {
    /// The audio as decoded (resampled to 16 kHz).
    Wideband,
    /// Simulated telephone line: 16 kHz → 8 kHz G.711 μ-law → 16 kHz.
    Telephone,
}

/// Options shared by every subcommand that embeds audio.
#[derive(Debug, Clone, Args)]
pub struct ModelArgs {
    /// Embedding model.
    #[arg(long, value_enum, default_value = "fusion", env = "VOICEPRINT_MODEL")]
    pub model: ModelChoice,
    /// Folder holding the model weights (`campplus/campplus_cn_en_common.pt`,
    /// `ge2e/pretrained.pt`), as written by scripts/fetch-models.sh.
    #[arg(long, value_name = "DIR", env = "VOICEPRINT_MODELS_DIR", default_value = "models")]
    pub models_dir: PathBuf,
}

/// A loaded model plus the front-end settings to feed it.
#[derive(Clone)]
pub struct EmbedOptions {
    pub embedder: Arc<dyn Embedder>,
    pub channel: Channel,
}

/// One embedded recording.
#[derive(Debug, Clone)]
pub struct EmbeddedFile {
    pub embedding: Vec<f32>,
    pub net_speech_seconds: f64,
    pub duration_seconds: f64,
    /// Measured as the server measures a call ([`voiceprint_audio::quality`]): the
    /// VAD-split SNR, recorded in `fusion fit --save-features` for analysis and not
    /// weighed by the fusion, and the VAD-free STNR, which the fusion weighs.
    pub snr_db: f64,
    pub stnr_db: f64,
}

impl EmbeddedFile {
    /// What the fusion weighs when this file is a trial's test.
    pub fn conditions(&self) -> SpeechConditions {
        SpeechConditions { net_speech_seconds: self.net_speech_seconds, stnr_db: Some(self.stnr_db) }
    }
}

impl ModelArgs {
    /// Loads the chosen model's weights.
    pub fn load(&self, channel: Channel) -> Result<EmbedOptions, CliError> {
        let name = self.model.to_possible_value().expect("no skipped variants").get_name().to_owned();
        let embedder = voiceprint_engine::models::load_embedder_by_name(&name, &self.models_dir).map_err(|e| {
            CliError::Failed(format!("loading {}: {e}", self.model.weights(&self.models_dir).display()))
        })?;
        tracing::info!(model = embedder.model_id(), dim = embedder.dim(), "model loaded");
        Ok(EmbedOptions { embedder, channel })
    }
}

/// Decodes a file to 16 kHz mono samples (no channel simulation, no embedding).
pub fn load_samples(path: &Path) -> Result<Vec<f32>, CliError> {
    voiceprint_audio::prepare_file(path)
        .map(|p| p.samples_16k)
        .map_err(|source| CliError::Audio { path: path.to_owned(), source })
}

impl EmbedOptions {
    pub fn model_id(&self) -> &'static str {
        self.embedder.model_id()
    }

    /// Decode → (telephone channel) → voice activity detection → speech-only samples →
    /// embedding. Net speech is measured after the channel, as a live call would be.
    pub fn embed_file(&self, path: &Path) -> Result<EmbeddedFile, CliError> {
        let audio_err = |source| CliError::Audio { path: path.to_owned(), source };
        let prepared = voiceprint_audio::prepare_file(path).map_err(audio_err)?;
        let duration_seconds = prepared.duration_seconds;
        let (samples, snr_db, stnr_db) = match self.channel {
            Channel::Wideband => {
                let q = prepared.quality();
                (prepared.speech_samples(), q.snr_db, q.stnr_db)
            }
            Channel::Telephone => {
                let phone = voiceprint_audio::simulate_telephone_channel(&prepared.samples_16k);
                let speech = voiceprint_audio::detect_speech(&phone);
                let snr_db = voiceprint_audio::quality::snr_db(&phone, &speech);
                let stnr_db = voiceprint_audio::quality::stnr_db(&phone);
                (voiceprint_audio::speech_only(&phone, &speech), snr_db, stnr_db)
            }
        };
        let net_speech_seconds = samples.len() as f64 / f64::from(voiceprint_audio::MODEL_SAMPLE_RATE);
        if samples.is_empty() {
            return Err(audio_err(voiceprint_audio::AudioError::NoSpeech));
        }
        let embedding = self
            .embedder
            .embed(&samples)
            .map_err(|source| CliError::Embedding { path: path.to_owned(), source })?;
        tracing::debug!(file = %path.display(), net_speech_seconds, "embedded");
        Ok(EmbeddedFile { embedding, net_speech_seconds, duration_seconds, snr_db, stnr_db })
    }
}
