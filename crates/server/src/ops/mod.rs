//! Operation dispatch: `X-Amz-Target: VoiceID.<Operation>` → a typed call on
//! [`VoiceIdService`](voiceprint_voiceid::VoiceIdService), one file per group.
//!
//! To add an operation: add its name to [`OPERATIONS`], a match arm in its group
//! file, and the method on `VoiceIdService`.

mod domains;
mod fraudsters;
mod jobs;
mod sessions;
mod speakers;
mod tags;
mod watchlists;

use serde::{de::DeserializeOwned, Serialize};
use serde_json::Value;
use voiceprint_voiceid::{Error as VoiceIdError, VoiceIdService};

use crate::aws_json::AwsJson;
use crate::error::ApiError;
use crate::state::AppState;

/// The 29 Voice ID operations, in model order.
pub const OPERATIONS: [&str; 29] = [
    "AssociateFraudster",
    "CreateDomain",
    "CreateWatchlist",
    "DeleteDomain",
    "DeleteFraudster",
    "DeleteSpeaker",
    "DeleteWatchlist",
    "DescribeDomain",
    "DescribeFraudster",
    "DescribeFraudsterRegistrationJob",
    "DescribeSpeaker",
    "DescribeSpeakerEnrollmentJob",
    "DescribeWatchlist",
    "DisassociateFraudster",
    "EvaluateSession",
    "ListDomains",
    "ListFraudsterRegistrationJobs",
    "ListFraudsters",
    "ListSpeakerEnrollmentJobs",
    "ListSpeakers",
    "ListTagsForResource",
    "ListWatchlists",
    "OptOutSpeaker",
    "StartFraudsterRegistrationJob",
    "StartSpeakerEnrollmentJob",
    "TagResource",
    "UntagResource",
    "UpdateDomain",
    "UpdateWatchlist",
];

/// Decode `input` as `Req`, run `call` on a blocking thread (the store blocks),
/// and encode the output.
pub(crate) async fn call<Req, Resp>(
    state: &AppState,
    input: Value,
    call: fn(&VoiceIdService, Req) -> Result<Resp, VoiceIdError>,
) -> Result<Value, ApiError>
where
    Req: DeserializeOwned + Send + 'static,
    Resp: Serialize + Send + 'static,
{
    let AwsJson(request) = AwsJson::<Req>::decode(input)?;
    let service = state.service.clone();
    let response = tokio::task::spawn_blocking(move || call(&service, request))
        .await
        .map_err(|e| VoiceIdError::Internal(format!("operation task failed: {e}")))??;
    serde_json::to_value(response).map_err(|e| VoiceIdError::Internal(format!("encoding response: {e}")).into())
}

/// Run `operation` (one of [`OPERATIONS`]) with the validated `input`.
pub(crate) async fn dispatch(state: &AppState, operation: &str, input: Value) -> Result<Value, ApiError> {
    if let Some(r) = domains::dispatch(state, operation, input.clone()).await {
        return r;
    }
    if let Some(r) = watchlists::dispatch(state, operation, input.clone()).await {
        return r;
    }
    if let Some(r) = fraudsters::dispatch(state, operation, input.clone()).await {
        return r;
    }
    if let Some(r) = speakers::dispatch(state, operation, input.clone()).await {
        return r;
    }
    if let Some(r) = jobs::dispatch(state, operation, input.clone()).await {
        return r;
    }
    if let Some(r) = sessions::dispatch(state, operation, input.clone()).await {
        return r;
    }
    if let Some(r) = tags::dispatch(state, operation, input).await {
        return r;
    }
    Err(ApiError::UnknownOperation(format!("Operation {operation} is not supported by this service")))
}
