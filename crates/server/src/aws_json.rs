//! Our own extractors for awsJson1_0 requests, so every malformed request gets an
//! AWS-shaped error (never axum's plain-text rejections).
//!
//! [`AwsRequest`] checks the content type, reads the body under the size limit and
//! names the operation from `X-Amz-Target`; [`AwsJson`] then parses the body
//! (malformed JSON ⇒ `SerializationException`) and decodes it into an operation's
//! typed input (a wrong type ⇒ `ValidationException` naming the member).

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, Method, Uri};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::ApiError;
use crate::state::AppState;

/// `X-Amz-Target` prefix of Voice ID.
pub const TARGET_PREFIX: &str = "VoiceID.";

/// An awsJson1_0 request before authentication and decoding.
#[derive(Debug)]
pub struct AwsRequest {
    pub method: Method,
    pub uri: Uri,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// The operation named by `X-Amz-Target` (without the `VoiceID.` prefix), if any.
    pub target: Option<String>,
}

fn content_type_ok(headers: &HeaderMap) -> bool {
    let Some(ct) = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let media = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    matches!(
        media.as_str(),
        "application/x-amz-json-1.0" | "application/x-amz-json-1.1"
    )
}

impl FromRequest<AppState> for AwsRequest {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (parts, body) = req.into_parts();
        if !content_type_ok(&parts.headers) {
            return Err(ApiError::UnsupportedMediaType(
                "Content-Type must be application/x-amz-json-1.0".into(),
            ));
        }
        let target = parts
            .headers
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok())
            .and_then(|t| t.strip_prefix(TARGET_PREFIX))
            .map(str::to_owned);
        // Refuse early on a declared oversize body, then enforce while reading.
        let declared = parts
            .headers
            .get(axum::http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        if declared.is_some_and(|n| n > state.max_body_bytes) {
            return Err(ApiError::PayloadTooLarge {
                limit: state.max_body_bytes,
            });
        }
        let body = axum::body::to_bytes(body, state.max_body_bytes)
            .await
            .map_err(|_| ApiError::PayloadTooLarge {
                limit: state.max_body_bytes,
            })?;
        Ok(AwsRequest {
            method: parts.method,
            uri: parts.uri,
            headers: parts.headers,
            body,
            target,
        })
    }
}

impl AwsRequest {
    /// The body as a JSON object (an empty body counts as `{}`, as SDKs send for
    /// operations without input).
    pub fn json(&self) -> Result<Value, ApiError> {
        parse_body(&self.body)
    }
}

/// A request body as a JSON object (an empty body counts as `{}`); anything
/// else is a `SerializationException`.
pub fn parse_body(body: &[u8]) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Object(Default::default()));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(v @ Value::Object(_)) => Ok(v),
        Ok(_) => Err(ApiError::Serialization(
            "The request body must be a JSON object".into(),
        )),
        Err(e) => Err(ApiError::Serialization(format!(
            "The request body is not valid JSON: {e}"
        ))),
    }
}

/// A decoded operation input.
#[derive(Debug)]
pub struct AwsJson<T>(pub T);

impl<T: DeserializeOwned> AwsJson<T> {
    /// Decode a (model-validated) JSON object into `T`; any mismatch is a
    /// ValidationException naming the problem.
    pub fn decode(input: Value) -> Result<Self, ApiError> {
        serde_json::from_value(input)
            .map(AwsJson)
            .map_err(|e| ApiError::Validation(format!("1 validation error detected: {e}")))
    }
}
