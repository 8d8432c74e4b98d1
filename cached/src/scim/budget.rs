//! What one sync may still spend (`sync-max-bytes`, `sync-deadline`, design.md §3).
//!
//! Every page of a copy is paid for out of one budget shared by the Users, Groups and
//! admin copies of a sync, so a server that pages forever, reports a growing
//! `totalResults`, sends a 100 MB page or drips its answer byte by byte cannot keep a
//! sync (and the memory it holds) going for ever: past either limit the transport
//! fails with [`super::error::ScimError::OverBudget`] or
//! [`super::error::ScimError::PastDeadline`] and the caller keeps its cache.

use std::time::{Duration, Instant};

/// The bytes and time left to one sync.
#[derive(Debug, Clone)]
pub struct SyncBudget {
    max_bytes: u64,
    used_bytes: u64,
    deadline: Duration,
    started: Instant,
}

impl SyncBudget {
    /// A budget of `max_bytes` of response bodies and `deadline` of wall-clock time,
    /// starting now.
    pub fn new(max_bytes: u64, deadline: Duration) -> SyncBudget {
        SyncBudget {
            max_bytes,
            used_bytes: 0,
            deadline,
            started: Instant::now(),
        }
    }

    /// No limit beyond the per-request ones (tests and one-off copies).
    pub fn unlimited() -> SyncBudget {
        SyncBudget::new(u64::MAX, Duration::MAX)
    }

    /// `sync-max-bytes`, as configured.
    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    /// `sync-deadline`, as configured.
    pub fn deadline(&self) -> Duration {
        self.deadline
    }

    /// Body bytes received so far.
    pub fn used_bytes(&self) -> u64 {
        self.used_bytes
    }

    /// Body bytes the next responses may still hold.
    pub fn remaining_bytes(&self) -> u64 {
        self.max_bytes.saturating_sub(self.used_bytes)
    }

    /// Time left; zero once the deadline has passed.
    pub fn remaining_time(&self) -> Duration {
        self.deadline.saturating_sub(self.started.elapsed())
    }

    /// Records `bytes` of body received.
    pub fn spend(&mut self, bytes: u64) {
        self.used_bytes = self.used_bytes.saturating_add(bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spending_and_time() {
        let mut b = SyncBudget::new(100, Duration::from_secs(60));
        assert_eq!(b.remaining_bytes(), 100);
        b.spend(60);
        b.spend(60);
        assert_eq!(b.remaining_bytes(), 0);
        assert_eq!(b.used_bytes(), 120);
        assert!(b.remaining_time() > Duration::from_secs(50));
        let gone = SyncBudget::new(1, Duration::ZERO);
        assert!(gone.remaining_time().is_zero());
        let free = SyncBudget::unlimited();
        assert_eq!(free.remaining_bytes(), u64::MAX);
        assert!(free.remaining_time() > Duration::from_secs(1 << 40));
    }
}
