//! The in-process fast path (design.md §5a): each generation of the served snapshot's
//! public data as a sealed `memfd` image (`workbench_wire::map`) that the module maps
//! and reads without a system call.
//!
//! - [`image`]: the snapshot → image bytes (pure), with each entry's fresh-until time;
//! - [`memfd`]: writing, sealing and mapping one image;
//! - [`publisher`]: the current generation: handed out on request, retired the moment
//!   served data is replaced (before the change's caller answers anyone), heartbeat,
//!   per-entry freshness updates, counters for `status`;
//! - [`revoke`]: which entries a change to the served data makes wrong: those are
//!   revoked in place and the next image is built later, so one new user does not cost
//!   a rebuild.
//!
//! What a reader may answer is decided here, once: an entry fresh by the daemon's own
//! rule (younger than half its `positive-ttl`, when the daemon would not even refresh it
//! in the background) in a live image whose heartbeat is recent. Everything else goes to
//! the socket and its policy, exactly as before the map existed.

pub mod clock;
pub mod image;
pub mod memfd;
pub mod publisher;
pub mod revoke;

pub use publisher::{MapStatus, Publisher};
