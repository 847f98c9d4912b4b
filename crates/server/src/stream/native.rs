//! The native audio WebSocket: `GET /v1/sessions/{DomainId}/{SessionName}/audio`.
//!
//! Client → server: first a text frame with the format,
//! `{"encoding": "pcm_s16le" | "mulaw" | "alaw", "sample_rate": 8000 | 16000,
//!   "channels": 1, "customer_channel": 0, "speaker_id": "…"?}`,
//! then binary frames of audio (any sizes; frames may split samples), and finally
//! `{"event": "stop"}` or a close frame: the session then ENDS.
//!
//! Server → client text frames: `{"event":"started","SessionId",…}`, one
//! `{"event":"progress","NetSpeechSeconds",…}` per embedded segment, and
//! `{"event":"evaluation", …EvaluateSession output}` when the net speech reaches the
//! response time and when the stream ends. Errors close the socket with a code
//! (1007 bad data, 1008 policy/limits, 1011 internal) and a reason saying why.

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::json;
use voiceprint_audio::{RawEncoding, RawFormat};
use voiceprint_voiceid::Error as VoiceIdError;

use super::{
    authenticate, blocking, public_reason, resolve_session, truncate, SessionFeed, StreamAuth,
    StreamState,
};
use crate::error::ApiError;

/// WebSocket close codes used (RFC 6455 §7.4.1).
pub mod close_code {
    pub const NORMAL: u16 = 1000;
    pub const PROTOCOL: u16 = 1002;
    pub const BAD_DATA: u16 = 1007;
    pub const POLICY: u16 = 1008;
    pub const INTERNAL: u16 = 1011;
}

/// The format frame.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FormatFrame {
    pub encoding: String,
    pub sample_rate: u32,
    #[serde(default = "one")]
    pub channels: u16,
    #[serde(default)]
    pub customer_channel: usize,
    #[serde(default)]
    pub speaker_id: Option<String>,
}

fn one() -> u16 {
    1
}

/// A parsed client frame.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientFrame {
    Format {
        format: RawFormat,
        customer_channel: usize,
        speaker_id: Option<String>,
    },
    Audio(Vec<u8>),
    Stop,
}

/// Why a frame was refused: a close code and a reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: u16,
    pub reason: String,
}

impl Refusal {
    pub fn new(code: u16, reason: impl Into<String>) -> Self {
        Refusal {
            code,
            reason: truncate(&reason.into(), 123),
        }
    }
}

/// The next WebSocket message; `Ok(None)` when the client closed or the socket
/// failed, a POLICY refusal when nothing (`what`: audio, media) came for `idle`.
pub async fn next_message(
    socket: &mut WebSocket,
    idle: std::time::Duration,
    what: &str,
) -> Result<Option<Message>, Refusal> {
    match tokio::time::timeout(idle, socket.next()).await {
        Err(_) => Err(Refusal::new(
            close_code::POLICY,
            format!("idle timeout: no {what} for {:.0} s", idle.as_secs_f64()),
        )),
        Ok(None) | Ok(Some(Err(_))) => Ok(None),
        Ok(Some(Ok(m))) => Ok(Some(m)),
    }
}

/// Parses a text frame: the format (only as the first frame) or `{"event":"stop"}`.
pub fn parse_text(text: &str, format_seen: bool) -> Result<ClientFrame, Refusal> {
    let value: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| Refusal::new(close_code::BAD_DATA, format!("text frame is not JSON: {e}")))?;
    if value.get("event").and_then(|v| v.as_str()) == Some("stop") {
        return Ok(ClientFrame::Stop);
    }
    if format_seen {
        return Err(Refusal::new(
            close_code::PROTOCOL,
            "unexpected text frame: after the format only binary audio and {\"event\":\"stop\"}",
        ));
    }
    let f: FormatFrame = serde_json::from_value(value)
        .map_err(|e| Refusal::new(close_code::BAD_DATA, format!("format frame: {e}")))?;
    let encoding = match f.encoding.as_str() {
        "pcm_s16le" => RawEncoding::PcmS16le,
        "mulaw" => RawEncoding::Mulaw,
        "alaw" => RawEncoding::Alaw,
        other => {
            return Err(Refusal::new(
                close_code::BAD_DATA,
                format!("format frame: encoding {other:?} is not pcm_s16le, mulaw or alaw"),
            ))
        }
    };
    if f.sample_rate != 8000 && f.sample_rate != 16000 {
        return Err(Refusal::new(
            close_code::BAD_DATA,
            "format frame: sample_rate must be 8000 or 16000",
        ));
    }
    if f.channels == 0 || f.channels > 2 || f.customer_channel >= usize::from(f.channels) {
        return Err(Refusal::new(
            close_code::BAD_DATA,
            "format frame: channels must be 1 or 2 and customer_channel one of them",
        ));
    }
    Ok(ClientFrame::Format {
        format: RawFormat {
            encoding,
            sample_rate: f.sample_rate,
            channels: f.channels,
        },
        customer_channel: f.customer_channel,
        speaker_id: f.speaker_id,
    })
}

