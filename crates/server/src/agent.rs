//! The agent panel: a web page an agent desktop embeds to see one call's Voice ID
//! status live and act on it (docs/AGENT.md).
//!
//! Routes (all need the session's agent token, `?session=<SessionId>&token=…`):
//! - `GET /agent` and `GET /agent/embed` (minimal chrome, frameable): the page,
//!   plain HTML + CSS + JS compiled into the binary (`agent/`), no build step.
//! - `GET /agent/events`: Server-Sent Events, one `state` event per change of the
//!   session's status ([`AgentView`]), `expired` when the token runs out.
//! - `GET /agent/state`: the same view once, as JSON.
//! - `POST /agent/actions` (`{"Action": …, "SpeakerId"?: …}`, token also accepted as
//!   `Authorization: Bearer`): the agent actions of `AgentAction`, run by the same
//!   code ([`crate::contacts`]).
//!
//! What it does not do: push from the session itself — there is no change
//! notifier, so each event stream reads the session every [`POLL_INTERVAL`] on the
//! server and sends only what changed (the browser never polls).
//!
//! Key decision: tokens are stateless statements `vpat_<base64url(json)>.<tag>`,
//! the tag an HMAC-SHA256 ([`TokenCodec::digest`]) under a key derived from the
//! service's token key ([`VoiceIdService::derived_key`]), so they survive restarts,
//! work on every node sharing the data directory's secret, and need no storage. A
//! token names one domain and SessionId and its expiry; nothing else opens.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::json;
use voiceprint_flows::run::{authentication_operand, fraud_operand};
use voiceprint_voiceid::sessions::ENROLLMENT_SPEECH_SECONDS;
use voiceprint_voiceid::types::{
    AuthenticationResult, EvaluateSessionRequest, FraudDetectionResult, SessionRequest,
    SpeakerRequest,
};
use voiceprint_voiceid::{Error as VoiceIdError, ResourceType, TokenCodec, VoiceIdService};

use crate::contacts::{session_agent_action, AgentActionRequest, AgentActionResponse};
use crate::error::ApiError;
use crate::state::AppState;

/// Prefix of agent tokens (tells them apart from StreamTokens in logs and support).
pub const TOKEN_PREFIX: &str = "vpat_";
/// Token lifetime when CreateAgentToken names none: a call's worth.
pub const DEFAULT_TOKEN_SECONDS: u64 = 900;
/// Longest token lifetime CreateAgentToken grants (the model enforces it too).
pub const MAX_TOKEN_SECONDS: u64 = 3600;
/// How often an open event stream reads its session.
pub const POLL_INTERVAL: Duration = Duration::from_millis(500);
/// Key-derivation purpose of the token key (see [`VoiceIdService::derived_key`]).
const KEY_PURPOSE: &str = "voiceprint/agent-token/v1";

const PAGE_HTML: &str = include_str!("agent/page.html");
const DENIED_HTML: &str = include_str!("agent/denied.html");
const APP_JS: &str = include_str!("agent/agent.js");
const APP_CSS: &str = include_str!("agent/agent.css");

/// The actions the panel offers (AgentAction names, Streams semantics).
pub const PANEL_ACTIONS: [&str; 5] = [
    "enrollSpeaker",
    "evaluateSpeaker",
    "optOutSpeaker",
    "updateSpeakerId",
    "getSpeakerStatus",
];

// ---------- tokens ----------

/// What an agent token states.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentClaims {
    /// DomainId.
    #[serde(rename = "d")]
    pub domain_id: String,
    /// SessionId (not the name: a name is reused by the call's next session).
    #[serde(rename = "s")]
    pub session_id: String,
    /// Expiry, epoch seconds.
    #[serde(rename = "e")]
    pub expires_at: u64,
}

/// Mints and verifies agent tokens.
pub struct AgentTokens {
    codec: TokenCodec,
}

/// Seconds since the epoch, now.
pub fn now_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn denied(message: &str) -> VoiceIdError {
    VoiceIdError::AccessDenied(message.into())
}

impl AgentTokens {
    /// The token codec of `service` (its key is derived from the service's token key).
    pub fn new(service: &VoiceIdService) -> Self {
        AgentTokens {
            codec: TokenCodec::new(&service.derived_key(KEY_PURPOSE)),
        }
    }

