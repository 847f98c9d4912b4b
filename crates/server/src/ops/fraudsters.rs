//! DescribeFraudster, DeleteFraudster, AssociateFraudster, DisassociateFraudster, ListFraudsters.

use serde_json::Value;
use voiceprint_voiceid::VoiceIdService as S;

use super::call;
use crate::error::ApiError;
use crate::state::AppState;

pub(super) const OPS: &[&str] = &[
    "DescribeFraudster",
    "DeleteFraudster",
    "AssociateFraudster",
    "DisassociateFraudster",
    "ListFraudsters",
];

pub(super) async fn dispatch(
    state: &AppState,
    op: &str,
    input: Value,
) -> Option<Result<String, ApiError>> {
    Some(match op {
        "DescribeFraudster" => call(state, input, S::describe_fraudster).await,
        "DeleteFraudster" => call(state, input, S::delete_fraudster).await,
        "AssociateFraudster" => call(state, input, S::associate_fraudster).await,
        "DisassociateFraudster" => call(state, input, S::disassociate_fraudster).await,
        "ListFraudsters" => call(state, input, S::list_fraudsters).await,
        _ => return None,
    })
}