pub async fn upgrade(
    State(state): State<StreamState>,
    Path((domain_id, session_name)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let auth = match authenticate(&state.app, "GET", &uri, &headers, &[]) {
        Ok(a) => a,
        Err(e) => return e.into_response(),
    };
    if let Err(e) = check_path(&domain_id, &session_name) {
        return ApiError::Validation(e).into_response();
    }
    ws.max_message_size(super::MAX_MESSAGE_BYTES)
        .on_upgrade(move |socket| async move {
            run(socket, state, auth, domain_id, session_name).await;
        })
}

/// DomainId and SessionName as the model constrains them.
pub fn check_path(domain_id: &str, session_name: &str) -> Result<(), String> {
    if !voiceprint_voiceid::ids::is_id22(domain_id) {
        return Err("DomainId must be 22 alphanumeric characters".into());
    }
    let b = session_name.as_bytes();
    if b.is_empty()
        || b.len() > 36
        || !b[0].is_ascii_alphanumeric()
        || !b
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b'-')
    {
        return Err("SessionName must be 1-36 characters of [a-zA-Z0-9][a-zA-Z0-9_-]*".into());
    }
    Ok(())
}

async fn send_json(socket: &mut WebSocket, value: serde_json::Value) -> bool {
    socket
        .send(Message::Text(value.to_string().into()))
        .await
        .is_ok()
}

async fn close(socket: &mut WebSocket, code: u16, reason: &str) {
    if code != close_code::NORMAL {
        tracing::info!(code, reason, "closing audio stream");
    }
    let _ = socket
        .send(Message::Close(Some(CloseFrame {
            code,
            reason: truncate(reason, 123).into(),
        })))
        .await;
}

fn refusal_for(e: &VoiceIdError) -> Refusal {
    let code = match e {
        VoiceIdError::Validation(_) => close_code::BAD_DATA,
        VoiceIdError::Internal(_) => close_code::INTERNAL,
        _ => close_code::POLICY,
    };
    Refusal::new(code, public_reason(e))
}

async fn run(
    mut socket: WebSocket,
    state: StreamState,
    auth: StreamAuth,
    domain_id: String,
    session_name: String,
) {
    let idle = std::time::Duration::from_secs_f64(state.hub.limits.idle_timeout_seconds);
    let mut feed: Option<SessionFeed> = None;
    let outcome: Result<(), Refusal> = loop {
        let message = match next_message(&mut socket, idle, "audio").await {
            Err(r) => break Err(r),
            Ok(None) => break Ok(()),
            Ok(Some(m)) => m,
        };
        let frame = match message {
            Message::Text(t) => match parse_text(t.as_str(), feed.is_some()) {
                Ok(f) => f,
                Err(r) => break Err(r),
            },
            Message::Binary(b) => ClientFrame::Audio(b.to_vec()),
            Message::Close(_) => break Ok(()),
            Message::Ping(_) | Message::Pong(_) => continue,
        };
        match frame {
            ClientFrame::Format {
                format,
                customer_channel,
                speaker_id,
            } => {
                let service = state.app.service.clone();
                let (a, d, n) = (auth.clone(), domain_id.clone(), session_name.clone());
                let resolved = blocking(move || {
                    let id = resolve_session(&service, &a, &d, &n, speaker_id.as_deref())?;
                    if let Some(s) = speaker_id {
                        // The stream may name (or confirm) the caller of its session.
                        service.update_session(
                            voiceprint_voiceid::types::UpdateSessionRequest {
                                domain_id: d.clone(),
                                session_name_or_id: id.clone(),
                                speaker_id: Some(s),
                                authentication_configuration: None,
                                fraud_detection_configuration: None,
                                streaming_configuration: None,
                            },
                        )?;
                    }
                    Ok(id)
                })
                .await;
                let opened = match resolved {
                    Ok(id) => {
                        SessionFeed::open(&state, domain_id.clone(), id, format, customer_channel)
                            .await
                    }
                    Err(e) => Err(e),
                };
                match opened {
                    Ok(f) => {
                        let started = json!({"event": "started", "SessionId": f.session_id, "SessionName": session_name});
                        feed = Some(f);
                        if !send_json(&mut socket, started).await {
                            break Ok(());
                        }
                    }
                    Err(e) => break Err(refusal_for(&e)),
                }
            }
            ClientFrame::Audio(bytes) => {
                let Some(f) = feed.as_mut() else {
                    break Err(Refusal::new(
                        close_code::PROTOCOL,
                        "audio before the format frame: send the JSON format first",
                    ));
                };
                match f.push(&bytes).await {
                    Ok(update) => {
                        if !send_update(&mut socket, f.heard_speech_seconds(), update).await {
                            break Ok(());
                        }
                    }
                    Err(e) => break Err(refusal_for(&e)),
                }
            }
            ClientFrame::Stop => break Ok(()),
        }
    };
    // However the stream ended, its speech so far counts and the session ends.
    let mut final_close = match &outcome {
        Ok(()) => (close_code::NORMAL, "stream ended".to_owned()),
        Err(r) => (r.code, r.reason.clone()),
    };
    if let Some(f) = feed {
        let heard = f.heard_speech_seconds();
        match f.finish(true).await {
            Ok(update) => {
                send_update(&mut socket, heard, update).await;
            }
            Err(e) => {
                if outcome.is_ok() {
                    let r = refusal_for(&e);
                    final_close = (r.code, r.reason);
                }
            }
        }
    }
    close(&mut socket, final_close.0, &final_close.1).await;
}