    pub fn mint(&self, claims: &AgentClaims) -> String {
        let payload = serde_json::to_vec(claims).expect("claims serialise");
        format!(
            "{TOKEN_PREFIX}{}.{}",
            URL_SAFE_NO_PAD.encode(&payload),
            self.codec.digest(&payload)
        )
    }

    /// The claims of `token` if it is genuine, unexpired at `now` and for `session_id`.
    pub fn verify(
        &self,
        token: &str,
        session_id: &str,
        now: u64,
    ) -> Result<AgentClaims, VoiceIdError> {
        let malformed = || denied("The agent token is not valid; ask for a new link");
        let (payload_b64, tag) = token
            .strip_prefix(TOKEN_PREFIX)
            .and_then(|t| t.split_once('.'))
            .ok_or_else(malformed)?;
        let payload = URL_SAFE_NO_PAD
            .decode(payload_b64)
            .map_err(|_| malformed())?;
        let want = self.codec.digest(&payload);
        // Constant-time comparison of the tags.
        let same = want.len() == tag.len()
            && want
                .bytes()
                .zip(tag.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0;
        if !same {
            return Err(malformed());
        }
        let claims: AgentClaims = serde_json::from_slice(&payload).map_err(|_| malformed())?;
        if claims.session_id != session_id {
            return Err(denied("The agent token belongs to another call"));
        }
        if now >= claims.expires_at {
            return Err(denied("The agent token has expired; ask for a new link"));
        }
        Ok(claims)
    }
}

/// `CreateAgentToken` input.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateAgentTokenRequest {
    pub domain_id: String,
    #[serde(default)]
    pub session_name_or_id: Option<String>,
    /// A contact's session is named after the contact.
    #[serde(default)]
    pub contact_id: Option<String>,
    #[serde(default)]
    pub duration_seconds: Option<u64>,
}

/// `CreateAgentToken` output.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateAgentTokenResponse {
    pub token: String,
    /// Epoch seconds.
    pub expires_at: f64,
    pub session_id: String,
    /// The panel's path and query; prefix it with the server's public base URL.
    pub url: String,
    /// As `url`, for an iframe.
    pub embed_url: String,
}

/// CreateAgentToken (blocking): the session must exist.
pub fn create_agent_token(
    service: &VoiceIdService,
    req: CreateAgentTokenRequest,
) -> Result<CreateAgentTokenResponse, VoiceIdError> {
    let name = match (req.session_name_or_id, req.contact_id) {
        (Some(s), None) | (None, Some(s)) => s,
        _ => {
            return Err(VoiceIdError::Validation(
                "Give exactly one of SessionNameOrId and ContactId".into(),
            ))
        }
    };
    let seconds = req.duration_seconds.unwrap_or(DEFAULT_TOKEN_SECONDS);
    if !(1..=MAX_TOKEN_SECONDS).contains(&seconds) {
        return Err(VoiceIdError::Validation(format!(
            "DurationSeconds must be between 1 and {MAX_TOKEN_SECONDS}"
        )));
    }
    let session = service
        .describe_session(SessionRequest {
            domain_id: req.domain_id.clone(),
            session_name_or_id: name,
        })?
        .session;
    let claims = AgentClaims {
        domain_id: req.domain_id,
        session_id: session.session_id.clone(),
        expires_at: now_seconds() + seconds,
    };
    let token = AgentTokens::new(service).mint(&claims);
    let query = format!("session={}&token={token}", url_encode(&session.session_id));
    Ok(CreateAgentTokenResponse {
        expires_at: claims.expires_at as f64,
        url: format!("/agent?{query}"),
        embed_url: format!("/agent/embed?{query}"),
        session_id: session.session_id,
        token,
    })
}

/// Percent-encodes everything but unreserved characters (SessionIds hold `#`).
fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

// ---------- the view ----------

