//! Live call sessions: the rules behind StartSession, UpdateSession,
//! DescribeSession, EndSession, EnrollBySession, RegisterFraudsterBySession
//! (voiceprint extension operations modelled on Connect's private session API,
//! voiceid-api.md §1.8) and EvaluateSession.
//!
//! What it does: the session state machine (PENDING_CONFIGURATION → ONGOING →
//! ENDED), one stored row per session (`Kind::Session`, id `id#`+22, SessionName as
//! the alt key, the running embedding as the encrypted voiceprint), incremental
//! results, pending enrollment, and the TTL of ended sessions. [`live::LiveAudio`]
//! turns a call's streamed bytes into speech segments.
//!
//! What it does not do: sockets and wire protocols (`voiceprint-server`'s `stream`),
//! running the model (the caller embeds segments with `Biometrics::embed` on the
//! engine threads and hands them to [`VoiceIdService::record_session_speech`]).
//!
//! Key decision: a session's audio is reduced, segment by segment, to a running
//! speech-weighted sum of unit-normalised segment embeddings, persisted with the
//! session. EvaluateSession, EnrollBySession and RegisterFraudsterBySession read only
//! that sum — they never re-embed the call, work the same after ENDED and after a
//! restart, and no audio is ever stored. (Measured with CAM++: the segment mean of
//! 3 s segments scores as well as one embedding of the whole speech; docs/SESSIONS.md.)
//! What is lost on restart: the live front end of a stream in progress (its client
//! reconnects and continues the same session).

pub mod conditions;
pub mod live;

use std::sync::{Mutex, MutexGuard};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use voiceprint_engine::scoring::Voiceprint;
use voiceprint_store::{Kind, Record, Write};

use crate::biometrics::SpeechEmbedding;
use crate::clock::{Clock, SystemClock};
use crate::error::{ConflictType, Error, ResourceType, Result};
use crate::ids::{is_generated_id, new_generated_id, new_id22};
use crate::quality::QualityReason;
use crate::SpeechConditions;
use crate::service::enrollment::{
    AuthenticationDecision, DuplicateRegistrationAction, ExistingEnrollmentAction,
    RegistrationStatus,
};
use crate::types::*;
use crate::VoiceIdService;

/// Voice ID's default acceptance threshold.
pub const DEFAULT_ACCEPTANCE_THRESHOLD: u8 = 90;
/// Voice ID's default fraud risk threshold.
pub const DEFAULT_RISK_THRESHOLD: u8 = 50;
/// Default authentication response time (net speech seconds before a decision).
pub const DEFAULT_RESPONSE_TIME_SECONDS: u8 = 10;
/// Allowed response times (Voice ID: 5 to 10 s).
pub const RESPONSE_TIME_RANGE: std::ops::RangeInclusive<u8> = 5..=10;
/// Net speech an enrollment (or a fraudster registration) needs.
pub const ENROLLMENT_SPEECH_SECONDS: f64 = 30.0;
/// Default similarity above which RegisterFraudsterBySession skips a duplicate.
pub const DEFAULT_FRAUDSTER_SIMILARITY_THRESHOLD: u8 = 50;

/// Limits of live sessions.
///
/// TODO(lead): read these from `[sessions]` in config/default.toml
/// (`max_active_streams_per_domain = 50`, `max_audio_seconds = 900`,
/// `idle_timeout_seconds = 30`, `ended_ttl_seconds = 86400`, `segment_seconds = 3.0`,
/// `max_embedded_speech_seconds = 60`); until then the defaults below are used.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionLimits {
    /// Audio streams open at once per domain (Voice ID's concurrent-session quota: 50).
    pub max_active_streams_per_domain: usize,
    /// Longest audio one session accepts (seconds of stream, speech or not).
    pub max_audio_seconds: f64,
    /// A stream that sends nothing for this long is closed; a session without a
    /// stream that long after its last activity is ENDED by the sweeper.
    pub idle_timeout_seconds: f64,
    /// How long an ENDED session (and its results) stays readable.
    pub ended_ttl_seconds: f64,
    /// Speech per embedded segment (measured choice: docs/SESSIONS.md).
    pub segment_seconds: f64,
    /// Speech beyond this is not embedded: results have converged by then, and the
    /// cap bounds the model's CPU per call.
    pub max_embedded_speech_seconds: f64,
}

impl Default for SessionLimits {
    fn default() -> Self {
        SessionLimits {
            max_active_streams_per_domain: 50,
            max_audio_seconds: 900.0,
            idle_timeout_seconds: 30.0,
            ended_ttl_seconds: 86_400.0,
            segment_seconds: 3.0,
            max_embedded_speech_seconds: 60.0,
        }
    }
}

/// Voice-spoofing countermeasure hook: `None` until a detector is wired in, and
/// then VoiceSpoofingRisk.RiskScore stays 0 and VOICE_SPOOFING is never a reason.
pub trait SpoofScorer: Send + Sync {
    /// Likelihood (0–100) that this 16 kHz speech is synthetic or replayed.
    fn risk_score(&self, speech_16k: &[f32]) -> Result<u8>;
}

// ---------- stored row layout ----------

#[derive(Debug, Clone, Serialize, Deserialize)]
struct SessionAttrs {
    created_at: f64,
    updated_at: f64,
    last_activity_at: f64,
    status: StreamingStatus,
    acceptance_threshold: u8,
    risk_threshold: u8,
    #[serde(default)]
    watchlist_id: Option<String>,
    response_time: u8,
    /// Resolved when the speaker is set (and after enrollment); ids are not PII.
    #[serde(default)]
    generated_speaker_id: Option<String>,
    stream_token_digest: String,
    /// Net speech behind the running embedding.
    net_speech_seconds: f64,
    /// Segments behind the running embedding: the version results are cached for.
    segments: u32,
    #[serde(default)]
    audio_started_at: Option<f64>,
    #[serde(default)]
    audio_ended_at: Option<f64>,
    #[serde(default)]
    spoof_risk: Option<u8>,
    #[serde(default)]
    enrollment: Option<EnrollmentState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    quality: Option<StoredQuality>,
    #[serde(default)]
    ended_at: Option<f64>,
    #[serde(default)]
    expires_at: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct EnrollmentState {
    status: EnrollmentRequestStatus,
    action: ExistingEnrollmentAction,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    outcome: Option<String>,
    #[serde(default)]
    voiceprint_state: Option<crate::service::lifecycle::VoiceprintState>,
    /// Enrollment-quality reasons: the rejecting ones of a FAILED enrollment, or
    /// the flagged ones of a COMPLETED one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    quality_reasons: Vec<QualityReason>,
}

/// Signal quality of the session's audio as last measured by its stream (net
/// speech, SNR, clipping; numbers only).
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct StoredQuality {
    net_speech_seconds: f64,
    snr_db: f64,
    clipped_fraction: f64,
    /// VAD-free speech-to-noise ratio; absent in sessions stored before it was kept.
    #[serde(default)]
    stnr_db: Option<f64>,
}

/// Encrypted at rest: the contact id, the speaker as given, cached results (they
/// carry CustomerSpeakerId).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct SessionSecret {
    session_name: String,
    #[serde(default)]
    speaker_id: Option<String>,
    #[serde(default)]
    customer_speaker_id: Option<String>,
    #[serde(default)]
    auth: Option<Cached<AuthenticationResult>>,
    #[serde(default)]
    fraud: Option<Cached<FraudDetectionResult>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Cached<T> {
    /// What the result was computed from; a new key means a new result (and id).
    key: String,
    result: T,
}

/// The running speech-weighted sum of unit-normalised segment embeddings.
///
/// Layout: `"VPSA" | version u8 | model_len u8 | model | dim u32 | seconds f64 | dim × f32 |
/// chunks u16 | chunk_dim u32 | chunks × (seconds f64 | chunk_dim × f32)`.
#[derive(Clone, PartialEq)]
struct Accumulator {
    model: String,
    seconds: f64,
    sum: Vec<f32>,
    /// Embeddings of the call's first voice chunks (5 s of speech each, see
    /// `live::VOICE_CHUNK_SECONDS`) as (seconds, embedding): the multiple-voices
    /// check's chunks (crate::quality).
    chunks: Vec<(f64, Vec<f32>)>,
}

const ACC_MAGIC: &[u8; 4] = b"VPSA";
/// Version 2 appends the chunks (of the running embedding's dimension), version 3 gives
/// them their own dimension (consistency embeddings, e.g. CAM++ alone for the fused
/// model); version 1 and 2 rows still read.
const ACC_VERSION: u8 = 3;
/// Most voice chunks kept (LiveAudio cuts at most 30 s of speech into 5 s chunks).
const SESSION_MAX_CHUNKS: usize = 12;

impl Accumulator {
    fn new(model: &str, dim: usize) -> Self {
        Accumulator {
            model: model.into(),
            seconds: 0.0,
            sum: vec![0.0; dim],
            chunks: Vec::new(),
        }
    }

