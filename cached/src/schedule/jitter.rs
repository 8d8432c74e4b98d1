//! Jittered intervals and exponential backoff (design.md §6, §8): a fleet of daemons
//! restarted together must not hit the server in lockstep.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Longest wait between failed attempts.
pub const BACKOFF_CAP: Duration = Duration::from_secs(300);
/// First retry after a failure.
pub const BACKOFF_BASE: Duration = Duration::from_secs(5);

/// A sync that failed on a node holding a copy is retried with backoff while the
/// backoff is below this (5, 10, 20, 40 s: 75 s of quick retries, enough for a restart
/// of the server or a network blip), then at the sync-interval.
pub const CACHED_QUICK_RETRIES: Duration = Duration::from_secs(60);

/// [`BACKOFF_BASE`] doubled for each failure after the first, without cap or jitter.
fn raw_backoff(failures: u32) -> Duration {
    let exp = failures.saturating_sub(1).min(16);
    BACKOFF_BASE.saturating_mul(1u32 << exp)
}

/// A tiny xorshift generator: jitter needs spread, not cryptographic quality.
#[derive(Debug, Clone)]
pub struct Jitter(u64);

impl Jitter {
    pub fn seeded() -> Jitter {
        let t = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1);
        Jitter(t ^ (u64::from(std::process::id()) << 32) | 1)
    }

    /// A generator with a chosen seed: the fleet simulator gives each node its own.
    pub fn from_seed(seed: u64) -> Jitter {
        // xorshift is stuck at zero; any other state is fine.
        Jitter(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next_unit(&mut self) -> f64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        (x >> 11) as f64 / (1u64 << 53) as f64
    }

    /// `base` scaled by a uniform factor in `[1 - spread, 1 + spread]`.
    pub fn spread(&mut self, base: Duration, spread: f64) -> Duration {
        let f = 1.0 - spread + 2.0 * spread * self.next_unit();
        base.mul_f64(f.max(0.0))
    }

    /// The sync interval with ±10% jitter.
    pub fn sync_interval(&mut self, interval: Duration) -> Duration {
        self.spread(interval, 0.10)
    }

    /// The wait before the next sync, `failures` consecutive failed attempts after the
    /// last one: the jittered interval after a success, [`Jitter::backoff`] after a
    /// failure. The one rule the sync loop and the fleet simulator follow.
    ///
    /// A node that holds a copy (`cached`) serves it while the server is away and has
    /// no hurry: it retries quickly while the failure may be a blip (backoff below
    /// [`CACHED_QUICK_RETRIES`]), then at its usual jittered sync-interval. With
    /// exponential backoff all the way, the nodes that failed during an outage would
    /// retry bunched just after the server's return (the later a node first failed,
    /// the sooner it retries): with 5,000 nodes, 3.4 times the fleet's usual request
    /// rate at the default sync-interval, 7 times at an hour (`scripts/fleet-sim`). At
    /// the interval, each node keeps the place in time it had. A node without a copy
    /// keeps the exponential backoff up to [`BACKOFF_CAP`].
    pub fn next_sync(&mut self, failures: u32, interval: Duration, cached: bool) -> Duration {
        if failures == 0 || (cached && raw_backoff(failures) >= CACHED_QUICK_RETRIES) {
            self.sync_interval(interval)
        } else {
            self.backoff(failures, interval)
        }
    }

    /// The wait before the first sync of a daemon that started with a usable cache
    /// (design.md §8): uniform in `[0, interval]`, so that a fleet rebooted at once
    /// spreads its first syncs over a whole interval instead of all asking at boot.
    pub fn first_sync_after_resume(&mut self, interval: Duration) -> Duration {
        self.within(interval)
    }

    /// Uniform in `[0, d]`.
    pub fn within(&mut self, d: Duration) -> Duration {
        d.mul_f64(self.next_unit())
    }

    /// Delay after `failures` consecutive failures: exponential from [`BACKOFF_BASE`],
    /// capped at [`BACKOFF_CAP`] (and at the sync interval), with ±20% jitter.
    pub fn backoff(&mut self, failures: u32, interval: Duration) -> Duration {
        self.backoff_capped(failures, BACKOFF_CAP.min(interval.max(BACKOFF_BASE)))
    }

    /// Exponential from [`BACKOFF_BASE`], capped at `cap`, with ±20% jitter.
    fn backoff_capped(&mut self, failures: u32, cap: Duration) -> Duration {
        self.spread(raw_backoff(failures).min(cap), 0.20)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interval_jitter_stays_within_ten_percent() {
        let mut j = Jitter::seeded();
        for _ in 0..1000 {
            let d = j.sync_interval(Duration::from_secs(600));
            assert!(
                d >= Duration::from_secs(540) && d <= Duration::from_secs(660),
                "{d:?}"
            );
        }
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let mut j = Jitter::seeded();
        let hour = Duration::from_secs(3600);
        let first = j.backoff(1, hour);
        assert!(first <= Duration::from_secs(6));
        for n in 1..40 {
            assert!(j.backoff(n, hour) <= BACKOFF_CAP.mul_f64(1.2));
        }
        assert!(j.backoff(10, hour) >= BACKOFF_CAP.mul_f64(0.8));
    }

    #[test]
    fn next_sync_is_the_interval_after_success_and_backoff_after_failure() {
        let mut j = Jitter::from_seed(7);
        let ten_min = Duration::from_secs(600);
        let hour = Duration::from_secs(3600);
        for _ in 0..100 {
            for cached in [false, true] {
                let ok = j.next_sync(0, ten_min, cached);
                assert!(ok >= Duration::from_secs(540) && ok <= Duration::from_secs(660));
                assert!(j.next_sync(1, ten_min, cached) <= Duration::from_secs(6));
            }
            // A node holding a copy retries quickly for a blip, then at its interval.
            for failures in 1..=4 {
                assert!(j.next_sync(failures, hour, true) <= Duration::from_secs(48));
            }
            for failures in [5, 6, 20] {
                let held = j.next_sync(failures, hour, true);
                assert!(
                    held >= hour.mul_f64(0.9) && held <= hour.mul_f64(1.1),
                    "{held:?}"
                );
            }
            // One without keeps retrying every BACKOFF_CAP.
            let empty = j.next_sync(20, hour, false);
            assert!(empty <= BACKOFF_CAP.mul_f64(1.2));
        }
    }

    #[test]
    fn first_sync_after_resume_spreads_over_the_interval() {
        let mut j = Jitter::from_seed(42);
        let interval = Duration::from_secs(600);
        let delays: Vec<Duration> = (0..1000)
            .map(|_| j.first_sync_after_resume(interval))
            .collect();
        assert!(delays.iter().all(|d| *d <= interval));
        // Spread, not bunched: each tenth of the interval gets some.
        for tenth in 0..10u32 {
            let lo = interval / 10 * tenth;
            let hi = interval / 10 * (tenth + 1);
            let n = delays.iter().filter(|d| **d >= lo && **d < hi).count();
            assert!(n > 50, "tenth {tenth}: {n}");
        }
    }
}
