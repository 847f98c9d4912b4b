//! voiceprint-voiceid: the Amazon Voice ID domain rules, without HTTP.
//!
//! What it does: one method per Voice ID operation on [`VoiceIdService`] — domains
//! (each with an undeletable default watchlist), watchlists, fraudsters (always in
//! at least one watchlist), speakers (CustomerSpeakerId ↔ GeneratedSpeakerId,
//! statuses, opt-out, 3-year expiry derived at read time), batch-job records,
//! tags on domain ARNs, quotas, authenticated NextToken pagination and ClientToken
//! idempotency — with typed request/response structs that serialise exactly as
//! the botocore model names them, and [`Error`] = the Voice ID exception kinds.
//!
//! Biometrics: [`Biometrics`] runs the speaker model on its own threads and
//! calibrates its scores; `service/enrollment.rs` holds the rules that turn
//! voiceprints into enrollments, fraudster registrations and decisions, shared by
//! live sessions and batch jobs.
//!
//! What it does not do: HTTP, SigV4 or model-level input validation (lengths,
//! patterns — the server checks those against the model before calling here),
//! running batch jobs (a [`JobRunner`] hook; issue 6) or live sessions (looked up
//! through `Kind::Session`; issue 8). It never logs names, descriptions, customer
//! speaker ids or voiceprints.
//!
//! Key decision: rules live here and rows live in `voiceprint-store` behind the
//! `Store` trait, so the same rules run on SQLite today and PostgreSQL later.

pub mod biometrics;
pub mod clock;
pub mod config;
pub mod error;
pub mod ids;
pub mod jobs;
pub mod quality;
mod service;
pub mod sessions;
mod token;
pub mod types;

pub use biometrics::{enrollment_conditions, Biometrics, SpeechEmbedding};
pub use voiceprint_engine::fusion::SpeechConditions;
pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{Quotas, ServiceConfig, THREE_YEARS_SECONDS};
pub use error::{ConflictType, Error, ResourceType, Result};
pub use jobs::{JobKind, JobRef, JobRunner, NoJobRunner};
pub use service::enrollment::{
    AuthenticationDecision, DuplicateRegistrationAction, EnrollmentOutcome,
    ExistingEnrollmentAction, FraudDetectionDecision, FraudDetectionReason, FraudsterRegistration,
    KnownFraudsterMatch, RegistrationStatus, SpeakerAuthentication, SpeakerEnrollment,
};
pub use service::lifecycle::{
    CoolingOffReason, CoolingOffSettings, DetectionSettings, EngineSettings,
    EngineSettingsResponse, ListVoiceprintsRequest, ListVoiceprintsResponse, NoVoicePrintReason,
    SegmentAction, SegmentStatus, TrainingSegment, UpdateEngineSettingsRequest,
    UpdateTrainingSegmentRequest, VoiceprintDescription, VoiceprintResponse, VoiceprintState,
};
pub use service::{VoiceIdService, DEFAULT_WATCHLIST_NAME};
pub use token::{TokenCodec, TOKEN_TTL_SECONDS};

#[cfg(test)]
mod memstore;
#[cfg(test)]
mod tests;
