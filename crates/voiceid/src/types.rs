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
}

/// Output shape of operations that return `{}` or nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Empty {}
