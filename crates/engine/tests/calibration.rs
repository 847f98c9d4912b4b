//! Calibration: the 0–100 map is monotonic, bounded, and the fit lands the operating
//! points where it promises on synthetic score distributions.

use voiceprint_engine::calibration::{fit, Calibration, ScoreKind};
use voiceprint_engine::metrics::{probit, ScoreSet};

/// Deterministic normal quantiles: a "sample" of N(mean, std) without randomness,
/// shuffled in order so nothing depends on sortedness.
fn normal(n: usize, mean: f64, std: f64) -> Vec<f64> {
    (0..n).map(|i| mean + std * probit(((i * 7919) % n) as f64 / n as f64 + 0.5 / n as f64)).collect()
}

#[test]
fn map_is_monotonic_and_bounded() {
    for model in ["campplus", "ge2e"] {
        for kind in [ScoreKind::Cosine, ScoreKind::SNorm] {
            let c = Calibration::for_model(model, kind).unwrap();
            let mut prev = -1.0;
            for i in -2000..=2000 {
                let raw = i as f64 / 200.0; // -10 .. 10 covers cosine and S-norm ranges
                let s = c.score(raw);
                assert!((0.0..=100.0).contains(&s));
                assert!(s >= prev, "{model} {kind}: not monotonic at {raw}");
                prev = s;
            }
            assert!((c.score(c.raw_at_50) - 50.0).abs() < 1e-9);
            assert!((c.score(c.raw_at_90) - 90.0).abs() < 1e-9);
            assert_eq!(c.score(f64::NAN), 0.0);
            assert_eq!(c.score(f64::INFINITY), 100.0);
            assert_eq!(c.score(f64::NEG_INFINITY), 0.0);
        }
    }
    assert!(Calibration::for_model("unknown", ScoreKind::Cosine).is_none());
}

#[test]
fn strictly_increasing_in_the_useful_range() {
    let c = Calibration::new(0.3, 0.5).unwrap();
    let mut prev = c.score(-1.0);
    for i in -99..=100 {
        let s = c.score(i as f64 / 100.0);
        assert!(s > prev);
        prev = s;
    }
}

#[test]
fn raw_threshold_inverts_score() {
    let c = Calibration::new(0.3, 0.5).unwrap();
    for t in [1.0, 10.0, 50.0, 90.0, 99.0] {
        let raw = c.raw_threshold(t).unwrap();
        assert!((c.score(raw) - t).abs() < 1e-9);
    }
    assert!((c.raw_threshold(90.0).unwrap() - 0.5).abs() < 1e-12);
    assert!(c.raw_threshold(0.0).is_err() && c.raw_threshold(100.0).is_err());
    assert!(Calibration::new(0.5, 0.5).is_err());
    assert!(Calibration::new(0.6, 0.5).is_err());
    assert!(Calibration::new(f64::NAN, 0.5).is_err());
}

#[test]
fn fit_reproduces_target_operating_points() {
    // Two "channels": wideband separates better than a telephone channel whose
    // impostor scores sit higher.
    let wide = ScoreSet::new(normal(2000, 0.70, 0.10), normal(20000, 0.10, 0.10)).unwrap();
    let phone = ScoreSet::new(normal(2000, 0.60, 0.12), normal(20000, 0.20, 0.11)).unwrap();
    let report = fit(&[wide.clone(), phone.clone()]).unwrap();
    let c = report.calibration;
    for set in [&wide, &phone] {
        // At 90, FAR <= 1 % on every list.
        let p90 = set.at_threshold(c.raw_threshold(90.0).unwrap());
        assert!(p90.far <= 0.01, "{p90:?}");
    }
    // The stricter list sets the 90 anchor and lands at ~1 % there: theory for phone
    // N(0.2, 0.11): 1 % FAR at 0.2 + 2.326·0.11 = 0.456.
    assert!((c.raw_at_90 - 0.456).abs() < 0.01, "{c:?}");
    let p = phone.at_threshold(c.raw_at_90);
    assert!((p.far - 0.01).abs() < 0.002, "{p:?}");
    // 50 is the mean EER threshold: wide 0.40, phone ~0.39 (midpoint weighted by stds).
    let eer_thr_phone = 0.2 + 0.11 * 0.4 / 0.23;
    assert!((c.raw_at_50 - (0.40 + eer_thr_phone) / 2.0).abs() < 0.01, "{c:?}");
    for (l, set) in report.lists.iter().zip([&wide, &phone]) {
        assert!((c.score(l.eer_threshold) - 50.0).abs() < 6.0, "{}", c.score(l.eer_threshold));
        assert_eq!(l.eer, set.eer().eer);
    }
}

#[test]
fn fit_keeps_map_increasing_when_eer_is_tiny() {
    // Perfectly separated: 1 %-FAR threshold is below the EER threshold.
    let set = ScoreSet::new(normal(500, 0.9, 0.02), normal(5000, 0.1, 0.1)).unwrap();
    let c = fit(std::slice::from_ref(&set)).unwrap().calibration;
    assert!(c.raw_at_90 > c.raw_at_50);
    assert!(set.at_threshold(c.raw_at_90).far <= 0.01);
    assert!(fit(&[]).is_err());
}
