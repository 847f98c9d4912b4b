//! Engine settings and the voiceprint lifecycle (issue 5; docs/ENGINE-CONDITIONS.md):
//! DescribeEngineSettings, UpdateEngineSettings, DescribeVoiceprint,
//! ListVoiceprints, ApproveVoiceprint, RejectVoiceprint, UpdateTrainingSegment.

use serde_json::Value;
use voiceprint_voiceid::VoiceIdService as S;

use super::call;
use crate::error::ApiError;
use crate::state::AppState;

pub(super) const OPS: &[&str] = &[
    "DescribeEngineSettings",
    "UpdateEngineSettings",
    "DescribeVoiceprint",
    "ListVoiceprints",
    "ApproveVoiceprint",
    "RejectVoiceprint",
    "UpdateTrainingSegment",
];

pub(super) async fn dispatch(
    state: &AppState,
    op: &str,
    input: Value,
) -> Option<Result<String, ApiError>> {
    Some(match op {
        "DescribeEngineSettings" => call(state, input, S::describe_engine_settings).await,
        "UpdateEngineSettings" => call(state, input, S::update_engine_settings).await,
        "DescribeVoiceprint" => call(state, input, S::describe_voiceprint).await,
        "ListVoiceprints" => call(state, input, S::list_voiceprints).await,
        "ApproveVoiceprint" => call(state, input, S::approve_voiceprint).await,
        "RejectVoiceprint" => call(state, input, S::reject_voiceprint).await,
        "UpdateTrainingSegment" => call(state, input, S::update_training_segment).await,
        _ => return None,
    })
}
