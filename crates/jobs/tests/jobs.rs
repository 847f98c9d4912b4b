//! Batch jobs end to end over `file://`: real SQLite store, real CAM++ embeddings
//! of espeak-ng speech (8 kHz PCM-16 WAV), real output files.
//!
//! Skips (with a printed reason) when the CAM++ weights or espeak-ng/sox are
//! missing.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};
use voiceprint_audio::DecodeOptions;
use voiceprint_jobs::{file_uri, output_uri, JobError, JobsConfig, ObjectStores};
use voiceprint_voiceid::types::{
    CreateWatchlistRequest, EnrollmentConfig, EnrollmentJobFraudDetectionConfig, InputDataConfig,
    Job, ListRequest, OutputDataConfig, RegistrationConfig, SpeakerRequest,
    StartFraudsterRegistrationJobRequest, StartSpeakerEnrollmentJobRequest,
};
use voiceprint_voiceid::{AuthenticationDecision, Biometrics, JobKind, SpeechConditions, VoiceIdService};

const ROLE: &str = "arn:aws:iam::000000000000:role/voiceprint-jobs";

/// Test audio: `voice<v>-text<t>.wav` for every voice and text, a 1.5 s clip, a
/// corrupt file, and a stereo file (voice 0 left, voice 1 right).
fn make_audio(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    for (v, voice) in VOICES.iter().enumerate() {
        for (t, text) in TEXTS.iter().enumerate().take(2) {
            let p = dir.join(format!("voice{v}-text{t}.wav"));
            if !p.exists() {
                speak(*voice, text, &p);
            }
        }
    }
    speak(VOICES[0], "Hello there.", &dir.join("short.wav"));
    // A WAV header promising data that is not audio at all.
    let mut corrupt = b"RIFF\x24\x00\x00\x00WAVEfmt ".to_vec();
    corrupt.extend(std::iter::repeat_n(0xA5u8, 2000));
    std::fs::write(dir.join("corrupt.wav"), corrupt).unwrap();
    stereo(
        &dir.join("voice0-text1.wav"),
        &dir.join("voice1-text1.wav"),
        &dir.join("stereo.wav"),
    );
}

fn jobs_config(root: &Path) -> JobsConfig {
    JobsConfig {
        file_root: Some(root.to_path_buf()),
        // espeak's 8–10 s sentences carry 6–9 s of net speech; the tests ask for 4 s
        // (Voice ID's 30 s is the default) to keep 2-core CI runs short.
        min_speech_seconds: 4.0,
        ..JobsConfig::default()
    }
}

struct Setup {
    _tmp: tempfile::TempDir,
    root: std::path::PathBuf,
    service: Arc<VoiceIdService>,
    runner: Arc<voiceprint_jobs::BatchJobRunner>,
    /// The test's own view of the object stores (writes manifests, reads outputs).
    stores: ObjectStores,
    domain: String,
    default_watchlist: String,
}

fn setup() -> Option<Setup> {
    setup_with(|c| c)
}

fn setup_with(configure: impl FnOnce(JobsConfig) -> JobsConfig) -> Option<Setup> {
    setup_full(configure, None)
}

