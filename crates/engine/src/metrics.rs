//! Speaker-verification error metrics: EER, minDCF, FRR at a fixed FAR, FAR/FRR at a
//! threshold, DET curve points.
//!
//! Convention everywhere: a trial is **accepted when `score >= threshold`**. Scores are
//! `f64`; NaN scores are rejected by [`ScoreSet::new`] so every sort below is total.
//!
//! All curves are computed exactly from the sorted scores (one sweep over the distinct
//! score values), not from a histogram, so small trial lists give exact, hand-checkable
//! numbers.

use crate::EngineError;

/// Target and non-target scores of one trial list.
#[derive(Debug, Clone)]
pub struct ScoreSet {
    target: Vec<f64>,
    nontarget: Vec<f64>,
}

/// One operating point of the detection error trade-off.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OperatingPoint {
    /// Accept when `score >= threshold`.
    pub threshold: f64,
    /// False acceptance rate: share of non-target trials accepted.
    pub far: f64,
    /// False rejection rate: share of target trials rejected.
    pub frr: f64,
}

/// Equal error rate and the (interpolated) threshold where FAR = FRR.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Eer {
    pub eer: f64,
    pub threshold: f64,
}

/// Normalised minimum detection cost and the threshold that reaches it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MinDcf {
    pub min_dcf: f64,
    pub threshold: f64,
}

/// Detection-cost parameters (NIST SRE style).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DcfParams {
    pub p_target: f64,
    pub c_miss: f64,
    pub c_fa: f64,
}

impl Default for DcfParams {
    /// p_target 0.01, C_miss = C_fa = 1 (the usual SRE / VoxCeleb setting).
    fn default() -> Self {
        Self { p_target: 0.01, c_miss: 1.0, c_fa: 1.0 }
    }
}

impl ScoreSet {
    /// Builds a score set; both lists must be non-empty and free of NaN.
    pub fn new(mut target: Vec<f64>, mut nontarget: Vec<f64>) -> Result<Self, EngineError> {
        if target.is_empty() || nontarget.is_empty() {
            return Err(EngineError::Metrics(format!(
                "need at least one target and one non-target score (got {} and {})",
                target.len(),
                nontarget.len()
            )));
        }
        if target.iter().chain(nontarget.iter()).any(|s| s.is_nan()) {
            return Err(EngineError::Metrics("scores contain NaN".into()));
        }
        target.sort_by(f64::total_cmp);
        nontarget.sort_by(f64::total_cmp);
        Ok(Self { target, nontarget })
    }

    /// Target scores, sorted ascending.
    pub fn target(&self) -> &[f64] {
        &self.target
    }

    /// Non-target scores, sorted ascending.
    pub fn nontarget(&self) -> &[f64] {
        &self.nontarget
    }

    /// FAR and FRR when accepting `score >= threshold`.
    pub fn at_threshold(&self, threshold: f64) -> OperatingPoint {
        // partition_point on sorted data: number of scores strictly below the threshold.
        let tgt_below = self.target.partition_point(|&s| s < threshold);
        let non_below = self.nontarget.partition_point(|&s| s < threshold);
        OperatingPoint {
            threshold,
            far: (self.nontarget.len() - non_below) as f64 / self.nontarget.len() as f64,
            frr: tgt_below as f64 / self.target.len() as f64,
        }
    }

    /// Every distinct operating point, by increasing threshold: first "accept all"
    /// (threshold = lowest score: FRR 0), last "reject all" (threshold = +inf: FAR 0).
    /// FRR is non-decreasing and FAR non-increasing along the curve.
    pub fn det_curve(&self) -> Vec<OperatingPoint> {
        let (nt, nn) = (self.target.len(), self.nontarget.len());
        let mut points = Vec::with_capacity(nt + nn + 1);
        let (mut i, mut j) = (0usize, 0usize); // scores below the current threshold
        loop {
            let next = match (self.target.get(i), self.nontarget.get(j)) {
                (Some(&a), Some(&b)) => a.min(b),
                (Some(&a), None) => a,
                (None, Some(&b)) => b,
                (None, None) => f64::INFINITY,
            };
            points.push(OperatingPoint {
                threshold: next,
                far: (nn - j) as f64 / nn as f64,
                frr: i as f64 / nt as f64,
            });
            if next == f64::INFINITY {
                break;
            }
            // Move every score equal to `next` below the threshold (ties move together).
            while i < nt && self.target[i] <= next {
                i += 1;
            }
            while j < nn && self.nontarget[j] <= next {
                j += 1;
            }
        }
        points
    }

