//! Twilio Media Streams at `GET /v1/twilio`, so a TwiML `<Connect><Stream>` (or
//! `<Start><Stream>`) can point at voiceprint directly.
//!
//! Twilio sends JSON text frames: `connected`, `start` (with `customParameters` from
//! `<Parameter>` and the `mediaFormat`), `media` (base64 μ-law 8 kHz payloads, track
//! `inbound` = the caller), `mark`, `dtmf` and `stop`. customParameters:
//! `DomainId` (required), `SessionName` (default: the CallSid), `CustomerSpeakerId`
//! (optional), and the credentials (see the `stream` module): `StreamToken`, or
//! `Authorization` + `X-Amz-Date` signing `GET /v1/sessions/{DomainId}/{SessionName}/audio`.
//! A session that does not exist yet is started with the domain's defaults (signed
//! callers only). `stop` or the socket closing ENDS the session. Outbound-track media
//! (the agent) is ignored.

use std::collections::HashMap;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde::Deserialize;
use voiceprint_audio::{RawEncoding, RawFormat};
use voiceprint_voiceid::Error as VoiceIdError;

use super::native::{close_code, next_message, Refusal};
use super::{
    blocking, public_reason, resolve_session, truncate, SessionFeed, StreamAuth, StreamState,
};

/// One Twilio message, parsed.
#[derive(Debug, Clone, PartialEq)]
pub enum TwilioEvent {
    Connected,
    Start(Start),
    /// Decoded μ-law bytes of the caller's track.
    Media(Vec<u8>),
    /// Media of another track (the agent), ignored.
    OtherTrack,
    /// `mark`, `dtmf` and other events that carry no audio.
    Other,
    Stop,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Start {
    pub stream_sid: String,
    pub call_sid: String,
    pub custom_parameters: HashMap<String, String>,
    pub format: RawFormat,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawMessage {
    event: String,
    #[serde(default)]
    start: Option<RawStart>,
    #[serde(default)]
    media: Option<RawMedia>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawStart {
    #[serde(default)]
    stream_sid: String,
    #[serde(default)]
    call_sid: String,
    #[serde(default)]
    custom_parameters: HashMap<String, String>,
    #[serde(default)]
    media_format: Option<RawMediaFormat>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawMediaFormat {
    encoding: String,
    sample_rate: u32,
    #[serde(default = "one")]
    channels: u16,
}

fn one() -> u16 {
    1
}

#[derive(Deserialize)]
struct RawMedia {
    #[serde(default)]
    track: Option<String>,
    payload: String,
}

/// Parses one Twilio text frame.
pub fn parse(text: &str) -> Result<TwilioEvent, Refusal> {
    let m: RawMessage = serde_json::from_str(text)
        .map_err(|e| Refusal::new(close_code::BAD_DATA, format!("not a Twilio message: {e}")))?;
    match m.event.as_str() {
        "connected" => Ok(TwilioEvent::Connected),
        "start" => {
            let s = m.start.ok_or_else(|| {
                Refusal::new(close_code::BAD_DATA, "start event without \"start\"")
            })?;
            let format = match s.media_format {
                None => RawFormat {
                    encoding: RawEncoding::Mulaw,
                    sample_rate: 8000,
                    channels: 1,
                },
                Some(f) => {
                    let encoding = match f.encoding.as_str() {
                        "audio/x-mulaw" => RawEncoding::Mulaw,
                        "audio/x-alaw" => RawEncoding::Alaw,
                        "audio/x-l16" | "audio/l16" => {
                            return Err(Refusal::new(
                                close_code::BAD_DATA,
                                "mediaFormat audio/x-l16 is big-endian PCM; send audio/x-mulaw",
                            ))
                        }
                        other => {
                            return Err(Refusal::new(
                                close_code::BAD_DATA,
                                format!("unsupported mediaFormat encoding {other:?}"),
                            ))
                        }
                    };
                    if f.sample_rate != 8000 || f.channels != 1 {
                        return Err(Refusal::new(
                            close_code::BAD_DATA,
                            "mediaFormat must be 8000 Hz mono",
                        ));
                    }
                    RawFormat {
                        encoding,
                        sample_rate: 8000,
                        channels: 1,
                    }
                }
            };
            Ok(TwilioEvent::Start(Start {
                stream_sid: s.stream_sid,
                call_sid: s.call_sid,
                custom_parameters: s.custom_parameters,
                format,
            }))
        }
        "media" => {
            let media = m.media.ok_or_else(|| {
                Refusal::new(close_code::BAD_DATA, "media event without \"media\"")
            })?;
            if media.track.as_deref().is_some_and(|t| t != "inbound") {
                return Ok(TwilioEvent::OtherTrack);
            }
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(media.payload.as_bytes())
                .map_err(|e| {
                    Refusal::new(
                        close_code::BAD_DATA,
                        format!("media payload is not base64: {e}"),
                    )
                })?;
            Ok(TwilioEvent::Media(bytes))
        }
        "stop" => Ok(TwilioEvent::Stop),
        _ => Ok(TwilioEvent::Other),
    }
}

pub async fn upgrade(
    State(state): State<StreamState>,
    headers: HeaderMap,
    _uri: Uri,
    ws: WebSocketUpgrade,
) -> Response {
    let host = headers.get(axum::http::header::HOST).cloned();
    ws.max_message_size(super::MAX_MESSAGE_BYTES)
        .on_upgrade(move |socket| async move {
            run(socket, state, host).await;
        })
        .into_response()
}

/// The credentials of a `start` event.
fn start_auth(
    state: &StreamState,
    params: &HashMap<String, String>,
    host: Option<&HeaderValue>,
    domain_id: &str,
    session_name: &str,
) -> Result<StreamAuth, Refusal> {
    if let Some(token) = params.get("StreamToken") {
        return Ok(StreamAuth::Token(token.clone()));
    }
    let mut headers = HeaderMap::new();
    if let Some(h) = host {
        headers.insert(axum::http::header::HOST, h.clone());
    }
    for (name, header) in [
        ("Authorization", "authorization"),
        ("X-Amz-Date", "x-amz-date"),
    ] {
        if let Some(v) = params.get(name) {
            let value = HeaderValue::from_str(v).map_err(|_| {
                Refusal::new(
                    close_code::POLICY,
                    format!("customParameters {name} is not a valid header value"),
                )
            })?;
            headers.insert(HeaderName::from_static(header), value);
        }
    }
    let path = format!("/v1/sessions/{domain_id}/{session_name}/audio");
    state
        .app
        .auth
        .authenticate(&crate::auth::SignedRequest {
            method: "GET",
            path: &path,
            query: "",
            headers: &headers,
            body: &[],
        })
        .map_err(|e| Refusal::new(close_code::POLICY, format!("authentication failed: {e}")))?;
    Ok(StreamAuth::Signed)
}

async fn run(mut socket: WebSocket, state: StreamState, host: Option<HeaderValue>) {
    let idle = std::time::Duration::from_secs_f64(state.hub.limits.idle_timeout_seconds);
    let mut feed: Option<SessionFeed> = None;
    let outcome: Result<(), Refusal> = loop {
        let message = match next_message(&mut socket, idle, "media").await {
            Err(r) => break Err(r),
            Ok(None) => break Ok(()),
            Ok(Some(m)) => m,
        };
        let event = match message {
            Message::Text(t) => match parse(t.as_str()) {
                Ok(e) => e,
                Err(r) => break Err(r),
            },
            Message::Binary(_) => {
                break Err(Refusal::new(
                    close_code::PROTOCOL,
                    "binary frame on a Twilio Media Stream (Twilio sends JSON text)",
                ))
            }
            Message::Close(_) => break Ok(()),
            Message::Ping(_) | Message::Pong(_) => continue,
        };
        match event {
            TwilioEvent::Connected | TwilioEvent::Other | TwilioEvent::OtherTrack => {}
            TwilioEvent::Start(start) => {
                if feed.is_some() {
                    break Err(Refusal::new(close_code::PROTOCOL, "a second start event"));
                }
                match open(&state, start, host.as_ref()).await {
                    Ok(f) => feed = Some(f),
                    Err(r) => break Err(r),
                }
            }
            TwilioEvent::Media(bytes) => {
                let Some(f) = feed.as_mut() else {
                    break Err(Refusal::new(
                        close_code::PROTOCOL,
                        "media before the start event",
                    ));
                };
                if let Err(e) = f.push(&bytes).await {
                    break Err(refusal_for(&e));
                }
            }
            TwilioEvent::Stop => break Ok(()),
        }
    };
    let mut final_close = match &outcome {
        Ok(()) => (close_code::NORMAL, "stream ended".to_owned()),
        Err(r) => (r.code, r.reason.clone()),
    };
    if let Some(f) = feed {
        if let Err(e) = f.finish(true).await {
            if outcome.is_ok() {
                let r = refusal_for(&e);
                final_close = (r.code, r.reason);
            }
        }
    }
    if final_close.0 != close_code::NORMAL {
        tracing::info!(code = final_close.0, reason = %final_close.1, "closing Twilio stream");
    }
    let _ = socket
        .send(Message::Close(Some(CloseFrame {
            code: final_close.0,
            reason: truncate(&final_close.1, 123).into(),
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

async fn open(
    state: &StreamState,
    start: Start,
    host: Option<&HeaderValue>,
) -> Result<SessionFeed, Refusal> {
    let params = &start.custom_parameters;
    let domain_id = params.get("DomainId").cloned().ok_or_else(|| {
        Refusal::new(close_code::POLICY, "customParameters must include DomainId")
    })?;
    let session_name = params
        .get("SessionName")
        .cloned()
        .unwrap_or_else(|| start.call_sid.clone());
    super::native::check_path(&domain_id, &session_name)
        .map_err(|e| Refusal::new(close_code::POLICY, e))?;
    let auth = start_auth(state, params, host, &domain_id, &session_name)?;
    let speaker = params
        .get("CustomerSpeakerId")
        .or_else(|| params.get("SpeakerId"))
        .cloned();
    let service = state.app.service.clone();
    let (d, n) = (domain_id.clone(), session_name.clone());
    let session_id = blocking(move || {
        let id = resolve_session(&service, &auth, &d, &n, speaker.as_deref())?;
        if let Some(s) = speaker {
            service.update_session(voiceprint_voiceid::types::UpdateSessionRequest {
                domain_id: d.clone(),
                session_name_or_id: id.clone(),
                speaker_id: Some(s),
                authentication_configuration: None,
                fraud_detection_configuration: None,
                streaming_configuration: None,
            })?;
        }
        Ok(id)
    })
    .await
    .map_err(|e| refusal_for(&e))?;
    SessionFeed::open(state, domain_id, session_id, start.format, 0)
        .await
        .map_err(|e| refusal_for(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    const START: &str = r#"{"event":"start","sequenceNumber":"1","start":{"accountSid":"AC1","streamSid":"MZ1","callSid":"CA0123456789abcdef0123456789abcdef","tracks":["inbound"],"customParameters":{"DomainId":"abcdefghijklmnopqrstuv","CustomerSpeakerId":"c1"},"mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1}},"streamSid":"MZ1"}"#;

    #[test]
    fn twilio_events_parse() {
        assert_eq!(
            parse(r#"{"event":"connected","protocol":"Call","version":"1.0.0"}"#).unwrap(),
            TwilioEvent::Connected
        );
        let TwilioEvent::Start(s) = parse(START).unwrap() else {
            panic!("start")
        };
        assert_eq!(s.call_sid, "CA0123456789abcdef0123456789abcdef");
        assert_eq!(s.custom_parameters["CustomerSpeakerId"], "c1");
        assert_eq!(s.format.encoding, RawEncoding::Mulaw);
        let media = r#"{"event":"media","sequenceNumber":"3","media":{"track":"inbound","chunk":"1","timestamp":"5","payload":"/39/fw=="},"streamSid":"MZ1"}"#;
        assert_eq!(
            parse(media).unwrap(),
            TwilioEvent::Media(vec![0xFF, 0x7F, 0x7F, 0x7F])
        );
        let outbound = media.replace("\"inbound\"", "\"outbound\"");
        assert_eq!(parse(&outbound).unwrap(), TwilioEvent::OtherTrack);
        assert_eq!(
            parse(r#"{"event":"mark","mark":{"name":"x"}}"#).unwrap(),
            TwilioEvent::Other
        );
        assert_eq!(
            parse(r#"{"event":"stop","stop":{}}"#).unwrap(),
            TwilioEvent::Stop
        );
    }

    #[test]
    fn malformed_twilio_messages_are_refused_with_a_reason() {
        for (bad, why) in [
            ("[1,2", "not a Twilio message"),
            (r#"{"event":"media","media":{"payload":"***"}}"#, "base64"),
            (r#"{"event":"media"}"#, "without"),
            (
                r#"{"event":"start","start":{"mediaFormat":{"encoding":"audio/x-l16","sampleRate":8000}}}"#,
                "big-endian",
            ),
            (
                r#"{"event":"start","start":{"mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":16000}}}"#,
                "8000",
            ),
        ] {
            let r = parse(bad).unwrap_err();
            assert_eq!(r.code, close_code::BAD_DATA, "{bad}");
            assert!(r.reason.contains(why), "{bad}: {}", r.reason);
        }
    }
}
