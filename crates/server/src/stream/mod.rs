//! Live call audio in: the native WebSocket, Twilio Media Streams and HTTP POST
//! ingestion routes, and what they share.
//!
//! Routes:
//! - `GET /v1/sessions/{DomainId}/{SessionName}/audio` (WebSocket upgrade): the native
//!   protocol ([`native`]): a JSON format frame, then binary audio frames.
//! - `GET /v1/twilio` (WebSocket upgrade): Twilio Media Streams ([`twilio`]).
//! - `POST /v1/sessions/{DomainId}/{SessionName}/audio`: a whole recording ([`http`]).
//! - `GET /v1/audiohook` (WebSocket upgrade): Genesys AudioHook ([`audiohook`]); the
//!   AudioSocket and SIPREC listeners ([`audiosocket`], [`siprec`]) are sockets of
//!   their own, started by [`telephony::start`] (docs/TELEPHONY.md).
//!
//! Authentication: SigV4 on the upgrade / POST request (the body is covered for POST;
//! an empty body for upgrades), or the session's `StreamToken` from StartSession as
//! `Authorization: Bearer <token>` or `?token=` (browsers cannot set headers on a
//! WebSocket). Twilio cannot sign and cannot add query strings, so its `start`
//! event's customParameters carry either `StreamToken`, or a SigV4 signature of
//! `GET /v1/sessions/{DomainId}/{SessionName}/audio` (parameters `Authorization` and
//! `X-Amz-Date`, host = the Host of the upgrade request). Only signed callers may
//! start a session implicitly; a token only opens its own session.
//!
//! Key decision: protocols are sans-IO parsers (frame → [`native::ClientFrame`] /
//! [`twilio::TwilioEvent`]); one [`SessionFeed`] turns audio bytes into embedded
//! segments on the engine threads and records them with the session, so every
//! protocol gets the same limits, results and close reasons.

pub mod audiohook;
pub mod audiosocket;
pub mod http;
pub mod native;
pub mod siprec;
pub mod telephony;
pub mod twilio;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::http::HeaderMap;
use axum::routing::get;
use axum::Router;
use voiceprint_audio::RawFormat;
use voiceprint_voiceid::sessions::live::{LiveAudio, SpeechSegment};
use voiceprint_voiceid::sessions::{SessionLimits, SessionProgress, SpoofScorer};
use voiceprint_voiceid::types::{EvaluateSessionRequest, EvaluateSessionResponse};
use voiceprint_voiceid::{Error as VoiceIdError, SpeechEmbedding, VoiceIdService};

use crate::auth::SignedRequest;
use crate::error::ApiError;
use crate::state::AppState;

/// Largest WebSocket message accepted (a 20 ms frame is 160–640 bytes; generous).
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;
/// Largest recording accepted by HTTP POST.
pub const MAX_POST_BYTES: usize = 64 * 1024 * 1024;

/// State of the stream routes: the app state plus the registry of open streams.
#[derive(Clone)]
pub struct StreamState {
    pub app: AppState,
    pub hub: Arc<StreamHub>,
}

/// Open audio streams, per domain: enforces one stream per session and the
/// per-domain concurrency limit.
pub struct StreamHub {
    pub limits: SessionLimits,
    /// Voice-spoofing detector, when one is wired in (see `SpoofScorer`).
    pub spoof: Option<Arc<dyn SpoofScorer>>,
    /// Speech per stream the countermeasure scores (it is costly; see config).
    pub spoof_scored_speech_seconds: f64,
    active: Mutex<HashMap<String, Vec<String>>>,
}

impl StreamHub {
    pub fn new(limits: SessionLimits) -> Self {
        StreamHub {
            limits,
            spoof: None,
            spoof_scored_speech_seconds: 8.0,
            active: Mutex::new(HashMap::new()),
        }
    }

