//! Each peer uid's share of the on-demand requests (design.md §7): a local user spraying
//! random names must not use up the node's rate ([`gate`](super::gate)) so that another
//! user's new directory user cannot be fetched.
//!
//! Every uid other than 0 has its own token bucket of [`UID_RATE_PER_SEC`] (burst
//! [`UID_BURST`]), an eighth of the node's; uid 0 has none and is held only to the node
//! rate. Only a request that would go to the server is charged: hits, negative answers
//! and joining a request already in flight are free. A miss past its uid's share is
//! answered `TRYAGAIN` for that uid alone (never "not found"). Buckets are kept for the
//! [`TRACKED_UIDS`] most recent uids (LRU), so the map cannot grow without bound; a uid
//! forgotten and seen again starts with a full bucket, which only root could exploit
//! (by using thousands of uids).

use std::num::NonZeroUsize;
use std::time::Instant;

use lru::LruCache;

use super::gate::{RATE_BURST, RATE_PER_SEC};

/// Sustained on-demand requests per second for one uid other than 0.
pub const UID_RATE_PER_SEC: f64 = RATE_PER_SEC / 8.0;
/// Burst allowance of one uid's bucket.
pub const UID_BURST: f64 = RATE_BURST / 8.0;
// One uid never gets most of the node's rate, and always at least one request.
const _: () = assert!(UID_RATE_PER_SEC * 2.0 <= RATE_PER_SEC && UID_BURST >= 1.0);

/// Uids whose bucket is remembered.
pub const TRACKED_UIDS: usize = 4096;

struct Bucket {
    tokens: f64,
    refilled: Instant,
}

/// The buckets, by uid.
pub struct UidBudget {
    buckets: LruCache<u32, Bucket>,
}

impl Default for UidBudget {
    fn default() -> Self {
        UidBudget {
            buckets: LruCache::new(NonZeroUsize::new(TRACKED_UIDS).unwrap_or(NonZeroUsize::MIN)),
        }
    }
}

impl UidBudget {
    /// May `uid` send one more request to the server now? Takes a token if so.
    pub fn admit(&mut self, uid: u32) -> bool {
        self.admit_at(uid, Instant::now())
    }

    fn admit_at(&mut self, uid: u32, now: Instant) -> bool {
        if uid == 0 {
            return true;
        }
        let bucket = self.buckets.get_or_insert_mut(uid, || Bucket {
            tokens: UID_BURST,
            refilled: now,
        });
        let elapsed = now.saturating_duration_since(bucket.refilled).as_secs_f64();
        bucket.refilled = now;
        bucket.tokens = (bucket.tokens + elapsed * UID_RATE_PER_SEC).min(UID_BURST);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_uid_gets_its_burst_then_its_rate() {
        let mut b = UidBudget::default();
        let t0 = Instant::now();
        let burst = (0..1000).filter(|_| b.admit_at(1000, t0)).count();
        assert_eq!(burst, UID_BURST as usize);
        // One second later: one second's worth of tokens.
        let t1 = t0 + Duration::from_secs(1);
        let later = (0..1000).filter(|_| b.admit_at(1000, t1)).count();
        assert_eq!(later, UID_RATE_PER_SEC as usize);
    }

    #[test]
    fn one_uid_over_budget_leaves_others_and_root_their_share() {
        let mut b = UidBudget::default();
        let t0 = Instant::now();
        while b.admit_at(1000, t0) {}
        assert!(!b.admit_at(1000, t0));
        assert!(b.admit_at(1001, t0));
        assert!((0..10_000).all(|_| b.admit_at(0, t0)));
    }

    #[test]
    fn the_map_is_bounded() {
        let mut b = UidBudget::default();
        let t0 = Instant::now();
        for uid in 1..=(TRACKED_UIDS as u32 * 2) {
            b.admit_at(uid, t0);
        }
        assert_eq!(b.buckets.len(), TRACKED_UIDS);
    }
}
