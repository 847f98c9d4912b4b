//! Enrollment, fraudster registration and decisions over the real SQLite store.
//!
//! The rule tests feed chosen embeddings through a tiny stand-in embedder (it
//! isolates the rules from the neural model: the decisions depend only on the
//! vectors and the CAM++ calibration). `real_model_*` runs the real CAM++ model
//! on espeak-ng speech and skips with a message when the weights or espeak-ng are
//! missing.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use voiceprint_engine::scoring::{EnrollmentSample, Voiceprint};
use voiceprint_engine::{Embedder, EngineError};
use voiceprint_store::{Keyring, Kind, SqliteStore, Store};
use voiceprint_voiceid::types::*;
use voiceprint_voiceid::{
    AuthenticationDecision, Biometrics, DuplicateRegistrationAction, EnrollmentOutcome, Error,
    ExistingEnrollmentAction, ManualClock, RegistrationStatus, ServiceConfig, SpeechConditions,
    VoiceIdService,
};

const DIM: usize = 192;

/// Embeds a signal as the unit vector along the axis named by its first sample: a
/// stand-in that lets the rule tests pick "same voice" / "other voice" exactly.
struct AxisEmbedder;

impl Embedder for AxisEmbedder {
    fn model_id(&self) -> &'static str {
        "campplus"
    }
    fn dim(&self) -> usize {
        DIM
    }
    fn embed(&self, samples_16k: &[f32]) -> Result<Vec<f32>, EngineError> {
        let axis = *samples_16k
            .first()
            .ok_or_else(|| EngineError::TooShort("empty".into()))? as usize;
        let mut v = vec![0.0; DIM];
        v[axis % DIM] = 1.0;
        Ok(v)
    }
}

fn axis(i: usize) -> Vec<f32> {
    let mut v = vec![0.0; DIM];
    v[i] = 1.0;
    v
}

/// A unit vector at cosine `c` to axis 0 (in the plane of axes 0 and `other`).
fn at_cosine(c: f32, other: usize) -> Vec<f32> {
    let mut v = vec![0.0; DIM];
    v[0] = c;
    v[other] = (1.0 - c * c).sqrt();
    v
}

fn voiceprint(v: &[f32]) -> Voiceprint {
    Voiceprint::enroll(
        "campplus",
        &[EnrollmentSample {
            embedding: v,
            net_speech_seconds: 30.0,
        }],
    )
    .unwrap()
}

struct Fixture {
    _dir: tempfile::TempDir,
    svc: VoiceIdService,
    clock: Arc<ManualClock>,
    domain: String,
}

fn fixture_with(biometrics: Biometrics) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::at(1_700_000_000.0));
    let svc = common::sqlite_service(dir.path())
        .with_clock(clock.clone())
        .with_biometrics(Arc::new(biometrics));
    let domain = common::create_domain(&svc);
    Fixture {
        _dir: dir,
        svc,
        clock,
        domain,
    }
}

fn fixture() -> Fixture {
    fixture_with(Biometrics::new(Arc::new(AxisEmbedder), 2).unwrap())
}

fn status(f: &Fixture, id: &str) -> SpeakerStatus {
    f.svc
        .describe_speaker(SpeakerRequest {
            domain_id: f.domain.clone(),
            speaker_id: id.into(),
        })
        .unwrap()
        .speaker
        .status
}

#[test]
fn engine_threads_embed_concurrent_callers() {
    let b = Arc::new(Biometrics::new(Arc::new(AxisEmbedder), 2).unwrap());
    let handles: Vec<_> = (0..16)
        .map(|i| {
            let b = b.clone();
            std::thread::spawn(move || b.embed(vec![i as f32; 10]).unwrap())
        })
        .collect();
    for (i, h) in handles.into_iter().enumerate() {
        assert_eq!(
            h.join().unwrap(),
            axis(i),
            "caller {i} got another caller's embedding"
        );
    }
    assert!(
        matches!(b.embed(Vec::new()), Err(Error::Validation(_))),
        "empty speech is the caller's error"
    );
}