/// What the panel shows, as one JSON object (an SSE `state` event's data).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AgentView {
    pub session_id: String,
    pub session_name: String,
    /// PENDING_CONFIGURATION | ONGOING | ENDED.
    pub streaming_status: String,
    pub speaker_id: Option<String>,
    /// The speaker's status (ENROLLED, OPTED_OUT, PENDING, EXPIRED), None when unknown.
    pub speaker_status: Option<String>,
    pub net_speech_seconds: f64,
    /// Speech needed before authentication decides (the response time).
    pub response_time_seconds: u8,
    /// Speech needed to enroll.
    pub enrollment_speech_seconds: f64,
    /// EnrollmentRequestDetails: NOT_ENOUGH_SPEECH | IN_PROGRESS | COMPLETED | FAILED.
    pub enrollment_status: Option<String>,
    pub enrollment_message: Option<String>,
    pub authentication: Option<AuthenticationView>,
    pub fraud: Option<FraudView>,
    /// Why the session could not be read, when it could not.
    pub error: Option<String>,
    /// When the viewer's token expires (epoch seconds).
    pub token_expires_at: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AuthenticationView {
    /// The API decision (ACCEPT, REJECT, NOT_ENOUGH_SPEECH, …).
    pub decision: String,
    /// The flow value the agent reads: Authenticated, NotAuthenticated,
    /// Inconclusive, NotEnrolled, OptedOut, or Error.
    pub outcome: String,
    pub score: Option<u8>,
    pub threshold: u8,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct FraudView {
    pub decision: String,
    /// HighRisk, LowRisk, Inconclusive or Error.
    pub outcome: String,
    /// KNOWN_FRAUDSTER and/or VOICE_SPOOFING.
    pub reasons: Vec<String>,
    pub known_fraudster_score: Option<u8>,
    pub voice_spoofing_score: Option<u8>,
    pub threshold: Option<u8>,
}

fn wire<T: Serialize>(v: T) -> Option<String> {
    serde_json::to_value(v).ok()?.as_str().map(str::to_owned)
}

/// The session as the panel shows it (blocking).
pub fn view(service: &VoiceIdService, claims: &AgentClaims) -> Result<AgentView, VoiceIdError> {
    let session = service
        .describe_session(SessionRequest {
            domain_id: claims.domain_id.clone(),
            session_name_or_id: claims.session_id.clone(),
        })?
        .session;
    let evaluation = service.evaluate_session(EvaluateSessionRequest {
        domain_id: claims.domain_id.clone(),
        session_name_or_id: claims.session_id.clone(),
    })?;
    let speaker_status = match &session.customer_speaker_id {
        None => None,
        Some(id) => match service.describe_speaker(SpeakerRequest {
            domain_id: claims.domain_id.clone(),
            speaker_id: id.clone(),
        }) {
            Ok(r) => wire(r.speaker.status),
            Err(VoiceIdError::ResourceNotFound {
                resource_type: ResourceType::Speaker,
                ..
            }) => None,
            Err(e) => return Err(e),
        },
    };
    let authentication = evaluation
        .authentication_result
        .and_then(|v| serde_json::from_value::<AuthenticationResult>(v).ok())
        .map(|a| AuthenticationView {
            outcome: authentication_operand(&a.decision)
                .unwrap_or("Error")
                .to_owned(),
            decision: a.decision,
            score: a.score,
            threshold: a.configuration.acceptance_threshold,
        });
    let fraud = evaluation
        .fraud_detection_result
        .and_then(|v| serde_json::from_value::<FraudDetectionResult>(v).ok())
        .map(|f| FraudView {
            outcome: fraud_operand(&f.decision).unwrap_or("Error").to_owned(),
            decision: f.decision,
            reasons: f.reasons,
            known_fraudster_score: f
                .risk_details
                .as_ref()
                .map(|r| r.known_fraudster_risk.risk_score),
            voice_spoofing_score: f
                .risk_details
                .as_ref()
                .map(|r| r.voice_spoofing_risk.risk_score),
            threshold: f.configuration.risk_threshold,
        });
    let (enrollment_status, enrollment_message) = match session.enrollment_request_details {
        Some(d) => (wire(d.status), d.message),
        None => (None, None),
    };
    Ok(AgentView {
        streaming_status: wire(session.streaming_status).unwrap_or_default(),
        session_id: session.session_id,
        session_name: session.session_name,
        speaker_id: session.customer_speaker_id,
        speaker_status,
        net_speech_seconds: session.net_speech_seconds,
        response_time_seconds: session
            .streaming_configuration
            .authentication_minimum_speech_in_seconds,
        enrollment_speech_seconds: ENROLLMENT_SPEECH_SECONDS,
        enrollment_status,
        enrollment_message,
        authentication,
        fraud,
        error: None,
        token_expires_at: claims.expires_at,
    })
}

// ---------- actions ----------

/// The panel's action request.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PanelAction {
    pub action: String,
    #[serde(default)]
    pub speaker_id: Option<String>,
}

