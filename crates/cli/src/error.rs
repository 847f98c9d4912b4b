//! The CLI's one error type and its exit-code mapping (the only place codes are chosen).

use std::path::PathBuf;

use voiceprint_audio::AudioError;
use voiceprint_engine::EngineError;

/// Exit status for success.
pub const EXIT_OK: u8 = 0;
/// Exit status for any runtime failure (bad audio, missing file, model error, ...).
pub const EXIT_RUNTIME: u8 = 1;
/// Exit status for usage errors (clap uses 2 for its own parse errors too).
pub const EXIT_USAGE: u8 = 2;

/// Everything a subcommand can fail with.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{path}: {source}")]
    Audio { path: PathBuf, source: AudioError },
    #[error("{path}: {source}")]
    Embedding { path: PathBuf, source: EngineError },
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}:{line}: {message}")]
    Trials { path: PathBuf, line: usize, message: String },
    #[error("{0}")]
    Failed(String),
    #[error("drawing plot {path}: {message}")]
    Plot { path: PathBuf, message: String },
    #[error("{0}")]
    Usage(String),
}

impl CliError {
    /// The process exit status for this error. Exhaustive on purpose: a new variant must
    /// choose its code here.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Audio { .. }
            | CliError::Embedding { .. }
            | CliError::Engine(_)
            | CliError::Io { .. }
            | CliError::Trials { .. }
            | CliError::Failed(_)
            | CliError::Plot { .. } => EXIT_RUNTIME,
            CliError::Usage(_) => EXIT_USAGE,
        }
    }

    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        CliError::Io { path: path.into(), source }
    }
}
