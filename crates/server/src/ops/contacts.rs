//! StartContact, DescribeContact and AgentAction: contacts running Connect flows
//! and the agent's Voice ID actions (`crate::contacts`, docs/FLOWS.md).

use serde::{de::DeserializeOwned, Serialize};
use serde_json::Value;
use voiceprint_voiceid::Error as VoiceIdError;

use crate::aws_json::AwsJson;
use crate::contacts::ContactCenter;
use crate::error::ApiError;
use crate::state::AppState;

pub(super) const OPS: &[&str] = &["StartContact", "DescribeContact", "AgentAction"];

/// As `super::call`, over the contact center instead of the service.
async fn call<Req, Resp>(
    state: &AppState,
    input: Value,
    call: fn(&std::sync::Arc<ContactCenter>, Req) -> Result<Resp, VoiceIdError>,
) -> Result<Resp, ApiError>
where
    Req: DeserializeOwned + Send + 'static,
    Resp: Serialize + Send + 'static,
{
    let AwsJson(request) = AwsJson::<Req>::decode(input)?;
    let contacts = state.contacts.clone();
    Ok(
        tokio::task::spawn_blocking(move || call(&contacts, request))
            .await
            .map_err(|e| VoiceIdError::Internal(format!("operation task failed: {e}")))??,
    )
}

fn encode<T: Serialize>(v: &T) -> Result<String, ApiError> {
    serde_json::to_string(v)
        .map_err(|e| VoiceIdError::Internal(format!("encoding response: {e}")).into())
}

pub(super) async fn dispatch(
    state: &AppState,
    op: &str,
    input: Value,
) -> Option<Result<String, ApiError>> {
    Some(match op {
        "StartContact" => match call(state, input, ContactCenter::start).await {
            Ok((response, wait)) => {
                // The flow paused at a Wait: keep it running in the background.
                if let Some(seconds) = wait {
                    state.contacts.drive(
                        response.contact.domain_id.clone(),
                        response.contact.contact_id.clone(),
                        seconds,
                    );
                }
                encode(&response)
            }
            Err(e) => Err(e),
        },
        "DescribeContact" => call(state, input, |c, r| c.describe(r))
            .await
            .and_then(|r| encode(&r)),
        "AgentAction" => call(state, input, |c, r| c.agent_action(r))
            .await
            .and_then(|r| encode(&r)),
        _ => return None,
    })
}