    /// The voice-chunk embeddings for the multiple-voices check.
    fn chunk_embeddings(&self) -> Vec<Vec<f32>> {
        self.chunks.iter().map(|(_, e)| e.clone()).collect()
    }

    /// Keeps one voice chunk's embedding (beyond [`SESSION_MAX_CHUNKS`] it is dropped).
    /// Every chunk must have the first one's dimension; one that does not (a call that
    /// spans an upgrade from fused chunk embeddings to CAM++ ones) is left out rather
    /// than failing the call's audio.
    fn add_chunk(&mut self, embedding: &[f32], seconds: f64) -> Result<()> {
        if embedding.is_empty() || embedding.len() > voiceprint_engine::scoring::MAX_DIM {
            return Err(Error::Internal(
                "voice chunk embedding has the wrong dimension".into(),
            ));
        }
        if self.chunks.first().is_some_and(|(_, c)| c.len() != embedding.len()) {
            return Ok(());
        }
        if self.chunks.len() < SESSION_MAX_CHUNKS {
            self.chunks.push((seconds, embedding.to_vec()));
        }
        Ok(())
    }

    fn add(&mut self, embedding: &[f32], seconds: f64) -> Result<()> {
        if embedding.len() != self.sum.len() {
            return Err(Error::Internal(format!(
                "segment embedding has dimension {}, the session's running embedding {}",
                embedding.len(),
                self.sum.len()
            )));
        }
        let unit = voiceprint_engine::scoring::l2_normalized(embedding)
            .map_err(|e| Error::Internal(format!("segment embedding: {e}")))?;
        for (s, x) in self.sum.iter_mut().zip(unit) {
            *s += (seconds * f64::from(x)) as f32;
        }
        self.seconds += seconds;
        Ok(())
    }

    fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(18 + self.model.len() + 4 * self.sum.len());
        out.extend_from_slice(ACC_MAGIC);
        out.push(ACC_VERSION);
        out.push(self.model.len().min(255) as u8);
        out.extend_from_slice(&self.model.as_bytes()[..self.model.len().min(255)]);
        out.extend_from_slice(&(self.sum.len() as u32).to_le_bytes());
        out.extend_from_slice(&self.seconds.to_le_bytes());
        for v in &self.sum {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&(self.chunks.len() as u16).to_le_bytes());
        let chunk_dim = self.chunks.first().map_or(0, |(_, c)| c.len());
        out.extend_from_slice(&(chunk_dim as u32).to_le_bytes());
        for (seconds, sum) in &self.chunks {
            out.extend_from_slice(&seconds.to_le_bytes());
            for v in sum {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
        out
    }

    fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let bad = || Error::Internal("a session's running embedding does not decode".into());
        let take = |at: &mut usize, n: usize| -> Result<&[u8]> {
            let s = bytes.get(*at..*at + n).ok_or_else(bad)?;
            *at += n;
            Ok(s)
        };
        let mut at = 0;
        if take(&mut at, 4)? != ACC_MAGIC {
            return Err(bad());
        }
        let version = take(&mut at, 1)?[0];
        if !(1..=ACC_VERSION).contains(&version) {
            return Err(bad());
        }
        let model_len = usize::from(take(&mut at, 1)?[0]);
        let model = std::str::from_utf8(take(&mut at, model_len)?)
            .map_err(|_| bad())?
            .to_owned();
        let dim = u32::from_le_bytes(take(&mut at, 4)?.try_into().map_err(|_| bad())?) as usize;
        if dim == 0 || dim > voiceprint_engine::scoring::MAX_DIM {
            return Err(bad());
        }
        let seconds = f64::from_le_bytes(take(&mut at, 8)?.try_into().map_err(|_| bad())?);
        let floats = |data: &[u8]| -> Vec<f32> {
            data.chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect()
        };
        let sum = floats(take(&mut at, dim * 4)?);
        let mut chunks = Vec::new();
        if version >= 2 {
            let n = u16::from_le_bytes(take(&mut at, 2)?.try_into().map_err(|_| bad())?);
            if usize::from(n) > SESSION_MAX_CHUNKS {
                return Err(bad());
            }
            let chunk_dim = if version >= 3 {
                u32::from_le_bytes(take(&mut at, 4)?.try_into().map_err(|_| bad())?) as usize
            } else {
                dim
            };
            if n > 0 && (chunk_dim == 0 || chunk_dim > voiceprint_engine::scoring::MAX_DIM) {
                return Err(bad());
            }
            for _ in 0..n {
                let s = f64::from_le_bytes(take(&mut at, 8)?.try_into().map_err(|_| bad())?);
                chunks.push((s, floats(take(&mut at, chunk_dim * 4)?)));
            }
        }
        if at != bytes.len() || !seconds.is_finite() {
            return Err(bad());
        }
        Ok(Accumulator {
            model,
            seconds,
            sum,
            chunks,
        })
    }
}

// Row locks: a session's read-modify-write cycles (audio segments from its stream,
// API calls) are serialised per session; different sessions proceed in parallel.
static SESSION_LOCKS: [Mutex<()>; 64] = [const { Mutex::new(()) }; 64];

/// What the fusion weighs besides the channel: the session's net speech so far.
/// What the fusion weighs besides the channel: the call's net speech so far and, when
/// its stream measured it, its speech-to-noise ratio.
fn speech_conditions(acc: &Accumulator, quality: Option<&StoredQuality>) -> SpeechConditions {
    SpeechConditions {
        net_speech_seconds: acc.seconds,
        stnr_db: quality.and_then(|q| q.stnr_db),
    }
}

fn session_lock(session_id: &str) -> MutexGuard<'static, ()> {
    let h = session_id.bytes().fold(0usize, |h, b| {
        h.wrapping_mul(31).wrapping_add(usize::from(b))
    });
    SESSION_LOCKS[h % SESSION_LOCKS.len()]
        .lock()
        .unwrap_or_else(|p| p.into_inner())
}