async fn send_update(socket: &mut WebSocket, heard: f64, update: super::FeedUpdate) -> bool {
    for p in &update.progress {
        let msg = json!({
            "event": "progress",
            "NetSpeechSeconds": p.net_speech_seconds,
            "HeardSpeechSeconds": heard,
            "StreamingStatus": p.status,
        });
        if !send_json(socket, msg).await {
            return false;
        }
    }
    if let Some(e) = update.evaluation {
        let mut v = serde_json::to_value(&e).unwrap_or_default();
        if let Some(o) = v.as_object_mut() {
            o.insert("event".into(), "evaluation".into());
        }
        return send_json(socket, v).await;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_format_frame_parses_and_is_validated() {
        let f = parse_text(r#"{"encoding":"mulaw","sample_rate":8000}"#, false).unwrap();
        assert_eq!(
            f,
            ClientFrame::Format {
                format: RawFormat {
                    encoding: RawEncoding::Mulaw,
                    sample_rate: 8000,
                    channels: 1
                },
                customer_channel: 0,
                speaker_id: None
            }
        );
        let stereo = parse_text(
            r#"{"encoding":"pcm_s16le","sample_rate":16000,"channels":2,"customer_channel":1,"speaker_id":"c1"}"#,
            false,
        )
        .unwrap();
        assert!(matches!(
            stereo,
            ClientFrame::Format {
                customer_channel: 1,
                ..
            }
        ));
        for (bad, why) in [
            ("{nope", "not JSON"),
            (r#"{"encoding":"opus","sample_rate":8000}"#, "opus"),
            (r#"{"encoding":"mulaw","sample_rate":44100}"#, "sample_rate"),
            (
                r#"{"encoding":"mulaw","sample_rate":8000,"channels":2,"customer_channel":2}"#,
                "customer_channel",
            ),
            (
                r#"{"encoding":"mulaw","sample_rate":8000,"bogus":1}"#,
                "bogus",
            ),
        ] {
            let r = parse_text(bad, false).unwrap_err();
            assert_eq!(r.code, close_code::BAD_DATA, "{bad}");
            assert!(r.reason.contains(why), "{bad}: {}", r.reason);
            assert!(r.reason.len() <= 123);
        }
    }

    #[test]
    fn stop_ends_and_a_second_format_is_a_protocol_error() {
        assert_eq!(
            parse_text(r#"{"event":"stop"}"#, true).unwrap(),
            ClientFrame::Stop
        );
        let r = parse_text(r#"{"encoding":"mulaw","sample_rate":8000}"#, true).unwrap_err();
        assert_eq!(r.code, close_code::PROTOCOL);
    }

    #[test]
    fn path_parameters_follow_the_model() {
        assert!(check_path("abcdefghijklmnopqrstuv", "contact-1_a").is_ok());
        assert!(check_path("short", "c").is_err());
        assert!(check_path("abcdefghijklmnopqrstuv", "-bad").is_err());
        assert!(check_path("abcdefghijklmnopqrstuv", &"a".repeat(37)).is_err());
    }
}
