//! How long the in-process map keeps answering an entry whose refresh-ahead has begun
//! (issue 14: no expiry cliff).
//!
//! An entry past its refresh-ahead point but before its `positive-ttl` is served by the
//! daemon exactly as cached while a background refresh runs (design.md §6). The map's
//! copy of it ends at the refresh-ahead point, so that the first lookup after it reaches
//! the daemon and starts the refresh; without a hold, every later lookup of that entry,
//! in every process, also went to the socket until the server answered (hundreds of
//! round trips per hot entry on a slow server). With a hold, the daemon keeps the map's
//! entry for [`REFRESH_HOLD`] more, never past the TTL: the answer is the one the
//! daemon itself would give, and the refresh's confirmation then renews the entry for a
//! whole refresh-ahead period. A refresh that does not finish (server slow or failing,
//! budget used up) brings the next lookup back to the daemon after the hold, which
//! retries or holds again; past the TTL the map never answers it.

use std::time::Duration;

/// How long one hold lasts: the lookup deadline (2.5 s) rounded up, so that a refresh
/// that answers in time renews the entry before the hold runs out.
pub const REFRESH_HOLD: Duration = Duration::from_secs(3);

/// The age (since confirmation) up to which an entry of age `age`, being refreshed, may
/// stay in the map: `age + REFRESH_HOLD`, never past `ttl`. Pass it as `fresh_for` to
/// `fastpath::image::fresh_until`.
pub fn held_for(age: Duration, ttl: Duration) -> Duration {
    age.saturating_add(REFRESH_HOLD).min(ttl)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hold_lasts_a_few_seconds_and_never_past_the_ttl() {
        let ttl = Duration::from_secs(300);
        assert_eq!(
            held_for(Duration::from_secs(150), ttl),
            Duration::from_secs(153)
        );
        assert_eq!(held_for(Duration::from_secs(298), ttl), ttl);
        assert_eq!(held_for(ttl, ttl), ttl);
        assert_eq!(held_for(Duration::MAX, ttl), ttl);
        assert_eq!(held_for(Duration::ZERO, Duration::ZERO), Duration::ZERO);
    }
}