/// A session's lock: the process stripe, then the store's cluster lock for the
/// session, so the node streaming a call and a node answering EvaluateSession for
/// it never interleave their read-modify-write cycles.
struct SessionGuard<'a> {
    _cluster: voiceprint_store::ClusterLock<'a>,
    _process: MutexGuard<'static, ()>,
}

impl VoiceIdService {
    fn session_guard(&self, session_key: &str) -> Result<SessionGuard<'_>> {
        let process = session_lock(session_key);
        let cluster = self
            .store()
            .cluster_lock(&format!("session:{session_key}"))?;
        Ok(SessionGuard {
            _cluster: cluster,
            _process: process,
        })
    }
}

fn decode<T: serde::de::DeserializeOwned>(v: &Value) -> Result<T> {
    Ok(T::deserialize(v)?)
}

fn encode<T: Serialize>(v: &T) -> Value {
    serde_json::to_value(v).expect("session row layouts serialise")
}

fn digest(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn not_found() -> Error {
    Error::not_found(ResourceType::Session, "The session does not exist")
}

fn check_threshold(name: &str, v: u8) -> Result<()> {
    if v > 100 {
        return Err(Error::validation(format!(
            "{name} must be between 0 and 100"
        )));
    }
    Ok(())
}

/// What the stream side needs to know after recording a segment.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionProgress {
    pub session_id: String,
    pub status: StreamingStatus,
    /// Net speech behind the session's results.
    pub net_speech_seconds: f64,
    /// The session's response time (net speech before results are decided).
    pub response_time_seconds: f64,
    /// True when this call crossed the response time (results just became decidable).
    pub crossed_response_time: bool,
}

/// A stored session, decoded.
struct Loaded {
    rec: Record,
    attrs: SessionAttrs,
    secret: SessionSecret,
}

impl Loaded {
    fn accumulator(&self) -> Result<Option<Accumulator>> {
        self.rec
            .voiceprint
            .as_deref()
            .map(Accumulator::from_bytes)
            .transpose()
    }
}

impl VoiceIdService {
    // TODO(lead): a `pub(crate) fn now()` on the service would let sessions follow the
    // injected clock; sessions use the system clock (and take `now` where tests need it).
    fn session_now(&self) -> f64 {
        SystemClock.now()
    }

    fn load_session(&self, domain_id: &str, name_or_id: &str, now: f64) -> Result<Loaded> {
        self.describe_domain(DomainIdRequest {
            domain_id: domain_id.into(),
        })?;
        let rec = if is_generated_id(name_or_id) {
            self.store().get(Kind::Session, domain_id, name_or_id)?
        } else {
            self.store()
                .get_by_alt_key(Kind::Session, domain_id, name_or_id)?
        }
        .ok_or_else(not_found)?;
        let attrs: SessionAttrs = decode(&rec.attributes)?;
        // Past its TTL a session is gone, whether or not the sweeper ran yet.
        if attrs.expires_at.is_some_and(|t| now >= t) {
            return Err(not_found());
        }
        let secret: SessionSecret = decode(&rec.sensitive)?;
        Ok(Loaded { rec, attrs, secret })
    }

    fn save_session(&self, mut loaded: Loaded, acc: Option<&Accumulator>) -> Result<Loaded> {
        loaded.rec.attributes = encode(&loaded.attrs);
        loaded.rec.sensitive = encode(&loaded.secret);
        if let Some(acc) = acc {
            loaded.rec.voiceprint = Some(acc.to_bytes());
        }
        self.store().apply(vec![Write::Put(loaded.rec.clone())])?;
        Ok(loaded)
    }

    fn session_view(&self, l: &Loaded) -> Session {
        let a = &l.attrs;
        Session {
            session_id: l.rec.id.clone(),
            session_name: l.secret.session_name.clone(),
            domain_id: l.rec.domain_id.clone(),
            created_at: a.created_at,
            updated_at: a.updated_at,
            customer_speaker_id: l.secret.customer_speaker_id.clone(),
            generated_speaker_id: a.generated_speaker_id.clone(),
            authentication_configuration: AuthenticationConfiguration {
                acceptance_threshold: a.acceptance_threshold,
            },
            fraud_detection_configuration: FraudDetectionConfiguration {
                risk_threshold: Some(a.risk_threshold),
                watchlist_id: a.watchlist_id.clone(),
            },
            streaming_configuration: StreamingConfiguration {
                authentication_minimum_speech_in_seconds: a.response_time,
            },
            streaming_status: a.status,
            net_speech_seconds: a.net_speech_seconds,
            audio_progress: AudioProgress {
                audio_aggregation_started_at: a.audio_started_at,
                audio_aggregation_ended_at: a.audio_ended_at,
            },
            enrollment_request_details: a.enrollment.as_ref().map(|e| EnrollmentRequestDetails {
                status: e.status,
                message: e.message.clone(),
                enrollment_outcome: e.outcome.clone(),
                voiceprint_state: e.voiceprint_state,
                quality_reasons: e.quality_reasons.clone(),
            }),
            expires_at: a.expires_at,
            engine_conditions: None,
        }
    }

    /// Sets the session's speaker: `speaker_id` as given, plus both id forms when the
    /// speaker exists already.
    fn set_session_speaker(&self, l: &mut Loaded, speaker_id: &str) -> Result<()> {
        let existing = match self.describe_speaker(SpeakerRequest {
            domain_id: l.rec.domain_id.clone(),
            speaker_id: speaker_id.into(),
        }) {
            Ok(r) => Some(r.speaker),
            Err(Error::ResourceNotFound { .. }) => None,
            Err(e) => return Err(e),
        };
        if existing.is_none() && is_generated_id(speaker_id) {
            return Err(Error::not_found(
                ResourceType::Speaker,
                "The speaker does not exist",
            ));
        }
        l.secret.speaker_id = Some(speaker_id.into());
        l.attrs.generated_speaker_id = existing.as_ref().map(|s| s.generated_speaker_id.clone());
        l.secret.customer_speaker_id = match existing {
            Some(s) => s.customer_speaker_id,
            None => Some(speaker_id.into()),
        };
        Ok(())
    }

    fn check_watchlist(&self, domain_id: &str, watchlist_id: &str) -> Result<()> {
        self.describe_watchlist(WatchlistRequest {
            domain_id: domain_id.into(),
            watchlist_id: watchlist_id.into(),
        })
        .map(|_| ())
    }