fn setup_full(
    configure: impl FnOnce(JobsConfig) -> JobsConfig,
    spoof: Option<Arc<dyn voiceprint_voiceid::sessions::SpoofScorer>>,
) -> Option<Setup> {
    let models = models_dir()?;
    if !have_speech_tools() {
        return None;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = std::fs::canonicalize(tmp.path()).unwrap();
    make_audio(&root.join("audio"));
    let config = configure(jobs_config(&root));
    let stores = ObjectStores::new(&config).unwrap();
    let (service, runner) = common::open_service_with(&root.join("data"), &models, config, spoof);
    let (domain, default_watchlist) = create_domain(&service, "jobs");
    Some(Setup {
        _tmp: tmp,
        root,
        service,
        runner,
        stores,
        domain,
        default_watchlist,
    })
}

impl Setup {
    fn audio(&self, name: &str) -> String {
        file_uri(&self.root.join("audio").join(name))
    }

    fn voice(&self, v: usize, t: usize) -> String {
        self.audio(&format!("voice{v}-text{t}.wav"))
    }

    fn out_prefix(&self) -> String {
        file_uri(&self.root.join("out"))
    }

    fn put(&self, uri: &str, doc: &Value) {
        self.stores
            .put(uri, serde_json::to_vec(doc).unwrap())
            .unwrap();
    }

    fn enroll(
        &self,
        name: &str,
        requests: Vec<Value>,
        action: &str,
        fraud: Option<EnrollmentJobFraudDetectionConfig>,
    ) -> (Job, Value) {
        let input = file_uri(&self.root.join("manifests").join(name));
        self.enroll_at(&input, &self.out_prefix(), requests, action, fraud)
    }

    fn enroll_at(
        &self,
        input: &str,
        out_prefix: &str,
        requests: Vec<Value>,
        action: &str,
        fraud: Option<EnrollmentJobFraudDetectionConfig>,
    ) -> (Job, Value) {
        self.put(
            input,
            &json!({"Version": "1.0", "SpeakerEnrollmentRequests": requests}),
        );
        self.start_enrollment(input, out_prefix, action, fraud)
    }

    fn start_enrollment(
        &self,
        input: &str,
        out_prefix: &str,
        action: &str,
        fraud: Option<EnrollmentJobFraudDetectionConfig>,
    ) -> (Job, Value) {
        let job = self
            .service
            .start_speaker_enrollment_job(StartSpeakerEnrollmentJobRequest {
                client_token: None,
                data_access_role_arn: ROLE.into(),
                domain_id: self.domain.clone(),
                enrollment_config: Some(EnrollmentConfig {
                    existing_enrollment_action: Some(action.into()),
                    fraud_detection_config: fraud,
                }),
                input_data_config: InputDataConfig {
                    s3_uri: input.into(),
                },
                job_name: Some("enrollment".into()),
                output_data_config: OutputDataConfig {
                    kms_key_id: None,
                    s3_uri: out_prefix.into(),
                },
            })
            .unwrap()
            .job;
        assert_eq!(job.job_status, "SUBMITTED");
        self.finish_started(JobKind::SpeakerEnrollment, &job.job_id)
    }

    fn register(
        &self,
        name: &str,
        requests: Vec<Value>,
        config: RegistrationConfig,
    ) -> (Job, Value) {
        let input = file_uri(&self.root.join("manifests").join(name));
        self.register_at(&input, &self.out_prefix(), requests, config)
    }

    fn register_at(
        &self,
        input: &str,
        out_prefix: &str,
        requests: Vec<Value>,
        config: RegistrationConfig,
    ) -> (Job, Value) {
        self.put(
            input,
            &json!({"Version": "1.0", "FraudsterRegistrationRequests": requests}),
        );
        let job = self
            .service
            .start_fraudster_registration_job(StartFraudsterRegistrationJobRequest {
                client_token: None,
                data_access_role_arn: ROLE.into(),
                domain_id: self.domain.clone(),
                input_data_config: InputDataConfig {
                    s3_uri: input.into(),
                },
                job_name: None,
                output_data_config: OutputDataConfig {
                    kms_key_id: None,
                    s3_uri: out_prefix.into(),
                },
                registration_config: Some(config),
            })
            .unwrap()
            .job;
        assert_eq!(job.job_status, "SUBMITTED");
        self.finish_started(JobKind::FraudsterRegistration, &job.job_id)
    }

    /// Waits for the job and reads its output file (Null when there is none).
    /// Submits an enrollment job of 24 people (`p0`..`p23`, one recording each).
    fn submit_people_job(&self, manifest_name: &str) -> Job {
        let requests: Vec<Value> = (0..24)
            .map(|i| {
                enroll_request(
                    &format!("r{i}"),
                    &format!("p{i}"),
                    &[(self.voice(i % 6, i % 2), 0)],
                )
            })
            .collect();
        let input = file_uri(&self.root.join("manifests").join(manifest_name));
        self.put(
            &input,
            &json!({"Version": "1.0", "SpeakerEnrollmentRequests": requests}),
        );
        self.service
            .start_speaker_enrollment_job(StartSpeakerEnrollmentJobRequest {
                client_token: None,
                data_access_role_arn: ROLE.into(),
                domain_id: self.domain.clone(),
                enrollment_config: None,
                input_data_config: InputDataConfig { s3_uri: input },
                job_name: None,
                output_data_config: OutputDataConfig {
                    kms_key_id: None,
                    s3_uri: self.out_prefix(),
                },
            })
            .unwrap()
            .job
    }

    /// Waits until the job reports at least `percent` done.
    fn wait_for_progress(&self, jr: &voiceprint_voiceid::JobRef, percent: i64) {
        let start = Instant::now();
        loop {
            let j = self.service.job(jr).unwrap().unwrap();
            if j.job_progress.percent_complete >= percent {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(300),
                "no progress: {j:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn finish_started(&self, kind: JobKind, job_id: &str) -> (Job, Value) {
        let done = wait_for(
            &self.service,
            &job_ref(kind, &self.domain, job_id),
            Duration::from_secs(900),
        );
        let out = output_uri(
            &done.output_data_config.s3_uri,
            &done.job_id,
            &done.input_data_config.s3_uri,
        );
        let output = match self.stores.get(&out, 1 << 30) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap(),
            Err(JobError::NotFound { .. }) => Value::Null,
            Err(e) => panic!("{out}: {e}"),
        };
        (done, output)
    }
}

fn enroll_request(id: &str, speaker: &str, audio: &[(String, u32)]) -> Value {
    json!({"RequestId": id, "SpeakerId": speaker, "AudioSpecifications":
        audio.iter().map(|(u, c)| json!({"S3Uri": u, "ChannelId": c})).collect::<Vec<_>>()})
}

fn register_request(id: &str, audio: &str) -> Value {
    json!({"RequestId": id, "AudioSpecifications": [{"S3Uri": audio, "ChannelId": 0}]})
}

/// Output entries keyed by RequestId (asserting each id appears once).
fn by_request(output: &Value, list: &str) -> HashMap<String, Value> {
    let mut out = HashMap::new();
    for e in output[list]
        .as_array()
        .unwrap()
        .iter()
        .chain(output["Errors"].as_array().unwrap())
    {
        let id = e["RequestId"].as_str().unwrap().to_owned();
        assert!(out.insert(id.clone(), e.clone()).is_none(), "{id} twice");
    }
    out
}

fn embedding(b: &Biometrics, path: &Path) -> Vec<f32> {
    b.embed_recording(&std::fs::read(path).unwrap(), &DecodeOptions::default())
        .unwrap()
        .embedding
}

/// The fixture's premise: CAM++ scores the same espeak voice high across texts
/// and different voices low, on Voice ID's 0–100 scale.
#[test]
fn voices_are_separable() {
    let Some(models) = models_dir() else { return };
    if !have_speech_tools() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    make_audio(tmp.path());
    let b = Biometrics::load(&models, "campplus", 2).unwrap();
    let start = Instant::now();
    let mut prints = Vec::new();
    let mut tests = Vec::new();
    for v in 0..VOICES.len() {
        let e0 = b
            .embed_recording(
                &std::fs::read(tmp.path().join(format!("voice{v}-text0.wav"))).unwrap(),
                &DecodeOptions::default(),
            )
            .unwrap();
        prints.push(b.voiceprint(&[e0]).unwrap());
        tests.push(embedding(
            &b,
            &tmp.path().join(format!("voice{v}-text1.wav")),
        ));
    }
    eprintln!(
        "{} embeddings of ~10 s in {:.1?}",
        2 * VOICES.len(),
        start.elapsed()
    );
    let mut worst_same = 100u8;
    let mut worst_other = 0u8;
    for (i, p) in prints.iter().enumerate() {
        let row: Vec<u8> = tests.iter().map(|t| b.score(p, t, SpeechConditions::NOMINAL).unwrap()).collect();
        eprintln!("voice {i}: {row:?}");
        for (j, s) in row.into_iter().enumerate() {
            if i == j {
                worst_same = worst_same.min(s);
            } else {
                worst_other = worst_other.max(s);
            }
        }
    }
    assert!(worst_same >= 90, "same voice scored {worst_same}");
    assert!(worst_other < 50, "different voices scored {worst_other}");
}

/// Every speaker of the domain (all pages).
fn all_speakers(service: &VoiceIdService, domain: &str) -> Vec<voiceprint_voiceid::types::Speaker> {
    let mut out = Vec::new();
    let mut next_token = None;
    loop {
        let page = service
            .list_speakers(ListRequest {
                domain_id: domain.into(),
                max_results: Some(100),
                next_token: next_token.take(),
                watchlist_id: None,
                job_status: None,
            })
            .unwrap();
        out.extend(page.speaker_summaries);
        match page.next_token {
            Some(t) => next_token = Some(t),
            None => return out,
        }
    }
}

fn fraudster_ids(service: &VoiceIdService, domain: &str, watchlist: &str) -> Vec<String> {
    service
        .list_fraudsters(ListRequest {
            domain_id: domain.into(),
            max_results: Some(100),
            next_token: None,
            watchlist_id: Some(watchlist.into()),
            job_status: None,
        })
        .unwrap()
        .fraudster_summaries
        .into_iter()
        .map(|f| f.generated_fraudster_id)
        .collect()
}

fn decision(s: &Setup, speaker: &str, audio: &str) -> AuthenticationDecision {
    let b = s.service.biometrics().unwrap();
    let e = embedding(b, &s.root.join("audio").join(audio));
    s.service
        .authenticate_speaker(&s.domain, speaker, &e, SpeechConditions::NOMINAL, 90)
        .unwrap()
        .decision
}

/// What kind of request record `i` of the 1,000-record manifest is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Case {
    Real,
    FraudMatch,
    OptedOut,
    Stereo,
    Short,
    Corrupt,
    Invalid,
    Missing,
}

fn case_of(i: usize) -> Case {
    if i.is_multiple_of(20) {
        Case::Real
    } else if i % 100 == 10 {
        Case::FraudMatch
    } else if i % 200 == 30 {
        Case::OptedOut
    } else if i % 250 == 70 {
        Case::Stereo
    } else if i % 10 == 5 {
        Case::Short
    } else if i % 10 == 3 {
        Case::Corrupt
    } else if i % 10 == 7 {
        Case::Invalid
    } else {
        Case::Missing
    }
}

/// The 1,000-record enrollment job with failures mixed in, over whatever store
/// `uri(name)` points into. Real embeddings: 50 enrollments + 10 fraudster
/// matches + 5 opted-out + 2 two-file requests; the other 933 records are cheap
/// failures (missing file, corrupt audio, 1.5 s of speech, malformed request), so
/// the test stays around a minute on 2 cores (see docs/JOBS.md for full-cost
/// numbers).
fn thousand_record_scenario(s: &Setup, uri: &dyn Fn(&str) -> String, out_prefix: &str) {
    // A known fraudster (voice 4) in the default watchlist, registered by a job.
    let (reg, reg_out) = s.register_at(
        &uri("fraudsters.json"),
        out_prefix,
        vec![register_request("f", &uri("voice4-text0.wav"))],
        RegistrationConfig {
            duplicate_registration_action: None,
            fraudster_similarity_threshold: None,
            watchlist_ids: None,
        },
    );
    assert_eq!(reg.job_status, "COMPLETED", "{reg_out}");
    for i in (0..1000).filter(|&i| case_of(i) == Case::OptedOut) {
        s.service
            .opt_out_speaker(SpeakerRequest {
                domain_id: s.domain.clone(),
                speaker_id: format!("spk-{i:04}"),
            })
            .unwrap();
    }
    let requests: Vec<Value> = (0..1000)
        .map(|i| {
            let id = format!("req-{i:04}");
            let speaker = format!("spk-{i:04}");
            match case_of(i) {
                Case::Real => enroll_request(
                    &id,
                    &speaker,
                    &[(uri(&format!("voice{}-text0.wav", (i / 20) % 4)), 0)],
                ),
                Case::FraudMatch => enroll_request(&id, &speaker, &[(uri("voice4-text1.wav"), 0)]),
                Case::OptedOut => enroll_request(&id, &speaker, &[(uri("voice5-text0.wav"), 0)]),
                Case::Stereo => enroll_request(
                    &id,
                    &speaker,
                    &[(uri("stereo.wav"), 1), (uri("voice1-text0.wav"), 0)],
                ),
                Case::Short => enroll_request(&id, &speaker, &[(uri("short.wav"), 0)]),
                Case::Corrupt => enroll_request(&id, &speaker, &[(uri("corrupt.wav"), 0)]),
                Case::Invalid if i % 20 == 7 => {
                    enroll_request(&id, "not a valid id!", &[(uri("voice0-text0.wav"), 0)])
                }
                Case::Invalid => enroll_request(&id, &speaker, &[(uri("voice0-text0.wav"), 5)]),
                Case::Missing => {
                    enroll_request(&id, &speaker, &[(uri(&format!("missing-{i}.wav")), 0)])
                }
            }
        })
        .collect();
    let start = Instant::now();
    let (job, output) = s.enroll_at(&uri("thousand.json"), out_prefix, requests, "SKIP", None);
    eprintln!("1,000-record job took {:.1?}", start.elapsed());
    assert_eq!(job.job_status, "COMPLETED_WITH_ERRORS");
    assert_eq!(job.job_progress.percent_complete, 100);
    assert!(job.failure_details.is_none());
    assert!(job.ended_at.is_some());
    assert_eq!(output["Version"], "1.0");
    let entries = by_request(&output, "SuccessfulEnrollments");
    assert_eq!(entries.len(), 1000, "every request reported exactly once");
    let mut counts: HashMap<Case, usize> = HashMap::new();
    for i in 0..1000 {
        let case = case_of(i);
        *counts.entry(case).or_default() += 1;
        let e = &entries[&format!("req-{i:04}")];
        let (code, message) = (&e["ErrorCode"], e["ErrorMessage"].as_str().unwrap_or(""));
        match case {
            Case::Real | Case::Stereo => {
                assert_eq!(e["EnrollmentStatus"], "NEW_ENROLLMENT", "{i}: {e}");
                assert_eq!(e["CustomerSpeakerId"], format!("spk-{i:04}"));
                assert!(e["GeneratedSpeakerId"].as_str().is_some());
            }
            Case::FraudMatch => {
                assert_eq!(code, 400, "{i}: {e}");
                assert!(message.contains("fraudster"), "{message}");
            }
            Case::OptedOut => {
                assert_eq!(code, 409, "{i}: {e}");
                assert!(message.contains("opted out"), "{message}");
            }
            Case::Short => {
                assert_eq!(code, 400, "{i}: {e}");
                assert!(message.contains("not enough speech"), "{message}");
            }
            Case::Corrupt => {
                assert_eq!(code, 400, "{i}: {e}");
                assert!(message.contains("corrupt.wav"), "{message}");
            }
            Case::Invalid => {
                assert_eq!(code, 400, "{i}: {e}");
                assert!(
                    message.contains("SpeakerId") || message.contains("ChannelId"),
                    "{message}"
                );
            }
            Case::Missing => {
                assert_eq!(code, 400, "{i}: {e}");
                assert!(message.contains("does not exist"), "{message}");
            }
        }
    }
    eprintln!("cases: {counts:?}");
    let enrolled_cases = counts[&Case::Real] + counts[&Case::Stereo];
    assert!(
        counts.values().all(|&n| n > 0),
        "every case occurs: {counts:?}"
    );
    assert_eq!(
        output["SuccessfulEnrollments"].as_array().unwrap().len(),
        enrolled_cases
    );
    assert_eq!(
        output["Errors"].as_array().unwrap().len(),
        1000 - enrolled_cases
    );
    // The store holds exactly the enrolled speakers (plus the opted-out ones).
    let speakers = all_speakers(&s.service, &s.domain);
    let enrolled = speakers
        .iter()
        .filter(|sp| sp.status == voiceprint_voiceid::types::SpeakerStatus::Enrolled)
        .count();
    assert_eq!(
        (enrolled, speakers.len()),
        (enrolled_cases, enrolled_cases + counts[&Case::OptedOut])
    );
    // The voiceprints are real: spk-0000 was enrolled with voice 0.
    assert_eq!(
        decision(s, "spk-0000", "voice0-text1.wav"),
        AuthenticationDecision::Accept
    );
    assert_eq!(
        decision(s, "spk-0000", "voice2-text1.wav"),
        AuthenticationDecision::Reject
    );
    // The channel choice is honoured: channel 1 of stereo.wav is voice 1.
    assert_eq!(
        decision(s, "spk-0070", "voice1-text1.wav"),
        AuthenticationDecision::Accept
    );
    let jr = job_ref(JobKind::SpeakerEnrollment, &s.domain, &job.job_id);
    assert!(
        s.service.job_journal(&jr).unwrap().is_empty(),
        "journal cleared at the end"
    );
}

#[test]
fn thousand_record_enrollment_job_over_file_uris() {
    let Some(s) = setup() else { return };
    let audio = s.root.join("audio");
    let uri = |name: &str| file_uri(&audio.join(name));
    thousand_record_scenario(&s, &uri, &s.out_prefix());
}

#[test]
fn skip_overwrite_and_fraud_detection_actions() {
    let Some(s) = setup() else { return };
    let (job, out) = s.enroll(
        "first.json",
        vec![
            enroll_request("r1", "alice", &[(s.voice(0, 0), 0)]),
            enroll_request("r2", "bob", &[(s.voice(1, 0), 0)]),
        ],
        "SKIP",
        None,
    );
    assert_eq!(job.job_status, "COMPLETED", "{out}");
    let e = by_request(&out, "SuccessfulEnrollments");
    assert_eq!(e["r1"]["EnrollmentStatus"], "NEW_ENROLLMENT");
    let alice_id = e["r1"]["GeneratedSpeakerId"].as_str().unwrap().to_owned();

    // SKIP: the enrolled voiceprint is left alone.
    let (_, out) = s.enroll(
        "skip.json",
        vec![enroll_request("r1", "alice", &[(s.voice(2, 0), 0)])],
        "SKIP",
        None,
    );
    let e = by_request(&out, "SuccessfulEnrollments");
    assert_eq!(e["r1"]["EnrollmentStatus"], "DUPLICATE_SKIPPED");
    assert_eq!(e["r1"]["GeneratedSpeakerId"], alice_id.as_str());
    assert_eq!(
        decision(&s, "alice", "voice0-text1.wav"),
        AuthenticationDecision::Accept
    );
    assert_eq!(
        decision(&s, "alice", "voice2-text1.wav"),
        AuthenticationDecision::Reject
    );

    // OVERWRITE: the new voice replaces the old one.
    let (_, out) = s.enroll(
        "overwrite.json",
        vec![enroll_request("r1", "alice", &[(s.voice(2, 0), 0)])],
        "OVERWRITE",
        None,
    );
    let e = by_request(&out, "SuccessfulEnrollments");
    assert_eq!(e["r1"]["EnrollmentStatus"], "ENROLLMENT_OVERWRITE");
    assert_eq!(e["r1"]["GeneratedSpeakerId"], alice_id.as_str());
    assert_eq!(
        decision(&s, "alice", "voice2-text1.wav"),
        AuthenticationDecision::Accept
    );
    assert_eq!(
        decision(&s, "alice", "voice0-text1.wav"),
        AuthenticationDecision::Reject
    );

    // A fraudster (voice 3) in a second watchlist only.
    let w2 = s
        .service
        .create_watchlist(CreateWatchlistRequest {
            client_token: None,
            description: None,
            domain_id: s.domain.clone(),
            name: "second".into(),
        })
        .unwrap()
        .watchlist
        .watchlist_id;
    let (_, out) = s.register(
        "fraud.json",
        vec![register_request("f1", &s.voice(3, 0))],
        RegistrationConfig {
            duplicate_registration_action: None,
            fraudster_similarity_threshold: None,
            watchlist_ids: Some(vec![w2.clone()]),
        },
    );
    assert_eq!(
        by_request(&out, "SuccessfulRegistrations")["f1"]["RegistrationStatus"],
        "NEW_REGISTRATION"
    );
    let fraud = |action: &str, watchlist: &str| {
        Some(EnrollmentJobFraudDetectionConfig {
            fraud_detection_action: Some(action.into()),
            risk_threshold: Some(50),
            watchlist_ids: Some(vec![watchlist.into()]),
        })
    };
    // FAIL, checked against the default watchlist: the fraudster is not in it.
    let (_, out) = s.enroll(
        "fail-default.json",
        vec![enroll_request("r1", "carol", &[(s.voice(3, 1), 0)])],
        "SKIP",
        fraud("FAIL", &s.default_watchlist),
    );
    assert_eq!(
        by_request(&out, "SuccessfulEnrollments")["r1"]["EnrollmentStatus"],
        "NEW_ENROLLMENT"
    );
    // FAIL against the fraudster's watchlist: not enrolled, 400 with the reason.
    let (job, out) = s.enroll(
        "fail-w2.json",
        vec![enroll_request("r1", "dave", &[(s.voice(3, 1), 0)])],
        "SKIP",
        fraud("FAIL", &w2),
    );
    assert_eq!(job.job_status, "COMPLETED_WITH_ERRORS");
    let e = &by_request(&out, "SuccessfulEnrollments")["r1"];
    assert_eq!(e["ErrorCode"], 400, "{e}");
    assert!(e["ErrorMessage"].as_str().unwrap().contains(&w2), "{e}");
    assert!(s
        .service
        .describe_speaker(SpeakerRequest {
            domain_id: s.domain.clone(),
            speaker_id: "dave".into()
        })
        .is_err());
    // IGNORE: enrolled despite the match.
    let (_, out) = s.enroll(
        "ignore-w2.json",
        vec![enroll_request("r1", "erin", &[(s.voice(3, 1), 0)])],
        "SKIP",
        fraud("IGNORE", &w2),
    );
    assert_eq!(
        by_request(&out, "SuccessfulEnrollments")["r1"]["EnrollmentStatus"],
        "NEW_ENROLLMENT"
    );
}

#[test]
fn duplicate_fraudsters_are_skipped_or_registered_as_new() {
    let Some(s) = setup() else { return };
    let skip = RegistrationConfig {
        duplicate_registration_action: Some("SKIP".into()),
        fraudster_similarity_threshold: Some(80),
        watchlist_ids: None,
    };
    // f3 duplicates f2 inside the same manifest: requests commit in order.
    let (job, out) = s.register(
        "reg1.json",
        vec![
            register_request("f1", &s.voice(3, 0)),
            register_request("f2", &s.voice(4, 0)),
            register_request("f3", &s.voice(4, 1)),
        ],
        skip.clone(),
    );
    assert_eq!(job.job_status, "COMPLETED", "{out}");
    let r = by_request(&out, "SuccessfulRegistrations");
    assert_eq!(r["f1"]["RegistrationStatus"], "NEW_REGISTRATION");
    assert_eq!(r["f2"]["RegistrationStatus"], "NEW_REGISTRATION");
    assert!(
        r["f1"].get("FraudsterSimilarityScore").is_none(),
        "first fraudster has nothing to compare with"
    );
    assert_eq!(r["f3"]["RegistrationStatus"], "DUPLICATE_SKIPPED");
    assert_eq!(
        r["f3"]["GeneratedFraudsterId"],
        r["f2"]["GeneratedFraudsterId"]
    );
    assert!(r["f3"]["FraudsterSimilarityScore"].as_u64().unwrap() >= 80);
    assert!(r["f2"]["FraudsterSimilarityScore"].as_u64().unwrap() < 80);
    assert_eq!(
        fraudster_ids(&s.service, &s.domain, &s.default_watchlist).len(),
        2
    );

    // REGISTER_AS_NEW: the same voice again becomes a new fraudster.
    let (_, out) = s.register(
        "reg2.json",
        vec![register_request("f4", &s.voice(3, 1))],
        RegistrationConfig {
            duplicate_registration_action: Some("REGISTER_AS_NEW".into()),
            ..skip.clone()
        },
    );
    let r4 = &by_request(&out, "SuccessfulRegistrations")["f4"];
    assert_eq!(r4["RegistrationStatus"], "NEW_REGISTRATION");
    assert_ne!(r4["GeneratedFraudsterId"], r["f1"]["GeneratedFraudsterId"]);
    assert!(r4["FraudsterSimilarityScore"].as_u64().unwrap() >= 80);
    assert_eq!(
        fraudster_ids(&s.service, &s.domain, &s.default_watchlist).len(),
        3
    );
}

#[test]
fn unusable_manifests_fail_the_whole_job() {
    let Some(s) = setup() else { return };
    let outside = file_uri(Path::new("/etc/hostname"));
    let garbage = {
        let p = s.root.join("manifests/garbage.json");
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, b"{not json").unwrap();
        file_uri(&p)
    };
    let missing = file_uri(&s.root.join("manifests/none.json"));
    for (input, needle) in [
        (missing, "does not exist"),
        (garbage, "not valid JSON"),
        (outside, "file_root"),
    ] {
        let (job, output) = s.start_enrollment(&input, &s.out_prefix(), "SKIP", None);
        assert_eq!(job.job_status, "FAILED", "{input}");
        let f = job.failure_details.expect("FailureDetails on a failed job");
        assert_eq!(f.status_code, Some(400));
        assert!(f.message.as_deref().unwrap().contains(needle), "{f:?}");
        assert!(job.ended_at.is_some());
        assert_eq!(output, Value::Null, "no output file for a failed job");
    }
}

