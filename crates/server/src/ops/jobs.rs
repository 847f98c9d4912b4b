//! Start/Describe/List SpeakerEnrollmentJob(s) and FraudsterRegistrationJob(s).

use serde_json::Value;
use voiceprint_voiceid::VoiceIdService as S;

use super::call;
use crate::error::ApiError;
use crate::state::AppState;

pub(super) const OPS: &[&str] = &[
    "StartSpeakerEnrollmentJob",
    "DescribeSpeakerEnrollmentJob",
    "ListSpeakerEnrollmentJobs",
    "StartFraudsterRegistrationJob",
    "DescribeFraudsterRegistrationJob",
    "ListFraudsterRegistrationJobs",
];

pub(super) async fn dispatch(
    state: &AppState,
    op: &str,
    input: Value,
) -> Option<Result<String, ApiError>> {
    Some(match op {
        "StartSpeakerEnrollmentJob" => call(state, input, S::start_speaker_enrollment_job).await,
        "DescribeSpeakerEnrollmentJob" => {
            call(state, input, S::describe_speaker_enrollment_job).await
        }
        "ListSpeakerEnrollmentJobs" => call(state, input, S::list_speaker_enrollment_jobs).await,
        "StartFraudsterRegistrationJob" => {
            call(state, input, S::start_fraudster_registration_job).await
        }
        "DescribeFraudsterRegistrationJob" => {
            call(state, input, S::describe_fraudster_registration_job).await
        }
        "ListFraudsterRegistrationJobs" => {
            call(state, input, S::list_fraudster_registration_jobs).await
        }
        _ => return None,
    })
}
