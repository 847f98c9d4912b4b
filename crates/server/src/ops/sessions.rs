//! EvaluateSession and the session extension operations (StartSession,
//! UpdateSession, DescribeSession, EndSession, EnrollBySession,
//! RegisterFraudsterBySession; docs/SESSIONS.md). Audio arrives on the stream
//! routes (`crate::stream`).

use serde_json::Value;
use voiceprint_voiceid::VoiceIdService as S;

use super::call;
use crate::error::ApiError;
use crate::state::AppState;

pub(super) const OPS: &[&str] = &[
    "EvaluateSession",
    "StartSession",
    "UpdateSession",
    "DescribeSession",
    "EndSession",
    "EnrollBySession",
    "RegisterFraudsterBySession",
];

pub(super) async fn dispatch(
    state: &AppState,
    op: &str,
    input: Value,
) -> Option<Result<String, ApiError>> {
    Some(match op {
        "EvaluateSession" => call(state, input, S::evaluate_session).await,
        "StartSession" => call(state, input, S::start_session).await,
        "UpdateSession" => call(state, input, S::update_session).await,
        "DescribeSession" => call(state, input, S::describe_session).await,
        "EndSession" => {
            let limits = state.config.sessions.limits();
            call(state, input, move |s, r| s.end_session(r, &limits)).await
        }
        "EnrollBySession" => call(state, input, S::enroll_by_session).await,
        "RegisterFraudsterBySession" => call(state, input, S::register_fraudster_by_session).await,
        _ => return None,
    })
}
