//! One simulated daemon: the daemon's own scheduling state (`SyncPlan`, `Jitter`) and
//! the few facts the sync loop keeps beside it (consecutive failures, whether it holds
//! a copy), driven by the same calls `daemon::sync` and `daemon::run` make, on a
//! simulated clock.

use std::time::{Duration, SystemTime};

use cached::schedule::jitter::Jitter;
use cached::schedule::sync_plan::{Baseline, Fingerprint, SyncKind, SyncPlan};

use crate::model::{Cost, Model};

/// What the node's daemon does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// This daemon: incremental syncs, the baseline kept across restarts, the first
    /// sync after a restart with a usable cache delayed.
    Daemon,
    /// The naive design: a complete copy every sync-interval (jittered) and at start.
    Naive,
}

/// The fingerprint every simulated node computes (settings and local files do not
/// change in the simulation).
const FINGERPRINT: Fingerprint = Fingerprint(0x5eed);

pub struct Node {
    policy: Policy,
    plan: SyncPlan,
    jitter: Jitter,
    failures: u32,
    /// Holds a copy (served, and in its cache file).
    cached: bool,
}

/// What one attempt cost the server and when the node tries next.
pub struct Attempt {
    pub cost: Cost,
    pub next: Duration,
}

impl Node {
    /// A node with no cache.
    pub fn cold(policy: Policy, seed: u64) -> Node {
        Node {
            policy,
            plan: SyncPlan::new(),
            jitter: Jitter::from_seed(seed),
            failures: 0,
            cached: false,
        }
    }

    /// A node in steady state: its last complete copy began at `full`, its last sync at
    /// `applied` (not before `full`).
    pub fn warm(policy: Policy, seed: u64, full: SystemTime, applied: SystemTime) -> Node {
        let mut n = Node::cold(policy, seed);
        n.plan.full_applied(full);
        if applied > full {
            n.plan.incremental_applied(applied);
        }
        n.cached = true;
        n
    }

    /// One sync attempt at `now` (as `Syncer::planned_fetch_and_apply` decides it, then
    /// `Syncer::next_delay`).
    pub fn sync(&mut self, now: SystemTime, server_up: bool, m: &Model, p: &Timing) -> Attempt {
        let cost = if !server_up {
            // Unreachable: nothing applied, nothing in doubt (as a connection error).
            self.failures = self.failures.saturating_add(1);
            m.failed()
        } else {
            let kind = match self.policy {
                Policy::Daemon => self.plan.decide(now, p.full_sync_interval),
                Policy::Naive => {
                    SyncKind::Full(cached::schedule::sync_plan::FullReason::NoCompleteCopy)
                }
            };
            self.failures = 0;
            self.cached = true;
            match kind {
                SyncKind::Full(reason) => {
                    self.plan.complete_copy_applied(
                        now,
                        &reason,
                        &mut self.jitter,
                        p.full_sync_interval,
                    );
                    m.full()
                }
                SyncKind::Incremental { since } => {
                    let secs = now.duration_since(since).map_or(0.0, |d| d.as_secs_f64());
                    self.plan.incremental_applied(now);
                    m.incremental(secs)
                }
            }
        };
        Attempt {
            cost,
            next: self
                .jitter
                .next_sync(self.failures, p.sync_interval, self.cached),
        }
    }

    /// The daemon restarts at `now`: the wait before its first sync (`daemon::run`).
    /// Its plan is what the cache file's baseline gives back (through the text the
    /// store keeps, as `Syncer::resume_plan` reads it).
    pub fn restart(&mut self, p: &Timing) -> Duration {
        self.failures = 0;
        match self.policy {
            Policy::Naive => Duration::ZERO,
            Policy::Daemon => {
                let saved = self
                    .plan
                    .baseline(FINGERPRINT)
                    .and_then(|b| Baseline::decode(&b.encode()));
                self.plan = SyncPlan::resume(saved.as_ref(), FINGERPRINT);
                if self.cached && self.plan.resumable() {
                    self.jitter.first_sync_after_resume(p.sync_interval)
                } else {
                    Duration::ZERO
                }
            }
        }
    }
}

/// The daemons' timing settings.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub sync_interval: Duration,
    pub full_sync_interval: Duration,
}
