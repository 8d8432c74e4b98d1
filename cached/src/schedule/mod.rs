//! When to ask the server: jittered intervals and exponential backoff, shared by the
//! sync loop and the on-demand failure gate; complete or incremental sync; when an entry
//! is refreshed ahead of its expiry, and how long the map keeps it while that runs. Pure arithmetic
//! over a clock and a seed.
pub mod jitter;
pub mod refresh_ahead;
pub mod refresh_hold;
pub mod sync_plan;
