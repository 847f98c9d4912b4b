//! Input manifests (Voice ID's v1.0 JSON) and the output file's shapes.
//!
//! A manifest is parsed in two steps: the envelope (`Version` and the request
//! array) must be right or the whole job fails; each request is then validated on
//! its own, so one malformed request becomes a 400 entry in the output's `Errors`
//! instead of failing the other 999.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::JobError;
use crate::JobKind;

/// Most audio files one request may name (Voice ID's limit).
pub const MAX_AUDIO_FILES_PER_REQUEST: usize = 10;
/// Longest RequestId accepted (the output echoes it back).
const MAX_REQUEST_ID_LEN: usize = 256;

/// One audio file of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AudioSpec {
    pub uri: String,
    /// 0 or 1: the channel of a two-channel recording to use.
    pub channel: usize,
}

/// One validated request of a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestRequest {
    pub request_id: String,
    /// The CustomerSpeakerId (enrollment manifests only).
    pub speaker_id: Option<String>,
    pub audio: Vec<AudioSpec>,
}

/// One entry of a manifest: a request to run, or the reason it cannot run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManifestEntry {
    Valid(ManifestRequest),
    Invalid { request_id: String, message: String },
}

impl ManifestEntry {
    pub fn request_id(&self) -> &str {
        match self {
            ManifestEntry::Valid(r) => &r.request_id,
            ManifestEntry::Invalid { request_id, .. } => request_id,
        }
    }
}

fn requests_key(kind: JobKind) -> &'static str {
    match kind {
        JobKind::SpeakerEnrollment => "SpeakerEnrollmentRequests",
        JobKind::FraudsterRegistration => "FraudsterRegistrationRequests",
    }
}

/// `^[a-zA-Z0-9][a-zA-Z0-9_-]*$`, 1..=256: the model's CustomerSpeakerId pattern.
fn is_customer_speaker_id(s: &str) -> bool {
    let mut chars = s.chars();
    s.len() <= 256
        && chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Parses a whole manifest. Errors only for an unusable envelope (not JSON, wrong
/// `Version`, no request array); per-request problems come back as
/// [`ManifestEntry::Invalid`].
pub fn parse_manifest(kind: JobKind, bytes: &[u8]) -> Result<Vec<ManifestEntry>, JobError> {
    let doc: Value = serde_json::from_slice(bytes)
        .map_err(|e| JobError::Manifest(format!("the input manifest is not valid JSON: {e}")))?;
    let Some(obj) = doc.as_object() else {
        return Err(JobError::Manifest(
            "the input manifest must be a JSON object".into(),
        ));
    };
    match obj.get("Version").and_then(Value::as_str) {
        Some("1.0") => {}
        Some(other) => {
            return Err(JobError::Manifest(format!(
                "unsupported manifest Version {other:?}; expected \"1.0\""
            )))
        }
        None => {
            return Err(JobError::Manifest(
                "the input manifest has no \"Version\" (expected \"1.0\")".into(),
            ))
        }
    }
    let key = requests_key(kind);
    let Some(requests) = obj.get(key).and_then(Value::as_array) else {
        return Err(JobError::Manifest(format!(
            "the input manifest has no \"{key}\" array"
        )));
    };
    let mut seen = std::collections::HashSet::new();
    Ok(requests
        .iter()
        .enumerate()
        .map(|(index, r)| {
            let entry = parse_request(kind, index, r);
            match entry {
                ManifestEntry::Valid(req) if !seen.insert(req.request_id.clone()) => {
                    ManifestEntry::Invalid {
                        message: format!(
                            "RequestId {:?} appears more than once in the manifest",
                            req.request_id
                        ),
                        request_id: req.request_id,
                    }
                }
                other => other,
            }
        })
        .collect())
}

fn parse_request(kind: JobKind, index: usize, r: &Value) -> ManifestEntry {
    let request_id = r
        .get("RequestId")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let invalid = |message: String| ManifestEntry::Invalid {
        request_id: request_id.clone().unwrap_or_default(),
        message,
    };
    let Some(obj) = r.as_object() else {
        return invalid(format!("request #{index} is not a JSON object"));
    };
    let Some(id) = request_id.as_deref() else {
        return invalid(format!("request #{index} has no string \"RequestId\""));
    };
    if id.is_empty() || id.len() > MAX_REQUEST_ID_LEN {
        return invalid(format!(
            "request #{index}: RequestId must be 1 to {MAX_REQUEST_ID_LEN} characters"
        ));
    }
    let speaker_id = match kind {
        JobKind::SpeakerEnrollment => match obj.get("SpeakerId").and_then(Value::as_str) {
            Some(s) if is_customer_speaker_id(s) => Some(s.to_owned()),
            Some(_) => {
                return invalid(
                    "SpeakerId must be a CustomerSpeakerId matching ^[a-zA-Z0-9][a-zA-Z0-9_-]*$ (at most 256 characters)"
                        .into(),
                )
            }
            None => return invalid("the request has no string \"SpeakerId\"".into()),
        },
        JobKind::FraudsterRegistration => None,
    };
    let Some(specs) = obj.get("AudioSpecifications").and_then(Value::as_array) else {
        return invalid("the request has no \"AudioSpecifications\" array".into());
    };
    if specs.is_empty() || specs.len() > MAX_AUDIO_FILES_PER_REQUEST {
        return invalid(format!(
            "AudioSpecifications must list 1 to {MAX_AUDIO_FILES_PER_REQUEST} audio files (got {})",
            specs.len()
        ));
    }
    let mut audio = Vec::with_capacity(specs.len());
    for (i, s) in specs.iter().enumerate() {
        let Some(uri) = s.get("S3Uri").and_then(Value::as_str) else {
            return invalid(format!("AudioSpecifications[{i}] has no string \"S3Uri\""));
        };
        let channel = match s.get("ChannelId").and_then(Value::as_u64) {
            Some(c @ (0 | 1)) => c as usize,
            Some(_) => {
                return invalid(format!("AudioSpecifications[{i}].ChannelId must be 0 or 1"))
            }
            None => {
                return invalid(format!(
                    "AudioSpecifications[{i}] has no \"ChannelId\" (0 or 1)"
                ))
            }
        };
        audio.push(AudioSpec {
            uri: uri.to_owned(),
            channel,
        });
    }
    ManifestEntry::Valid(ManifestRequest {
        request_id: id.to_owned(),
        speaker_id,
        audio,
    })
}

// ---------- output ----------

/// `Errors[]` entry of an output file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct OutputError {
    pub request_id: String,
    pub error_code: u16,
    pub error_message: String,
}

/// `SuccessfulEnrollments[]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SuccessfulEnrollment {
    pub request_id: String,
    pub generated_speaker_id: String,
    pub customer_speaker_id: String,
    /// `NEW_ENROLLMENT` | `ENROLLMENT_OVERWRITE` | `DUPLICATE_SKIPPED`.
    pub enrollment_status: String,
}

