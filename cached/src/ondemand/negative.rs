//! Confirmed "no such entry" answers, remembered for `negative-ttl`.
//!
//! Only a server answer of "none" goes in here, never a failure: a transient error must
//! never turn into "not found". Bounded (LRU) so a client probing random names cannot
//! grow the daemon.

use std::num::NonZeroUsize;
use std::time::{Duration, Instant};

use lru::LruCache;

use super::key::LookupKey;

/// Most negative entries kept.
pub const NEGATIVE_CAPACITY: usize = 65_536;

/// The negative cache.
pub struct NegativeCache {
    entries: LruCache<LookupKey, Instant>,
}

impl Default for NegativeCache {
    fn default() -> Self {
        NegativeCache {
            entries: LruCache::new(
                NonZeroUsize::new(NEGATIVE_CAPACITY).unwrap_or(NonZeroUsize::MIN),
            ),
        }
    }
}

impl NegativeCache {
    /// Records that the server answered "none" for `key` now.
    pub fn insert(&mut self, key: LookupKey) {
        self.entries.put(key, Instant::now());
    }

    /// True while a confirmed "none" for `key` is younger than `ttl`.
    pub fn contains(&mut self, key: &LookupKey, ttl: Duration) -> bool {
        match self.entries.get(key) {
            Some(at) if at.elapsed() < ttl => true,
            Some(_) => {
                self.entries.pop(key);
                false
            }
            None => false,
        }
    }

    /// Forgets `key` (it now exists, or an operator invalidated it).
    pub fn remove(&mut self, key: &LookupKey) {
        self.entries.pop(key);
    }

    /// Forgets every "none" for a key that `present` now answers: a user, group or id
    /// that arrived in a sync or an on-demand fetch (a just-in-time user) is served on
    /// the next lookup, not left to expire. Returns how many were dropped.
    pub fn forget_present(&mut self, present: impl Fn(&LookupKey) -> bool) -> usize {
        let stale: Vec<LookupKey> = self
            .entries
            .iter()
            .filter(|(k, _)| present(k))
            .map(|(k, _)| k.clone())
            .collect();
        for k in &stale {
            self.entries.pop(k);
        }
        stale.len()
    }

    pub fn clear(&mut self) {
        self.entries.clear();
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expires_after_ttl() {
        let mut n = NegativeCache::default();
        let k = LookupKey::UserName("ghost".into());
        assert!(!n.contains(&k, Duration::from_secs(30)));
        n.insert(k.clone());
        assert!(n.contains(&k, Duration::from_secs(30)));
        assert!(!n.contains(&k, Duration::ZERO));
        assert!(n.is_empty());
    }

    #[test]
    fn arrived_entries_are_forgotten_others_kept() {
        let mut n = NegativeCache::default();
        let jit = LookupKey::UserName("jit".into());
        let ghost = LookupKey::UserName("ghost".into());
        n.insert(jit.clone());
        n.insert(LookupKey::Uid(5123));
        n.insert(ghost.clone());
        let dropped = n.forget_present(|k| matches!(k, LookupKey::Uid(5123)) || k == &jit);
        assert_eq!(dropped, 2);
        let long = Duration::from_secs(3600);
        assert!(!n.contains(&jit, long));
        assert!(!n.contains(&LookupKey::Uid(5123), long));
        assert!(n.contains(&ghost, long));
    }
}
