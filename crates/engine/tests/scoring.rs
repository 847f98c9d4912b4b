//! Public API of scoring: cosine, enrollment, voiceprint bytes, cohorts and S-norm.

use voiceprint_engine::cohort::Cohort;
use voiceprint_engine::scoring::{adaptive_s_norm, cosine, EnrollmentSample, SNormConfig, Voiceprint};
use voiceprint_engine::EngineError;

/// Deterministic pseudo-random vector (xorshift) so tests need no rand crate.
fn vector(seed: u64, dim: usize) -> Vec<f32> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..dim)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        })
        .collect()
}

#[test]
fn cosine_basics() {
    let a = [1.0, 0.0, 0.0];
    assert_eq!(cosine(&a, &[2.0, 0.0, 0.0]).unwrap(), 1.0);
    assert_eq!(cosine(&a, &[0.0, 3.0, 0.0]).unwrap(), 0.0);
    assert_eq!(cosine(&a, &[-1.0, 0.0, 0.0]).unwrap(), -1.0);
    let c = cosine(&[1.0, 1.0], &[1.0, 0.0]).unwrap();
    assert!((c - std::f32::consts::FRAC_1_SQRT_2).abs() < 1e-6);
    assert!(matches!(cosine(&a, &[1.0]), Err(EngineError::DimensionMismatch { expected: 3, got: 1 })));
}

#[test]
fn enrollment_is_speech_weighted_mean_of_normalised_embeddings() {
    // Different norms must not matter, only speech seconds: e1 has norm 10.
    let e1 = [10.0, 0.0];
    let e2 = [0.0, 1.0];
    let vp = Voiceprint::enroll(
        "m",
        &[
            EnrollmentSample { embedding: &e1, net_speech_seconds: 3.0 },
            EnrollmentSample { embedding: &e2, net_speech_seconds: 1.0 },
        ],
    )
    .unwrap();
    // weighted mean (0.75, 0.25) re-normalised
    let n = (0.75f32 * 0.75 + 0.25 * 0.25).sqrt();
    assert!((vp.values()[0] - 0.75 / n).abs() < 1e-6);
    assert!((vp.values()[1] - 0.25 / n).abs() < 1e-6);
    assert_eq!(vp.net_speech_seconds(), 4.0);
    assert_eq!(vp.dim(), 2);
    // equal weights when no speech was measured
    let vp0 = Voiceprint::enroll(
        "m",
        &[
            EnrollmentSample { embedding: &e1, net_speech_seconds: 0.0 },
            EnrollmentSample { embedding: &e2, net_speech_seconds: 0.0 },
        ],
    )
    .unwrap();
    assert!((vp0.values()[0] - vp0.values()[1]).abs() < 1e-6);
}

