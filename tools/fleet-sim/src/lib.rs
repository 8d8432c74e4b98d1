//! `fleet-sim`: a fleet of `workbench-cached` daemons against one modelled server, on a
//! simulated clock, scheduled by the daemon's own code (`cached::schedule`: jitter,
//! backoff, complete or incremental, the baseline kept across restarts). Issue 12,
//! point 4; run it with `scripts/fleet-sim`.
//!
//! Not modelled: lookups that miss the cache (on-demand requests: single-flight and
//! rate-limited per node, a few per node per day), HTTP headers, the time a sync takes
//! (its requests are counted in the second it starts).

pub mod fleet;
pub mod model;
pub mod node;
pub mod report;

#[cfg(test)]
mod tests;
