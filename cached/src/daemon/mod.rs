//! The running daemon: start-up, the sync loop, signals, readiness, logging.
pub mod logging;
pub mod map_thread;
pub mod notify;
pub mod run;
pub mod sync;
pub mod token_slots;
