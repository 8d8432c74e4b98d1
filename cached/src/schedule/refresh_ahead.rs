//! When a cached entry is refreshed ahead of its expiry (design.md §6: "past half its
//! `positive-ttl`"), spread per entry between a quarter and a half of the TTL.
//!
//! Every entry of a sync is confirmed at the same moment; with one threshold for all,
//! every entry in use would be refreshed at the same moment too, a burst of requests to
//! the server, and every process's in-process map would send all of them to the socket
//! at once (issue 14: no expiry cliff). A fixed spread per entry (from its id, the same
//! on every run) turns the burst into a ramp. Refreshing earlier than half the TTL is
//! stricter than the design asks, never looser: an entry is never served past its TTL
//! without a refetch.

use std::time::Duration;

/// How long after its confirmation the entry with id `id` (uid or gid) is fresh, i.e.
/// served without a background refresh: between `ttl / 4` and `ttl / 2`.
pub fn fresh_for(id: u32, ttl: Duration) -> Duration {
    let half = ttl / 2;
    let quarter = ttl / 4;
    // splitmix64: a well-mixed fraction of the id, so that neighbouring ids spread.
    let mut z = u64::from(id).wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    let fraction = (z >> 11) as f64 / (1u64 << 53) as f64;
    half - quarter.mul_f64(fraction)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn between_a_quarter_and_a_half_and_spread() {
        let ttl = Duration::from_secs(300);
        let mut seen = std::collections::BTreeSet::new();
        for id in 1000..2000 {
            let f = fresh_for(id, ttl);
            assert!(f >= ttl / 4 && f <= ttl / 2, "{id}: {f:?}");
            assert_eq!(f, fresh_for(id, ttl));
            seen.insert(f.as_secs());
        }
        // A ramp over the whole range, not a few values.
        assert!(seen.len() > 60, "{}", seen.len());
        assert_eq!(fresh_for(7, Duration::ZERO), Duration::ZERO);
    }
}
