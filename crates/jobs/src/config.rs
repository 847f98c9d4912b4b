//! `[jobs]` configuration (see config/default.toml and docs/JOBS.md).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// How batch jobs run and where they may read and write.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JobsConfig {
    /// Accept and store jobs but run none (they stay SUBMITTED and run after a
    /// restart without it): maintenance windows, API-only test servers.
    pub paused: bool,
    /// Requests prepared (fetched, decoded, embedded) at once; 0 = twice the speaker
    /// model's engine threads, so the engines never wait for a download.
    pub workers: usize,
    /// Net speech a request's audio must add up to (Voice ID: 30 s for enrollment).
    pub min_speech_seconds: f64,
    /// Largest audio file accepted (Voice ID: 20 MB).
    pub max_audio_bytes: u64,
    /// Largest input manifest accepted.
    pub max_manifest_bytes: u64,
    /// `file://` URIs are accepted only inside this directory; unset = `file://`
    /// is refused (a job must not read arbitrary server files).
    pub file_root: Option<PathBuf>,
    /// Default `FraudsterSimilarityThreshold` when a registration job gives none.
    pub default_fraudster_similarity_threshold: u8,
    pub s3: S3Config,
    /// This node's name in job leases: nodes sharing a database must differ, and a
    /// node should keep it across restarts (it then resumes its own jobs at once).
    pub node_id: String,
    /// How long a job's lease lasts without renewal: after a node dies, another
    /// takes its unfinished jobs over within about this time.
    pub lease_seconds: f64,
}

impl Default for JobsConfig {
    fn default() -> Self {
        JobsConfig {
            paused: false,
            workers: 0,
            min_speech_seconds: 30.0,
            max_audio_bytes: 20 * 1024 * 1024,
            max_manifest_bytes: 64 * 1024 * 1024,
            file_root: None,
            default_fraudster_similarity_threshold: 90,
            s3: S3Config::default(),
            node_id: "local".into(),
            lease_seconds: 30.0,
        }
    }
}

/// The S3-compatible store behind `s3://` URIs. Unset credentials come from the
/// usual `AWS_*` environment variables.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct S3Config {
    /// e.g. `http://127.0.0.1:9000` for MinIO or moto; unset = AWS itself.
    pub endpoint: Option<String>,
    pub region: String,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    /// Allow a plain-http endpoint (local stores such as MinIO or moto).
    pub allow_http: bool,
    /// Path-style (`endpoint/bucket/key`) unless true; most self-hosted stores want
    /// path-style.
    pub virtual_hosted_style: bool,
}

impl Default for S3Config {
    fn default() -> Self {
        S3Config {
            endpoint: None,
            region: "us-east-1".into(),
            access_key_id: None,
            secret_access_key: None,
            allow_http: false,
            virtual_hosted_style: false,
        }
    }
}

// The secret never reaches logs or `--print-config`.
impl std::fmt::Debug for S3Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Config")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field(
                "secret_access_key",
                &self.secret_access_key.as_ref().map(|_| "<redacted>"),
            )
            .field("allow_http", &self.allow_http)
            .field("virtual_hosted_style", &self.virtual_hosted_style)
            .finish()
    }
}
