//! voiceprint-jobs: Voice ID's batch jobs — `StartSpeakerEnrollmentJob` and
//! `StartFraudsterRegistrationJob` — run for real.
//!
//! What it does: reads the v1.0 JSON input manifest and the audio it names from
//! `s3://` (any S3-compatible endpoint) or `file://` (inside a configured root)
//! through `object_store`; turns each request's audio into a voiceprint on all
//! cores with a bounded window of requests in memory; enrolls speakers (SKIP /
//! OVERWRITE, fraud check against watchlists under FAIL) or registers fraudsters
//! (SKIP near-duplicates / REGISTER_AS_NEW) through `voiceprint-voiceid`; reports
//! JobStatus and PercentComplete; writes `<output>/<jobId>/<input>.out` with
//! Voice ID's exact shapes; resumes interrupted jobs on start with exactly-once
//! results (see [`runner`]).
//!
//! What it does not do: IAM (`DataAccessRoleArn` is recorded, not assumed) or KMS
//! encryption of the output file (`OutputDataConfig.KmsKeyId` is recorded; use the
//! bucket's default encryption); HTTP (the server wires [`BatchJobRunner`] in).
//!
//! Key decision: one job at a time, requests prepared in parallel but committed
//! in manifest order on one thread, so duplicate detection inside a manifest is
//! deterministic and at most one request is ever in doubt after a crash.

pub mod config;
pub mod error;
pub mod manifest;
pub mod runner;
pub mod storage;

pub use config::{JobsConfig, S3Config};
pub use error::{JobError, Result};
pub use runner::BatchJobRunner;
pub use storage::{file_uri, output_uri, ObjectStores};
pub use voiceprint_voiceid::JobKind;