    fn active(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<String>>> {
        self.active.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a stream for the session; refuses a second one and a domain at its limit.
    pub fn acquire(
        self: &Arc<Self>,
        domain_id: &str,
        session_id: &str,
    ) -> Result<StreamGuard, VoiceIdError> {
        let mut active = self.active();
        let sessions = active.entry(domain_id.to_owned()).or_default();
        if sessions.iter().any(|s| s == session_id) {
            return Err(VoiceIdError::Conflict {
                conflict_type: voiceprint_voiceid::ConflictType::AnotherActiveStream,
                message: "Another audio stream is already open for this session".into(),
            });
        }
        if sessions.len() >= self.limits.max_active_streams_per_domain {
            return Err(VoiceIdError::ServiceQuotaExceeded(format!(
                "The domain already has {} open audio streams (the limit)",
                self.limits.max_active_streams_per_domain
            )));
        }
        sessions.push(session_id.to_owned());
        Ok(StreamGuard {
            hub: Arc::clone(self),
            domain_id: domain_id.to_owned(),
            session_id: session_id.to_owned(),
        })
    }

    /// Whether a stream is open for the session.
    pub fn is_streaming(&self, domain_id: &str, session_id: &str) -> bool {
        self.active()
            .get(domain_id)
            .is_some_and(|v| v.iter().any(|s| s == session_id))
    }

    /// Open streams in all domains.
    pub fn open_streams(&self) -> usize {
        self.active().values().map(Vec::len).sum()
    }
}

/// Releases the stream's slot when dropped (however the connection ends).
pub struct StreamGuard {
    hub: Arc<StreamHub>,
    domain_id: String,
    session_id: String,
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        let mut active = self.hub.active();
        if let Some(v) = active.get_mut(&self.domain_id) {
            v.retain(|s| s != &self.session_id);
            if v.is_empty() {
                active.remove(&self.domain_id);
            }
        }
    }
}

/// The hub of the server's streams (every ingress shares it), and its session sweeper.
pub fn new_hub(config: &crate::config::Config, service: &Arc<VoiceIdService>) -> Arc<StreamHub> {
    let mut hub = StreamHub::new(config.sessions.limits());
    hub.spoof = service.spoof_scorer().cloned();
    hub.spoof_scored_speech_seconds = config.sessions.spoof_scored_speech_seconds;
    let hub = Arc::new(hub);
    spawn_sweeper(service.clone(), Arc::clone(&hub));
    hub
}

/// The stream routes over the app's stream hub.
pub fn routes(app: AppState) -> Router {
    let hub = Arc::clone(&app.streams);
    let state = StreamState { app, hub };
    Router::new()
        .route(
            "/v1/sessions/{domain_id}/{session_name}/audio",
            get(native::upgrade).post(http::post_recording),
        )
        .route("/v1/twilio", get(twilio::upgrade))
        .route("/v1/audiohook", get(audiohook::upgrade))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_POST_BYTES))
        .with_state(state)
}

/// Ends idle sessions and deletes expired ones every minute (when a runtime runs).
fn spawn_sweeper(service: Arc<VoiceIdService>, hub: Arc<StreamHub>) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let weak = Arc::downgrade(&hub);
    drop(hub);
    runtime.spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
        loop {
            tick.tick().await;
            let Some(hub) = weak.upgrade() else { return };
            let service = service.clone();
            let swept = tokio::task::spawn_blocking(move || {
                let now = voiceprint_voiceid::Clock::now(&voiceprint_voiceid::SystemClock);
                service.sweep_sessions(now, &hub.limits, &|d, s| hub.is_streaming(d, s))
            })
            .await;
            match swept {
                Ok(Ok((ended, deleted))) if ended + deleted > 0 => {
                    tracing::info!(ended, deleted, "session sweep");
                }
                Ok(Err(e)) => tracing::warn!(error = %e, "session sweep failed"),
                _ => {}
            }
        }
    });
}

/// How a stream request proved who it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamAuth {
    /// SigV4 (or the server runs `--no-auth`): may start sessions.
    Signed,
    /// The session's StreamToken: may only stream into that session.
    Token(String),
}