#[test]
fn enroll_creates_skips_and_overwrites() {
    let f = fixture();
    let first = f
        .svc
        .enroll_speaker(
            &f.domain,
            "caller-1",
            &voiceprint(&axis(0)),
            ExistingEnrollmentAction::Skip,
        )
        .unwrap();
    assert_eq!(first.outcome, EnrollmentOutcome::NewEnrollment);
    assert_eq!(first.customer_speaker_id.as_deref(), Some("caller-1"));
    assert_eq!(status(&f, "caller-1"), SpeakerStatus::Enrolled);

    // SKIP keeps the old voiceprint: the old voice still matches, the new one doesn't.
    let skipped = f
        .svc
        .enroll_speaker(
            &f.domain,
            "caller-1",
            &voiceprint(&axis(5)),
            ExistingEnrollmentAction::Skip,
        )
        .unwrap();
    assert_eq!(skipped.outcome, EnrollmentOutcome::DuplicateSkipped);
    assert_eq!(skipped.generated_speaker_id, first.generated_speaker_id);
    let auth = f
        .svc
        .authenticate_speaker(&f.domain, "caller-1", &axis(0), SpeechConditions::NOMINAL, 90)
        .unwrap();
    assert_eq!(auth.decision, AuthenticationDecision::Accept);

    // OVERWRITE replaces it; the generated id is kept and works as the speaker id.
    let over = f
        .svc
        .enroll_speaker(
            &f.domain,
            &first.generated_speaker_id,
            &voiceprint(&axis(5)),
            ExistingEnrollmentAction::Overwrite,
        )
        .unwrap();
    assert_eq!(over.outcome, EnrollmentOutcome::EnrollmentOverwrite);
    assert_eq!(over.generated_speaker_id, first.generated_speaker_id);
    assert_eq!(
        f.svc
            .authenticate_speaker(&f.domain, "caller-1", &axis(0), SpeechConditions::NOMINAL, 90)
            .unwrap()
            .decision,
        AuthenticationDecision::Reject
    );
    assert_eq!(
        f.svc
            .authenticate_speaker(&f.domain, "caller-1", &axis(5), SpeechConditions::NOMINAL, 90)
            .unwrap()
            .decision,
        AuthenticationDecision::Accept
    );

    // The voiceprint is stored encrypted and parses back as the model's.
    let rec = f
        .svc
        .store()
        .get(Kind::Speaker, &f.domain, &first.generated_speaker_id)
        .unwrap()
        .unwrap();
    assert_eq!(
        Voiceprint::from_bytes(rec.voiceprint.as_deref().unwrap()).unwrap(),
        voiceprint(&axis(5))
    );

    // An unknown generated id cannot be created by enrollment.
    let err = f
        .svc
        .enroll_speaker(
            &f.domain,
            "id#AAAAAAAAAAAAAAAAAAAAAA",
            &voiceprint(&axis(1)),
            ExistingEnrollmentAction::Skip,
        )
        .unwrap_err();
    assert!(matches!(err, Error::ResourceNotFound { .. }), "{err:?}");
}

#[test]
fn opted_out_speakers_are_neither_enrolled_nor_authenticated() {
    let f = fixture();
    f.svc
        .opt_out_speaker(SpeakerRequest {
            domain_id: f.domain.clone(),
            speaker_id: "quiet".into(),
        })
        .unwrap();
    let err = f
        .svc
        .enroll_speaker(
            &f.domain,
            "quiet",
            &voiceprint(&axis(0)),
            ExistingEnrollmentAction::Overwrite,
        )
        .unwrap_err();
    assert!(matches!(err, Error::Conflict { .. }), "{err:?}");
    let auth = f
        .svc
        .authenticate_speaker(&f.domain, "quiet", &axis(0), SpeechConditions::NOMINAL, 90)
        .unwrap();
    assert_eq!(auth.decision, AuthenticationDecision::SpeakerOptedOut);
    assert_eq!(auth.score, None);
}

