//! DescribeSpeaker, DeleteSpeaker, OptOutSpeaker, ListSpeakers.

use serde_json::Value;
use voiceprint_voiceid::VoiceIdService as S;

use super::call;
use crate::error::ApiError;
use crate::state::AppState;

pub(super) const OPS: &[&str] = &[
    "DescribeSpeaker",
    "DeleteSpeaker",
    "OptOutSpeaker",
    "ListSpeakers",
];

pub(super) async fn dispatch(
    state: &AppState,
    op: &str,
    input: Value,
) -> Option<Result<String, ApiError>> {
    Some(match op {
        "DescribeSpeaker" => call(state, input, S::describe_speaker).await,
        "DeleteSpeaker" => call(state, input, S::delete_speaker).await,
        "OptOutSpeaker" => call(state, input, S::opt_out_speaker).await,
        "ListSpeakers" => call(state, input, S::list_speakers).await,
        _ => return None,
    })
}