    fn apply_configuration(
        &self,
        l: &mut Loaded,
        auth: Option<AuthenticationConfiguration>,
        fraud: Option<FraudDetectionConfiguration>,
        streaming: Option<StreamingConfiguration>,
    ) -> Result<()> {
        if let Some(a) = auth {
            check_threshold("AcceptanceThreshold", a.acceptance_threshold)?;
            l.attrs.acceptance_threshold = a.acceptance_threshold;
        }
        if let Some(f) = fraud {
            if let Some(t) = f.risk_threshold {
                check_threshold("RiskThreshold", t)?;
                l.attrs.risk_threshold = t;
            }
            if let Some(w) = f.watchlist_id {
                self.check_watchlist(&l.rec.domain_id, &w)?;
                l.attrs.watchlist_id = Some(w);
            }
        }
        if let Some(s) = streaming {
            let t = s.authentication_minimum_speech_in_seconds;
            if !RESPONSE_TIME_RANGE.contains(&t) {
                return Err(Error::validation(
                    "AuthenticationMinimumSpeechInSeconds must be between 5 and 10",
                ));
            }
            l.attrs.response_time = t;
        }
        Ok(())
    }

    // ---------- operations ----------

    /// StartSession: a new session named `SessionName` (the contact id). A name whose
    /// session has ENDED is reused for the new session (the old one stays readable by
    /// its SessionId until its TTL); a name with a session still open is a conflict.
    pub fn start_session(&self, req: StartSessionRequest) -> Result<StartSessionResponse> {
        let now = self.session_now();
        let (loaded, token) = self.create_session(&req, now)?;
        Ok(StartSessionResponse {
            session: self.session_view(&loaded),
            stream_token: token,
        })
    }

    fn create_session(&self, req: &StartSessionRequest, now: f64) -> Result<(Loaded, String)> {
        self.describe_domain(DomainIdRequest {
            domain_id: req.domain_id.clone(),
        })?;
        if req.session_name.is_empty()
            || req.session_name.len() > 36
            || is_generated_id(&req.session_name)
        {
            return Err(Error::validation(
                "SessionName must be 1-36 characters of ^[a-zA-Z0-9][a-zA-Z0-9_-]*$",
            ));
        }
        // One lock per name, so two StartSessions for one contact cannot both win.
        let _guard = self.session_guard(&req.session_name)?;
        let mut writes = Vec::new();
        if let Some(mut old) =
            self.store()
                .get_by_alt_key(Kind::Session, &req.domain_id, &req.session_name)?
        {
            let attrs: SessionAttrs = decode(&old.attributes)?;
            let expired = attrs.expires_at.is_some_and(|t| now >= t);
            if attrs.status != StreamingStatus::Ended && !expired {
                return Err(Error::conflict(
                    ConflictType::AnotherActiveStream,
                    "A session with this SessionName is still open; end it first",
                ));
            }
            old.alt_key = None;
            writes.push(if expired {
                Write::Delete {
                    kind: Kind::Session,
                    domain_id: old.domain_id,
                    id: old.id,
                }
            } else {
                Write::Put(old)
            });
        }
        let token = format!("vpst_{}{}", new_id22(), new_id22());
        let mut loaded = Loaded {
            rec: Record {
                kind: Kind::Session,
                domain_id: req.domain_id.clone(),
                id: new_generated_id(),
                alt_key: Some(req.session_name.clone()),
                attributes: Value::Null,
                sensitive: Value::Null,
                voiceprint: None,
            },
            attrs: SessionAttrs {
                created_at: now,
                updated_at: now,
                last_activity_at: now,
                status: StreamingStatus::PendingConfiguration,
                acceptance_threshold: DEFAULT_ACCEPTANCE_THRESHOLD,
                risk_threshold: DEFAULT_RISK_THRESHOLD,
                watchlist_id: None,
                response_time: DEFAULT_RESPONSE_TIME_SECONDS,
                generated_speaker_id: None,
                stream_token_digest: digest(&token),
                net_speech_seconds: 0.0,
                segments: 0,
                audio_started_at: None,
                audio_ended_at: None,
                spoof_risk: None,
                enrollment: None,
                quality: None,
                ended_at: None,
                expires_at: None,
            },
            secret: SessionSecret {
                session_name: req.session_name.clone(),
                ..SessionSecret::default()
            },
        };
        self.apply_configuration(
            &mut loaded,
            req.authentication_configuration,
            req.fraud_detection_configuration.clone(),
            req.streaming_configuration,
        )?;
        if let Some(s) = &req.speaker_id {
            self.set_session_speaker(&mut loaded, s)?;
        }
        loaded.rec.attributes = encode(&loaded.attrs);
        loaded.rec.sensitive = encode(&loaded.secret);
        writes.push(Write::Put(loaded.rec.clone()));
        self.store().apply(writes)?;
        Ok((loaded, token))
    }

    /// UpdateSession: set or replace the speaker and the thresholds. The speaker
    /// cannot change once an enrollment was requested.
    pub fn update_session(&self, req: UpdateSessionRequest) -> Result<SessionResponse> {
        let now = self.session_now();
        let mut l = self.load_session(&req.domain_id, &req.session_name_or_id, now)?;
        let _guard = self.session_guard(&l.rec.id)?;
        l = self.load_session(&req.domain_id, &l.rec.id, now)?;
        if let Some(s) = &req.speaker_id {
            if l.attrs.enrollment.is_some() && l.secret.speaker_id.as_deref() != Some(s) {
                return Err(Error::conflict(
                    ConflictType::CannotChangeSpeakerAfterEnrollment,
                    "You cannot change the speaker ID after an enrollment has been requested",
                ));
            }
            self.set_session_speaker(&mut l, s)?;
        }
        self.apply_configuration(
            &mut l,
            req.authentication_configuration,
            req.fraud_detection_configuration,
            req.streaming_configuration,
        )?;
        l.attrs.updated_at = now;
        let l = self.save_session(l, None)?;
        Ok(SessionResponse {
            session: self.session_view(&l),
        })
    }

    pub fn describe_session(&self, req: SessionRequest) -> Result<SessionResponse> {
        let l = self.load_session(&req.domain_id, &req.session_name_or_id, self.session_now())?;
        let mut session = self.session_view(&l);
        session.engine_conditions = self.session_conditions(&l)?;
        Ok(SessionResponse { session })
    }

    /// EndSession: no more audio is accepted; results stay readable for the TTL.
    /// Ending an ENDED session is a no-op.
    pub fn end_session(
        &self,
        req: SessionRequest,
        limits: &SessionLimits,
    ) -> Result<SessionResponse> {
        let now = self.session_now();
        let l = self.load_session(&req.domain_id, &req.session_name_or_id, now)?;
        let l = self.end_session_at(&l.rec.domain_id.clone(), &l.rec.id.clone(), now, limits)?;
        Ok(SessionResponse {
            session: self.session_view(&l),
        })
    }

    fn end_session_at(
        &self,
        domain_id: &str,
        session_id: &str,
        now: f64,
        limits: &SessionLimits,
    ) -> Result<Loaded> {
        let _guard = self.session_guard(session_id)?;
        let mut l = self.load_session(domain_id, session_id, now)?;
        if l.attrs.status == StreamingStatus::Ended {
            return Ok(l);
        }
        l.attrs.status = StreamingStatus::Ended;
        l.attrs.ended_at = Some(now);
        l.attrs.expires_at = Some(now + limits.ended_ttl_seconds);
        l.attrs.updated_at = now;
        // A domain that trains voiceprints over several calls takes this call's
        // speech now that it is complete.
        let acc = l.accumulator()?;
        self.try_complete_enrollment(&mut l, acc.as_ref())?;
        let required = self.call_speech_required(&l.rec.domain_id)?;
        if let Some(e) = &mut l.attrs.enrollment {
            if e.status == EnrollmentRequestStatus::InProgress {
                e.status = EnrollmentRequestStatus::NotEnoughSpeech;
                e.quality_reasons = vec![QualityReason::TooShort];
                e.message = Some(format!(
                    "the session ended with {:.1} s of net speech; enrollment needs {required:.0} s",
                    l.attrs.net_speech_seconds
                ));
            }
        }
        self.save_session(l, None)
    }

