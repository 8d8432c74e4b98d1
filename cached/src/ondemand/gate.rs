//! Keeps the server from being hammered by lookups (design.md §6, §8):
//!
//! - after a failed on-demand request, further ones wait for an exponentially growing,
//!   jittered delay (cap 5 min); when it has passed, exactly one request probes the
//!   server (half-open) while the others keep getting `TRYAGAIN` at once;
//! - while the server is healthy, on-demand requests are rate-limited per node (a
//!   token bucket), so a client probing random names cannot turn into a flood.

use std::time::{Duration, Instant};

use crate::schedule::jitter::Jitter;

/// Sustained on-demand requests per second per node.
pub const RATE_PER_SEC: f64 = 50.0;
/// Burst allowance of the token bucket.
pub const RATE_BURST: f64 = 200.0;

/// The gate.
pub struct FailureGate {
    failures: u32,
    closed_until: Option<Instant>,
    probing: bool,
    jitter: Jitter,
    tokens: f64,
    refilled: Instant,
}

impl Default for FailureGate {
    fn default() -> Self {
        FailureGate {
            failures: 0,
            closed_until: None,
            probing: false,
            jitter: Jitter::seeded(),
            tokens: RATE_BURST,
            refilled: Instant::now(),
        }
    }
}

impl FailureGate {
    /// Cheap check: false while the backoff delay runs.
    pub fn open(&self) -> bool {
        self.closed_until.is_none_or(|t| Instant::now() >= t)
    }

    /// May a request go out now? Takes a rate token or the single probe slot; every
    /// `true` must be followed by [`FailureGate::succeeded`] or [`FailureGate::failed`].
    pub fn admit(&mut self) -> bool {
        if !self.open() {
            return false;
        }
        if self.failures > 0 {
            if self.probing {
                return false;
            }
            self.probing = true;
            return true;
        }
        let now = Instant::now();
        let elapsed = now.duration_since(self.refilled).as_secs_f64();
        self.refilled = now;
        self.tokens = (self.tokens + elapsed * RATE_PER_SEC).min(RATE_BURST);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// A request failed: close the gate for the next backoff step.
    pub fn failed(&mut self) {
        self.failures = self.failures.saturating_add(1);
        self.probing = false;
        // On-demand requests are not tied to the sync interval: cap at the backoff cap.
        let delay = self.jitter.backoff(self.failures, Duration::MAX);
        self.closed_until = Some(Instant::now() + delay);
    }

    /// A request got an answer: open the gate.
    pub fn succeeded(&mut self) {
        self.failures = 0;
        self.probing = false;
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
        assert!(g.admit());
        g.failed();
        assert!(!g.open());
        assert!(!g.admit());
        assert_eq!(g.failures(), 1);
        g.succeeded();
        assert!(g.open());
    }

    #[test]
    fn half_open_admits_one_probe() {
        let mut g = FailureGate::default();
        g.failed();
        g.closed_until = Some(Instant::now());
        assert!(g.admit());
        assert!(!g.admit());
        g.failed();
        assert!(!g.admit());
    }

    #[test]
    fn rate_limit_caps_a_burst() {
        let mut g = FailureGate::default();
        let admitted = (0..1000).filter(|_| g.admit()).count();
        assert!(admitted >= RATE_BURST as usize && admitted < RATE_BURST as usize + 20);
    }
}