/// SigV4 on the request, unless it carries a bearer / query token instead.
pub fn authenticate(
    app: &AppState,
    method: &str,
    uri: &axum::http::Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<StreamAuth, ApiError> {
    let bearer = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let query_token = uri.query().and_then(|q| {
        q.split('&')
            .find_map(|kv| kv.strip_prefix("token="))
            .map(str::to_owned)
    });
    if let Some(t) = bearer.map(str::to_owned).or(query_token) {
        return Ok(StreamAuth::Token(t));
    }
    app.auth.authenticate(&SignedRequest {
        method,
        path: uri.path(),
        query: uri.query().unwrap_or(""),
        headers,
        body,
    })?;
    Ok(StreamAuth::Signed)
}

/// Resolves the session a stream goes to: signed callers start it when needed, a
/// token must be the session's own.
pub fn resolve_session(
    service: &VoiceIdService,
    auth: &StreamAuth,
    domain_id: &str,
    session_name: &str,
    speaker_id: Option<&str>,
) -> Result<String, VoiceIdError> {
    match auth {
        StreamAuth::Signed => service.start_or_join_session(domain_id, session_name, speaker_id),
        StreamAuth::Token(token) => {
            if !service.check_stream_token(domain_id, session_name, token)? {
                return Err(VoiceIdError::AccessDenied(
                    "The stream token does not belong to this session".into(),
                ));
            }
            let resp = service.describe_session(voiceprint_voiceid::types::SessionRequest {
                domain_id: domain_id.into(),
                session_name_or_id: session_name.into(),
            })?;
            Ok(resp.session.session_id)
        }
    }
}

/// One open stream into one session: audio bytes in, segments embedded on the
/// engine threads and recorded with the session.
pub struct SessionFeed {
    service: Arc<VoiceIdService>,
    hub: Arc<StreamHub>,
    pub domain_id: String,
    pub session_id: String,
    live: LiveAudio,
    /// Speech this stream has had scored by the spoofing countermeasure.
    spoof_scored_seconds: f64,
    _guard: StreamGuard,
}

/// What one push produced.
#[derive(Debug, Default)]
pub struct FeedUpdate {
    /// Progress after each recorded segment.
    pub progress: Vec<SessionProgress>,
    /// Set when the speech just reached the response time: the first decided results.
    pub evaluation: Option<EvaluateSessionResponse>,
}

impl SessionFeed {
    /// Opens the session for streaming (PENDING_CONFIGURATION → ONGOING) and
    /// registers the stream with the hub.
    pub async fn open(
        state: &StreamState,
        domain_id: String,
        session_id: String,
        format: RawFormat,
        channel_index: usize,
    ) -> Result<SessionFeed, VoiceIdError> {
        state.app.service.biometrics()?;
        let guard = state.hub.acquire(&domain_id, &session_id)?;
        let service = state.app.service.clone();
        let (d, s) = (domain_id.clone(), session_id.clone());
        let (session_id, milestones) =
            blocking(move || service.open_session_stream(&d, &s)).await?;
        let limits = &state.hub.limits;
        let mut live = LiveAudio::new(
            format,
            channel_index,
            limits.max_audio_seconds,
            limits.segment_seconds,
            limits.max_embedded_speech_seconds,
        )?;
        live.set_milestones(milestones);
        Ok(SessionFeed {
            service: state.app.service.clone(),
            hub: Arc::clone(&state.hub),
            domain_id,
            session_id,
            live,
            spoof_scored_seconds: 0.0,
            _guard: guard,
        })
    }

    /// Net speech heard so far.
    pub fn heard_speech_seconds(&self) -> f64 {
        self.live.heard_speech_seconds()
    }

    /// Feeds audio bytes.
    pub async fn push(&mut self, bytes: &[u8]) -> Result<FeedUpdate, VoiceIdError> {
        let segments = self.live.push(bytes)?;
        self.record(segments).await
    }

    /// The stream ended: the last speech is recorded and the session ENDED.
    pub async fn finish(mut self, end_session: bool) -> Result<FeedUpdate, VoiceIdError> {
        let segments = self.live.finish()?;
        let mut update = self.record(segments).await?;
        if end_session {
            let service = self.service.clone();
            let limits = self.hub.limits.clone();
            let (d, s) = (self.domain_id.clone(), self.session_id.clone());
            blocking(move || service.close_session_stream(&d, &s, &limits)).await?;
        }
        update.evaluation = Some(self.evaluate().await?);
        Ok(update)
    }

    /// EvaluateSession for this stream's session.
    pub async fn evaluate(&self) -> Result<EvaluateSessionResponse, VoiceIdError> {
        let service = self.service.clone();
        let req = EvaluateSessionRequest {
            domain_id: self.domain_id.clone(),
            session_name_or_id: self.session_id.clone(),
        };
        blocking(move || service.evaluate_session(req)).await
    }

    async fn record(&mut self, segments: Vec<SpeechSegment>) -> Result<FeedUpdate, VoiceIdError> {
        let mut update = FeedUpdate::default();
        for segment in segments {
            let service = self.service.clone();
            // The countermeasure scores the call's first seconds of speech only.
            let spoof = self
                .hub
                .spoof
                .clone()
                .filter(|_| self.spoof_scored_seconds < self.hub.spoof_scored_speech_seconds);
            if spoof.is_some() {
                self.spoof_scored_seconds += segment.new_speech_seconds;
            }
            let (d, s) = (self.domain_id.clone(), self.session_id.clone());
            let progress = blocking(move || {
                let biometrics = service.biometrics()?;
                let spoof_risk = spoof
                    .as_ref()
                    .map(|scorer| scorer.risk_score(&segment.samples_16k))
                    .transpose()?;
                let quality = segment.stream_quality;
                // Enrollment quality's multiple-voices check embeds each 5 s voice
                // chunk of the call's first 30 s of speech on its own (CAM++ alone).
                let chunk = segment
                    .voice_chunk
                    .map(|c| biometrics.embed_for_consistency(c))
                    .transpose()?;
                let embedding = biometrics.embed(segment.samples_16k)?;
                service.record_session_speech(
                    &d,
                    &s,
                    &SpeechEmbedding {
                        embedding,
                        net_speech_seconds: segment.new_speech_seconds,
                    },
                    spoof_risk,
                    Some(&quality),
                    chunk.as_deref(),
                )
            })
            .await?;
            if progress.crossed_response_time {
                update.evaluation = Some(self.evaluate().await?);
            }
            update.progress.push(progress);
        }
        Ok(update)
    }
}

/// Runs blocking session work (store, model) off the async runtime.
pub async fn blocking<T, F>(f: F) -> Result<T, VoiceIdError>
where
    F: FnOnce() -> Result<T, VoiceIdError> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| VoiceIdError::Internal(format!("session task failed: {e}")))?
}

/// A close reason fit for a WebSocket close frame (at most 123 bytes) or a log line:
/// never an internal detail.
pub fn public_reason(e: &VoiceIdError) -> String {
    let text = match e {
        VoiceIdError::Internal(_) => "internal error".to_owned(),
        other => format!("{}: {other}", other.aws_type()),
    };
    truncate(&text, 123)
}

/// The longest prefix of `s` within `max` bytes, on a character boundary.
pub fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}