#[test]
fn stopped_job_resumes_after_restart_with_each_request_done_once() {
    let Some(s) = setup() else { return };
    let models = models_dir().unwrap();
    let job = s.submit_people_job("resume.json");
    let jr = job_ref(JobKind::SpeakerEnrollment, &s.domain, &job.job_id);
    s.wait_for_progress(&jr, 25);
    s.runner.stop();
    let paused = s.service.job(&jr).unwrap().unwrap();
    assert_eq!(paused.job_status, "IN_PROGRESS");
    assert!(paused.job_progress.percent_complete < 100);
    let before = all_speakers(&s.service, &s.domain).len();
    assert!(
        before > 0 && before < 24,
        "{before} speakers before the restart"
    );
    let Setup {
        _tmp,
        root,
        service,
        runner,
        stores,
        domain,
        default_watchlist,
    } = s;
    drop((service, runner));

    // A new process over the same data directory picks the job up by itself.
    let (service, runner) = open_service(&root.join("data"), &models, jobs_config(&root));
    let s = Setup {
        _tmp,
        root,
        service,
        runner,
        stores,
        domain,
        default_watchlist,
    };
    let (done, out) = s.finish_started(JobKind::SpeakerEnrollment, &job.job_id);
    assert_eq!(done.job_status, "COMPLETED", "{out}");
    let e = by_request(&out, "SuccessfulEnrollments");
    assert_eq!(e.len(), 24);
    assert!(
        e.values()
            .all(|v| v["EnrollmentStatus"] == "NEW_ENROLLMENT"),
        "{out}"
    );
    assert_eq!(all_speakers(&s.service, &s.domain).len(), 24);
}