    /// EnrollBySession: enroll the session's speaker from the session's speech. With
    /// 30 s of net speech already it completes at once; otherwise the request waits
    /// (IN_PROGRESS) for the speech to arrive, and becomes NOT_ENOUGH_SPEECH if the
    /// session ends first. One enrollment per session.
    pub fn enroll_by_session(
        &self,
        req: EnrollBySessionRequest,
    ) -> Result<EnrollBySessionResponse> {
        let action = match req.existing_enrollment_action.as_deref() {
            None | Some("SKIP") => ExistingEnrollmentAction::Skip,
            Some("OVERWRITE") => ExistingEnrollmentAction::Overwrite,
            Some("ENHANCE") => ExistingEnrollmentAction::Enhance,
            Some(_) => {
                return Err(Error::validation(
                    "ExistingEnrollmentAction must be SKIP, OVERWRITE or ENHANCE",
                ))
            }
        };
        self.biometrics()?;
        let now = self.session_now();
        let l = self.load_session(&req.domain_id, &req.session_name_or_id, now)?;
        let _guard = self.session_guard(&l.rec.id)?;
        let mut l = self.load_session(&req.domain_id, &l.rec.id, now)?;
        let Some(speaker_id) = l.secret.speaker_id.clone() else {
            return Err(Error::conflict(
                ConflictType::SpeakerNotSet,
                "You must set the speaker ID before requesting an enrollment",
            ));
        };
        if l.attrs.enrollment.is_some() {
            return Err(Error::conflict(
                ConflictType::EnrollmentAlreadyExists,
                "There is already an enrollment for this session",
            ));
        }
        if let Ok(s) = self.describe_speaker(SpeakerRequest {
            domain_id: req.domain_id.clone(),
            speaker_id: speaker_id.clone(),
        }) {
            if s.speaker.status == SpeakerStatus::OptedOut {
                return Err(Error::conflict(
                    ConflictType::SpeakerOptedOut,
                    "The speaker has opted out of voice authentication",
                ));
            }
        }
        let required = self.call_speech_required(&req.domain_id)?;
        if l.attrs.net_speech_seconds < required && l.attrs.status == StreamingStatus::Ended {
            return Ok(EnrollBySessionResponse {
                status: EnrollmentRequestStatus::NotEnoughSpeech,
                message: Some(format!(
                    "the session ended with {:.1} s of net speech; enrollment needs {required:.0} s",
                    l.attrs.net_speech_seconds
                )),
                generated_speaker_id: None,
                enrollment_outcome: None,
                voiceprint_state: None,
                quality_reasons: vec![QualityReason::TooShort],
            });
        }
        l.attrs.enrollment = Some(EnrollmentState {
            status: EnrollmentRequestStatus::InProgress,
            action,
            message: None,
            outcome: None,
            voiceprint_state: None,
            quality_reasons: Vec::new(),
        });
        let acc = l.accumulator()?;
        self.try_complete_enrollment(&mut l, acc.as_ref())?;
        l.attrs.updated_at = now;
        let l = self.save_session(l, None)?;
        let e = l.attrs.enrollment.clone().expect("set above");
        Ok(EnrollBySessionResponse {
            status: e.status,
            message: e.message.or_else(|| {
                (e.status == EnrollmentRequestStatus::InProgress).then(|| {
                    format!(
                        "waiting for {ENROLLMENT_SPEECH_SECONDS:.0} s of net speech ({:.1} s so far)",
                        l.attrs.net_speech_seconds
                    )
                })
            }),
            generated_speaker_id: l.attrs.generated_speaker_id.clone(),
            enrollment_outcome: e.outcome,
            voiceprint_state: e.voiceprint_state,
            quality_reasons: e.quality_reasons,
        })
    }

    /// Net speech one call needs before its enrollment can complete: Voice ID's
    /// 30 s, or the domain's per-call minimum when voiceprints train over several
    /// calls (the call then counts when it ends).
    fn call_speech_required(&self, domain_id: &str) -> Result<f64> {
        let settings = self.engine_settings(domain_id)?;
        Ok(if settings.minimum_calls_for_voiceprint > 1 {
            settings.minimum_segment_speech_seconds
        } else {
            ENROLLMENT_SPEECH_SECONDS
        })
    }

    /// Completes an IN_PROGRESS enrollment once the running embedding holds enough
    /// speech. A refusal (opted out meanwhile, quota) becomes FAILED with its reason.
    fn try_complete_enrollment(&self, l: &mut Loaded, acc: Option<&Accumulator>) -> Result<()> {
        if l.attrs
            .enrollment
            .as_ref()
            .is_none_or(|e| e.status != EnrollmentRequestStatus::InProgress)
        {
            return Ok(());
        }
        let Some(acc) = acc else { return Ok(()) };
        // One call of 30 s (Voice ID), or, over several calls, each call's speech
        // once the call has ended.
        let multi_call = self
            .engine_settings(&l.rec.domain_id)?
            .minimum_calls_for_voiceprint
            > 1;
        let ready = if multi_call {
            l.attrs.status == StreamingStatus::Ended
                && acc.seconds >= self.call_speech_required(&l.rec.domain_id)?
        } else {
            acc.seconds >= ENROLLMENT_SPEECH_SECONDS
        };
        if !ready {
            return Ok(());
        }
        let speaker_id = l.secret.speaker_id.clone().unwrap_or_default();
        let session_id = l.rec.id.clone();
        // Enrollment quality (issue 9): the stream's SNR and clipping, and the
        // consistency of the session's speech chunks with one voice.
        let quality_settings = self.engine_settings(&l.rec.domain_id)?.enrollment_quality;
        let signal = l.attrs.quality.map(|q| crate::quality::RecordingQuality {
            net_speech_seconds: q.net_speech_seconds,
            snr_db: q.snr_db,
            clipped_fraction: q.clipped_fraction,
        });
        let chunks: Vec<Vec<f32>> = acc
            .chunk_embeddings()
            .iter()
            .map(|e| crate::quality::speaker_part(&acc.model, e).to_vec())
            .collect();
        let voices = crate::quality::voice_consistency(&chunks);
        let findings = crate::quality::assess(&quality_settings, signal.as_ref(), voices.as_ref());
        let Some(e) = l.attrs.enrollment.as_mut() else {
            return Ok(());
        };
        if let Some(reason) = crate::quality::rejection(&findings) {
            e.status = EnrollmentRequestStatus::Failed;
            e.message = Some(reason);
            e.quality_reasons = findings
                .iter()
                .filter(|f| f.action == crate::quality::QualityAction::Reject)
                .map(|f| f.reason)
                .collect();
            tracing::info!(session_id = %session_id, reasons = ?e.quality_reasons, "session enrollment refused on quality");
            return Ok(());
        }
        let flagged = crate::quality::flags(&findings);
        let biometrics = self.biometrics()?;
        let voiceprint = biometrics.voiceprint(&[SpeechEmbedding {
            embedding: acc.sum.clone(),
            net_speech_seconds: acc.seconds,
        }])?;
        match self.add_training_segment(
            &l.rec.domain_id,
            &speaker_id,
            &voiceprint,
            e.action,
            Some(&session_id),
            &flagged,
        ) {
            Ok(done) => {
                e.status = EnrollmentRequestStatus::Completed;
                e.voiceprint_state = Some(done.voiceprint_state);
                e.quality_reasons = flagged;
                if done.voiceprint_state != crate::service::lifecycle::VoiceprintState::Trained {
                    e.message = Some(format!(
                        "the call was added to the speaker's voiceprint, which is now {} (DescribeVoiceprint shows why)",
                        encode(&done.voiceprint_state).as_str().unwrap_or_default()
                    ));
                }
                e.outcome = Some(
                    serde_json::to_value(done.outcome)?
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                );
                l.attrs.generated_speaker_id = Some(done.generated_speaker_id);
                if done.customer_speaker_id.is_some() {
                    l.secret.customer_speaker_id = done.customer_speaker_id;
                }
            }
            Err(err @ (Error::Internal(_) | Error::Throttling(_))) => return Err(err),
            Err(err) => {
                e.status = EnrollmentRequestStatus::Failed;
                e.message = Some(err.to_string());
            }
        }
        Ok(())
    }

