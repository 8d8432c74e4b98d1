//! Thread cancellation is disabled for the whole of every entry point.
//!
//! `poll`, `connect`, `recv` and `send` are cancellation points. A `pthread_cancel`
//! arriving while the module waits for the daemon would unwind the thread through Rust
//! frames (which must not happen across `extern "C"`), leak the connection and leave a
//! half-read frame on it. glibc's own NSS code disables cancellation the same way. A
//! cancel that arrives meanwhile stays pending and acts at the caller's next
//! cancellation point after we return; the caller's previous state is restored.

use libc::c_int;

extern "C" {
    // In glibc's libc.so.6; not bound by the `libc` crate for Linux.
    fn pthread_setcancelstate(state: c_int, oldstate: *mut c_int) -> c_int;
}

/// glibc's `PTHREAD_CANCEL_DISABLE` (`<pthread.h>`; `PTHREAD_CANCEL_ENABLE` is 0).
const PTHREAD_CANCEL_DISABLE: c_int = 1;

/// Cancellation disabled from [`NoCancel::enter`] until drop, then restored.
#[derive(Debug)]
pub struct NoCancel {
    previous: Option<c_int>,
}

impl NoCancel {
    /// Disables cancellation for the calling thread, remembering the state it had.
    pub fn enter() -> NoCancel {
        let mut old: c_int = 0;
        // SAFETY: a valid state constant and a valid out-pointer.
        let rc = unsafe { pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &mut old) };
        NoCancel {
            previous: (rc == 0).then_some(old),
        }
    }
}

impl Drop for NoCancel {
    fn drop(&mut self) {
        if let Some(old) = self.previous {
            let mut ignored: c_int = 0;
            // SAFETY: `old` is a state glibc itself reported; valid out-pointer.
            unsafe { pthread_setcancelstate(old, &mut ignored) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> c_int {
        let mut old = 0;
        unsafe {
            pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &mut old);
            pthread_setcancelstate(old, &mut 0);
        }
        old
    }

    #[test]
    fn disabled_inside_and_restored_after() {
        let before = state();
        {
            let _g = NoCancel::enter();
            assert_eq!(state(), PTHREAD_CANCEL_DISABLE);
            {
                // Nested (a lookup inside a lookup): the inner guard restores "disabled".
                let _inner = NoCancel::enter();
            }
            assert_eq!(state(), PTHREAD_CANCEL_DISABLE);
        }
        assert_eq!(state(), before);
    }
}
