//! A domain's enrolled speakers as the S-norm cohort of its authentications
//! (`service::cohort`), over the real SQLite store.
//!
//! The vectors are chosen by hand in the fused layout (a stand-in embedder only gives
//! the service the fused model id: these tests are about which voiceprints form the
//! cohort and when, not the neural model; `voiceprint eval --domain-cohort` and the
//! engine's fusion regression measure the accuracy on real speech).

mod common;

use std::sync::Arc;

use voiceprint_engine::fusion::{FUSED_DIM, FUSED_MODEL_ID};
use voiceprint_engine::scorer::{Scorer, TrialScore};
use voiceprint_engine::scoring::{EnrollmentSample, Voiceprint};
use voiceprint_engine::{Embedder, EngineError};
use voiceprint_voiceid::biometrics::ScoringOptions;
use voiceprint_voiceid::types::*;
use voiceprint_voiceid::{Biometrics, ExistingEnrollmentAction, SpeechConditions, VoiceIdService};

/// Gives the service the fused model's id and dimension; never asked to embed here.
struct FusedIdOnly;

impl Embedder for FusedIdOnly {
    fn model_id(&self) -> &'static str {
        FUSED_MODEL_ID
    }
    fn dim(&self) -> usize {
        FUSED_DIM
    }
    fn embed(&self, _: &[f32]) -> Result<Vec<f32>, EngineError> {
        Err(EngineError::Inference("not used by these tests".into()))
    }
}

const PARTS: [usize; 2] = [192, 256];

/// A wideband fused vector: each part block (and its band-limited copy) a unit vector
/// scaled by 1/√5, then the channel angle (wideband: cos 0, sin 0).
fn fused(blocks: [&[f32]; 2]) -> Vec<f32> {
    let scale = 1.0 / 5f32.sqrt();
    let unit = |v: &[f32]| {
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter().map(|x| x / n * scale).collect::<Vec<f32>>()
    };
    let half: Vec<f32> = blocks.iter().flat_map(|b| unit(b)).collect();
    let mut out = half.clone();
    out.extend(&half);
    out.extend([scale, 0.0]);
    assert_eq!(out.len(), FUSED_DIM);
    out
}

/// A value in [-0.5, 0.5) hashed from its coordinates (splitmix64's finaliser): voices
/// of different speakers come out nearly orthogonal.
fn hashed(speaker: usize, i: usize, dim: usize) -> f32 {
    let mut x = ((speaker as u64) << 32) ^ ((i as u64) << 12) ^ dim as u64;
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^= x >> 31;
    (x >> 40) as f32 / (1u64 << 24) as f32 - 0.5
}

/// Speaker `k`'s voice: a pseudo-random direction of their own plus some of a direction
/// every voice shares, more for some speakers than others (real embeddings of different
/// speakers are far from orthogonal, and some speakers sound more alike than others).
fn voice(k: usize) -> [Vec<f32>; 2] {
    let shared = 0.2 + 0.12 * (k % 10) as f32;
    PARTS.map(|dim| (0..dim).map(|i| shared * hashed(usize::MAX, i, dim) + hashed(k, i, dim)).collect())
}

/// A pseudo-random direction that belongs to no speaker.
fn noise(n: usize) -> [Vec<f32>; 2] {
    PARTS.map(|dim| (0..dim).map(|i| hashed(n, i, dim)).collect())
}

/// A call mixing the voices of `speakers` with their weights, plus a direction of its
/// own (`noise`), so that cosines to voiceprints land mid-scale.
fn call(speakers: &[(usize, f32)], own: usize) -> Vec<f32> {
    let [mut a, mut b] = noise(own);
    for &(k, w) in speakers {
        let [va, vb] = voice(k);
        a.iter_mut().zip(&va).for_each(|(x, y)| *x += w * y);
        b.iter_mut().zip(&vb).for_each(|(x, y)| *x += w * y);
    }
    fused([&a, &b])
}

/// A genuine call of speaker `k`, weakly matching (the plain fusion scores it low).
fn call_of(k: usize) -> Vec<f32> {
    call(&[(k, 0.6)], 10_000 + k)
}

fn voiceprint_of(k: usize) -> Voiceprint {
    let [a, b] = voice(k);
    let embedding = fused([&a, &b]);
    Voiceprint::enroll(
        FUSED_MODEL_ID,
        &[EnrollmentSample {
            embedding: &embedding,
            net_speech_seconds: 30.0,
        }],
    )
    .unwrap()
}