    /// RegisterFraudsterBySession: register the session's voice as a fraudster in the
    /// given watchlists (the default watchlist when none), from 30 s of net speech.
    pub fn register_fraudster_by_session(
        &self,
        req: RegisterFraudsterBySessionRequest,
    ) -> Result<RegisterFraudsterBySessionResponse> {
        let duplicate = match req.duplicate_registration_action.as_deref() {
            None | Some("SKIP") => DuplicateRegistrationAction::Skip,
            Some("REGISTER_AS_NEW") => DuplicateRegistrationAction::RegisterAsNew,
            Some(_) => {
                return Err(Error::validation(
                    "DuplicateRegistrationAction must be SKIP or REGISTER_AS_NEW",
                ))
            }
        };
        let threshold = req
            .fraudster_similarity_threshold
            .unwrap_or(DEFAULT_FRAUDSTER_SIMILARITY_THRESHOLD);
        check_threshold("FraudsterSimilarityThreshold", threshold)?;
        let l = self.load_session(&req.domain_id, &req.session_name_or_id, self.session_now())?;
        let acc = l.accumulator()?;
        let seconds = acc.as_ref().map_or(0.0, |a| a.seconds);
        let Some(acc) = acc.filter(|a| a.seconds >= ENROLLMENT_SPEECH_SECONDS) else {
            return Err(Error::validation(format!(
                "registering a fraudster needs {ENROLLMENT_SPEECH_SECONDS:.0} s of net speech; the session has {seconds:.1} s"
            )));
        };
        let biometrics = self.biometrics()?;
        let watchlists = req.watchlist_ids.clone().unwrap_or_default();
        for w in &watchlists {
            self.check_watchlist(&req.domain_id, w)?;
        }
        let voiceprint: Voiceprint = biometrics.voiceprint(&[SpeechEmbedding {
            embedding: acc.sum,
            net_speech_seconds: acc.seconds,
        }])?;
        let registration = self.register_fraudster(
            &req.domain_id,
            watchlists.first().map(String::as_str),
            &voiceprint,
            duplicate,
            threshold,
        )?;
        if registration.status == RegistrationStatus::NewRegistration {
            for w in watchlists.iter().skip(1) {
                self.associate_fraudster(FraudsterWatchlistRequest {
                    domain_id: req.domain_id.clone(),
                    fraudster_id: registration.generated_fraudster_id.clone(),
                    watchlist_id: w.clone(),
                })?;
            }
        }
        Ok(RegisterFraudsterBySessionResponse {
            generated_fraudster_id: registration.generated_fraudster_id,
            registration_status: match registration.status {
                RegistrationStatus::NewRegistration => "NEW_REGISTRATION",
                RegistrationStatus::DuplicateSkipped => "DUPLICATE_SKIPPED",
            }
            .into(),
            fraudster_similarity_score: registration.similarity_score,
        })
    }

    /// EvaluateSession. Results are computed from the session's running embedding
    /// and cached: a new result (with a new id) only when the speech behind it, the
    /// speaker or a threshold changed, as Voice ID documents.
    pub fn evaluate_session_results(
        &self,
        req: EvaluateSessionRequest,
    ) -> Result<EvaluateSessionResponse> {
        let now = self.session_now();
        let l = self.load_session(&req.domain_id, &req.session_name_or_id, now)?;
        let _guard = self.session_guard(&l.rec.id)?;
        let mut l = self.load_session(&req.domain_id, &l.rec.id, now)?;
        let acc = l.accumulator()?;
        let mut changed = false;
        // The speaker's voiceprint state is part of the key: a voiceprint that
        // goes into or out of service (approval, cooling-off) changes the decision.
        let voiceprint_state = match l.secret.speaker_id.as_deref() {
            Some(speaker) => format!("{:?}", self.no_voiceprint_reason(&req.domain_id, speaker)?),
            None => String::new(),
        };
        let auth_key = format!(
            "{}|{}|{}|{}|{}",
            l.attrs.segments,
            l.attrs.acceptance_threshold,
            l.attrs.response_time,
            digest(l.secret.speaker_id.as_deref().unwrap_or("")),
            voiceprint_state
        );
        if l.secret.auth.as_ref().is_none_or(|c| c.key != auth_key) {
            let result = self.authentication_result(&mut l, acc.as_ref())?;
            l.secret.auth = Some(Cached {
                key: auth_key,
                result,
            });
            changed = true;
        }
        let fraud_key = format!(
            "{}|{}|{}|{}|{:?}",
            l.attrs.segments,
            l.attrs.risk_threshold,
            l.attrs.response_time,
            l.attrs.watchlist_id.as_deref().unwrap_or(""),
            l.attrs.spoof_risk
        );
        let mut new_fraud_result = false;
        if l.secret.fraud.as_ref().is_none_or(|c| c.key != fraud_key) {
            let result = self.fraud_result(&l, acc.as_ref())?;
            l.secret.fraud = Some(Cached {
                key: fraud_key,
                result,
            });
            changed = true;
            new_fraud_result = true;
        }
        let l = if changed {
            self.save_session(l, None)?
        } else {
            l
        };
        let engine_conditions = self.session_conditions(&l)?;
        if new_fraud_result
            && engine_conditions
                .as_ref()
                .is_some_and(|c| c.detection == Some(conditions::DetectionCondition::Detected))
        {
            if let Some(speaker) = l.secret.speaker_id.as_deref() {
                // The domain's cooling-off after a fraud detection keeps the claimed
                // speaker's voiceprint out of verification for a while.
                self.cool_off_after_fraud_detection(&req.domain_id, speaker)?;
            }
        }
        Ok(EvaluateSessionResponse {
            engine_conditions,
            authentication_result: l.secret.auth.as_ref().map(|c| encode(&c.result)),
            domain_id: req.domain_id,
            fraud_detection_result: l.secret.fraud.as_ref().map(|c| encode(&c.result)),
            session_id: Some(l.rec.id.clone()),
            session_name: Some(l.secret.session_name.clone()),
            streaming_status: Some(
                encode(&l.attrs.status)
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            ),
        })
    }

