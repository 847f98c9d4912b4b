//! The Voice ID exception kinds: the only error type of this crate.

use serde::{Deserialize, Serialize};

/// `ConflictException.ConflictType` values, in model order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ConflictType {
    AnotherActiveStream,
    DomainNotActive,
    CannotChangeSpeakerAfterEnrollment,
    EnrollmentAlreadyExists,
    SpeakerNotSet,
    SpeakerOptedOut,
    ConcurrentChanges,
    DomainLockedFromEncryptionUpdates,
    CannotDeleteNonEmptyWatchlist,
    FraudsterMustBelongToAtLeastOneWatchlist,
}

impl ConflictType {
    /// The wire spelling (e.g. `CANNOT_DELETE_NON_EMPTY_WATCHLIST`).
    pub fn as_str(self) -> &'static str {
        match self {
            ConflictType::AnotherActiveStream => "ANOTHER_ACTIVE_STREAM",
            ConflictType::DomainNotActive => "DOMAIN_NOT_ACTIVE",
            ConflictType::CannotChangeSpeakerAfterEnrollment => {
                "CANNOT_CHANGE_SPEAKER_AFTER_ENROLLMENT"
            }
            ConflictType::EnrollmentAlreadyExists => "ENROLLMENT_ALREADY_EXISTS",
            ConflictType::SpeakerNotSet => "SPEAKER_NOT_SET",
            ConflictType::SpeakerOptedOut => "SPEAKER_OPTED_OUT",
            ConflictType::ConcurrentChanges => "CONCURRENT_CHANGES",
            ConflictType::DomainLockedFromEncryptionUpdates => {
                "DOMAIN_LOCKED_FROM_ENCRYPTION_UPDATES"
            }
            ConflictType::CannotDeleteNonEmptyWatchlist => "CANNOT_DELETE_NON_EMPTY_WATCHLIST",
            ConflictType::FraudsterMustBelongToAtLeastOneWatchlist => {
                "FRAUDSTER_MUST_BELONG_TO_AT_LEAST_ONE_WATCHLIST"
            }
        }
    }
}

/// `ResourceNotFoundException.ResourceType` values, in model order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ResourceType {
    BatchJob,
    ComplianceConsent,
    Domain,
    Fraudster,
    Session,
    Speaker,
    Watchlist,
}

impl ResourceType {
    /// The wire spelling (e.g. `BATCH_JOB`).
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceType::BatchJob => "BATCH_JOB",
            ResourceType::ComplianceConsent => "COMPLIANCE_CONSENT",
            ResourceType::Domain => "DOMAIN",
            ResourceType::Fraudster => "FRAUDSTER",
            ResourceType::Session => "SESSION",
            ResourceType::Speaker => "SPEAKER",
            ResourceType::Watchlist => "WATCHLIST",
        }
    }
}

/// Every way a Voice ID operation can fail; one variant per Voice ID exception.
///
/// Messages are safe to return to the caller: they never contain names,
/// descriptions, customer speaker ids or voiceprints. `Internal` carries a detail
/// meant for logs only; the server replaces it with a generic message on the wire.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    AccessDenied(String),
    #[error("{message}")]
    Conflict {
        conflict_type: ConflictType,
        message: String,
    },
    #[error("internal error: {0}")]
    Internal(String),
    #[error("{message}")]
    ResourceNotFound {
        resource_type: ResourceType,
        message: String,
    },
    #[error("{0}")]
    ServiceQuotaExceeded(String),
    #[error("{0}")]
    Throttling(String),
    #[error("{0}")]
    Validation(String),
}

impl Error {
    pub(crate) fn not_found(resource_type: ResourceType, message: impl Into<String>) -> Self {
        Error::ResourceNotFound {
            resource_type,
            message: message.into(),
        }
    }
    pub(crate) fn conflict(conflict_type: ConflictType, message: impl Into<String>) -> Self {
        Error::Conflict {
            conflict_type,
            message: message.into(),
        }
    }
    pub(crate) fn validation(message: impl Into<String>) -> Self {
        Error::Validation(message.into())
    }

    /// The AWS `__type` of this error (e.g. `ResourceNotFoundException`).
    pub fn aws_type(&self) -> &'static str {
        match self {
            Error::AccessDenied(_) => "AccessDeniedException",
            Error::Conflict { .. } => "ConflictException",
            Error::Internal(_) => "InternalServerException",
            Error::ResourceNotFound { .. } => "ResourceNotFoundException",
            Error::ServiceQuotaExceeded(_) => "ServiceQuotaExceededException",
            Error::Throttling(_) => "ThrottlingException",
            Error::Validation(_) => "ValidationException",
        }
    }
}

impl From<voiceprint_store::StoreError> for Error {
    fn from(e: voiceprint_store::StoreError) -> Self {
        match e {
            voiceprint_store::StoreError::UnknownKey(_) => Error::Validation(
                "the KmsKeyId does not name a key in this server's keyring".into(),
            ),
            other => Error::Internal(other.to_string()),
        }
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::Internal(format!("stored row does not decode: {e}"))
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