struct Fixture {
    _dir: tempfile::TempDir,
    svc: VoiceIdService,
    biometrics: Arc<Biometrics>,
    domain: String,
}

fn fixture(domain_cohort: bool) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let options = ScoringOptions {
        domain_cohort,
        ..ScoringOptions::default()
    };
    let biometrics = Arc::new(Biometrics::with_scoring(Arc::new(FusedIdOnly), &options, 1).unwrap());
    let svc = common::sqlite_service(dir.path()).with_biometrics(biometrics.clone());
    let domain = common::create_domain(&svc);
    Fixture {
        _dir: dir,
        svc,
        biometrics,
        domain,
    }
}

impl Fixture {
    /// Enrolls speakers `ks`; returns their generated ids.
    fn enroll(&self, ks: std::ops::Range<usize>) -> Vec<String> {
        ks.map(|k| {
            self.svc
                .enroll_speaker(
                    &self.domain,
                    &format!("customer-{k}"),
                    &voiceprint_of(k),
                    ExistingEnrollmentAction::Skip,
                )
                .unwrap()
                .generated_speaker_id
        })
        .collect()
    }

    /// Speakers the domain needs for a cohort: the domain fusion's cohort size, plus the
    /// claimed speaker.
    fn minimum(&self) -> usize {
        self.biometrics.domain_cohort_size().expect("cohort on") + 1
    }

    fn cohort_size(&self) -> usize {
        self.svc
            .domain_cohort(&self.domain)
            .unwrap()
            .map_or(0, |c| c.len())
    }

    /// The service's score for speaker `k` claimed by `call`.
    fn score(&self, k: usize, call: &[f32]) -> u8 {
        self.svc
            .authenticate_speaker(&self.domain, &format!("customer-{k}"), call, SpeechConditions::NOMINAL, 90)
            .unwrap()
            .score
            .expect("an enrolled speaker gets a score")
    }

    /// The plain fusion's score (no cohort).
    fn plain_score(&self, k: usize, call: &[f32]) -> u8 {
        self.biometrics.score(&voiceprint_of(k), call, SpeechConditions::NOMINAL).unwrap()
    }

    /// The domain fusion's score of speaker `k` (generated id `id`) against `call` with
    /// the domain's current cohort, straight from the engine.
    fn domain_score(&self, k: usize, id: &str, call: &[f32]) -> TrialScore {
        let cohort = self.svc.domain_cohort(&self.domain).unwrap().expect("cohort on");
        let trial = cohort.for_speaker(id).expect("enough speakers");
        Scorer::for_domain_cohort(None)
            .unwrap()
            .score_with(&voiceprint_of(k), call, SpeechConditions::NOMINAL, Some(trial))
            .unwrap()
    }
}

#[test]
fn a_domain_becomes_its_own_cohort_once_it_has_enough_speakers_and_forgets_a_deleted_voiceprint_at_once() {
    let f = fixture(true);
    let minimum = f.minimum();
    let mut ids = f.enroll(0..minimum - 1);
    // Too few speakers: no cohort, the plain fusion decides.
    assert_eq!(f.cohort_size(), 0);
    assert_eq!(f.score(0, &call_of(0)), f.plain_score(0, &call_of(0)));

    // One more enrollment drops the cached (empty) cohort: no wait for its TTL.
    ids.extend(f.enroll(minimum - 1..minimum));
    assert_eq!(f.cohort_size(), minimum);
    // Now the domain fusion decides, against this cohort less the claimed speaker.
    let plain = f.plain_score(0, &call_of(0));
    let expected = f.domain_score(0, &ids[0], &call_of(0)).score.floor() as u8;
    assert_ne!(expected, plain, "the test call must tell the two fusions apart");
    assert_eq!(f.score(0, &call_of(0)), expected);

    // The claimed speaker is left out of their own trial: their row holds their own
    // voiceprint, and it is the only row left out.
    let cohort = f.svc.domain_cohort(&f.domain).unwrap().unwrap();
    let trial = cohort.for_speaker(&ids[0]).expect("a cohort");
    assert_eq!(trial.exclude.len(), 1);
    let own = trial.cohort.rows().nth(trial.exclude[0]).unwrap();
    let cosine: f32 = own.iter().zip(voiceprint_of(0).values()).map(|(a, b)| a * b).sum();
    assert!(cosine > 0.999, "the excluded row is the claimed speaker's voiceprint ({cosine})");
    assert!(cohort.for_speaker("not-enrolled").unwrap().exclude.is_empty());

    // Deleting a speaker drops the cohort at once (the voiceprint must not linger in
    // memory), and the domain is back below the minimum.
    f.svc
        .delete_speaker(SpeakerRequest {
            domain_id: f.domain.clone(),
            speaker_id: ids[minimum - 1].clone(),
        })
        .unwrap();
    assert_eq!(f.cohort_size(), 0);
    assert_eq!(f.score(0, &call_of(0)), f.plain_score(0, &call_of(0)));

    // A bigger domain keeps the cohort at its fixed size (the calibration's).
    f.enroll(minimum..minimum + 5);
    assert_eq!(f.cohort_size(), minimum);
}