/// Runs the agent action on the token's session (blocking): through the contact
/// when a contact runs the call (so its flow sees the new speaker), else on the
/// session alone — the same rules as `AgentAction` either way.
pub fn run_action(
    service: &VoiceIdService,
    contacts: &crate::contacts::ContactCenter,
    claims: &AgentClaims,
    action: PanelAction,
) -> Result<AgentActionResponse, ApiError> {
    if !PANEL_ACTIONS.contains(&action.action.as_str()) {
        return Err(ApiError::Validation(format!(
            "Action must be one of {}",
            PANEL_ACTIONS.join(", ")
        )));
    }
    let session = service
        .describe_session(SessionRequest {
            domain_id: claims.domain_id.clone(),
            session_name_or_id: claims.session_id.clone(),
        })?
        .session;
    // A call's session name moves to its next session: act only while it is ours.
    let current = service
        .describe_session(SessionRequest {
            domain_id: claims.domain_id.clone(),
            session_name_or_id: session.session_name.clone(),
        })?
        .session;
    if current.session_id != session.session_id {
        return Err(denied(
            "This call has a newer Voice ID session; ask for a new link to act on it",
        )
        .into());
    }
    let mut input = json!({
        "DomainId": claims.domain_id,
        "ContactId": session.session_name,
        "Action": action.action,
    });
    if let Some(id) = &action.speaker_id {
        input["SpeakerId"] = json!(id);
    }
    // The same model constraints as the AgentAction operation.
    crate::validate::validate_input(
        crate::model::ServiceModel::embedded(),
        "AgentAction",
        &input,
    )
    .map_err(|f| ApiError::Validation(f.message))?;
    let req = AgentActionRequest {
        domain_id: claims.domain_id.clone(),
        contact_id: session.session_name.clone(),
        action: action.action,
        speaker_id: action.speaker_id,
        start_new: None,
    };
    Ok(if contacts.has_contact(&req.domain_id, &req.contact_id) {
        contacts.agent_action(req)?
    } else {
        session_agent_action(service, &req, session.customer_speaker_id)?
    })
}

// ---------- HTTP ----------

/// `?session=…&token=…`.
#[derive(Debug, Deserialize)]
pub struct PanelQuery {
    #[serde(default)]
    pub session: Option<String>,
    #[serde(default)]
    pub token: Option<String>,
}

/// The panel routes.
pub fn routes(state: AppState) -> Router {
    Router::new()
        .route("/agent", get(page_full))
        .route("/agent/embed", get(page_embed))
        .route("/agent/agent.js", get(asset_js))
        .route("/agent/agent.css", get(asset_css))
        .route("/agent/events", get(events))
        .route("/agent/state", get(state_once))
        .route("/agent/actions", post(actions))
        .with_state(state)
}

fn authorize(
    state: &AppState,
    query: &PanelQuery,
    headers: &HeaderMap,
) -> Result<AgentClaims, VoiceIdError> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let token = bearer
        .or(query.token.as_deref())
        .ok_or_else(|| denied("No agent token; open the link your system gave you"))?;
    let session = query
        .session
        .as_deref()
        .ok_or_else(|| denied("The link names no session"))?;
    AgentTokens::new(&state.service).verify(token, session, now_seconds())
}

/// Headers every panel response carries: no caching, no referrer (the token is in
/// the URL), and a CSP allowing only this server's script and style.
fn secure(mut response: Response, frameable: bool) -> Response {
    let h = response.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        "content-security-policy",
        HeaderValue::from_static(if frameable {
            "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
             img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors *"
        } else {
            "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
             img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
        }),
    );
    response
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn page(state: &AppState, query: &PanelQuery, headers: &HeaderMap, embed: bool) -> Response {
    let html = |status: StatusCode, body: String| {
        (
            status,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            body,
        )
            .into_response()
    };
    let response = match authorize(state, query, headers) {
        Ok(_) => html(
            StatusCode::OK,
            PAGE_HTML.replace("{{MODE}}", if embed { "embed" } else { "full" }),
        ),
        Err(e) => html(
            StatusCode::FORBIDDEN,
            DENIED_HTML.replace("{{REASON}}", &html_escape(&reason(&e))),
        ),
    };
    secure(response, embed)
}

