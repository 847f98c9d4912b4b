//! Prometheus metrics: request counts by operation and outcome, and latency
//! histograms by operation, rendered as text for `GET /metrics`.
//!
//! Hand-rolled (one mutex-guarded map) rather than a metrics framework: two
//! metric families do not justify a dependency, and the lock is held for a few
//! nanoseconds per request.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

/// Histogram bucket upper bounds, seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

#[derive(Debug, Default)]
struct OpStats {
    outcomes: BTreeMap<String, u64>,
    buckets: [u64; BUCKETS.len()],
    sum_seconds: f64,
    count: u64,
}

#[derive(Debug, Default)]
pub struct Metrics {
    ops: Mutex<BTreeMap<String, OpStats>>,
}

impl Metrics {
    /// Record one request: `operation` (or a placeholder like `-` when unknown)
    /// and `outcome` (`ok` or the AWS error type).
    pub fn record(&self, operation: &str, outcome: &str, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        let mut ops = self.ops.lock().unwrap_or_else(|p| p.into_inner());
        let stats = match ops.get_mut(operation) {
            Some(s) => s,
            None => ops.entry(operation.to_string()).or_default(),
        };
        match stats.outcomes.get_mut(outcome) {
            Some(n) => *n += 1,
            None => {
                stats.outcomes.insert(outcome.to_string(), 1);
            }
        }
        for (i, bound) in BUCKETS.iter().enumerate() {
            if secs <= *bound {
                stats.buckets[i] += 1;
            }
        }
        stats.sum_seconds += secs;
        stats.count += 1;
    }

    /// Prometheus text exposition format.
    pub fn render(&self) -> String {
        let ops = self.ops.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = String::new();
        out.push_str(
            "# HELP voiceprint_requests_total Voice ID API requests by operation and outcome.\n",
        );
        out.push_str("# TYPE voiceprint_requests_total counter\n");
        for (op, s) in ops.iter() {
            for (outcome, n) in &s.outcomes {
                let _ = writeln!(
                    out,
                    "voiceprint_requests_total{{operation=\"{op}\",outcome=\"{outcome}\"}} {n}"
                );
            }
        }
        out.push_str("# HELP voiceprint_request_duration_seconds Voice ID API request latency.\n");
        out.push_str("# TYPE voiceprint_request_duration_seconds histogram\n");
        for (op, s) in ops.iter() {
            for (i, bound) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "voiceprint_request_duration_seconds_bucket{{operation=\"{op}\",le=\"{bound}\"}} {}",
                    s.buckets[i]
                );
            }
            let _ = writeln!(
                out,
                "voiceprint_request_duration_seconds_bucket{{operation=\"{op}\",le=\"+Inf\"}} {}",
                s.count
            );
            let _ = writeln!(
                out,
                "voiceprint_request_duration_seconds_sum{{operation=\"{op}\"}} {}",
                s.sum_seconds
            );
            let _ = writeln!(
                out,
                "voiceprint_request_duration_seconds_count{{operation=\"{op}\"}} {}",
                s.count
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_outcomes_and_cumulative_buckets() {
        let m = Metrics::default();
        m.record("DescribeSpeaker", "ok", Duration::from_micros(300));
        m.record(
            "DescribeSpeaker",
            "ResourceNotFoundException",
            Duration::from_millis(20),
        );
        let text = m.render();
        assert!(text
            .contains("voiceprint_requests_total{operation=\"DescribeSpeaker\",outcome=\"ok\"} 1"));
        assert!(text.contains(
            "voiceprint_requests_total{operation=\"DescribeSpeaker\",outcome=\"ResourceNotFoundException\"} 1"
        ));
        assert!(text.contains("voiceprint_request_duration_seconds_bucket{operation=\"DescribeSpeaker\",le=\"0.0005\"} 1"));
        assert!(text.contains("voiceprint_request_duration_seconds_bucket{operation=\"DescribeSpeaker\",le=\"0.025\"} 2"));
        assert!(text.contains(
            "voiceprint_request_duration_seconds_count{operation=\"DescribeSpeaker\"} 2"
        ));
    }
}
