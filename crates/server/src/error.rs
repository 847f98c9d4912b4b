//! The server's errors and the ONE place they become HTTP responses.
//!
//! [`ApiError`] is everything a Voice ID request can fail with; its
//! `into_response` maps each kind to the AWS JSON error shape
//! `{"__type": ..., "message": ...}` (+ `ResourceType` / `ConflictType`) and a
//! status with an exhaustive `match`, so a new kind must choose its status here.
//! Internal details are logged, never sent.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use voiceprint_voiceid::Error as VoiceIdError;

/// Content type of every awsJson1_0 response.
pub const AWS_JSON: &str = "application/x-amz-json-1.0";

/// A failed API request.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A Voice ID exception from the domain rules.
    #[error(transparent)]
    VoiceId(#[from] VoiceIdError),
    /// The body is not a JSON object.
    #[error("{0}")]
    Serialization(String),
    /// The input breaks a model constraint or has the wrong type.
    #[error("{0}")]
    Validation(String),
    /// `X-Amz-Target` is missing or names no Voice ID operation.
    #[error("{0}")]
    UnknownOperation(String),
    /// Content-Type is not awsJson.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// The body exceeds `server.max_body_bytes`.
    #[error("request body exceeds the limit of {limit} bytes")]
    PayloadTooLarge { limit: usize },
    /// Signature V4 verification failed (`aws_type` is e.g. `InvalidSignatureException`).
    #[error("{message}")]
    Auth {
        aws_type: String,
        status: u16,
        message: String,
    },
}

impl ApiError {
    /// The AWS `__type`, also used as the metrics outcome label.
    pub fn aws_type(&self) -> &str {
        match self {
            ApiError::VoiceId(e) => e.aws_type(),
            ApiError::Serialization(_) => "SerializationException",
            ApiError::Validation(_) => "ValidationException",
            ApiError::UnknownOperation(_) => "UnknownOperationException",
            ApiError::UnsupportedMediaType(_) => "UnsupportedMediaTypeException",
            ApiError::PayloadTooLarge { .. } => "RequestEntityTooLargeException",
            ApiError::Auth { aws_type, .. } => aws_type,
        }
    }

    fn status_and_body(&self) -> (StatusCode, serde_json::Value) {
        let aws_type = self.aws_type().to_string();
        let simple = |status: StatusCode, message: String| {
            (status, json!({"__type": aws_type, "message": message}))
        };
        match self {
            ApiError::VoiceId(e) => match e {
                VoiceIdError::AccessDenied(m) => simple(StatusCode::FORBIDDEN, m.clone()),
                VoiceIdError::Conflict {
                    conflict_type,
                    message,
                } => (
                    StatusCode::BAD_REQUEST,
                    json!({"__type": aws_type, "message": message, "ConflictType": conflict_type.as_str()}),
                ),
                VoiceIdError::Internal(_) => simple(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "The server encountered an internal error; try again".into(),
                ),
                VoiceIdError::ResourceNotFound {
                    resource_type,
                    message,
                } => (
                    StatusCode::BAD_REQUEST,
                    json!({"__type": aws_type, "message": message, "ResourceType": resource_type.as_str()}),
                ),
                VoiceIdError::ServiceQuotaExceeded(m) => simple(StatusCode::BAD_REQUEST, m.clone()),
                VoiceIdError::Throttling(m) => simple(StatusCode::BAD_REQUEST, m.clone()),
                VoiceIdError::Validation(m) => simple(StatusCode::BAD_REQUEST, m.clone()),
            },
            ApiError::Serialization(m) => simple(StatusCode::BAD_REQUEST, m.clone()),
            ApiError::Validation(m) => simple(StatusCode::BAD_REQUEST, m.clone()),
            ApiError::UnknownOperation(m) => simple(StatusCode::BAD_REQUEST, m.clone()),
            ApiError::UnsupportedMediaType(m) => {
                simple(StatusCode::UNSUPPORTED_MEDIA_TYPE, m.clone())
            }
            ApiError::PayloadTooLarge { .. } => {
                simple(StatusCode::PAYLOAD_TOO_LARGE, self.to_string())
            }
            ApiError::Auth {
                status, message, ..
            } => simple(
                StatusCode::from_u16(*status).unwrap_or(StatusCode::FORBIDDEN),
                message.clone(),
            ),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::VoiceId(VoiceIdError::Internal(detail)) = &self {
            // The detail names store/crypto failures; it goes to logs only.
            tracing::error!(error = %detail, "internal error");
        }
        let (status, body) = self.status_and_body();
        let mut response = (status, body.to_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(
            axum::http::header::CONTENT_TYPE,
            HeaderValue::from_static(AWS_JSON),
        );
        if let Ok(v) = HeaderValue::from_str(self.aws_type()) {
            headers.insert("x-amzn-ErrorType", v);
        }
        response
    }
}

/// Why `serve` (start-up, configuration, bootstrap) failed.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("configuration: {0}")]
    Config(String),
    #[error("{path}: {source}")]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("store: {0}")]
    Store(#[from] voiceprint_store::StoreError),
    #[error("{0}")]
    VoiceId(#[from] VoiceIdError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("server: {0}")]
    Server(std::io::Error),
}

impl ServeError {
    pub fn io(path: impl Into<std::path::PathBuf>, source: std::io::Error) -> Self {
        ServeError::Io {
            path: path.into(),
            source,
        }
    }
}