fn reason(e: &VoiceIdError) -> String {
    match e {
        VoiceIdError::AccessDenied(m) => m.clone(),
        other => crate::stream::public_reason(other),
    }
}

async fn page_full(
    State(state): State<AppState>,
    Query(query): Query<PanelQuery>,
    headers: HeaderMap,
) -> Response {
    page(&state, &query, &headers, false)
}

async fn page_embed(
    State(state): State<AppState>,
    Query(query): Query<PanelQuery>,
    headers: HeaderMap,
) -> Response {
    page(&state, &query, &headers, true)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

async fn asset_js() -> Response {
    asset("text/javascript; charset=utf-8", APP_JS)
}

async fn asset_css() -> Response {
    asset("text/css; charset=utf-8", APP_CSS)
}

fn json_response<T: Serialize>(v: &T) -> Response {
    match serde_json::to_string(v) {
        Ok(body) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(e) => ApiError::from(VoiceIdError::Internal(format!("encoding: {e}"))).into_response(),
    }
}

fn refused(e: VoiceIdError) -> Response {
    secure(ApiError::from(e).into_response(), false)
}

/// The view, or a view carrying only the error (the stream keeps going: a transient
/// store error must not end the agent's panel).
async fn view_or_error(state: &AppState, claims: &AgentClaims) -> AgentView {
    let service = state.service.clone();
    let c = claims.clone();
    match crate::stream::blocking(move || view(&service, &c)).await {
        Ok(v) => v,
        Err(e) => AgentView {
            session_id: claims.session_id.clone(),
            session_name: String::new(),
            streaming_status: String::new(),
            speaker_id: None,
            speaker_status: None,
            net_speech_seconds: 0.0,
            response_time_seconds: 0,
            enrollment_speech_seconds: ENROLLMENT_SPEECH_SECONDS,
            enrollment_status: None,
            enrollment_message: None,
            authentication: None,
            fraud: None,
            error: Some(reason(&e)),
            token_expires_at: claims.expires_at,
        },
    }
}

async fn state_once(
    State(state): State<AppState>,
    Query(query): Query<PanelQuery>,
    headers: HeaderMap,
) -> Response {
    let claims = match authorize(&state, &query, &headers) {
        Ok(c) => c,
        Err(e) => return refused(e),
    };
    let v = view_or_error(&state, &claims).await;
    secure(json_response(&v), false)
}

async fn events(
    State(state): State<AppState>,
    Query(query): Query<PanelQuery>,
    headers: HeaderMap,
) -> Response {
    let claims = match authorize(&state, &query, &headers) {
        Ok(c) => c,
        Err(e) => return refused(e),
    };
    struct Feed {
        state: AppState,
        claims: AgentClaims,
        last: Option<String>,
        done: bool,
    }
    let feed = Feed {
        state,
        claims,
        last: None,
        done: false,
    };
    let stream = futures_util::stream::unfold(feed, |mut f| async move {
        if f.done {
            return None;
        }
        loop {
            if now_seconds() >= f.claims.expires_at {
                f.done = true;
                let e = Event::default()
                    .event("expired")
                    .data("The agent token has expired; ask for a new link");
                return Some((Ok::<_, std::convert::Infallible>(e), f));
            }
            let view = view_or_error(&f.state, &f.claims).await;
            let data = serde_json::to_string(&view).unwrap_or_else(|_| "{}".into());
            if f.last.as_deref() != Some(data.as_str()) {
                f.last = Some(data.clone());
                return Some((Ok(Event::default().event("state").data(data)), f));
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    });
    secure(
        Sse::new(stream)
            .keep_alive(KeepAlive::default())
            .into_response(),
        false,
    )
}

async fn actions(
    State(state): State<AppState>,
    Query(query): Query<PanelQuery>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let claims = match authorize(&state, &query, &headers) {
        Ok(c) => c,
        Err(e) => return refused(e),
    };
    // The panel's actions share AgentAction's rate limit.
    if !state.throttle.allow("AgentAction") {
        return secure(
            ApiError::from(VoiceIdError::Throttling(
                "Rate exceeded for AgentAction; slow down and retry".into(),
            ))
            .into_response(),
            false,
        );
    }
    let action: PanelAction = match serde_json::from_slice(&body) {
        Ok(a) => a,
        Err(e) => {
            return secure(
                ApiError::Serialization(format!(
                    "The body must be {{\"Action\": …, \"SpeakerId\"?: …}}: {e}"
                ))
                .into_response(),
                false,
            )
        }
    };
    let (service, contacts) = (state.service.clone(), state.contacts.clone());
    let result =
        tokio::task::spawn_blocking(move || run_action(&service, &contacts, &claims, action))
            .await
            .unwrap_or_else(|e| {
                Err(VoiceIdError::Internal(format!("agent action task failed: {e}")).into())
            });
    let response = match result {
        Ok(out) => json_response(&out),
        Err(e) => e.into_response(),
    };
    secure(response, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(key: &[u8]) -> AgentTokens {
        AgentTokens {
            codec: TokenCodec::new(key),
        }
    }

    fn claims(expires_at: u64) -> AgentClaims {
        AgentClaims {
            domain_id: "d".repeat(22),
            session_id: "id#abcdefghijklmnopqrstuv".into(),
            expires_at,
        }
    }

    #[test]
    fn a_token_opens_its_own_session_until_it_expires() {
        let t = tokens(b"k");
        let token = t.mint(&claims(1000));
        assert!(token.starts_with(TOKEN_PREFIX));
        assert_eq!(
            t.verify(&token, "id#abcdefghijklmnopqrstuv", 999).unwrap(),
            claims(1000)
        );
        let expired = t
            .verify(&token, "id#abcdefghijklmnopqrstuv", 1000)
            .unwrap_err();
        assert!(expired.to_string().contains("expired"), "{expired}");
        let foreign = t
            .verify(&token, "id#zzzzzzzzzzzzzzzzzzzzzz", 999)
            .unwrap_err();
        assert!(foreign.to_string().contains("another call"), "{foreign}");
        assert_eq!(foreign.aws_type(), "AccessDeniedException");
    }

    #[test]
    fn forged_tampered_and_foreign_key_tokens_are_refused() {
        let t = tokens(b"k");
        let token = t.mint(&claims(1000));
        // Another server's key.
        assert!(tokens(b"other")
            .verify(&token, "id#abcdefghijklmnopqrstuv", 1)
            .is_err());
        // A longer expiry written into the payload, old tag kept.
        let (p, tag) = token
            .strip_prefix(TOKEN_PREFIX)
            .unwrap()
            .split_once('.')
            .unwrap();
        let mut c: AgentClaims =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).unwrap()).unwrap();
        c.expires_at = 9_999_999;
        let forged = format!(
            "{TOKEN_PREFIX}{}.{tag}",
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&c).unwrap())
        );
        assert!(t.verify(&forged, "id#abcdefghijklmnopqrstuv", 1).is_err());
        for junk in ["", "vpat_", "vpat_.", "garbage", &token[..token.len() - 1]] {
            assert!(
                t.verify(junk, "id#abcdefghijklmnopqrstuv", 1).is_err(),
                "{junk}"
            );
        }
    }

    #[test]
    fn the_key_is_derived_from_the_services_token_key() {
        use std::sync::Arc;
        let service = |key: &[u8]| {
            VoiceIdService::new(
                Arc::new(crate::memstore::MemStore::with_keys(&["default"])),
                Default::default(),
                key,
            )
        };
        let token = AgentTokens::new(&service(&[7; 32])).mint(&claims(1000));
        let sid = "id#abcdefghijklmnopqrstuv";
        // Same key (a restart, another node): valid. Another key: not.
        assert!(AgentTokens::new(&service(&[7; 32]))
            .verify(&token, sid, 1)
            .is_ok());
        assert!(AgentTokens::new(&service(&[8; 32]))
            .verify(&token, sid, 1)
            .is_err());
        // Derived, not the token key itself, and distinct per purpose.
        let s = service(&[7; 32]);
        assert_ne!(s.derived_key(KEY_PURPOSE), vec![7u8; 32]);
        assert_ne!(s.derived_key(KEY_PURPOSE), s.derived_key("other/purpose"));
    }

    #[test]
    fn session_ids_are_percent_encoded_in_urls() {
        assert_eq!(url_encode("id#ab-c_9"), "id%23ab-c_9");
    }
}
