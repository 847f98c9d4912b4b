//! The axum app: `POST /` (awsJson1_0 API), `GET /health`, `GET /metrics`.
//!
//! A request goes: [`AwsRequest`] extractor (content type, size limit, target)
//! → SigV4 → operation name → JSON parse → model validation → typed dispatch.
//! Every failure is an [`ApiError`], turned into a response in `error.rs` only.

use std::time::Instant;

use axum::extract::{FromRequest, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

use crate::auth::SignedRequest;
use crate::aws_json::AwsRequest;
use crate::error::{ApiError, AWS_JSON};
use crate::ops::{self, EXTENSION_OPERATIONS, OPERATIONS};
use crate::state::AppState;

/// Build the router over `state`.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", post(api).fallback(fallback))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .fallback(fallback)
        .with_state(state.clone())
        // The agent panel (docs/AGENT.md).
        .merge(crate::agent::routes(state.clone()))
        // Live call audio (native WebSocket, Twilio Media Streams, HTTP POST).
        .merge(crate::stream::routes(state))
}

/// A request id only has to be unique, not secret: the thread-local CSPRNG avoids
/// the OS RNG's syscall per character that `ids::new_id22` (resource ids) makes.
fn request_id() -> String {
    use rand::{distributions::Alphanumeric, Rng};
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(22)
        .map(char::from)
        .collect()
}

async fn api(State(state): State<AppState>, request: Request) -> Response {
    let started = Instant::now();
    let (operation, result) = match AwsRequest::from_request(request, &state).await {
        Err(e) => ("-", Err(e)),
        Ok(r) => {
            let op = r
                .target
                .as_deref()
                .and_then(|t| {
                    OPERATIONS
                        .iter()
                        .chain(&EXTENSION_OPERATIONS)
                        .copied()
                        .find(|o| *o == t)
                })
                .unwrap_or("-");
            (op, handle(&state, op, r).await)
        }
    };
    let outcome = match &result {
        Ok(_) => "ok",
        Err(e) => e.aws_type(),
    };
    state.metrics.record(operation, outcome, started.elapsed());
    let id = request_id();
    let mut response = match result {
        Ok(body) => {
            tracing::debug!(operation, request_id = %id, "ok");
            (
                StatusCode::OK,
                [(axum::http::header::CONTENT_TYPE, AWS_JSON)],
                body,
            )
                .into_response()
        }
        Err(e) => {
            tracing::info!(operation, request_id = %id, error = e.aws_type(), "request failed");
            e.into_response()
        }
    };
    if let Ok(v) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-amzn-RequestId", v);
    }
    response
}

async fn handle(
    state: &AppState,
    operation: &'static str,
    request: AwsRequest,
) -> Result<String, ApiError> {
    state.auth.authenticate(&SignedRequest {
        method: request.method.as_str(),
        path: request.uri.path(),
        query: request.uri.query().unwrap_or(""),
        headers: &request.headers,
        body: &request.body,
    })?;
    if operation == "-" {
        return Err(ApiError::UnknownOperation(match &request.target {
            Some(t) => format!("Operation {t} is not supported by this service"),
            None => "Missing or malformed X-Amz-Target header; expected VoiceID.<Operation>".into(),
        }));
    }
    if !state.throttle.allow(operation) {
        return Err(voiceprint_voiceid::Error::Throttling(format!(
            "Rate exceeded for {operation}; slow down and retry"
        ))
        .into());
    }
    let input = request.json()?;
    crate::validate::validate_input(crate::model::ServiceModel::embedded(), operation, &input)
        .map_err(|f| ApiError::Validation(f.message))?;
    ops::dispatch(state, operation, input).await
}

async fn health(State(state): State<AppState>) -> Response {
    let service = state.service.clone();
    let probe = tokio::task::spawn_blocking(move || {
        service
            .store()
            .list(voiceprint_store::Kind::Domain, "", None, 1)
            .map(|_| ())
    })
    .await;
    match probe {
        Ok(Ok(())) => {
            // Whether biometric operations can run: the model is named, or null.
            let speaker_model = state.service.biometrics().ok().map(|b| b.model_id().to_owned());
            (
                StatusCode::OK,
                [(axum::http::header::CONTENT_TYPE, "application/json")],
                serde_json::json!({"status": "ok", "speaker_model": speaker_model}).to_string(),
            )
                .into_response()
        }
        Ok(Err(e)) => {
            tracing::error!(error = %e, "health check: store unavailable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "{\"status\":\"store unavailable\"}",
            )
                .into_response()
        }
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "{\"status\":\"error\"}").into_response(),
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    (
        StatusCode::OK,
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        state.metrics.render(),
    )
        .into_response()
}

async fn fallback() -> Response {
    let mut r = ApiError::UnknownOperation(
        "Not found: the Voice ID API is POST / with X-Amz-Target; see also GET /health and GET /metrics".into(),
    )
    .into_response();
    *r.status_mut() = StatusCode::NOT_FOUND;
    r
}
