//! Recursion guard: inside `workbench-cached` itself the module must answer nothing,
//! or a lookup the daemon makes (through glibc) would call back into the daemon.
//!
//! The daemon binary exports the dynamic symbol `workbench_cached_recursion_guard`; its
//! presence in the global scope is the signal. The answer cannot change during the life
//! of a process, so it is looked up once and cached.

use std::sync::atomic::{AtomicU8, Ordering};

/// Symbol the daemon exports (it must be in its dynamic symbol table).
pub const GUARD_SYMBOL: &std::ffi::CStr = c"workbench_cached_recursion_guard";

const UNKNOWN: u8 = 0;
const INSIDE_DAEMON: u8 = 1;
const ORDINARY: u8 = 2;

static STATE: AtomicU8 = AtomicU8::new(UNKNOWN);

/// True when this process is `workbench-cached`.
pub fn inside_daemon() -> bool {
    match STATE.load(Ordering::Relaxed) {
        INSIDE_DAEMON => true,
        ORDINARY => false,
        _ => {
            // SAFETY: dlsym with RTLD_DEFAULT and a valid NUL-terminated name only
            // searches the global symbol scope; the result is compared, never called.
            let sym = unsafe { libc::dlsym(libc::RTLD_DEFAULT, GUARD_SYMBOL.as_ptr()) };
            let inside = !sym.is_null();
            STATE.store(
                if inside { INSIDE_DAEMON } else { ORDINARY },
                Ordering::Relaxed,
            );
            inside
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn test_binary_is_not_the_daemon() {
        assert!(!super::inside_daemon());
        assert!(!super::inside_daemon());
    }
}
