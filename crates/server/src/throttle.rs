//! Optional per-operation rate limits with Voice ID's TPS quotas (off by default).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use crate::config::ThrottlingSection;

#[derive(Debug)]
struct Bucket {
    rate: f64,
    tokens: f64,
    last: Instant,
}

/// Token buckets keyed by quota group; operations without a quota are never throttled.
#[derive(Debug, Default)]
pub struct Throttle {
    groups: HashMap<&'static str, &'static str>,
    buckets: Mutex<HashMap<&'static str, Bucket>>,
}

impl Throttle {
    pub fn new(cfg: &ThrottlingSection) -> Self {
        if !cfg.enabled {
            return Throttle::default();
        }
        let plan: [(&'static str, f64, &[&'static str]); 5] = [
            (
                "evaluate_session",
                cfg.evaluate_session_tps,
                &["EvaluateSession"],
            ),
            (
                "domain",
                cfg.domain_tps,
                &[
                    "CreateDomain",
                    "DescribeDomain",
                    "UpdateDomain",
                    "DeleteDomain",
                    "ListDomains",
                ],
            ),
            (
                "batch_job",
                cfg.batch_job_tps,
                &[
                    "StartSpeakerEnrollmentJob",
                    "DescribeSpeakerEnrollmentJob",
                    "ListSpeakerEnrollmentJobs",
                    "StartFraudsterRegistrationJob",
                    "DescribeFraudsterRegistrationJob",
                    "ListFraudsterRegistrationJobs",
                ],
            ),
            ("list_speakers", cfg.list_speakers_tps, &["ListSpeakers"]),
            (
                "speaker_fraudster",
                cfg.speaker_fraudster_tps,
                &[
                    "DescribeSpeaker",
                    "OptOutSpeaker",
                    "DeleteSpeaker",
                    "DescribeFraudster",
                    "DeleteFraudster",
                ],
            ),
        ];
        let mut groups = HashMap::new();
        let mut buckets = HashMap::new();
        let now = Instant::now();
        for (group, rate, ops) in plan {
            for op in ops {
                groups.insert(*op, group);
            }
            buckets.insert(
                group,
                Bucket {
                    rate,
                    tokens: rate.max(1.0),
                    last: now,
                },
            );
        }
        Throttle {
            groups,
            buckets: Mutex::new(buckets),
        }
    }

    /// Whether `operation` may run now (takes a token if so).
    pub fn allow(&self, operation: &str) -> bool {
        let Some(group) = self.groups.get(operation) else {
            return true;
        };
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let Some(b) = buckets.get_mut(group) else {
            return true;
        };
        let now = Instant::now();
        b.tokens =
            (b.tokens + now.duration_since(b.last).as_secs_f64() * b.rate).min(b.rate.max(1.0));
        b.last = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_grouped_operations_only_when_enabled() {
        let mut cfg = crate::config::Config::load(None, Vec::new(), &Default::default())
            .unwrap()
            .throttling;
        assert!((0..100).all(|_| Throttle::new(&cfg).allow("DescribeDomain")));
        cfg.enabled = true;
        let t = Throttle::new(&cfg);
        // Domain APIs: 2 TPS shared by the group, burst of 2.
        assert!(t.allow("DescribeDomain"));
        assert!(t.allow("ListDomains"));
        assert!(!t.allow("CreateDomain"));
        // Operations without a Voice ID TPS quota are never throttled.
        assert!((0..100).all(|_| t.allow("CreateWatchlist")));
    }
}