/// The crash window itself: the store write of a request happened, its outcome
/// was not journalled. The restart must report it, not write it again.
#[test]
fn in_doubt_requests_are_not_written_twice() {
    let Some(models) = models_dir() else { return };
    if !have_speech_tools() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = std::fs::canonicalize(tmp.path()).unwrap();
    make_audio(&root.join("audio"));
    let data = root.join("data");
    let audio = |n: &str| file_uri(&root.join("audio").join(n));
    let manifest = |name: &str, doc: Value| {
        let p = root.join(name);
        std::fs::write(&p, serde_json::to_vec(&doc).unwrap()).unwrap();
        file_uri(&p)
    };
    let enroll_input = manifest(
        "e.json",
        json!({"Version":"1.0","SpeakerEnrollmentRequests":[
            enroll_request("r0", "xavier", &[(audio("voice0-text0.wav"), 0)]),
            enroll_request("r1", "yolanda", &[(audio("voice1-text0.wav"), 0)])]}),
    );
    let reg_input = manifest(
        "f.json",
        json!({"Version":"1.0","FraudsterRegistrationRequests":[
            register_request("f0", &audio("voice2-text0.wav"))]}),
    );
    let (domain, watchlist, enroll_job, reg_job, xavier_updated, fraudster) = {
        // A "crashed" server: jobs stored, no runner; the writes done by hand.
        std::fs::create_dir_all(&data).unwrap();
        let keyring = voiceprint_store::Keyring::open_or_create(&data).unwrap();
        let store = Arc::new(voiceprint_store::SqliteStore::open(&data, keyring).unwrap());
        let b = Arc::new(Biometrics::load(&models, "campplus", 2).unwrap());
        let service = VoiceIdService::new(
            store,
            voiceprint_voiceid::ServiceConfig::default(),
            &[7u8; 32],
        )
        .with_biometrics(b.clone());
        let (domain, watchlist) = create_domain(&service, "doubt");
        let out = OutputDataConfig {
            kms_key_id: None,
            s3_uri: file_uri(&root.join("out")),
        };
        let ej = service
            .start_speaker_enrollment_job(StartSpeakerEnrollmentJobRequest {
                client_token: None,
                data_access_role_arn: ROLE.into(),
                domain_id: domain.clone(),
                enrollment_config: None,
                input_data_config: InputDataConfig {
                    s3_uri: enroll_input,
                },
                job_name: None,
                output_data_config: out.clone(),
            })
            .unwrap()
            .job;
        let fj = service
            .start_fraudster_registration_job(StartFraudsterRegistrationJobRequest {
                client_token: None,
                data_access_role_arn: ROLE.into(),
                domain_id: domain.clone(),
                input_data_config: InputDataConfig { s3_uri: reg_input },
                job_name: None,
                output_data_config: out,
                registration_config: Some(RegistrationConfig {
                    duplicate_registration_action: Some("REGISTER_AS_NEW".into()),
                    fraudster_similarity_threshold: None,
                    watchlist_ids: None,
                }),
            })
            .unwrap()
            .job;
        let vp = |n: &str| {
            let e = b
                .embed_recording(
                    &std::fs::read(root.join("audio").join(n)).unwrap(),
                    &DecodeOptions::default(),
                )
                .unwrap();
            b.voiceprint(&[e]).unwrap()
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64()
            - 1.0;
        // Enrollment: intent journalled for r0, the speaker written, then the crash.
        let ejr = job_ref(JobKind::SpeakerEnrollment, &domain, &ej.job_id);
        service
            .update_job(&ejr, false, |j| j.job_status = "IN_PROGRESS".into())
            .unwrap();
        service
            .write_job_journal(
                &ejr,
                vec![(0, json!({"Intent": {"at": now, "speaker_before": null}}))],
            )
            .unwrap();
        service
            .enroll_speaker(
                &domain,
                "xavier",
                &vp("voice0-text0.wav"),
                Default::default(),
            )
            .unwrap();
        let xavier_updated = service
            .describe_speaker(SpeakerRequest {
                domain_id: domain.clone(),
                speaker_id: "xavier".into(),
            })
            .unwrap()
            .speaker
            .updated_at;
        // Registration: the same for f0 (REGISTER_AS_NEW would add a second copy).
        let fjr = job_ref(JobKind::FraudsterRegistration, &domain, &fj.job_id);
        service
            .update_job(&fjr, false, |j| j.job_status = "IN_PROGRESS".into())
            .unwrap();
        service
            .write_job_journal(
                &fjr,
                vec![(0, json!({"Intent": {"at": now, "speaker_before": null}}))],
            )
            .unwrap();
        let fraudster = service
            .register_fraudster(
                &domain,
                None,
                &vp("voice2-text0.wav"),
                voiceprint_voiceid::DuplicateRegistrationAction::RegisterAsNew,
                90,
            )
            .unwrap()
            .generated_fraudster_id;
        (
            domain,
            watchlist,
            ej.job_id,
            fj.job_id,
            xavier_updated,
            fraudster,
        )
    };

    let (service, _runner) = open_service(&data, &models, jobs_config(&root));
    let read_out = |kind, job_id: &str| {
        let j = wait_for(
            &service,
            &job_ref(kind, &domain, job_id),
            Duration::from_secs(300),
        );
        let out = output_uri(
            &j.output_data_config.s3_uri,
            job_id,
            &j.input_data_config.s3_uri,
        );
        let path = url::Url::parse(&out).unwrap().to_file_path().unwrap();
        (
            j,
            serde_json::from_slice::<Value>(&std::fs::read(path).unwrap()).unwrap(),
        )
    };
    let (j, out) = read_out(JobKind::SpeakerEnrollment, &enroll_job);
    assert_eq!(j.job_status, "COMPLETED", "{out}");
    let e = by_request(&out, "SuccessfulEnrollments");
    assert_eq!(e["r0"]["EnrollmentStatus"], "NEW_ENROLLMENT");
    assert_eq!(e["r1"]["EnrollmentStatus"], "NEW_ENROLLMENT");
    let xavier = service
        .describe_speaker(SpeakerRequest {
            domain_id: domain.clone(),
            speaker_id: "xavier".into(),
        })
        .unwrap()
        .speaker;
    assert_eq!(
        e["r0"]["GeneratedSpeakerId"],
        xavier.generated_speaker_id.as_str()
    );
    assert_eq!(
        xavier.updated_at, xavier_updated,
        "xavier was not enrolled a second time"
    );

    let (j, out) = read_out(JobKind::FraudsterRegistration, &reg_job);
    assert_eq!(j.job_status, "COMPLETED", "{out}");
    let r = by_request(&out, "SuccessfulRegistrations");
    assert_eq!(r["f0"]["RegistrationStatus"], "NEW_REGISTRATION");
    assert_eq!(r["f0"]["GeneratedFraudsterId"], fraudster.as_str());
    assert_eq!(
        fraudster_ids(&service, &domain, &watchlist),
        vec![fraudster]
    );
}

#[test]
fn thousand_record_enrollment_job_over_s3_moto() {
    if models_dir().is_none() || !have_speech_tools() {
        return;
    }
    let Some(moto) = start_moto() else { return };
    create_bucket(&moto.endpoint, "voiceprint-in");
    create_bucket(&moto.endpoint, "voiceprint-out");
    let endpoint = moto.endpoint.clone();
    let s = setup_with(|mut c| {
        c.s3.endpoint = Some(endpoint);
        c.s3.allow_http = true;
        c.s3.access_key_id = Some("testing".into());
        c.s3.secret_access_key = Some("testing".into());
        c
    })
    .unwrap();
    for entry in std::fs::read_dir(s.root.join("audio")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        s.stores
            .put(
                &format!("s3://voiceprint-in/calls/{name}"),
                std::fs::read(&path).unwrap(),
            )
            .unwrap();
    }
    let uri = |name: &str| format!("s3://voiceprint-in/calls/{name}");
    thousand_record_scenario(&s, &uri, "s3://voiceprint-out/results/");
    // The output landed where Voice ID puts it.
    let jobs = s
        .service
        .list_speaker_enrollment_jobs(ListRequest {
            domain_id: s.domain.clone(),
            max_results: None,
            next_token: None,
            watchlist_id: None,
            job_status: None,
        })
        .unwrap()
        .job_summaries;
    let out = format!(
        "s3://voiceprint-out/results/{}/thousand.json.out",
        jobs[0].job_id
    );
    assert!(s.stores.get(&out, 1 << 30).is_ok(), "{out}");
}

/// Rates every recording as spoofed with a fixed risk, and counts its calls: a
/// stand-in that isolates the runner's rule from the (costly) AASIST model, which
/// crates/server/tests/spoofing.rs runs for real.
struct FixedRisk {
    risk: u8,
    calls: std::sync::atomic::AtomicUsize,
}

impl voiceprint_voiceid::sessions::SpoofScorer for FixedRisk {
    fn risk_score(&self, speech_16k: &[f32]) -> voiceprint_voiceid::Result<u8> {
        assert!(
            speech_16k.len() > 16_000,
            "the scorer gets the recording's speech"
        );
        self.calls
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(self.risk)
    }
}

#[test]
fn spoofed_recordings_are_refused_under_fail_and_enrolled_under_ignore() {
    let scorer = Arc::new(FixedRisk {
        risk: 80,
        calls: Default::default(),
    });
    let Some(s) = setup_full(|c| c, Some(scorer.clone())) else {
        return;
    };
    let fraud = |action: &str, threshold: i64| {
        Some(EnrollmentJobFraudDetectionConfig {
            fraud_detection_action: Some(action.into()),
            risk_threshold: Some(threshold),
            watchlist_ids: None,
        })
    };
    // FAIL with RiskThreshold 50: a risk of 80 refuses the enrollment (400).
    let (job, out) = s.enroll(
        "spoof-fail.json",
        vec![enroll_request("r1", "carol", &[(s.voice(0, 0), 0)])],
        "SKIP",
        fraud("FAIL", 50),
    );
    assert_eq!(job.job_status, "COMPLETED_WITH_ERRORS", "{out}");
    // by_request chains the Errors list to the one named: name the successes.
    let errors = by_request(&out, "SuccessfulEnrollments");
    assert_eq!(errors["r1"]["ErrorCode"], 400, "{out}");
    assert!(
        errors["r1"]["ErrorMessage"]
            .as_str()
            .unwrap()
            .contains("voice spoofing risk 80"),
        "{out}"
    );
    assert!(all_speakers(&s.service, &s.domain)
        .iter()
        .all(|sp| sp.customer_speaker_id.as_deref() != Some("carol")));
    // FAIL above the risk: enrolled.
    let (job, out) = s.enroll(
        "spoof-high.json",
        vec![enroll_request("r1", "carol", &[(s.voice(0, 0), 0)])],
        "SKIP",
        fraud("FAIL", 90),
    );
    assert_eq!(job.job_status, "COMPLETED", "{out}");
    // IGNORE: the countermeasure is not even run.
    let before = scorer.calls.load(std::sync::atomic::Ordering::Relaxed);
    let (job, out) = s.enroll(
        "spoof-ignore.json",
        vec![enroll_request("r1", "dave", &[(s.voice(1, 0), 0)])],
        "SKIP",
        fraud("IGNORE", 50),
    );
    assert_eq!(job.job_status, "COMPLETED", "{out}");
    assert_eq!(
        scorer.calls.load(std::sync::atomic::Ordering::Relaxed),
        before
    );
}

/// Two nodes over one store (issue 10): the job runs on the node holding its
/// lease; when that node stops mid-job without releasing it (as a crash would), the
/// other node takes the job over once the lease expires and finishes it, each
/// request done exactly once.
#[test]
fn another_node_takes_over_a_job_whose_node_stopped() {
    let lease = |node: &str| {
        let node = node.to_owned();
        move |c: JobsConfig| JobsConfig {
            node_id: node,
            lease_seconds: 1.0,
            ..c
        }
    };
    let Some(s) = setup_with(lease("node-a")) else {
        return;
    };
    let models = models_dir().unwrap();
    // Node B: its own runner and model threads, the same database.
    let runner_b = voiceprint_jobs::BatchJobRunner::new(lease("node-b")(jobs_config(&s.root)));
    let service_b = Arc::new(
        VoiceIdService::new(
            s.service.store().clone(),
            voiceprint_voiceid::ServiceConfig::default(),
            &[7u8; 32],
        )
        .with_biometrics(Arc::new(Biometrics::load(&models, "campplus", 1).unwrap()))
        .with_job_runner(runner_b.clone()),
    );
    runner_b.start(service_b.clone()).unwrap();

    let job = s.submit_people_job("takeover.json");
    let jr = job_ref(JobKind::SpeakerEnrollment, &s.domain, &job.job_id);
    let lease_owner = || {
        s.service
            .store()
            .get(
                voiceprint_store::Kind::ClientToken,
                &s.domain,
                &format!("lease:{}", job.job_id),
            )
            .unwrap()
            .and_then(|r| r.attributes["owner"].as_str().map(str::to_owned))
    };
    s.wait_for_progress(&jr, 25);
    // Node B has been scanning all along (every 0.5 s) but node A holds the lease.
    assert_eq!(lease_owner().as_deref(), Some("node-a"));
    s.runner.stop();
    assert_eq!(
        s.service.job(&jr).unwrap().unwrap().job_status,
        "IN_PROGRESS"
    );

    let done = wait_for(&service_b, &jr, Duration::from_secs(300));
    assert_eq!(done.job_status, "COMPLETED");
    let out = output_uri(
        &done.output_data_config.s3_uri,
        &done.job_id,
        &done.input_data_config.s3_uri,
    );
    let output: Value = serde_json::from_slice(&s.stores.get(&out, 1 << 30).unwrap()).unwrap();
    let e = by_request(&output, "SuccessfulEnrollments");
    assert_eq!(e.len(), 24, "{output}");
    assert!(
        e.values()
            .all(|v| v["EnrollmentStatus"] == "NEW_ENROLLMENT"),
        "{output}"
    );
    assert_eq!(all_speakers(&s.service, &s.domain).len(), 24);
    assert_eq!(lease_owner(), None, "the finishing node released the lease");
    runner_b.stop();
}

/// Enrollment quality (issue 9) on the batch path: a hard-clipped recording is the
/// request's failure with the CLIPPED reason under the default settings, and
/// enrolls with the reason kept (DescribeVoiceprint) when the domain FLAGs it.
#[test]
fn clipped_recordings_are_refused_or_flagged_by_the_domain_settings() {
    use voiceprint_voiceid::quality::{EnrollmentQualitySettings, QualityAction, QualityReason};
    use voiceprint_voiceid::{EngineSettings, UpdateEngineSettingsRequest};
    let Some(s) = setup() else {
        return;
    };
    let clean = s.root.join("audio/voice0-text0.wav");
    let clipped = s.root.join("audio/clipped.wav");
    let status = std::process::Command::new("sox")
        .args(["-q", "-V0"])
        .arg(&clean)
        .arg(&clipped)
        .args(["gain", "24"])
        .status()
        .unwrap();
    assert!(status.success());
    let (job, out) = s.enroll(
        "clipped-reject.json",
        vec![
            enroll_request("r1", "erin", &[(s.audio("clipped.wav"), 0)]),
            enroll_request("r2", "frank", &[(s.voice(0, 0), 0)]),
        ],
        "SKIP",
        None,
    );
    assert_eq!(job.job_status, "COMPLETED_WITH_ERRORS", "{out}");
    let results = by_request(&out, "SuccessfulEnrollments");
    assert_eq!(results["r1"]["ErrorCode"], 400, "{out}");
    let message = results["r1"]["ErrorMessage"].as_str().unwrap();
    assert!(message.contains("enrollment quality: CLIPPED"), "{message}");
    assert_eq!(results["r2"]["EnrollmentStatus"], "NEW_ENROLLMENT", "{out}");

    s.service
        .update_engine_settings(UpdateEngineSettingsRequest {
            domain_id: s.domain.clone(),
            engine_settings: EngineSettings {
                enrollment_quality: EnrollmentQualitySettings {
                    clipped_action: QualityAction::Flag,
                    ..EnrollmentQualitySettings::default()
                },
                ..EngineSettings::default()
            },
        })
        .unwrap();
    let (job, out) = s.enroll(
        "clipped-flag.json",
        vec![enroll_request("r1", "erin", &[(s.audio("clipped.wav"), 0)])],
        "SKIP",
        None,
    );
    assert_eq!(job.job_status, "COMPLETED", "{out}");
    let vp = s
        .service
        .describe_voiceprint(SpeakerRequest {
            domain_id: s.domain.clone(),
            speaker_id: "erin".into(),
        })
        .unwrap()
        .voiceprint;
    assert_eq!(vp.quality_flags, [QualityReason::Clipped]);
    assert_eq!(
        vp.segments.unwrap()[0].quality_flags,
        [QualityReason::Clipped]
    );
}
