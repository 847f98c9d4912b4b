//! CreateDomain, DescribeDomain, UpdateDomain, DeleteDomain, ListDomains.

use serde_json::Value;
use voiceprint_voiceid::VoiceIdService as S;

use super::call;
use crate::error::ApiError;
use crate::state::AppState;

pub(super) const OPS: &[&str] = &[
    "CreateDomain",
    "DescribeDomain",
    "UpdateDomain",
    "DeleteDomain",
    "ListDomains",
];

pub(super) async fn dispatch(
    state: &AppState,
    op: &str,
    input: Value,
) -> Option<Result<String, ApiError>> {
    Some(match op {
        "CreateDomain" => call(state, input, S::create_domain).await,
        "DescribeDomain" => call(state, input, S::describe_domain).await,
        "UpdateDomain" => call(state, input, S::update_domain).await,
        "DeleteDomain" => call(state, input, S::delete_domain).await,
        "ListDomains" => call(state, input, S::list_domains).await,
        _ => return None,
    })
}
