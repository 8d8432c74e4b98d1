//! The in-process fast path (design.md §5a): warm lookups answered from the daemon's
//! sealed, read-only map image without a system call.
//!
//! - [`mapping`]: one mapped image and the words the daemon keeps writing in it;
//! - [`slots`]: which mapping is current, lock-free for readers, unmapped when no
//!   thread reads it any more;
//! - [`receive`]: asking the daemon for the image and checking everything about it;
//! - [`answer`]: keyed lookups, `initgroups` and enumeration pages from the map.
//!
//! The map answers only an entry that is fresh by the daemon's own rule, in a live image
//! whose heartbeat is recent; everything else (misses, entries needing a refresh, shadow,
//! a retired or silent image, anything odd) goes to the socket exactly as before. A
//! refresh of the mapping happens on the calling thread, at most one thread at a time
//! (`try_lock`: the others use the socket meanwhile) and at most once per back-off
//! period, so a daemon without a map costs one extra round trip now and then.

pub mod answer;
pub mod clock;
pub mod mapping;
pub mod receive;
pub mod slots;

use std::sync::atomic::{AtomicU8, Ordering};

/// `WORKBENCH_NSS_NO_MAP=1` keeps a process on the socket (differential tests, and an
/// operator ruling the map out). Read with `secure_getenv`, once per process.
const NO_MAP_ENV: &std::ffi::CStr = c"WORKBENCH_NSS_NO_MAP";

static NO_MAP: AtomicU8 = AtomicU8::new(0);

/// Whether this process must not use the map.
pub fn disabled() -> bool {
    match NO_MAP.load(Ordering::Relaxed) {
        1 => false,
        2 => true,
        _ => {
            // SAFETY: a valid NUL-terminated name; the result is only tested for NULL
            // and, if not NULL, read as the NUL-terminated string it points to.
            let value = unsafe { crate::socket_path::secure_getenv(NO_MAP_ENV.as_ptr()) };
            // SAFETY: non-null results of secure_getenv are NUL-terminated strings.
            let off =
                !value.is_null() && unsafe { std::ffi::CStr::from_ptr(value) }.to_bytes() == b"1";
            NO_MAP.store(if off { 2 } else { 1 }, Ordering::Relaxed);
            off
        }
    }
}