#[test]
fn authentication_decisions_follow_threshold_and_status() {
    let f = fixture();
    let unknown = f
        .svc
        .authenticate_speaker(&f.domain, "nobody", &axis(0), SpeechConditions::NOMINAL, 90)
        .unwrap();
    assert_eq!(unknown.decision, AuthenticationDecision::SpeakerNotEnrolled);
    assert_eq!(unknown.score, None);

    f.svc
        .enroll_speaker(
            &f.domain,
            "alice",
            &voiceprint(&axis(0)),
            ExistingEnrollmentAction::Skip,
        )
        .unwrap();
    // CAM++ calibration: cosine 0.7674 ↦ 50, 0.8501 ↦ 90.
    let mid = f
        .svc
        .authenticate_speaker(&f.domain, "alice", &at_cosine(0.80, 3), SpeechConditions::NOMINAL, 90)
        .unwrap();
    assert_eq!(mid.decision, AuthenticationDecision::Reject);
    let score = mid.score.unwrap();
    assert!((50..90).contains(&score), "score {score}");
    let lenient = f
        .svc
        .authenticate_speaker(&f.domain, "alice", &at_cosine(0.80, 3), SpeechConditions::NOMINAL, score)
        .unwrap();
    assert_eq!(
        lenient.decision,
        AuthenticationDecision::Accept,
        "score >= threshold accepts"
    );
    let strict = f
        .svc
        .authenticate_speaker(&f.domain, "alice", &at_cosine(0.80, 3), SpeechConditions::NOMINAL, score + 1)
        .unwrap();
    assert_eq!(strict.decision, AuthenticationDecision::Reject);

    // An accepted authentication refreshes LastAccessedAt, so the speaker does not
    // expire three years after enrollment.
    let enrolled_at = voiceprint_voiceid::Clock::now(&*f.clock);
    f.clock.advance(3.0 * 365.0 * 86_400.0 - 86_400.0);
    assert_eq!(
        f.svc
            .authenticate_speaker(&f.domain, "alice", &axis(0), SpeechConditions::NOMINAL, 90)
            .unwrap()
            .decision,
        AuthenticationDecision::Accept
    );
    let speaker = f
        .svc
        .describe_speaker(SpeakerRequest {
            domain_id: f.domain.clone(),
            speaker_id: "alice".into(),
        })
        .unwrap()
        .speaker;
    assert!(speaker.last_accessed_at.unwrap() > enrolled_at);
    f.clock.advance(2.0 * 86_400.0);
    assert_eq!(status(&f, "alice"), SpeakerStatus::Enrolled);
    // Without further access it expires, and authentication says so.
    f.clock.advance(3.0 * 365.0 * 86_400.0);
    assert_eq!(
        f.svc
            .authenticate_speaker(&f.domain, "alice", &axis(0), SpeechConditions::NOMINAL, 90)
            .unwrap()
            .decision,
        AuthenticationDecision::SpeakerExpired
    );
}

