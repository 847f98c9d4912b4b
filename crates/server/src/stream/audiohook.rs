//! Genesys Cloud AudioHook (protocol v2) at `GET /v1/audiohook`, when
//! `[audiohook] enabled`.
//!
//! The upgrade request must carry `X-API-KEY` with one of `[audiohook] api_keys`
//! (else 401, before any WebSocket). Then the [`ServerSession`] state machine
//! runs the protocol: `open` → the session `conversationId` of `[audiohook]
//! domain_id` is started or joined, with the CustomerSpeakerId `customer_id_from`
//! names (the participant's ANI, an inputVariables or customConfig entry, or
//! none), and `opened` accepts the best media offer (PCMU or L16 at 8 kHz; the
//! `external` channel is the customer's). Audio feeds the session; `ping` →
//! `pong`; `close` → the session ENDS, a last `event` carries the final decision
//! and `closed` carries it as outputVariables. Decisions are sent as `event`
//! messages (entity type `voiceprint_evaluation`, data = EvaluateSession's
//! output) when the response time is reached and at the end. Protocol errors and
//! refusals send `disconnect` (reason `error` / `unauthorized`) and close.

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};
use subtle::ConstantTimeEq;
use voiceprint_audio::{RawEncoding, RawFormat};
use voiceprint_telephony::audiohook::{
    choose_media, Input, MediaFormat, OpenParameters, ServerSession,
};
use voiceprint_voiceid::types::EvaluateSessionResponse;

use super::native::{close_code, next_message};
use super::{public_reason, truncate, SessionFeed, StreamState};

pub async fn upgrade(
    State(state): State<StreamState>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let config = &state.app.config.audiohook;
    if !config.enabled {
        return (
            StatusCode::NOT_FOUND,
            "AudioHook is not enabled ([audiohook] enabled)",
        )
            .into_response();
    }
    let key = headers
        .get("x-api-key")
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    let known = config
        .api_keys
        .iter()
        .filter(|k| !k.is_empty())
        .fold(0u8, |hit, k| hit | k.as_bytes().ct_eq(key).unwrap_u8());
    if key.is_empty() || known == 0 {
        return (
            StatusCode::UNAUTHORIZED,
            "X-API-KEY is missing or not an AudioHook key",
        )
            .into_response();
    }
    ws.max_message_size(super::MAX_MESSAGE_BYTES)
        .on_upgrade(move |socket| run(socket, state))
}

