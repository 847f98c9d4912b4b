//! Property tests of the 0–100 calibration: for any valid anchors it is monotonic,
//! bounded, hits 50 and 90 at its anchors, and `raw_threshold` inverts it — so a
//! higher similarity can never lower a score and a threshold always means the
//! same raw cut.

use proptest::prelude::*;
use voiceprint_engine::calibration::Calibration;

fn anchors() -> impl Strategy<Value = Calibration> {
    (-5.0f64..5.0, 1e-3f64..5.0)
        .prop_map(|(at_50, gap)| Calibration::new(at_50, at_50 + gap).unwrap())
}

proptest! {
    #[test]
    fn monotonic_and_bounded(cal in anchors(), a in -20.0f64..20.0, b in -20.0f64..20.0) {
        let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
        let (s_lo, s_hi) = (cal.score(lo), cal.score(hi));
        prop_assert!(s_lo <= s_hi, "score({lo}) = {s_lo} > score({hi}) = {s_hi}");
        prop_assert!((0.0..=100.0).contains(&s_lo) && (0.0..=100.0).contains(&s_hi));
    }

    #[test]
    fn anchors_and_inverse(cal in anchors(), threshold in 0.5f64..99.5) {
        prop_assert!((cal.score(cal.raw_at_50) - 50.0).abs() < 1e-9);
        prop_assert!((cal.score(cal.raw_at_90) - 90.0).abs() < 1e-9);
        let raw = cal.raw_threshold(threshold).unwrap();
        prop_assert!((cal.score(raw) - threshold).abs() < 1e-6, "score(raw_threshold({threshold})) = {}", cal.score(raw));
    }

    #[test]
    fn invalid_inputs_never_authenticate(cal in anchors()) {
        prop_assert_eq!(cal.score(f64::NAN), 0.0);
        prop_assert!(cal.raw_threshold(0.0).is_err() && cal.raw_threshold(100.0).is_err());
    }
}

#[test]
fn invalid_anchors_are_refused() {
    assert!(Calibration::new(0.8, 0.8).is_err());
    assert!(Calibration::new(0.9, 0.8).is_err());
    assert!(Calibration::new(f64::NAN, 0.8).is_err());
}
