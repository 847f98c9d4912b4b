//! Operation dispatch: `X-Amz-Target: VoiceID.<Operation>` → a typed call on
//! [`VoiceIdService`](voiceprint_voiceid::VoiceIdService), one file per group.
//!
//! To add an operation: add its name to [`OPERATIONS`], a match arm in its group
//! file, and the method on `VoiceIdService`.

mod agent;
mod contacts;
mod domains;
mod fraudsters;
mod jobs;
mod sessions;
mod speakers;
mod tags;
mod voiceprints;
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

/// voiceprint's extension operations (live call sessions, docs/SESSIONS.md):
/// same protocol, SigV4 and validation as the Voice ID operations.
pub const EXTENSION_OPERATIONS: [&str; 17] = [
    "StartSession",
    "UpdateSession",
    "DescribeSession",
    "EndSession",
    "EnrollBySession",
    "RegisterFraudsterBySession",
    "StartContact",
    "DescribeContact",
    "AgentAction",
    "CreateAgentToken",
    "DescribeEngineSettings",
    "UpdateEngineSettings",
    "DescribeVoiceprint",
    "ListVoiceprints",
    "ApproveVoiceprint",
    "RejectVoiceprint",
    "UpdateTrainingSegment",
];

/// Decode `input` as `Req`, run `call` on a blocking thread (the store blocks),
/// and encode the output as the response body's JSON text (directly: going
/// through a `serde_json::Value` tree first cost a ListSpeakers page hundreds of
/// allocations).
pub(crate) async fn call<Req, Resp, F>(
    state: &AppState,
    input: Value,
    call: F,
) -> Result<String, ApiError>
where
    Req: DeserializeOwned + Send + 'static,
    Resp: Serialize + Send + 'static,
    F: FnOnce(&VoiceIdService, Req) -> Result<Resp, VoiceIdError> + Send + 'static,
{
    let AwsJson(request) = AwsJson::<Req>::decode(input)?;
    let service = state.service.clone();
    let response = tokio::task::spawn_blocking(move || call(&service, request))
        .await
        .map_err(|e| VoiceIdError::Internal(format!("operation task failed: {e}")))??;
    serde_json::to_string(&response)
        .map_err(|e| VoiceIdError::Internal(format!("encoding response: {e}")).into())
}

/// Run `operation` (one of [`OPERATIONS`]) with the validated `input`.
pub(crate) async fn dispatch(
    state: &AppState,
    operation: &str,
    input: Value,
) -> Result<String, ApiError> {
    let group = match operation {
        op if domains::OPS.contains(&op) => domains::dispatch(state, op, input).await,
        op if watchlists::OPS.contains(&op) => watchlists::dispatch(state, op, input).await,
        op if fraudsters::OPS.contains(&op) => fraudsters::dispatch(state, op, input).await,
        op if speakers::OPS.contains(&op) => speakers::dispatch(state, op, input).await,
        op if jobs::OPS.contains(&op) => jobs::dispatch(state, op, input).await,
        op if sessions::OPS.contains(&op) => sessions::dispatch(state, op, input).await,
        op if tags::OPS.contains(&op) => tags::dispatch(state, op, input).await,
        op if contacts::OPS.contains(&op) => contacts::dispatch(state, op, input).await,
        op if agent::OPS.contains(&op) => agent::dispatch(state, op, input).await,
        op if voiceprints::OPS.contains(&op) => voiceprints::dispatch(state, op, input).await,
        _ => None,
    };
    group.unwrap_or_else(|| {
        Err(ApiError::UnknownOperation(format!(
            "Operation {operation} is not supported by this service"
        )))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_belongs_to_exactly_one_group() {
        let groups: [&[&str]; 10] = [
            agent::OPS,
            voiceprints::OPS,
            contacts::OPS,
            domains::OPS,
            watchlists::OPS,
            fraudsters::OPS,
            speakers::OPS,
            jobs::OPS,
            sessions::OPS,
            tags::OPS,
        ];
        for op in OPERATIONS.iter().chain(&EXTENSION_OPERATIONS) {
            assert_eq!(groups.iter().filter(|g| g.contains(op)).count(), 1, "{op}");
        }
        assert_eq!(
            groups.iter().map(|g| g.len()).sum::<usize>(),
            OPERATIONS.len() + EXTENSION_OPERATIONS.len()
        );
    }
}