/// `SuccessfulRegistrations[]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SuccessfulRegistration {
    pub request_id: String,
    pub generated_fraudster_id: String,
    /// `NEW_REGISTRATION` | `DUPLICATE_SKIPPED`.
    pub registration_status: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub fraudster_similarity_score: Option<u8>,
}

/// The outcome of one request, as journalled and as written to the output file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RecordOutcome {
    Error(OutputError),
    Enrolled(SuccessfulEnrollment),
    Registered(SuccessfulRegistration),
}

impl RecordOutcome {
    pub fn is_error(&self) -> bool {
        matches!(self, RecordOutcome::Error(_))
    }
}

/// The speaker enrollment output file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EnrollmentOutput {
    pub version: String,
    pub errors: Vec<OutputError>,
    pub successful_enrollments: Vec<SuccessfulEnrollment>,
}

/// The fraudster registration output file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RegistrationOutput {
    pub version: String,
    pub errors: Vec<OutputError>,
    pub successful_registrations: Vec<SuccessfulRegistration>,
}

/// The output file's JSON for `outcomes` (manifest order).
pub fn output_document(kind: JobKind, outcomes: &[RecordOutcome]) -> Vec<u8> {
    let errors: Vec<OutputError> = outcomes
        .iter()
        .filter_map(|o| match o {
            RecordOutcome::Error(e) => Some(e.clone()),
            _ => None,
        })
        .collect();
    let json = match kind {
        JobKind::SpeakerEnrollment => serde_json::to_vec(&EnrollmentOutput {
            version: "1.0".into(),
            errors,
            successful_enrollments: outcomes
                .iter()
                .filter_map(|o| match o {
                    RecordOutcome::Enrolled(s) => Some(s.clone()),
                    _ => None,
                })
                .collect(),
        }),
        JobKind::FraudsterRegistration => serde_json::to_vec(&RegistrationOutput {
            version: "1.0".into(),
            errors,
            successful_registrations: outcomes
                .iter()
                .filter_map(|o| match o {
                    RecordOutcome::Registered(s) => Some(s.clone()),
                    _ => None,
                })
                .collect(),
        }),
    };
    json.expect("output shapes serialise")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enrollment_manifest_parses_and_flags_bad_requests_individually() {
        let m = br#"{"Version":"1.0","SpeakerEnrollmentRequests":[
            {"RequestId":"r1","SpeakerId":"cust-1","AudioSpecifications":[{"S3Uri":"s3://b/a.wav","ChannelId":0}]},
            {"RequestId":"r2","SpeakerId":"bad id","AudioSpecifications":[{"S3Uri":"s3://b/a.wav","ChannelId":0}]},
            {"RequestId":"r3","SpeakerId":"c3","AudioSpecifications":[{"S3Uri":"s3://b/a.wav","ChannelId":2}]},
            {"RequestId":"r4","SpeakerId":"c4","AudioSpecifications":[]},
            {"RequestId":"r1","SpeakerId":"c5","AudioSpecifications":[{"S3Uri":"s3://b/a.wav","ChannelId":1}]},
            {"SpeakerId":"c6","AudioSpecifications":[{"S3Uri":"s3://b/a.wav","ChannelId":1}]}
        ]}"#;
        let entries = parse_manifest(JobKind::SpeakerEnrollment, m).unwrap();
        assert_eq!(entries.len(), 6);
        assert_eq!(
            entries[0],
            ManifestEntry::Valid(ManifestRequest {
                request_id: "r1".into(),
                speaker_id: Some("cust-1".into()),
                audio: vec![AudioSpec {
                    uri: "s3://b/a.wav".into(),
                    channel: 0
                }],
            })
        );
        for (i, needle) in [
            (1, "CustomerSpeakerId"),
            (2, "ChannelId"),
            (3, "1 to 10"),
            (4, "more than once"),
            (5, "RequestId"),
        ] {
            match &entries[i] {
                ManifestEntry::Invalid { message, .. } => {
                    assert!(message.contains(needle), "{i}: {message}")
                }
                other => panic!("entry {i} should be invalid: {other:?}"),
            }
        }
        assert_eq!(entries[4].request_id(), "r1");
    }

    #[test]
    fn fraudster_manifest_needs_no_speaker_id() {
        let m = br#"{"Version":"1.0","FraudsterRegistrationRequests":[
            {"RequestId":"f1","AudioSpecifications":[{"S3Uri":"file:///x.wav","ChannelId":0}]}]}"#;
        let entries = parse_manifest(JobKind::FraudsterRegistration, m).unwrap();
        assert!(matches!(&entries[0], ManifestEntry::Valid(r) if r.speaker_id.is_none()));
    }

    #[test]
    fn unusable_envelopes_fail_the_whole_job() {
        for (bytes, needle) in [
            (&b"not json"[..], "not valid JSON"),
            (br#"[]"#, "JSON object"),
            (br#"{"SpeakerEnrollmentRequests":[]}"#, "Version"),
            (
                br#"{"Version":"2.0","SpeakerEnrollmentRequests":[]}"#,
                "2.0",
            ),
            (
                br#"{"Version":"1.0","FraudsterRegistrationRequests":[]}"#,
                "SpeakerEnrollmentRequests",
            ),
        ] {
            let err = parse_manifest(JobKind::SpeakerEnrollment, bytes).unwrap_err();
            assert!(err.to_string().contains(needle), "{err}");
        }
    }

    #[test]
    fn output_documents_have_voice_id_shapes() {
        let outcomes = vec![
            RecordOutcome::Error(OutputError {
                request_id: "r0".into(),
                error_code: 400,
                error_message: "no speech".into(),
            }),
            RecordOutcome::Enrolled(SuccessfulEnrollment {
                request_id: "r1".into(),
                generated_speaker_id: "id#x".into(),
                customer_speaker_id: "c1".into(),
                enrollment_status: "NEW_ENROLLMENT".into(),
            }),
        ];
        let v: Value =
            serde_json::from_slice(&output_document(JobKind::SpeakerEnrollment, &outcomes))
                .unwrap();
        assert_eq!(
            v,
            serde_json::json!({"Version":"1.0",
                "Errors":[{"RequestId":"r0","ErrorCode":400,"ErrorMessage":"no speech"}],
                "SuccessfulEnrollments":[{"RequestId":"r1","GeneratedSpeakerId":"id#x",
                    "CustomerSpeakerId":"c1","EnrollmentStatus":"NEW_ENROLLMENT"}]})
        );
        let reg = vec![RecordOutcome::Registered(SuccessfulRegistration {
            request_id: "f1".into(),
            generated_fraudster_id: "id#f".into(),
            registration_status: "DUPLICATE_SKIPPED".into(),
            fraudster_similarity_score: Some(97),
        })];
        let v: Value =
            serde_json::from_slice(&output_document(JobKind::FraudsterRegistration, &reg)).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"Version":"1.0","Errors":[],
                "SuccessfulRegistrations":[{"RequestId":"f1","GeneratedFraudsterId":"id#f",
                    "RegistrationStatus":"DUPLICATE_SKIPPED","FraudsterSimilarityScore":97}]})
        );
    }
}
