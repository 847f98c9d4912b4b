//! Wire shapes of the Voice ID API (botocore model `voice-id-service-2.json`).
//!
//! Member names are the model's (PascalCase); timestamps are epoch seconds as
//! `f64`; absent optional members are omitted rather than sent as `null`.

use serde::{Deserialize, Serialize};

/// Epoch seconds, as awsJson1_0 puts timestamps on the wire.
pub type Timestamp = f64;

// ---------- shared structures ----------

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ServerSideEncryptionConfiguration {
    pub kms_key_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ServerSideEncryptionUpdateDetails {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub old_kms_key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub update_status: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct WatchlistDetails {
    pub default_watchlist_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Tag {
    pub key: String,
    pub value: String,
}

/// `Domain` and `DomainSummary` have the same members.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Domain {
    pub arn: String,
    pub created_at: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub description: Option<String>,
    pub domain_id: String,
    pub domain_status: String,
    pub name: String,
    pub server_side_encryption_configuration: ServerSideEncryptionConfiguration,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub server_side_encryption_update_details: Option<ServerSideEncryptionUpdateDetails>,
    pub updated_at: Timestamp,
    pub watchlist_details: WatchlistDetails,
}
pub type DomainSummary = Domain;

/// `Watchlist` and `WatchlistSummary` have the same members.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Watchlist {
    pub created_at: Timestamp,
    pub default_watchlist: bool,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub description: Option<String>,
    pub domain_id: String,
    pub name: String,
    pub updated_at: Timestamp,
    pub watchlist_id: String,
}
pub type WatchlistSummary = Watchlist;

/// `Fraudster` and `FraudsterSummary` have the same members.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Fraudster {
    pub created_at: Timestamp,
    pub domain_id: String,
    pub generated_fraudster_id: String,
    pub watchlist_ids: Vec<String>,
}
pub type FraudsterSummary = Fraudster;

/// `SpeakerStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SpeakerStatus {
    Enrolled,
    Expired,
    OptedOut,
    Pending,
}

