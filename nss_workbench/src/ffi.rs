//! What every exported entry point does around its body: thread cancellation disabled
//! (except around an answer from the in-process map, which has no cancellation point),
//! the recursion guard, `catch_unwind`, `errno` discipline and the final status.

use std::panic::{catch_unwind, AssertUnwindSafe};

use libc::c_int;

use crate::cancel::NoCancel;
use crate::guard;
use crate::status::{Failure, NssStatus};

/// Runs a keyed or enumeration body for an entry point that has an `errnop`.
///
/// - Thread cancellation is disabled throughout and the caller's state restored
///   ([`crate::cancel`]).
/// - Inside the daemon: `UNAVAIL`/`ENOENT` at once, no socket touched.
/// - A null `errnop` is a caller bug we cannot even report: `UNAVAIL`, nothing done.
/// - A panic is caught and becomes [`Failure::PANICKED`] (`UNAVAIL`/`ENOENT`) so the next
///   backend answers; the process is never taken down.
/// - On success `*errnop` (in glibc, `&errno`) keeps the value it had on entry, even
///   though the system calls made on the way may have changed `errno`.
///
/// # Safety
///
/// `errnop` is NULL or valid for writing one `int`.
pub unsafe fn run(errnop: *mut c_int, body: impl FnOnce() -> Result<(), Failure>) -> NssStatus {
    // SAFETY: forwarded contract.
    unsafe { run_with_fast_path(errnop, || None, body) }
}

/// [`run`], trying `fast` first: an answer that makes no system call that is a
/// cancellation point (a read of the in-process map), so it runs without the two
/// `pthread_setcancelstate` calls; `None` from it and `body` runs as in [`run`].
///
/// # Safety
///
/// As [`run`].
pub unsafe fn run_with_fast_path(
    errnop: *mut c_int,
    fast: impl FnOnce() -> Option<Result<(), Failure>>,
    body: impl FnOnce() -> Result<(), Failure>,
) -> NssStatus {
    if errnop.is_null() {
        return NssStatus::Unavail;
    }
    let saved = errno();
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        if guard::inside_daemon() {
            return Err(Failure::UNAVAILABLE);
        }
        if let Some(answer) = fast() {
            return answer;
        }
        let _no_cancel = NoCancel::enter();
        body()
    }))
    .unwrap_or(Err(Failure::PANICKED));
    match outcome {
        Ok(()) => {
            set_errno(saved);
            NssStatus::Success
        }
        Err(f) => {
            // SAFETY: checked non-null above; valid per this function's contract.
            unsafe { *errnop = f.errno };
            f.status
        }
    }
}

/// Runs the body of `setXXent`/`endXXent`, which have no `errnop`: they only reset
/// local state and always succeed outside the daemon. Cancellation is disabled as in
/// [`run`] (a reset may close a connection).
pub fn run_void(body: impl FnOnce()) -> NssStatus {
    let _no_cancel = NoCancel::enter();
    let saved = errno();
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        if guard::inside_daemon() {
            return NssStatus::Unavail;
        }
        body();
        NssStatus::Success
    }))
    .unwrap_or(NssStatus::Unavail);
    set_errno(saved);
    outcome
}

fn errno() -> c_int {
    // SAFETY: __errno_location always returns the calling thread's valid errno slot.
    unsafe { *libc::__errno_location() }
}

fn set_errno(v: c_int) {
    // SAFETY: as in `errno`.
    unsafe { *libc::__errno_location() = v };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_sets_errnop_success_leaves_it() {
        let mut e: c_int = 1234;
        assert_eq!(unsafe { run(&mut e, || Ok(())) }, NssStatus::Success);
        assert_eq!(e, 1234);
        assert_eq!(
            unsafe { run(&mut e, || Err(Failure::BUFFER_TOO_SMALL)) },
            NssStatus::TryAgain
        );
        assert_eq!(e, libc::ERANGE);
    }

    #[test]
    fn success_restores_errno() {
        set_errno(77);
        let mut e: c_int = 0;
        let st = unsafe {
            run(&mut e, || {
                set_errno(libc::EAGAIN);
                Ok(())
            })
        };
        assert_eq!(st, NssStatus::Success);
        assert_eq!(errno(), 77);
    }

    #[test]
    #[allow(clippy::panic)]
    fn panics_become_unavail() {
        let mut e: c_int = 0;
        let st = unsafe { run(&mut e, || panic!("boom")) };
        assert_eq!(st, NssStatus::Unavail);
        assert_eq!(e, libc::ENOENT);
    }

    #[test]
    fn null_errnop_is_unavail() {
        assert_eq!(
            unsafe { run(std::ptr::null_mut(), || Ok(())) },
            NssStatus::Unavail
        );
    }
}