    /// Equal error rate, linearly interpolated between the two operating points where
    /// FRR - FAR changes sign (exact when the crossing falls on a point).
    pub fn eer(&self) -> Eer {
        let curve = self.det_curve();
        // The first point has FRR = 0 <= FAR, the last FRR >= FAR = 0, so a crossing exists.
        let k = curve
            .iter()
            .position(|p| p.frr >= p.far)
            .expect("last DET point has FAR 0");
        let hi = curve[k];
        if k == 0 {
            // Only possible when FAR is 0 at the lowest threshold, i.e. never.
            return Eer { eer: hi.far.max(hi.frr), threshold: hi.threshold };
        }
        let lo = curve[k - 1];
        let d_lo = lo.far - lo.frr; // > 0
        let d_hi = hi.far - hi.frr; // <= 0
        let alpha = d_lo / (d_lo - d_hi);
        let eer = lo.far + alpha * (hi.far - lo.far);
        let threshold = if hi.threshold.is_finite() {
            lo.threshold + alpha * (hi.threshold - lo.threshold)
        } else {
            // Crossing only by rejecting everything: place the threshold just above
            // the highest score.
            next_up(self.max_score())
        };
        Eer { eer, threshold }
    }

    /// Normalised minimum detection cost: min over thresholds of
    /// `(C_miss·P_miss·P_t + C_fa·P_fa·(1-P_t)) / min(C_miss·P_t, C_fa·(1-P_t))`.
    pub fn min_dcf(&self, params: DcfParams) -> MinDcf {
        let norm = (params.c_miss * params.p_target).min(params.c_fa * (1.0 - params.p_target));
        let mut best = MinDcf { min_dcf: f64::INFINITY, threshold: f64::INFINITY };
        for p in self.det_curve() {
            let dcf = (params.c_miss * p.frr * params.p_target
                + params.c_fa * p.far * (1.0 - params.p_target))
                / norm;
            if dcf < best.min_dcf {
                best = MinDcf { min_dcf: dcf, threshold: p.threshold };
            }
        }
        if !best.threshold.is_finite() {
            best.threshold = next_up(self.max_score());
        }
        best
    }

    /// The lowest threshold whose FAR is at most `max_far`, with its FRR. The threshold
    /// is placed halfway between the last non-target score it must reject and the next
    /// higher score, so it generalises a little instead of sitting on a data point.
    pub fn at_far(&self, max_far: f64) -> OperatingPoint {
        let curve = self.det_curve();
        let k = curve
            .iter()
            .position(|p| p.far <= max_far)
            .expect("last DET point has FAR 0");
        let p = curve[k];
        if k == 0 {
            return p;
        }
        let prev = curve[k - 1].threshold;
        let threshold = if p.threshold.is_finite() {
            0.5 * (prev + p.threshold)
        } else {
            next_up(self.max_score())
        };
        OperatingPoint { threshold, far: p.far, frr: p.frr }
    }

    fn max_score(&self) -> f64 {
        let t = *self.target.last().expect("non-empty");
        let n = *self.nontarget.last().expect("non-empty");
        t.max(n)
    }
}

/// Smallest representable step above `x` that is still meaningful for thresholds.
fn next_up(x: f64) -> f64 {
    x + (x.abs() * 1e-9).max(1e-12)
}