#[test]
fn fraudster_registration_skips_duplicates_and_risk_finds_the_closest() {
    let f = fixture();
    assert_eq!(
        f.svc
            .known_fraudster_risk(&f.domain, None, &axis(0), SpeechConditions::NOMINAL)
            .unwrap(),
        None,
        "empty watchlist"
    );
    let first = f
        .svc
        .register_fraudster(
            &f.domain,
            None,
            &voiceprint(&axis(0)),
            DuplicateRegistrationAction::Skip,
            90,
        )
        .unwrap();
    assert_eq!(first.status, RegistrationStatus::NewRegistration);
    assert_eq!(first.similarity_score, None);
    let dup = f
        .svc
        .register_fraudster(
            &f.domain,
            None,
            &voiceprint(&axis(0)),
            DuplicateRegistrationAction::Skip,
            90,
        )
        .unwrap();
    assert_eq!(dup.status, RegistrationStatus::DuplicateSkipped);
    assert_eq!(dup.generated_fraudster_id, first.generated_fraudster_id);
    assert!(
        dup.similarity_score >= Some(99),
        "{:?}",
        dup.similarity_score
    );
    let again = f
        .svc
        .register_fraudster(
            &f.domain,
            None,
            &voiceprint(&axis(0)),
            DuplicateRegistrationAction::RegisterAsNew,
            90,
        )
        .unwrap();
    assert_eq!(again.status, RegistrationStatus::NewRegistration);
    assert_ne!(again.generated_fraudster_id, first.generated_fraudster_id);
    let other = f
        .svc
        .register_fraudster(
            &f.domain,
            None,
            &voiceprint(&axis(7)),
            DuplicateRegistrationAction::Skip,
            90,
        )
        .unwrap();
    assert_eq!(other.status, RegistrationStatus::NewRegistration);

    let risk = f
        .svc
        .known_fraudster_risk(&f.domain, None, &axis(7), SpeechConditions::NOMINAL)
        .unwrap()
        .unwrap();
    assert_eq!(risk.generated_fraudster_id, other.generated_fraudster_id);
    assert!(risk.risk_score >= 99, "{}", risk.risk_score);
    let low = f
        .svc
        .known_fraudster_risk(&f.domain, None, &axis(9), SpeechConditions::NOMINAL)
        .unwrap()
        .unwrap();
    assert!(
        low.risk_score < 50,
        "an unrelated voice is low risk: {}",
        low.risk_score
    );

    // Another watchlist does not see the default watchlist's fraudsters.
    let wl = f
        .svc
        .create_watchlist(CreateWatchlistRequest {
            client_token: None,
            description: None,
            domain_id: f.domain.clone(),
            name: "vip-fraud".into(),
        })
        .unwrap()
        .watchlist
        .watchlist_id;
    assert_eq!(
        f.svc
            .known_fraudster_risk(&f.domain, Some(&wl), &axis(7), SpeechConditions::NOMINAL)
            .unwrap(),
        None
    );
    let err = f
        .svc
        .known_fraudster_risk(&f.domain, Some("AAAAAAAAAAAAAAAAAAAAAA"), &axis(7), SpeechConditions::NOMINAL)
        .unwrap_err();
    assert!(matches!(err, Error::ResourceNotFound { .. }), "{err:?}");
}

#[test]
fn without_a_model_biometric_calls_say_so() {
    let dir = tempfile::tempdir().unwrap();
    let keyring = Keyring::open_or_create(dir.path()).unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path(), keyring).unwrap());
    let svc = VoiceIdService::new(store, ServiceConfig::default(), b"k");
    match svc.biometrics() {
        Err(Error::Internal(m)) => assert!(m.contains("not loaded"), "{m}"),
        other => panic!("expected an internal error, got {other:?}"),
    }
    let err = Biometrics::load(Path::new("/nonexistent-models"), "campplus", 1).unwrap_err();
    assert!(err.to_string().contains("not found"), "{err}");
}

// ---------- the real model on generated speech ----------

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// WAV bytes of espeak-ng reading `text` with `voice`, or None when espeak-ng is missing.
/// `voice` may carry extra espeak-ng arguments, e.g. `"en-us+f4 -p 80"`.
fn espeak(voice: &str, text: &str) -> Option<Vec<u8>> {
    let mut args: Vec<&str> = vec!["-v"];
    args.extend(voice.split_whitespace());
    args.extend(["--stdout", text]);
    let out = std::process::Command::new("espeak-ng")
        .args(&args)
        .output()
        .ok()?;
    out.status.success().then_some(out.stdout)
}

