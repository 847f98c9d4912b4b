//! voiceprint-server: the Amazon Voice ID API over HTTP (awsJson1_0 + SigV4).
//!
//! What it does: `POST /` dispatching on `X-Amz-Target: VoiceID.<Operation>` to
//! the 29 operations of `voiceprint-voiceid`, with SigV4 verification against
//! credentials created on first start, model-driven input validation, AWS JSON
//! error shapes mapped once in [`error`], `GET /health`, `GET /metrics`
//! (Prometheus), layered configuration ([`config`]) and graceful shutdown. The
//! `voiceprint serve` subcommand and the `voiceprint-server` binary are thin
//! wrappers over [`serve::run`].
//!
//! What it does not do: Voice ID rules (in `voiceprint-voiceid`), storage and
//! encryption (in `voiceprint-store`), TLS (put a reverse proxy in front).
//!
//! Key decision: one handler for every operation — extract ([`aws_json`]),
//! authenticate ([`auth`]), validate against the embedded botocore model, then
//! decode into the operation's typed input and run it on a blocking thread — so
//! every operation gets identical protocol behaviour and errors.

pub mod app;
pub mod auth;
pub mod aws_json;
pub mod config;
pub mod error;
pub mod metrics;
mod ops;
pub mod serve;
pub mod state;
pub mod throttle;

pub use config::Config;
pub use error::{ApiError, ServeError};
pub use ops::OPERATIONS;
pub use serve::{run, seed_speakers, serve, start, RunningServer, SeedArgs, ServeArgs};

// TEMPORARY stand-ins until edge's sigv4.rs / model.rs / validate.rs land (api
// helper): they refuse every signature and validate nothing. Replace this block
// with `pub mod model; pub mod sigv4; pub mod validate;`.
mod sigv4 {
    pub struct RequestParts<'a> {
        pub method: &'a str,
        pub path: &'a str,
        pub query: &'a str,
        pub headers: &'a axum::http::HeaderMap,
        pub body: &'a [u8],
    }
    pub struct VerifiedCaller {
        pub access_key_id: String,
    }
    #[derive(Debug, thiserror::Error)]
    #[error("signature verification is not available in this build")]
    pub struct SigV4Error;
    impl SigV4Error {
        pub fn aws_error_type(&self) -> &'static str {
            "UnrecognizedClientException"
        }
        pub fn http_status(&self) -> u16 {
            403
        }
    }
    pub fn verify(
        req: &RequestParts,
        _lookup: &dyn Fn(&str) -> Option<String>,
        _now: std::time::SystemTime,
        _service: &str,
    ) -> Result<VerifiedCaller, SigV4Error> {
        let _ = (req.method, req.path, req.query, req.headers, req.body);
        Err(SigV4Error)
    }
}
mod model {
    pub struct ServiceModel;
    impl ServiceModel {
        pub fn embedded() -> &'static ServiceModel {
            &ServiceModel
        }
    }
}
mod validate {
    pub struct ValidationFailure {
        pub message: String,
    }
    pub fn validate_input(
        _m: &super::model::ServiceModel,
        _op: &str,
        _input: &serde_json::Value,
    ) -> Result<(), ValidationFailure> {
        Ok(())
    }
}

#[cfg(test)]
#[path = "../../voiceid/src/memstore.rs"]
mod memstore;
#[cfg(test)]
mod tests;
