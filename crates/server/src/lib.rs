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

pub mod agent;
pub mod antispoof;
pub mod app;
pub mod auth;
pub mod aws_json;
pub mod config;
pub mod contacts;
pub mod error;
pub mod metrics;
mod ops;
pub mod serve;
pub mod state;
pub mod stream;
pub mod throttle;

pub use config::Config;
pub use error::{ApiError, ServeError};
pub use ops::{EXTENSION_OPERATIONS, OPERATIONS};
pub use serve::{run, seed_speakers, serve, start, RunningServer, SeedArgs, ServeArgs};

pub mod model;
pub mod request;
pub mod sigv4;
pub mod validate;

#[cfg(test)]
#[path = "../../voiceid/src/memstore.rs"]
mod memstore;
#[cfg(test)]
mod tests;