/// Inverse of the standard normal CDF (probit), for DET axes. `p` is clamped to
/// [1e-6, 1 - 1e-6] so 0 % and 100 % stay on the plot. Acklam's rational
/// approximation, relative error < 1.2e-9.
pub fn probit(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969683028665376e+01,
        2.209460984245205e+02,
        -2.759285104469687e+02,
        1.383_577_518_672_69e2,
        -3.066479806614716e+01,
        2.506628277459239e+00,
    ];
    const B: [f64; 5] = [
        -5.447609879822406e+01,
        1.615858368580409e+02,
        -1.556989798598866e+02,
        6.680131188771972e+01,
        -1.328068155288572e+01,
    ];
    const C: [f64; 6] = [
        -7.784894002430293e-03,
        -3.223964580411365e-01,
        -2.400758277161838e+00,
        -2.549732539343734e+00,
        4.374664141464968e+00,
        2.938163982698783e+00,
    ];
    const D: [f64; 4] = [
        7.784695709041462e-03,
        3.224671290700398e-01,
        2.445134137142996e+00,
        3.754408661907416e+00,
    ];
    let p = p.clamp(1e-6, 1.0 - 1e-6);
    let p_low = 0.02425;
    if p < p_low {
        let q = (-2.0 * p.ln()).sqrt();
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    } else if p <= 1.0 - p_low {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        -probit(1.0 - p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(t: &[f64], n: &[f64]) -> ScoreSet {
        ScoreSet::new(t.to_vec(), n.to_vec()).unwrap()
    }

    #[test]
    fn perfectly_separated_has_zero_eer_and_min_dcf() {
        let s = set(&[0.8, 0.9, 0.7], &[0.1, 0.2, 0.3, 0.4]);
        let e = s.eer();
        assert_eq!(e.eer, 0.0);
        assert!(e.threshold > 0.4 && e.threshold <= 0.7, "{e:?}");
        assert_eq!(s.min_dcf(DcfParams::default()).min_dcf, 0.0);
        let p = s.at_far(0.01);
        assert_eq!((p.far, p.frr), (0.0, 0.0));
        assert!(p.threshold > 0.4 && p.threshold <= 0.7);
    }

    #[test]
    fn identical_distributions_have_half_eer() {
        let xs: Vec<f64> = (0..100).map(|i| i as f64 / 100.0).collect();
        let s = set(&xs, &xs);
        assert!((s.eer().eer - 0.5).abs() < 1e-9, "{:?}", s.eer());
        // Nothing beats "reject all" (cost P_t / norm = 1) when the scores carry no
        // information.
        assert!((s.min_dcf(DcfParams::default()).min_dcf - 1.0).abs() < 1e-9);
    }

    #[test]
    fn hand_computed_small_case() {
        // targets 0.3 0.6 0.9, non-targets 0.1 0.4 0.7 (one overlap each way)
        let s = set(&[0.3, 0.6, 0.9], &[0.1, 0.4, 0.7]);
        let p = s.at_threshold(0.5);
        assert!((p.far - 1.0 / 3.0).abs() < 1e-12);
        assert!((p.frr - 1.0 / 3.0).abs() < 1e-12);
        // thresholds: 0.1 (FRR0 FAR1) 0.3 (0, 2/3) 0.4 (1/3, 2/3) 0.6 (1/3, 1/3) ...
        // first FRR >= FAR at 0.6 where both are 1/3: the EER is exactly 1/3.
        let e = s.eer();
        assert!((e.eer - 1.0 / 3.0).abs() < 1e-12, "{e:?}");
        assert!((e.threshold - 0.6).abs() < 1e-12);
        // FAR <= 1 %: must reject 0.7, threshold between 0.7 and 0.9, FRR 2/3.
        let f = s.at_far(0.01);
        assert_eq!(f.far, 0.0);
        assert!((f.frr - 2.0 / 3.0).abs() < 1e-12);
        assert!((f.threshold - 0.8).abs() < 1e-12);
    }

    #[test]
    fn interpolated_eer_between_points() {
        // t: 1 3, n: 0 2. Points: th0 (0,1) th1 (0,1/2) th2 (1/2,1/2) -> crossing at th2
        // exactly; shift to make it interpolate: t: 2, n: 1 3.
        // th1: FRR 0 FAR 1; th2: FRR 0 FAR 1/2; th3: FRR 1 FAR 1/2 -> alpha = 1/2/(1/2+1/2)
        let s = set(&[2.0], &[1.0, 3.0]);
        let e = s.eer();
        assert!((e.eer - 0.5).abs() < 1e-12, "{e:?}");
        assert!((e.threshold - 2.5).abs() < 1e-12);
    }

    #[test]
    fn ties_move_together() {
        let s = set(&[0.5, 0.5], &[0.5, 0.5]);
        let curve = s.det_curve();
        assert_eq!(curve.len(), 2);
        assert_eq!((curve[0].far, curve[0].frr), (1.0, 0.0));
        assert_eq!((curve[1].far, curve[1].frr), (0.0, 1.0));
        assert!((s.eer().eer - 0.5).abs() < 1e-12);
    }

    #[test]
    fn det_curve_is_monotone() {
        let t: Vec<f64> = (0..50).map(|i| ((i * 37) % 50) as f64 / 50.0 + 0.3).collect();
        let n: Vec<f64> = (0..80).map(|i| ((i * 13) % 80) as f64 / 80.0).collect();
        let curve = set(&t, &n).det_curve();
        for w in curve.windows(2) {
            assert!(w[1].threshold > w[0].threshold);
            assert!(w[1].frr >= w[0].frr);
            assert!(w[1].far <= w[0].far);
        }
        assert_eq!(curve.first().unwrap().frr, 0.0);
        assert_eq!(curve.last().unwrap().far, 0.0);
    }

    #[test]
    fn min_dcf_known_value() {
        // One non-target above every target: at p_t = 0.01 the best is to reject all
        // but... compute: norm = 0.01.
        // threshold just above 0.95 (reject all): Pmiss 1 -> DCF 0.01/0.01 = 1.
        // threshold 0.6 (accept targets, 1 of 4 non-targets): (0*0.01 + 0.25*0.99)/0.01 = 24.75
        let s = set(&[0.6, 0.7], &[0.1, 0.2, 0.3, 0.95]);
        let m = s.min_dcf(DcfParams::default());
        assert!((m.min_dcf - 1.0).abs() < 1e-12, "{m:?}");
        // With p_target 0.5 the balanced point wins: Pmiss 0, Pfa 1/4 -> 0.125/0.5 = 0.25.
        let m = s.min_dcf(DcfParams { p_target: 0.5, c_miss: 1.0, c_fa: 1.0 });
        assert!((m.min_dcf - 0.25).abs() < 1e-12, "{m:?}");
    }

    #[test]
    fn gaussian_eer_matches_theory() {
        // Target N(2,1), non-target N(0,1): EER = Phi(-1) = 0.1587. Use deterministic
        // quantiles instead of random draws.
        let n = 4000;
        let q: Vec<f64> = (0..n).map(|i| probit((i as f64 + 0.5) / n as f64)).collect();
        let t: Vec<f64> = q.iter().map(|x| x + 2.0).collect();
        let s = set(&t, &q);
        assert!((s.eer().eer - 0.158_655).abs() < 2e-3, "{:?}", s.eer());
        // FRR at FAR 1 %: threshold 2.326 -> FRR = Phi(0.326) = 0.6278
        let p = s.at_far(0.01);
        assert!(p.far <= 0.01);
        assert!((p.frr - 0.6278).abs() < 3e-3, "{p:?}");
    }

    #[test]
    fn probit_values() {
        assert!(probit(0.5).abs() < 1e-9);
        assert!((probit(0.975) - 1.959_964).abs() < 1e-5);
        assert!((probit(0.01) + 2.326_348).abs() < 1e-5);
        assert!(probit(0.0).is_finite() && probit(1.0).is_finite());
    }

    #[test]
    fn rejects_empty_and_nan() {
        assert!(ScoreSet::new(vec![], vec![1.0]).is_err());
        assert!(ScoreSet::new(vec![1.0], vec![]).is_err());
        assert!(ScoreSet::new(vec![f64::NAN], vec![1.0]).is_err());
    }
}
