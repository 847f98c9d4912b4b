//! EvaluateSession (live sessions themselves arrive with issue 8).

use serde_json::Value;
use voiceprint_voiceid::VoiceIdService as S;

use super::call;
use crate::error::ApiError;
use crate::state::AppState;

pub(super) const OPS: &[&str] = &["EvaluateSession"];

pub(super) async fn dispatch(
    state: &AppState,
    op: &str,
    input: Value,
) -> Option<Result<String, ApiError>> {
    Some(match op {
        "EvaluateSession" => call(state, input, S::evaluate_session).await,
        _ => return None,
    })
}