/// `Speaker` and `SpeakerSummary` have the same members.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Speaker {
    pub created_at: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub customer_speaker_id: Option<String>,
    pub domain_id: String,
    pub generated_speaker_id: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub last_accessed_at: Option<Timestamp>,
    pub status: SpeakerStatus,
    pub updated_at: Timestamp,
}
pub type SpeakerSummary = Speaker;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct InputDataConfig {
    pub s3_uri: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct OutputDataConfig {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub kms_key_id: Option<String>,
    pub s3_uri: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EnrollmentJobFraudDetectionConfig {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub fraud_detection_action: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub risk_threshold: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub watchlist_ids: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EnrollmentConfig {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub existing_enrollment_action: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub fraud_detection_config: Option<EnrollmentJobFraudDetectionConfig>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RegistrationConfig {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub duplicate_registration_action: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub fraudster_similarity_threshold: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub watchlist_ids: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct FailureDetails {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub status_code: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct JobProgress {
    pub percent_complete: i64,
}

/// A batch job: `SpeakerEnrollmentJob` or `FraudsterRegistrationJob` (the kind
/// decides which of `EnrollmentConfig` / `RegistrationConfig` is present).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Job {
    pub created_at: Timestamp,
    pub data_access_role_arn: String,
    pub domain_id: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub ended_at: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub enrollment_config: Option<EnrollmentConfig>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub failure_details: Option<FailureDetails>,
    pub input_data_config: InputDataConfig,
    pub job_id: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub job_name: Option<String>,
    pub job_progress: JobProgress,
    pub job_status: String,
    pub output_data_config: OutputDataConfig,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub registration_config: Option<RegistrationConfig>,
}

/// `SpeakerEnrollmentJobSummary` / `FraudsterRegistrationJobSummary`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct JobSummary {
    pub created_at: Timestamp,
    pub domain_id: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub ended_at: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub failure_details: Option<FailureDetails>,
    pub job_id: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub job_name: Option<String>,
    pub job_progress: JobProgress,
    pub job_status: String,
}

impl From<&Job> for JobSummary {
    fn from(j: &Job) -> Self {
        JobSummary {
            created_at: j.created_at,
            domain_id: j.domain_id.clone(),
            ended_at: j.ended_at,
            failure_details: j.failure_details.clone(),
            job_id: j.job_id.clone(),
            job_name: j.job_name.clone(),
            job_progress: j.job_progress.clone(),
            job_status: j.job_status.clone(),
        }
    }
}

// ---------- requests ----------

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateDomainRequest {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub client_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub description: Option<String>,
    pub name: String,
    pub server_side_encryption_configuration: ServerSideEncryptionConfiguration,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub tags: Option<Vec<Tag>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateDomainRequest {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub description: Option<String>,
    pub domain_id: String,
    pub name: String,
    pub server_side_encryption_configuration: ServerSideEncryptionConfiguration,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DomainIdRequest {
    pub domain_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct ListDomainsRequest {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub max_results: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub next_token: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateWatchlistRequest {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub client_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub description: Option<String>,
    pub domain_id: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateWatchlistRequest {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub description: Option<String>,
    pub domain_id: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub name: Option<String>,
    pub watchlist_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct WatchlistRequest {
    pub domain_id: String,
    pub watchlist_id: String,
}

/// Domain-scoped list request (`ListSpeakers`, `ListWatchlists`, `ListFraudsters`,
/// `List*Jobs`); `WatchlistId` / `JobStatus` only apply where the model has them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListRequest {
    pub domain_id: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub max_results: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub next_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub watchlist_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub job_status: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct FraudsterRequest {
    pub domain_id: String,
    pub fraudster_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct FraudsterWatchlistRequest {
    pub domain_id: String,
    pub fraudster_id: String,
    pub watchlist_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SpeakerRequest {
    pub domain_id: String,
    pub speaker_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct JobRequest {
    pub domain_id: String,
    pub job_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StartSpeakerEnrollmentJobRequest {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub client_token: Option<String>,
    pub data_access_role_arn: String,
    pub domain_id: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub enrollment_config: Option<EnrollmentConfig>,
    pub input_data_config: InputDataConfig,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub job_name: Option<String>,
    pub output_data_config: OutputDataConfig,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StartFraudsterRegistrationJobRequest {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub client_token: Option<String>,
    pub data_access_role_arn: String,
    pub domain_id: String,
    pub input_data_config: InputDataConfig,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub job_name: Option<String>,
    pub output_data_config: OutputDataConfig,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub registration_config: Option<RegistrationConfig>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EvaluateSessionRequest {
    pub domain_id: String,
    pub session_name_or_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ResourceArnRequest {
    pub resource_arn: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TagResourceRequest {
    pub resource_arn: String,
    pub tags: Vec<Tag>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UntagResourceRequest {
    pub resource_arn: String,
    pub tag_keys: Vec<String>,
}

// ---------- responses ----------

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DomainResponse {
    pub domain: Domain,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListDomainsResponse {
    pub domain_summaries: Vec<DomainSummary>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub next_token: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct WatchlistResponse {
    pub watchlist: Watchlist,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListWatchlistsResponse {
    pub watchlist_summaries: Vec<WatchlistSummary>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub next_token: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct FraudsterResponse {
    pub fraudster: Fraudster,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListFraudstersResponse {
    pub fraudster_summaries: Vec<FraudsterSummary>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub next_token: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SpeakerResponse {
    pub speaker: Speaker,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListSpeakersResponse {
    pub speaker_summaries: Vec<SpeakerSummary>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub next_token: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct JobResponse {
    pub job: Job,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListJobsResponse {
    pub job_summaries: Vec<JobSummary>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub next_token: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListTagsForResourceResponse {
    pub tags: Vec<Tag>,
}

/// `EvaluateSessionResponse`: kept as the model's members in JSON form, because
/// its nested results are produced by the session engine (issue 8).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EvaluateSessionResponse {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub authentication_result: Option<serde_json::Value>,
    pub domain_id: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub fraud_detection_result: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub session_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub session_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub streaming_status: Option<String>,
    /// voiceprint extension (issue 5): the call's engine conditions.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub engine_conditions: Option<crate::sessions::conditions::EngineConditions>,
}

/// Output shape of operations that return `{}` or nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Empty {}

// ---------- live call sessions (voiceprint extension operations; issue 8) ----------
//
// Shapes modelled on the private session API Amazon Connect uses (voiceid-api.md
// §1.8), exposed as `VoiceID.StartSession`, `UpdateSession`, `DescribeSession`,
// `EndSession`, `EnrollBySession` and `RegisterFraudsterBySession`.

/// `StreamingStatus` of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StreamingStatus {
    /// Started, no audio received yet.
    PendingConfiguration,
    /// Audio is being (or has been) received and the session has not ended.
    Ongoing,
    /// Ended (EndSession, end of the audio stream, or idle timeout); no more audio.
    Ended,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AuthenticationConfiguration {
    pub acceptance_threshold: u8,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct FraudDetectionConfiguration {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub risk_threshold: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub watchlist_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StreamingConfiguration {
    /// Net speech needed before authentication and fraud results (5–10 s).
    pub authentication_minimum_speech_in_seconds: u8,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StartSessionRequest {
    pub domain_id: String,
    pub session_name: String,
    /// CustomerSpeakerId or GeneratedSpeakerId of the caller, when known.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub speaker_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub authentication_configuration: Option<AuthenticationConfiguration>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub fraud_detection_configuration: Option<FraudDetectionConfiguration>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub streaming_configuration: Option<StreamingConfiguration>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateSessionRequest {
    pub domain_id: String,
    pub session_name_or_id: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub speaker_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub authentication_configuration: Option<AuthenticationConfiguration>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub fraud_detection_configuration: Option<FraudDetectionConfiguration>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub streaming_configuration: Option<StreamingConfiguration>,
}

/// DescribeSession and EndSession input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SessionRequest {
    pub domain_id: String,
    pub session_name_or_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EnrollBySessionRequest {
    pub domain_id: String,
    pub session_name_or_id: String,
    /// `SKIP` (default) or `OVERWRITE`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub existing_enrollment_action: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RegisterFraudsterBySessionRequest {
    pub domain_id: String,
    pub session_name_or_id: String,
    /// Watchlists to register the fraudster in (default: the domain's default watchlist).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub watchlist_ids: Option<Vec<String>>,
    /// `SKIP` (default) or `REGISTER_AS_NEW`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub duplicate_registration_action: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub fraudster_similarity_threshold: Option<u8>,
}

/// Start and end of the audio behind a result (epoch seconds).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AudioProgress {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub audio_aggregation_started_at: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub audio_aggregation_ended_at: Option<Timestamp>,
}

/// `EnrollmentRequestDetails.Status` (Streams' `VoiceIdEnrollmentRequestStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EnrollmentRequestStatus {
    NotEnoughSpeech,
    InProgress,
    Completed,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EnrollmentRequestDetails {
    pub status: EnrollmentRequestStatus,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub message: Option<String>,
    /// `NEW_ENROLLMENT`, `ENROLLMENT_OVERWRITE` or `DUPLICATE_SKIPPED` once completed.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub enrollment_outcome: Option<String>,
    /// Where the speaker's voiceprint stands after this call's enrollment (issue 5).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub voiceprint_state: Option<crate::service::lifecycle::VoiceprintState>,
    /// Enrollment-quality reasons (issue 9): why a FAILED / NOT_ENOUGH_SPEECH
    /// enrollment was refused, or what a COMPLETED one was flagged for.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub quality_reasons: Vec<crate::quality::QualityReason>,
}

/// A live call session as DescribeSession reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Session {
    pub session_id: String,
    pub session_name: String,
    pub domain_id: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub customer_speaker_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub generated_speaker_id: Option<String>,
    pub authentication_configuration: AuthenticationConfiguration,
    pub fraud_detection_configuration: FraudDetectionConfiguration,
    pub streaming_configuration: StreamingConfiguration,
    pub streaming_status: StreamingStatus,
    /// Net speech received so far (voice-activity detected, seconds).
    pub net_speech_seconds: f64,
    pub audio_progress: AudioProgress,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub enrollment_request_details: Option<EnrollmentRequestDetails>,
    /// When an ENDED session's record and results are deleted.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub expires_at: Option<Timestamp>,
    /// The call's engine conditions (issue 5), from its latest results.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub engine_conditions: Option<crate::sessions::conditions::EngineConditions>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SessionResponse {
    pub session: Session,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StartSessionResponse {
    pub session: Session,
    /// Bearer token for this session's audio endpoints, for clients that cannot
    /// sign requests (Twilio customParameters `StreamToken`). Returned once.
    pub stream_token: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EnrollBySessionResponse {
    pub status: EnrollmentRequestStatus,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub generated_speaker_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub enrollment_outcome: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub voiceprint_state: Option<crate::service::lifecycle::VoiceprintState>,
    /// Enrollment-quality reasons, as in `EnrollmentRequestDetails`.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub quality_reasons: Vec<crate::quality::QualityReason>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RegisterFraudsterBySessionResponse {
    pub generated_fraudster_id: String,
    /// `NEW_REGISTRATION` or `DUPLICATE_SKIPPED`.
    pub registration_status: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub fraudster_similarity_score: Option<u8>,
}

/// `AuthenticationResult` of EvaluateSession.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AuthenticationResult {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub audio_aggregation_ended_at: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub audio_aggregation_started_at: Option<Timestamp>,
    pub authentication_result_id: String,
    pub configuration: AuthenticationConfiguration,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub customer_speaker_id: Option<String>,
    /// ACCEPT | REJECT | NOT_ENOUGH_SPEECH | SPEAKER_NOT_ENROLLED | SPEAKER_OPTED_OUT |
    /// SPEAKER_ID_NOT_PROVIDED | SPEAKER_EXPIRED.
    pub decision: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub generated_speaker_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub score: Option<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct KnownFraudsterRisk {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub generated_fraudster_id: Option<String>,
    pub risk_score: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct VoiceSpoofingRisk {
    pub risk_score: u8,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct FraudRiskDetails {
    pub known_fraudster_risk: KnownFraudsterRisk,
    pub voice_spoofing_risk: VoiceSpoofingRisk,
}

/// `FraudDetectionResult` of EvaluateSession.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct FraudDetectionResult {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub audio_aggregation_ended_at: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub audio_aggregation_started_at: Option<Timestamp>,
    pub configuration: FraudDetectionConfiguration,
    /// HIGH_RISK | LOW_RISK | NOT_ENOUGH_SPEECH.
    pub decision: String,
    pub fraud_detection_result_id: String,
    /// KNOWN_FRAUDSTER and/or VOICE_SPOOFING, only when HIGH_RISK.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub reasons: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub risk_details: Option<FraudRiskDetails>,
}