#[test]
fn extend_equals_enrolling_everything_at_once() {
    let (a, b, c) = (vector(1, 16), vector(2, 16), vector(3, 16));
    let s = |e: &'static [f32], w| EnrollmentSample { embedding: e, net_speech_seconds: w };
    let (a, b, c): (&'static [f32], &'static [f32], &'static [f32]) =
        (a.leak(), b.leak(), c.leak());
    let ab = Voiceprint::enroll("m", &[s(a, 2.0), s(b, 5.0)]).unwrap();
    let abc = ab.extend(&[s(c, 3.0)]).unwrap();
    // Not identical (the mean is re-normalised before extending) but very close in
    // direction, and the speech adds up.
    let all = Voiceprint::enroll("m", &[s(a, 2.0), s(b, 5.0), s(c, 3.0)]).unwrap();
    assert_eq!(abc.net_speech_seconds(), 10.0);
    assert!(cosine(abc.values(), all.values()).unwrap() > 0.98);
}

#[test]
fn enrollment_rejects_bad_input() {
    assert!(Voiceprint::enroll("m", &[]).is_err());
    let z = [0.0f32; 4];
    assert!(Voiceprint::enroll("m", &[EnrollmentSample { embedding: &z, net_speech_seconds: 1.0 }]).is_err());
    let nan = [f32::NAN, 1.0];
    assert!(Voiceprint::enroll("m", &[EnrollmentSample { embedding: &nan, net_speech_seconds: 1.0 }]).is_err());
    let (a, b) = ([1.0f32, 0.0], [1.0f32, 0.0, 0.0]);
    assert!(matches!(
        Voiceprint::enroll(
            "m",
            &[
                EnrollmentSample { embedding: &a, net_speech_seconds: 1.0 },
                EnrollmentSample { embedding: &b, net_speech_seconds: 1.0 }
            ]
        ),
        Err(EngineError::DimensionMismatch { .. })
    ));
    let neg = [1.0f32, 0.0];
    assert!(Voiceprint::enroll("m", &[EnrollmentSample { embedding: &neg, net_speech_seconds: -1.0 }]).is_err());
}

#[test]
fn score_checks_model() {
    let e = vector(7, 8);
    let vp = Voiceprint::enroll("campplus", &[EnrollmentSample { embedding: &e, net_speech_seconds: 5.0 }]).unwrap();
    assert!((vp.score("campplus", &e).unwrap() - 1.0).abs() < 1e-6);
    assert!(matches!(vp.score("ge2e", &e), Err(EngineError::ModelMismatch { .. })));
}

#[test]
fn voiceprint_bytes_round_trip() {
    let e = vector(42, 192);
    let vp = Voiceprint::enroll("campplus", &[EnrollmentSample { embedding: &e, net_speech_seconds: 31.5 }]).unwrap();
    let bytes = vp.to_bytes();
    assert_eq!(bytes.len(), 4 + 2 + 1 + 8 + 4 + 8 + 192 * 4);
    let back = Voiceprint::from_bytes(&bytes).unwrap();
    assert_eq!(back, vp);
    // Debug output never shows the vector.
    let dbg = format!("{vp:?}");
    assert!(dbg.contains("dim: 192") && !dbg.contains(&format!("{}", vp.values()[0])));
}

#[test]
fn voiceprint_bad_bytes_are_errors() {
    let e = vector(5, 32);
    let good = Voiceprint::enroll("ge2e", &[EnrollmentSample { embedding: &e, net_speech_seconds: 1.0 }])
        .unwrap()
        .to_bytes();
    // Every truncation fails.
    for n in 0..good.len() {
        assert!(Voiceprint::from_bytes(&good[..n]).is_err(), "truncated at {n}");
    }
    let mut trailing = good.clone();
    trailing.push(0);
    assert!(Voiceprint::from_bytes(&trailing).is_err());
    let mut magic = good.clone();
    magic[0] = b'X';
    assert!(Voiceprint::from_bytes(&magic).is_err());
    let mut version = good.clone();
    version[4] = 9;
    assert!(Voiceprint::from_bytes(&version).is_err());
    // A value flipped to NaN, or a vector no longer unit length.
    let mut nan = good.clone();
    let last = nan.len() - 4;
    nan[last..].copy_from_slice(&f32::NAN.to_le_bytes());
    assert!(Voiceprint::from_bytes(&nan).is_err());
    let mut scaled = good.clone();
    scaled[last..].copy_from_slice(&5.0f32.to_le_bytes());
    assert!(matches!(Voiceprint::from_bytes(&scaled), Err(EngineError::InvalidVoiceprint(_))));
    // Huge dimension in the header must not allocate or panic.
    let mut huge = good.clone();
    let dim_at = 4 + 2 + 1 + 4;
    huge[dim_at..dim_at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(Voiceprint::from_bytes(&huge).is_err());
}

#[test]
fn s_norm_centres_impostor_scores() {
    // enroll & test both have cohort scores ~ mean 0.2, std 0.1; raw 0.2 -> ~0, raw 0.5 -> ~3
    let cohort: Vec<f32> = (0..101).map(|i| 0.2 + 0.1 * ((i as f32 - 50.0) / 29.15)).collect();
    let cfg = SNormConfig { top_n: 1000 };
    let z0 = adaptive_s_norm(0.2, &cohort, &cohort, cfg).unwrap();
    let z3 = adaptive_s_norm(0.5, &cohort, &cohort, cfg).unwrap();
    assert!(z0.abs() < 0.05, "{z0}");
    assert!((z3 - 3.0).abs() < 0.1, "{z3}");
    // top-N only looks at the closest impostors: a raw score equal to the mean of the
    // 10 highest cohort scores normalises to 0.
    let mut sorted = cohort.clone();
    sorted.sort_by(|a, b| b.total_cmp(a));
    let top10_mean = sorted[..10].iter().sum::<f32>() / 10.0;
    let top = adaptive_s_norm(top10_mean, &cohort, &cohort, SNormConfig { top_n: 10 }).unwrap();
    assert!(top.abs() < 1e-4, "{top}");
    assert!(adaptive_s_norm(0.5, &[0.1], &cohort, cfg).is_err());
}

#[test]
fn cohort_round_trip_and_s_norm() {
    let members: Vec<Vec<f32>> = (0..50).map(|i| vector(100 + i, 24)).collect();
    let cohort = Cohort::new("ge2e", &members).unwrap();
    assert_eq!((cohort.len(), cohort.dim(), cohort.model()), (50, 24, "ge2e"));
    let back = Cohort::from_bytes(&cohort.to_bytes()).unwrap();
    assert_eq!(back, cohort);

    let dir = std::env::temp_dir().join(format!("vp-cohort-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("c.bin");
    cohort.save(&path).unwrap();
    assert_eq!(Cohort::load(&path).unwrap(), cohort);
    std::fs::remove_dir_all(&dir).ok();

    // A cohort member's own score against itself is 1.
    let scores = cohort.scores(&members[3]).unwrap();
    assert!((scores[3] - 1.0).abs() < 1e-5);
    // Same speaker (identical vectors) scores far above impostors after S-norm.
    let e = vector(9999, 24);
    let z = cohort.s_norm("ge2e", 1.0, &e, &e, SNormConfig::default(), &[]).unwrap();
    assert!(z > 3.0, "{z}");
    assert!(cohort.s_norm("campplus", 1.0, &e, &e, SNormConfig::default(), &[]).is_err());
    assert!(cohort.scores(&[1.0; 3]).is_err());

    // Bad files.
    let good = cohort.to_bytes();
    assert!(Cohort::from_bytes(&good[..good.len() - 1]).is_err());
    assert!(Cohort::from_bytes(b"VPCH").is_err());
    assert!(Cohort::from_bytes(&[]).is_err());
    assert!(Cohort::new("ge2e", &members[..1]).is_err());
}

#[test]
fn s_norm_leaves_the_excluded_members_out_of_both_sides() {
    let members: Vec<Vec<f32>> = (0..30).map(|i| vector(500 + i, 24)).collect();
    let kept: Vec<Vec<f32>> = members
        .iter()
        .enumerate()
        .filter(|(i, _)| ![4, 17].contains(i))
        .map(|(_, m)| m.clone())
        .collect();
    let full = Cohort::new("ge2e", &members).unwrap();
    let less = Cohort::new("ge2e", &kept).unwrap();
    let cfg = SNormConfig { top_n: 5 };
    // The claimed speaker's own voiceprint (member 4) as the enrollment side.
    let (e, t) = (members[4].clone(), vector(42, 24));
    let excluded = full.s_norm("ge2e", 0.6, &e, &t, cfg, &[4, 17]).unwrap();
    let rebuilt = less.s_norm("ge2e", 0.6, &e, &t, cfg, &[]).unwrap();
    assert!((excluded - rebuilt).abs() < 1e-9, "{excluded} vs {rebuilt}");
    // Left in, the voiceprint is its own closest "impostor" and drags the score down.
    let included = full.s_norm("ge2e", 0.6, &e, &t, cfg, &[]).unwrap();
    assert!(included < excluded - 0.1, "{included} vs {excluded}");
}