    /// The call's engine conditions from its latest cached results (None when the
    /// domain is gone). The voiceprint's state is read fresh.
    fn session_conditions(&self, l: &Loaded) -> Result<Option<conditions::EngineConditions>> {
        let settings = self.engine_settings(&l.rec.domain_id)?;
        let speaker = l.secret.speaker_id.as_deref();
        let no_voice_print = match speaker {
            Some(s) => self.no_voiceprint_reason(&l.rec.domain_id, s)?,
            None => None,
        };
        let auth = l.secret.auth.as_ref().map(|c| &c.result);
        let fraud = l
            .secret
            .fraud
            .as_ref()
            .map(|c| &c.result)
            .filter(|f| f.decision != "NOT_ENOUGH_SPEECH");
        let known = fraud
            .and_then(|f| f.risk_details.as_ref())
            .map(|d| &d.known_fraudster_risk);
        let inputs = conditions::ConditionInputs {
            has_attribute: speaker.is_some(),
            no_voice_print,
            verification_score: auth.and_then(|a| a.score),
            acceptance_threshold: l.attrs.acceptance_threshold,
            ended: l.attrs.status == StreamingStatus::Ended,
            detection_score: known.map(|k| k.risk_score),
            generated_fraudster_id: known.and_then(|k| k.generated_fraudster_id.clone()),
            risk_threshold: l.attrs.risk_threshold,
        };
        Ok(Some(conditions::engine_conditions(&inputs, &settings)))
    }

    fn authentication_result(
        &self,
        l: &mut Loaded,
        acc: Option<&Accumulator>,
    ) -> Result<AuthenticationResult> {
        let a = &l.attrs;
        let enough =
            acc.filter(|acc| acc.seconds >= f64::from(a.response_time) && acc.seconds > 0.0);
        let mut result = AuthenticationResult {
            audio_aggregation_ended_at: a.audio_ended_at,
            audio_aggregation_started_at: a.audio_started_at,
            authentication_result_id: new_id22(),
            configuration: AuthenticationConfiguration {
                acceptance_threshold: a.acceptance_threshold,
            },
            customer_speaker_id: l.secret.customer_speaker_id.clone(),
            decision: String::new(),
            generated_speaker_id: a.generated_speaker_id.clone(),
            score: None,
        };
        let decision = match (l.secret.speaker_id.clone(), enough) {
            (None, _) => {
                result.customer_speaker_id = None;
                result.generated_speaker_id = None;
                AuthenticationDecision::SpeakerIdNotProvided
            }
            (Some(speaker_id), Some(acc)) => {
                let auth = self.authenticate_speaker(
                    &l.rec.domain_id,
                    &speaker_id,
                    &acc.sum,
                    speech_conditions(acc, a.quality.as_ref()),
                    a.acceptance_threshold,
                )?;
                result.score = auth.score;
                result.generated_speaker_id =
                    auth.generated_speaker_id.or(result.generated_speaker_id);
                result.customer_speaker_id =
                    auth.customer_speaker_id.or(result.customer_speaker_id);
                auth.decision
            }
            (Some(speaker_id), None) => {
                match self.describe_speaker(SpeakerRequest {
                    domain_id: l.rec.domain_id.clone(),
                    speaker_id,
                }) {
                    Err(Error::ResourceNotFound { .. }) => {
                        AuthenticationDecision::SpeakerNotEnrolled
                    }
                    Err(e) => return Err(e),
                    Ok(s) => {
                        result.generated_speaker_id = Some(s.speaker.generated_speaker_id);
                        match s.speaker.status {
                            SpeakerStatus::OptedOut => AuthenticationDecision::SpeakerOptedOut,
                            SpeakerStatus::Expired => AuthenticationDecision::SpeakerExpired,
                            SpeakerStatus::Pending => AuthenticationDecision::SpeakerNotEnrolled,
                            SpeakerStatus::Enrolled => AuthenticationDecision::NotEnoughSpeech,
                        }
                    }
                }
            }
        };
        if result.generated_speaker_id.is_some() {
            l.attrs.generated_speaker_id = result.generated_speaker_id.clone();
        }
        result.decision = encode(&decision).as_str().unwrap_or_default().to_owned();
        Ok(result)
    }

    fn fraud_result(&self, l: &Loaded, acc: Option<&Accumulator>) -> Result<FraudDetectionResult> {
        let a = &l.attrs;
        let watchlist_id = match &a.watchlist_id {
            Some(w) => w.clone(),
            None => {
                self.describe_domain(DomainIdRequest {
                    domain_id: l.rec.domain_id.clone(),
                })?
                .domain
                .watchlist_details
                .default_watchlist_id
            }
        };
        let mut result = FraudDetectionResult {
            audio_aggregation_ended_at: a.audio_ended_at,
            audio_aggregation_started_at: a.audio_started_at,
            configuration: FraudDetectionConfiguration {
                risk_threshold: Some(a.risk_threshold),
                watchlist_id: Some(watchlist_id.clone()),
            },
            decision: "NOT_ENOUGH_SPEECH".into(),
            fraud_detection_result_id: new_id22(),
            reasons: Vec::new(),
            risk_details: None,
        };
        let Some(acc) =
            acc.filter(|acc| acc.seconds >= f64::from(a.response_time) && acc.seconds > 0.0)
        else {
            return Ok(result);
        };
        let known = self.known_fraudster_risk(
            &l.rec.domain_id,
            Some(&watchlist_id),
            &acc.sum,
            speech_conditions(acc, a.quality.as_ref()),
        )?;
        let known_score = known.as_ref().map_or(0, |m| m.risk_score);
        let spoof_score = a.spoof_risk.unwrap_or(0);
        if known_score >= a.risk_threshold {
            result.reasons.push("KNOWN_FRAUDSTER".into());
        }
        if a.spoof_risk.is_some() && spoof_score >= a.risk_threshold {
            result.reasons.push("VOICE_SPOOFING".into());
        }
        result.decision = if result.reasons.is_empty() {
            "LOW_RISK"
        } else {
            "HIGH_RISK"
        }
        .into();
        result.risk_details = Some(FraudRiskDetails {
            known_fraudster_risk: KnownFraudsterRisk {
                generated_fraudster_id: known
                    .filter(|m| m.risk_score > 0)
                    .map(|m| m.generated_fraudster_id),
                risk_score: known_score,
            },
            voice_spoofing_risk: VoiceSpoofingRisk {
                risk_score: spoof_score,
            },
        });
        Ok(result)
    }

    // ---------- the stream side ----------

