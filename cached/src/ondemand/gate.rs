//! Keeps a failing server from being hammered by lookups: after a failed on-demand
//! request, further ones wait for an exponentially growing, jittered delay (cap 5 min,
//! design.md §6). Until then an uncached lookup is answered `TRYAGAIN` at once.

use std::time::{Duration, Instant};

use crate::daemon::jitter::Jitter;

/// The gate.
pub struct FailureGate {
    failures: u32,
    closed_until: Option<Instant>,
    jitter: Jitter,
}

impl Default for FailureGate {
    fn default() -> Self {
        FailureGate {
            failures: 0,
            closed_until: None,
            jitter: Jitter::seeded(),
        }
    }
}

impl FailureGate {
    /// May a request go out now?
    pub fn open(&self) -> bool {
        self.closed_until.is_none_or(|t| Instant::now() >= t)
    }

    /// A request failed: close the gate for the next backoff step.
    pub fn failed(&mut self) {
        self.failures = self.failures.saturating_add(1);
        // On-demand requests are not tied to the sync interval: cap at the backoff cap.
        let delay = self.jitter.backoff(self.failures, Duration::MAX);
        self.closed_until = Some(Instant::now() + delay);
    }

    /// A request got an answer: open the gate.
    pub fn succeeded(&mut self) {
        self.failures = 0;
        self.closed_until = None;
    }

    pub fn failures(&self) -> u32 {
        self.failures
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closes_after_failure_and_reopens_on_success() {
        let mut g = FailureGate::default();
        assert!(g.open());
        g.failed();
        assert!(!g.open());
        assert_eq!(g.failures(), 1);
        g.succeeded();
        assert!(g.open());
    }
}
