//! Time source, injectable so expiry rules are testable without waiting years.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Wall-clock time in epoch seconds.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> f64;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> f64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0)
    }
}

/// A clock that only moves when told to (tests, simulations).
#[derive(Debug, Default)]
pub struct ManualClock {
    millis: AtomicU64,
}

impl ManualClock {
    pub fn at(epoch_seconds: f64) -> Self {
        ManualClock {
            millis: AtomicU64::new((epoch_seconds * 1000.0) as u64),
        }
    }
    pub fn advance(&self, seconds: f64) {
        self.millis
            .fetch_add((seconds * 1000.0) as u64, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> f64 {
        self.millis.load(Ordering::SeqCst) as f64 / 1000.0
    }
}
