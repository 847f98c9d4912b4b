//! The one error type of this crate.

/// Why a job, or one request of it, could not be done.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The input manifest is unusable as a whole (the job FAILS with 400).
    #[error("{0}")]
    Manifest(String),
    /// One request cannot be done as given: undecodable audio, not enough speech,
    /// a failed fraud check (a 400 entry in the output file).
    #[error("{0}")]
    Request(String),
    /// A URI this server will not read or write (scheme, bucket, or outside
    /// `jobs.file_root`).
    #[error("{0}")]
    BadUri(String),
    /// The object a URI names does not exist.
    #[error("{uri} does not exist")]
    NotFound { uri: String },
    /// The object is larger than this server accepts.
    #[error("{uri} is {size} bytes; at most {limit} bytes are accepted")]
    TooLarge { uri: String, size: u64, limit: u64 },
    /// The object store failed (network, permissions, ...).
    #[error("object store error for {uri}: {message}")]
    Storage { uri: String, message: String },
    /// The Voice ID rules or the speaker model refused or failed.
    #[error(transparent)]
    VoiceId(#[from] voiceprint_voiceid::Error),
    /// Configuration that cannot work (e.g. a bad S3 endpoint).
    #[error("jobs configuration: {0}")]
    Config(String),
}

impl JobError {
    /// The HTTP-style status code Voice ID puts in an output file's `Errors` entry or
    /// a failed job's `FailureDetails`: 400 for bad input, 402 for the speaker quota,
    /// 409 for an opted-out speaker, 500 for everything on our side.
    pub fn status_code(&self) -> u16 {
        use voiceprint_voiceid::Error as V;
        match self {
            JobError::Manifest(_)
            | JobError::Request(_)
            | JobError::BadUri(_)
            | JobError::NotFound { .. }
            | JobError::TooLarge { .. } => 400,
            JobError::VoiceId(V::Validation(_)) => 400,
            JobError::VoiceId(V::ResourceNotFound { .. }) => 400,
            JobError::VoiceId(V::ServiceQuotaExceeded(_)) => 402,
            JobError::VoiceId(V::Conflict { .. }) => 409,
            _ => 500,
        }
    }

    /// A message safe to write into the output file: internal details are logged,
    /// not echoed.
    pub fn public_message(&self) -> String {
        match self {
            JobError::VoiceId(voiceprint_voiceid::Error::Internal(_)) => {
                "internal error while processing this request".into()
            }
            JobError::Storage { uri, .. } => {
                format!("could not read {uri} from the object store")
            }
            other => other.to_string(),
        }
    }
}

pub type Result<T, E = JobError> = std::result::Result<T, E>;
