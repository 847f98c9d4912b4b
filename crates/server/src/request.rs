//! The request-parsing half of the API without a running service: body → JSON
//! object → model validation → the operation's typed input, exactly as
//! [`crate::app`] does before dispatching.
//!
//! What it is for: the `aws_json_request` fuzz target (fuzz/) and tests that
//! want every operation's parser without a store. What it does not do:
//! authentication (see [`crate::sigv4`]) or run the operation.
//!
//! Key decision: the typed input of each operation is named through the very
//! method the dispatcher calls (`S::create_domain`, …), so the table below
//! cannot decode into a different type than the real handler; a unit test
//! checks it covers every dispatched operation.

use serde::de::DeserializeOwned;
use serde_json::Value;
use voiceprint_voiceid::VoiceIdService as S;

use crate::aws_json::{parse_body, AwsJson};
use crate::contacts::ContactCenter;
use crate::error::ApiError;
use crate::model::ServiceModel;
use crate::ops::EXTENSION_OPERATIONS;

/// Parse, validate and decode `body` as the input of `operation` (a name from
/// [`crate::OPERATIONS`] or the extension operations). Returns the error the
/// API would answer with, or `Ok(())` when the request would be dispatched.
pub fn validate_request(operation: &str, body: &[u8]) -> Result<(), ApiError> {
    let input = parse_body(body)?;
    crate::validate::validate_input(ServiceModel::embedded(), operation, &input)
        .map_err(|f| ApiError::Validation(f.message))?;
    decode_input(operation, input)
}

/// Decode into the request type of `call`'s second parameter.
fn decode_as<T: ?Sized, Req: DeserializeOwned, Out>(
    _call: fn(&T, Req) -> Out,
    input: Value,
) -> Result<(), ApiError> {
    AwsJson::<Req>::decode(input).map(drop)
}

fn decode_input(operation: &str, input: Value) -> Result<(), ApiError> {
    match operation {
        "CreateDomain" => decode_as(S::create_domain, input),
        "DescribeDomain" => decode_as(S::describe_domain, input),
        "UpdateDomain" => decode_as(S::update_domain, input),
        "DeleteDomain" => decode_as(S::delete_domain, input),
        "ListDomains" => decode_as(S::list_domains, input),
        "DescribeFraudster" => decode_as(S::describe_fraudster, input),
        "DeleteFraudster" => decode_as(S::delete_fraudster, input),
        "AssociateFraudster" => decode_as(S::associate_fraudster, input),
        "DisassociateFraudster" => decode_as(S::disassociate_fraudster, input),
        "ListFraudsters" => decode_as(S::list_fraudsters, input),
        "StartSpeakerEnrollmentJob" => decode_as(S::start_speaker_enrollment_job, input),
        "DescribeSpeakerEnrollmentJob" => decode_as(S::describe_speaker_enrollment_job, input),
        "ListSpeakerEnrollmentJobs" => decode_as(S::list_speaker_enrollment_jobs, input),
        "StartFraudsterRegistrationJob" => decode_as(S::start_fraudster_registration_job, input),
        "DescribeFraudsterRegistrationJob" => {
            decode_as(S::describe_fraudster_registration_job, input)
        }
        "ListFraudsterRegistrationJobs" => decode_as(S::list_fraudster_registration_jobs, input),
        "EvaluateSession" => decode_as(S::evaluate_session, input),
        "StartSession" => decode_as(S::start_session, input),
        "UpdateSession" => decode_as(S::update_session, input),
        // EndSession takes the same SessionRequest as DescribeSession (plus limits).
        "DescribeSession" | "EndSession" => decode_as(S::describe_session, input),
        "EnrollBySession" => decode_as(S::enroll_by_session, input),
        "RegisterFraudsterBySession" => decode_as(S::register_fraudster_by_session, input),
        "DescribeSpeaker" => decode_as(S::describe_speaker, input),
        "DeleteSpeaker" => decode_as(S::delete_speaker, input),
        "OptOutSpeaker" => decode_as(S::opt_out_speaker, input),
        "ListSpeakers" => decode_as(S::list_speakers, input),
        "TagResource" => decode_as(S::tag_resource, input),
        "UntagResource" => decode_as(S::untag_resource, input),
        "ListTagsForResource" => decode_as(S::list_tags_for_resource, input),
        "CreateWatchlist" => decode_as(S::create_watchlist, input),
        "DescribeWatchlist" => decode_as(S::describe_watchlist, input),
        "UpdateWatchlist" => decode_as(S::update_watchlist, input),
        "DeleteWatchlist" => decode_as(S::delete_watchlist, input),
        "ListWatchlists" => decode_as(S::list_watchlists, input),
        "StartContact" => decode_as(ContactCenter::start, input),
        "DescribeContact" => decode_as(ContactCenter::describe, input),
        "AgentAction" => decode_as(ContactCenter::agent_action, input),
        "CreateAgentToken" => decode_as(crate::agent::create_agent_token, input),
        "DescribeEngineSettings" => decode_as(S::describe_engine_settings, input),
        "UpdateEngineSettings" => decode_as(S::update_engine_settings, input),
        "DescribeVoiceprint" => decode_as(S::describe_voiceprint, input),
        "ListVoiceprints" => decode_as(S::list_voiceprints, input),
        "ApproveVoiceprint" => decode_as(S::approve_voiceprint, input),
        "RejectVoiceprint" => decode_as(S::reject_voiceprint, input),
        "UpdateTrainingSegment" => decode_as(S::update_training_segment, input),
        // A dispatched operation added after this table: model validation only
        // (add its line here so the fuzz target covers its typed input too).
        other if crate::OPERATIONS.contains(&other) || EXTENSION_OPERATIONS.contains(&other) => {
            Ok(())
        }
        other => Err(ApiError::UnknownOperation(format!(
            "Operation {other} is not supported by this service"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::OPERATIONS;

    #[test]
    fn every_dispatched_operation_is_accepted_and_decoded() {
        for op in OPERATIONS.iter().chain(&EXTENSION_OPERATIONS) {
            let result = validate_request(op, b"{}");
            assert!(
                !matches!(result, Err(ApiError::UnknownOperation(_))),
                "{op} is refused"
            );
        }
        // Without model validation, the typed decode alone refuses a missing
        // required member: the table really decodes these operations.
        for op in [
            "DescribeDomain",
            "CreateDomain",
            "StartSession",
            "EndSession",
            "StartContact",
        ] {
            assert!(
                matches!(
                    decode_input(op, serde_json::json!({})),
                    Err(ApiError::Validation(_))
                ),
                "{op}: typed decoding did not run"
            );
        }
        assert!(matches!(
            validate_request("NoSuchOperation", b"{}"),
            Err(ApiError::UnknownOperation(_))
        ));
    }

    #[test]
    fn parses_validates_and_decodes_like_the_handler() {
        assert!(validate_request("ListDomains", b"").is_ok());
        assert!(validate_request("ListDomains", br#"{"MaxResults": 5}"#).is_ok());
        assert!(matches!(
            validate_request("ListDomains", b"[1]"),
            Err(ApiError::Serialization(_))
        ));
        assert!(matches!(
            validate_request("ListDomains", b"{\"MaxResults\""),
            Err(ApiError::Serialization(_))
        ));
        // Missing required DomainId: a model validation failure.
        assert!(matches!(
            validate_request("DescribeDomain", b"{}"),
            Err(ApiError::Validation(_))
        ));
        assert!(validate_request(
            "DescribeDomain",
            br#"{"DomainId": "abcdefghijklmnopqrstuv"}"#
        )
        .is_ok());
    }
}
