//! TagResource, UntagResource, ListTagsForResource (domain ARNs only).

use serde_json::Value;
use voiceprint_voiceid::VoiceIdService as S;

use super::call;
use crate::error::ApiError;
use crate::state::AppState;

pub(super) const OPS: &[&str] = &["TagResource", "UntagResource", "ListTagsForResource"];

pub(super) async fn dispatch(
    state: &AppState,
    op: &str,
    input: Value,
) -> Option<Result<String, ApiError>> {
    Some(match op {
        "TagResource" => call(state, input, S::tag_resource).await,
        "UntagResource" => call(state, input, S::untag_resource).await,
        "ListTagsForResource" => call(state, input, S::list_tags_for_resource).await,
        _ => return None,
    })
}
