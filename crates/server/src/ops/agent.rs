//! CreateAgentToken: a short-lived token for the agent panel of one session
//! (`crate::agent`, docs/AGENT.md).

use serde_json::Value;

use super::call;
use crate::error::ApiError;
use crate::state::AppState;

pub(super) const OPS: &[&str] = &["CreateAgentToken"];

pub(super) async fn dispatch(
    state: &AppState,
    op: &str,
    input: Value,
) -> Option<Result<String, ApiError>> {
    Some(match op {
        "CreateAgentToken" => call(state, input, crate::agent::create_agent_token).await,
        _ => return None,
    })
}
