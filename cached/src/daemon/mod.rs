//! The running daemon: shared state, the sync loop, signals, readiness, logging.
pub mod clock;
pub mod health;
pub mod invalidate;
pub mod jitter;
pub mod logging;
pub mod notify;
pub mod refusals;
pub mod run;
pub mod state;
pub mod status_report;
pub mod sync;
pub mod token_slots;