const TEXTS: [&str; 3] = [
    "Thank you for calling. I would like to check the balance of my savings account and ask about a recent transfer that I made last Tuesday evening from my phone.",
    "My card was declined at the grocery store this morning, and I want to know whether there is a problem with the account or whether someone else has been using it.",
    "Could you please update my mailing address? I moved to a new apartment across town last month and I have not been receiving any of my statements since then.",
];

#[test]
fn real_model_accepts_the_enrolled_voice_and_rejects_another() {
    let models = repo_root().join("models");
    let biometrics = match Biometrics::load(&models, "campplus", 2) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("SKIP real_model test: {e} (run scripts/fetch-models.sh)");
            return;
        }
    };
    let Some(_) = espeak("en-us", "test") else {
        eprintln!("SKIP real_model test: espeak-ng is not installed");
        return;
    };
    let f = fixture_with(biometrics);
    let bio = f.svc.biometrics().unwrap().clone();
    let options = voiceprint_audio::DecodeOptions::default();
    let embed = |voice: &str, text: &str| {
        bio.embed_recording(&espeak(voice, text).unwrap(), &options)
            .unwrap()
    };

    let enrollment: Vec<_> = TEXTS[..2].iter().map(|t| embed("en-us+m3", t)).collect();
    assert!(
        enrollment.iter().all(|e| e.net_speech_seconds > 3.0),
        "{enrollment:?}"
    );
    let vp = bio.voiceprint(&enrollment).unwrap();
    f.svc
        .enroll_speaker(&f.domain, "alice", &vp, ExistingEnrollmentAction::Skip)
        .unwrap();

    let same = embed("en-us+m3", TEXTS[2]);
    // espeak-ng voices differing in pitch are distinct speakers to CAM++ (cross
    // scores near 0); accents alone are not (en-gb+f2 vs en-us+m3 scores 83-92).
    let other = embed("en-us+f4 -p 80", TEXTS[2]);
    let genuine = f
        .svc
        .authenticate_speaker(&f.domain, "alice", &same.embedding, SpeechConditions::NOMINAL, 90)
        .unwrap();
    let impostor = f
        .svc
        .authenticate_speaker(&f.domain, "alice", &other.embedding, SpeechConditions::NOMINAL, 90)
        .unwrap();
    eprintln!(
        "genuine score {:?}, impostor score {:?}",
        genuine.score, impostor.score
    );
    assert_eq!(genuine.decision, AuthenticationDecision::Accept);
    assert_eq!(impostor.decision, AuthenticationDecision::Reject);

    // Registered as a fraudster, the other voice is found by its own speech.
    let fraud = bio
        .voiceprint(&[embed("en-us+f4 -p 80", TEXTS[0])])
        .unwrap();
    let reg = f
        .svc
        .register_fraudster(
            &f.domain,
            None,
            &fraud,
            DuplicateRegistrationAction::Skip,
            90,
        )
        .unwrap();
    let risk = f
        .svc
        .known_fraudster_risk(&f.domain, None, &other.embedding, SpeechConditions::NOMINAL)
        .unwrap()
        .unwrap();
    assert_eq!(risk.generated_fraudster_id, reg.generated_fraudster_id);
    assert!(risk.risk_score >= 50, "fraudster risk {}", risk.risk_score);
    let genuine_risk = f
        .svc
        .known_fraudster_risk(&f.domain, None, &same.embedding, SpeechConditions::NOMINAL)
        .unwrap()
        .unwrap();
    assert!(
        genuine_risk.risk_score < 50,
        "genuine caller's fraud risk {}",
        genuine_risk.risk_score
    );

    // Corrupt audio is the caller's error, with a reason.
    let err = bio
        .embed_recording(b"RIFF\x10\x00\x00\x00WAVEfmt garbage", &options)
        .unwrap_err();
    assert!(matches!(err, Error::Validation(_)), "{err:?}");
}