#[test]
fn enrolling_an_impostor_lowers_their_score_against_other_speakers() {
    // Speaker 1 sounds somewhat like speaker 0 and calls claiming to be them.
    let impostor_call = call(&[(1, 1.0), (0, 0.5)], 20_000);
    // Two domains of exactly the cohort's size plus the claimed speaker (so every
    // voiceprint is in the cohort): in one speaker 2 is enrolled, in the other the
    // impostor takes their place.
    let unenrolled = fixture(true);
    let minimum = unenrolled.minimum();
    let claimed = unenrolled.enroll(0..1).remove(0);
    unenrolled.enroll(2..minimum + 1);
    let stranger = unenrolled.domain_score(0, &claimed, &impostor_call).raw;
    let enrolled_domain = fixture(true);
    let claimed_there = enrolled_domain.enroll(0..2).remove(0);
    enrolled_domain.enroll(3..minimum + 1);
    assert_eq!(enrolled_domain.cohort_size(), minimum);
    // The impostor's own voiceprint is in the cohort and matches their call better than
    // the claimed one does: S-norm pushes the score down.
    let enrolled = enrolled_domain.domain_score(0, &claimed_there, &impostor_call).raw;
    assert!(
        enrolled < stranger - 0.5,
        "enrolled impostor {enrolled}, unenrolled {stranger}"
    );
    // A genuine call outscores the impostor.
    let genuine = unenrolled.domain_score(0, &claimed, &call(&[(0, 1.0)], 30_000)).raw;
    assert!(genuine > stranger, "genuine {genuine}, impostor {stranger}");
}

#[test]
fn the_domain_cohort_can_be_switched_off() {
    let f = fixture(false);
    f.enroll(0..45);
    assert!(f.biometrics.domain_cohort_size().is_none());
    assert!(f.svc.domain_cohort(&f.domain).unwrap().is_none());
    assert_eq!(f.score(0, &call_of(0)), f.plain_score(0, &call_of(0)));
}

#[test]
fn the_calls_net_speech_reaches_the_fused_score_with_and_without_the_domain_cohort() {
    // The service hands the call's net speech to the fused scorer: a 1.5 s call is read
    // on its own scale (the same embedding is more evidence than on a 5 s call, whose
    // scores sit higher for everyone, docs/CALIBRATION.md); from 5 s on length is moot.
    let at = SpeechConditions::with_net_speech;
    for domain_cohort in [false, true] {
        let f = fixture(domain_cohort);
        let ids = f.enroll(0..voiceprint_engine::fusion::DOMAIN_COHORT_SIZE + 1);
        assert_eq!(f.cohort_size() > 0, domain_cohort);
        let score = |call: &[f32], conditions| {
            f.svc
                .authenticate_speaker(&f.domain, &ids[0], call, conditions, 90)
                .unwrap()
                .score
                .expect("enrolled")
        };
        // A genuine call that scores mid-scale at 5 s (not pinned at 0 or 100, where a
        // change could not show).
        let calls: Vec<(Vec<f32>, u8)> = (1..100)
            .map(|i| call(&[(0, 0.01 * i as f32)], 30_000))
            .map(|c| {
                let s = score(&c, at(5.0));
                (c, s)
            })
            .collect();
        let Some((genuine, nominal)) = calls.iter().find(|(_, s)| (20..=90).contains(s)).cloned() else {
            panic!("no strength of the voice scores mid-scale: {:?}", calls.iter().map(|c| c.1).collect::<Vec<_>>());
        };
        let short = score(&genuine, at(1.5));
        assert!(short > nominal, "domain_cohort={domain_cohort}: 1.5 s {short} vs 5 s {nominal}");
        assert_eq!(score(&genuine, at(20.0)), nominal, "domain_cohort={domain_cohort}");
        assert_eq!(score(&genuine, SpeechConditions::NOMINAL), nominal);
    }
}