/// The CustomerSpeakerId `[audiohook] customer_id_from` picks from an open.
pub fn customer_id(rule: &str, open: &OpenParameters) -> Option<String> {
    let text = |v: Option<&Value>| {
        v.and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    if rule == "ani" {
        let ani = open.participant.ani.trim();
        // ANIs arrive as tel: URIs or E.164 numbers.
        let ani = ani.strip_prefix("tel:").unwrap_or(ani);
        return (!ani.is_empty()).then(|| ani.to_owned());
    }
    if let Some(name) = rule.strip_prefix("input:") {
        return text(open.input_variables.get(name));
    }
    if let Some(name) = rule.strip_prefix("custom:") {
        return text(open.custom_config.get(name));
    }
    None
}

/// The decision as an AudioHook event entity.
fn evaluation_entity(e: &EvaluateSessionResponse) -> Value {
    json!({"type": "voiceprint_evaluation", "data": serde_json::to_value(e).unwrap_or_default()})
}

/// The decision as Architect output variables.
fn output_variables(e: &EvaluateSessionResponse) -> Map<String, Value> {
    let mut vars = Map::new();
    let auth = e.authentication_result.as_ref();
    let fraud = e.fraud_detection_result.as_ref();
    for (name, value) in [
        ("VoiceprintDecision", auth.and_then(|a| a.get("Decision"))),
        ("VoiceprintScore", auth.and_then(|a| a.get("Score"))),
        (
            "VoiceprintFraudDecision",
            fraud.and_then(|f| f.get("Decision")),
        ),
    ] {
        if let Some(v) = value {
            vars.insert(name.into(), v.clone());
        }
    }
    vars
}

async fn send_text(socket: &mut WebSocket, text: String) -> bool {
    socket.send(Message::Text(text.into())).await.is_ok()
}

async fn run(mut socket: WebSocket, state: StreamState) {
    let config = state.app.config.audiohook.clone();
    let idle = std::time::Duration::from_secs_f64(state.hub.limits.idle_timeout_seconds);
    let mut session = ServerSession::new();
    let mut feed: Option<SessionFeed> = None;
    let mut last_evaluation: Option<EvaluateSessionResponse> = None;
    // Err: (disconnect reason, info) to send before closing.
    let outcome: Result<(), (&str, String)> = 'session: loop {
        let message = match next_message(&mut socket, idle, "message").await {
            Err(r) => break Err(("error", r.reason)),
            Ok(None) => break Ok(()),
            Ok(Some(m)) => m,
        };
        let inputs = match message {
            Message::Text(t) => session.on_text(t.as_bytes()),
            Message::Binary(b) => session.on_binary(&b).map(|i| vec![i]),
            Message::Close(_) => break Ok(()),
            Message::Ping(_) | Message::Pong(_) => continue,
        };
        let inputs = match inputs {
            Ok(i) => i,
            Err(e) => break Err(("error", e.to_string())),
        };
        for input in inputs {
            match input {
                Input::Open(open) => {
                    let media = match choose_media(&open.media) {
                        Ok(m) => m,
                        Err(e) => break 'session Err(("error", e.to_string())),
                    };
                    let format = RawFormat {
                        encoding: match media.format {
                            MediaFormat::Pcmu => RawEncoding::Mulaw,
                            MediaFormat::L16 => RawEncoding::PcmS16le,
                        },
                        sample_rate: media.rate,
                        channels: 1,
                    };
                    let speaker = customer_id(&config.customer_id_from, &open);
                    match super::telephony::open_call(
                        &state,
                        &config.domain_id,
                        &open.conversation_id,
                        speaker,
                        format,
                    )
                    .await
                    {
                        Ok(f) => feed = Some(f),
                        Err(e) => break 'session Err(("error", public_reason(&e))),
                    }
                    let opened = match session.opened(media) {
                        Ok(o) => o,
                        Err(e) => break 'session Err(("error", e.to_string())),
                    };
                    if !send_text(&mut socket, opened).await {
                        break 'session Ok(());
                    }
                }
                Input::Audio(bytes) => {
                    let Some(f) = feed.as_mut() else { continue };
                    match f.push(&bytes).await {
                        Ok(update) => {
                            if let Some(e) = update.evaluation {
                                if config.send_events {
                                    let event = session.event(vec![evaluation_entity(&e)]);
                                    if !send_text(&mut socket, event).await {
                                        break 'session Ok(());
                                    }
                                }
                                last_evaluation = Some(e);
                            }
                        }
                        Err(e) => break 'session Err(("error", public_reason(&e))),
                    }
                }
                Input::Reply(text) => {
                    if !send_text(&mut socket, text).await {
                        break 'session Ok(());
                    }
                }
                Input::Closed { .. } => {
                    // The final decision goes out before `closed`.
                    if let Some(f) = feed.take() {
                        match f.finish(true).await {
                            Ok(update) => last_evaluation = update.evaluation.or(last_evaluation),
                            Err(e) => {
                                tracing::info!(reason = %public_reason(&e), "AudioHook session end")
                            }
                        }
                    }
                    let mut vars = Map::new();
                    if let (Some(e), true) = (&last_evaluation, config.send_events) {
                        let event = session.event(vec![evaluation_entity(e)]);
                        send_text(&mut socket, event).await;
                        vars = output_variables(e);
                    }
                    let closed = session.closed(vars);
                    send_text(&mut socket, closed).await;
                    break 'session Ok(());
                }
                Input::ClientError { code, message } => {
                    tracing::info!(code, message, "AudioHook client reported an error");
                }
                Input::Ignored => {}
            }
        }
    };
    // A session that ended without `close` (disconnect, error): its speech counts.
    if let Some(f) = feed {
        if let Err(e) = f.finish(true).await {
            tracing::info!(reason = %public_reason(&e), "AudioHook session end");
        }
    }
    if let Err((reason, info)) = outcome {
        tracing::info!(reason, info, "AudioHook session refused");
        let info = truncate(&info, 1000);
        let _ = send_text(&mut socket, session.disconnect(reason, &info)).await;
        let _ = socket
            .send(Message::Close(Some(CloseFrame {
                code: close_code::POLICY,
                reason: truncate(&info, 123).into(),
            })))
            .await;
    } else {
        let _ = socket
            .send(Message::Close(Some(CloseFrame {
                code: close_code::NORMAL,
                reason: "session closed".into(),
            })))
            .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_customer_rule_picks_ani_input_or_custom_values() {
        let open: OpenParameters = serde_json::from_value(json!({
            "conversationId": "c", "media": [],
            "participant": {"ani": "tel:+15551234567"},
            "inputVariables": {"Customer": "cust-1"},
            "customConfig": {"Speaker": " cust-2 ", "Empty": ""}
        }))
        .unwrap();
        assert_eq!(customer_id("ani", &open).as_deref(), Some("+15551234567"));
        assert_eq!(
            customer_id("input:Customer", &open).as_deref(),
            Some("cust-1")
        );
        assert_eq!(
            customer_id("custom:Speaker", &open).as_deref(),
            Some("cust-2")
        );
        assert_eq!(customer_id("custom:Empty", &open), None);
        assert_eq!(customer_id("input:Missing", &open), None);
        assert_eq!(customer_id("none", &open), None);
    }
}