    /// Starts `session_name` with the domain's defaults unless a session by that name
    /// is open already (Twilio: the contact's first audio may arrive before any
    /// StartSession). Returns the SessionId.
    pub fn start_or_join_session(
        &self,
        domain_id: &str,
        session_name: &str,
        speaker_id: Option<&str>,
    ) -> Result<String> {
        let now = self.session_now();
        match self.load_session(domain_id, session_name, now) {
            Ok(l) if l.attrs.status != StreamingStatus::Ended => return Ok(l.rec.id),
            Ok(_)
            | Err(Error::ResourceNotFound {
                resource_type: ResourceType::Session,
                ..
            }) => {}
            Err(e) => return Err(e),
        }
        let req = StartSessionRequest {
            domain_id: domain_id.into(),
            session_name: session_name.into(),
            speaker_id: speaker_id.map(str::to_owned),
            authentication_configuration: None,
            fraud_detection_configuration: None,
            streaming_configuration: None,
        };
        match self.create_session(&req, now) {
            Ok((l, _token)) => Ok(l.rec.id),
            // Lost a race with another StartSession for the same contact: join it.
            Err(Error::Conflict { .. }) => {
                Ok(self.load_session(domain_id, session_name, now)?.rec.id)
            }
            Err(e) => Err(e),
        }
    }

    /// Whether `token` is the stream token StartSession returned for this session.
    pub fn check_stream_token(
        &self,
        domain_id: &str,
        session_name_or_id: &str,
        token: &str,
    ) -> Result<bool> {
        let l = self.load_session(domain_id, session_name_or_id, self.session_now())?;
        let want = l.attrs.stream_token_digest.as_bytes();
        let got = digest(token);
        // Constant-time comparison of the digests.
        Ok(want.len() == got.len()
            && want
                .iter()
                .zip(got.as_bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0)
    }

    /// An audio stream opened on the session: PENDING_CONFIGURATION becomes ONGOING.
    /// Returns the SessionId and the speech milestones (response time, enrollment).
    /// An ENDED session accepts no audio.
    pub fn open_session_stream(
        &self,
        domain_id: &str,
        session_name_or_id: &str,
    ) -> Result<(String, Vec<f64>)> {
        let now = self.session_now();
        let l = self.load_session(domain_id, session_name_or_id, now)?;
        let _guard = self.session_guard(&l.rec.id)?;
        let mut l = self.load_session(domain_id, &l.rec.id, now)?;
        if l.attrs.status == StreamingStatus::Ended {
            return Err(Error::validation(
                "The session has ended and accepts no more audio; start a new session",
            ));
        }
        l.attrs.status = StreamingStatus::Ongoing;
        l.attrs.last_activity_at = now;
        l.attrs.updated_at = now;
        let milestones = vec![f64::from(l.attrs.response_time), ENROLLMENT_SPEECH_SECONDS];
        let l = self.save_session(l, None)?;
        Ok((l.rec.id, milestones))
    }

    /// Adds one embedded speech segment to the session's running embedding (and
    /// completes a waiting enrollment once 30 s of speech are in).
    pub fn record_session_speech(
        &self,
        domain_id: &str,
        session_id: &str,
        segment: &SpeechEmbedding,
        spoof_risk: Option<u8>,
        quality: Option<&voiceprint_audio::AudioQuality>,
        voice_chunk: Option<&[f32]>,
    ) -> Result<SessionProgress> {
        let biometrics = self.biometrics()?;
        let now = self.session_now();
        let _guard = self.session_guard(session_id)?;
        let mut l = self.load_session(domain_id, session_id, now)?;
        if l.attrs.status == StreamingStatus::Ended {
            return Err(Error::validation(
                "The session has ended and accepts no more audio; start a new session",
            ));
        }
        let mut acc = l
            .accumulator()?
            .unwrap_or_else(|| Accumulator::new(biometrics.model_id(), biometrics.dim()));
        if acc.model != biometrics.model_id() {
            return Err(Error::Internal(format!(
                "the session's running embedding is from model {:?}, the server runs {:?}",
                acc.model,
                biometrics.model_id()
            )));
        }
        let before = acc.seconds;
        acc.add(&segment.embedding, segment.net_speech_seconds)?;
        if let Some(chunk) = voice_chunk {
            acc.add_chunk(chunk, crate::sessions::live::VOICE_CHUNK_SECONDS)?;
        }
        let response_time = f64::from(l.attrs.response_time);
        let a = &mut l.attrs;
        a.status = StreamingStatus::Ongoing;
        a.audio_started_at.get_or_insert(now);
        a.audio_ended_at = Some(now);
        a.last_activity_at = now;
        a.net_speech_seconds = acc.seconds;
        a.segments += 1;
        if let Some(s) = spoof_risk {
            a.spoof_risk = Some(a.spoof_risk.map_or(s, |old| old.max(s)));
        }
        if let Some(q) = quality {
            a.quality = Some(StoredQuality {
                net_speech_seconds: q.net_speech_seconds,
                snr_db: q.snr_db,
                clipped_fraction: q.clipped_fraction,
                stnr_db: Some(q.stnr_db),
            });
        }
        self.try_complete_enrollment(&mut l, Some(&acc))?;
        let l = self.save_session(l, Some(&acc))?;
        Ok(SessionProgress {
            session_id: l.rec.id.clone(),
            status: l.attrs.status,
            net_speech_seconds: acc.seconds,
            response_time_seconds: response_time,
            crossed_response_time: before < response_time && acc.seconds >= response_time,
        })
    }

    /// The audio stream ended (client closed, Twilio `stop`, idle timeout): the
    /// session is ENDED.
    pub fn close_session_stream(
        &self,
        domain_id: &str,
        session_id: &str,
        limits: &SessionLimits,
    ) -> Result<()> {
        self.end_session_at(domain_id, session_id, self.session_now(), limits)
            .map(|_| ())
    }

    /// Housekeeping at `now`: ENDs sessions idle past the timeout that have no open
    /// stream (`streaming(domain, session_id)`), and deletes ENDED sessions past
    /// their TTL. Returns (ended, deleted).
    pub fn sweep_sessions(
        &self,
        now: f64,
        limits: &SessionLimits,
        streaming: &dyn Fn(&str, &str) -> bool,
    ) -> Result<(usize, usize)> {
        let (mut ended, mut deleted) = (0, 0);
        let mut after_domain: Option<String> = None;
        loop {
            let domains = self
                .store()
                .list(Kind::Domain, "", after_domain.as_deref(), 100)?;
            let Some(last) = domains.last() else { break };
            after_domain = Some(last.id.clone());
            for d in &domains {
                let mut after: Option<String> = None;
                loop {
                    let rows = self.store().list_without_voiceprints(
                        Kind::Session,
                        &d.id,
                        after.as_deref(),
                        500,
                    )?;
                    let Some(last) = rows.last() else { break };
                    after = Some(last.id.clone());
                    for rec in &rows {
                        let a: SessionAttrs = decode(&rec.attributes)?;
                        if a.expires_at.is_some_and(|t| now >= t) {
                            self.store().apply(vec![Write::Delete {
                                kind: Kind::Session,
                                domain_id: rec.domain_id.clone(),
                                id: rec.id.clone(),
                            }])?;
                            deleted += 1;
                        } else if a.status != StreamingStatus::Ended
                            && now - a.last_activity_at >= limits.idle_timeout_seconds
                            && !streaming(&rec.domain_id, &rec.id)
                        {
                            self.end_session_at(&rec.domain_id, &rec.id, now, limits)?;
                            ended += 1;
                        }
                    }
                    if rows.len() < 500 {
                        break;
                    }
                }
            }
            if domains.len() < 100 {
                break;
            }
        }
        Ok((ended, deleted))
    }
}

#[cfg(test)]
mod tests;
