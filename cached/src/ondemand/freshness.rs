//! When each entry was last confirmed by the server, and what that means for a lookup
//! (design.md §6): fresh; past half its `positive-ttl` (answer, refresh in the
//! background); past the TTL (refetch within the lookup deadline, fall back to the stale
//! entry up to `max-stale` if the server fails).

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use crate::fastpath::image::EXPIRY_GRAIN;

/// An entry whose confirmation time is tracked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntryId {
    User(u32),
    Group(u32),
}

/// Confirmation times newer than the last full copy; everything else dates from it.
#[derive(Debug, Default, Clone)]
pub struct Freshness {
    confirmed: HashMap<EntryId, SystemTime>,
    /// When the last complete copy was served (everything confirmed at once): the
    /// sync records its time in `health` only once the whole attempt is over.
    reset_at: Option<SystemTime>,
}

/// What to do with a cached entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Age {
    Fresh,
    RefreshAhead,
    Expired,
}

impl Freshness {
    /// A full copy confirmed everything at once.
    pub fn reset(&mut self) {
        self.confirmed.clear();
        self.reset_at = Some(SystemTime::now());
    }

    /// When [`Freshness::reset`] last ran.
    pub fn reset_at(&self) -> Option<SystemTime> {
        self.reset_at
    }

    pub fn confirm(&mut self, id: EntryId, at: SystemTime) {
        self.confirmed.insert(id, at);
    }

    pub fn forget(&mut self, id: EntryId) {
        self.confirmed.remove(&id);
    }

    /// Seconds since `id` was confirmed, given the time of the last full copy.
    pub fn age(&self, id: EntryId, copy_time: Option<SystemTime>) -> Duration {
        let at = self.confirmed.get(&id).copied().or(copy_time);
        at.and_then(|t| SystemTime::now().duration_since(t).ok())
            .unwrap_or(if at.is_some() {
                Duration::ZERO
            } else {
                Duration::MAX
            })
    }
}

/// Classifies the age of entry `id` against `positive-ttl`: refreshed ahead after its
/// own share of the TTL (`schedule::refresh_ahead`), so that entries confirmed together
/// are not all refreshed together.
///
/// The in-process map ends an entry up to [`EXPIRY_GRAIN`] before that share (whole
/// seconds, rounded down): refresh-ahead starts that much early (at most a quarter of the
/// share, for tiny TTLs), so that a lookup the map sends here is never "fresh" with
/// nothing done; otherwise every lookup of the entry, in every process, came here for up
/// to two seconds until one arrived past the share (issue 14's steady-state loss).
/// Earlier is stricter than design.md §6, never looser.
pub fn classify_entry(id: EntryId, age: Duration, ttl: Duration) -> Age {
    let raw = match id {
        EntryId::User(u) | EntryId::Group(u) => u,
    };
    let fresh_for = crate::schedule::refresh_ahead::fresh_for(raw, ttl);
    let early = EXPIRY_GRAIN.min(fresh_for / 4);
    if age >= ttl {
        Age::Expired
    } else if age.saturating_add(early) >= fresh_for {
        Age::RefreshAhead
    } else {
        Age::Fresh
    }
}

/// Classifies an age against `positive-ttl` with the latest refresh-ahead threshold
/// (half the TTL): what every entry gets at most.
pub fn classify(age: Duration, ttl: Duration) -> Age {
    if age >= ttl {
        Age::Expired
    } else if age >= ttl / 2 {
        Age::RefreshAhead
    } else {
        Age::Fresh
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_by_ttl() {
        let ttl = Duration::from_secs(300);
        assert_eq!(classify(Duration::from_secs(10), ttl), Age::Fresh);
        assert_eq!(classify(Duration::from_secs(150), ttl), Age::RefreshAhead);
        assert_eq!(classify(Duration::from_secs(300), ttl), Age::Expired);
        assert_eq!(classify(Duration::ZERO, Duration::ZERO), Age::Expired);
    }

    #[test]
    fn refresh_ahead_starts_before_the_map_gives_the_entry_up() {
        let ttl = Duration::from_secs(60);
        for raw in 1000..1200 {
            let id = EntryId::User(raw);
            let f = crate::schedule::refresh_ahead::fresh_for(raw, ttl);
            // Wherever fresh_until's rounding ends the map's entry, the daemon refreshes.
            let map_end = f.saturating_sub(EXPIRY_GRAIN);
            assert_eq!(classify_entry(id, map_end, ttl), Age::RefreshAhead, "{raw}");
            assert_eq!(classify_entry(id, f, ttl), Age::RefreshAhead, "{raw}");
            assert_eq!(classify_entry(id, ttl, ttl), Age::Expired, "{raw}");
            // Not much earlier than its share: entries stay spread.
            let before = map_end.saturating_sub(Duration::from_millis(10));
            assert_eq!(classify_entry(id, before, ttl), Age::Fresh, "{raw}");
        }
        // A tiny TTL keeps most of its fresh share.
        let tiny = Duration::from_secs(2);
        let f = crate::schedule::refresh_ahead::fresh_for(7, tiny);
        assert_eq!(classify_entry(EntryId::User(7), f / 2, tiny), Age::Fresh);
    }

    #[test]
    fn confirmation_overrides_copy_time() {
        let mut f = Freshness::default();
        let old = SystemTime::now() - Duration::from_secs(1000);
        assert!(f.age(EntryId::User(1), Some(old)) >= Duration::from_secs(999));
        f.confirm(EntryId::User(1), SystemTime::now());
        assert!(f.age(EntryId::User(1), Some(old)) < Duration::from_secs(5));
        assert_eq!(f.age(EntryId::User(2), None), Duration::MAX);
        f.reset();
        assert!(f.age(EntryId::User(1), Some(old)) >= Duration::from_secs(999));
    }
}
