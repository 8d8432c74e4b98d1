use libc::{c_char, c_int, c_long, gid_t};

use super::name_arg;
use crate::ffi;
use crate::initgroups::{initgroups, GroupArray};
use crate::status::{Failure, NssStatus};

/// `initgroups_dyn` backend: append `user`'s directory groups (other than `group`, the
/// primary one, and gids already listed) to `*groupsp`, growing it with `realloc`.
/// `SUCCESS` when the daemon knows the user (even if nothing was added), `NOTFOUND`/
/// `ENOENT` when it says it does not.
///
/// # Safety
///
/// glibc's NSS contract: `user` a NUL-terminated string; `start`, `size`, `groupsp`
/// writable; `*groupsp` a `malloc`ed array of `*size` gids, the first `*start` set.
#[no_mangle]
pub unsafe extern "C" fn _nss_workbench_initgroups_dyn(
    user: *const c_char,
    group: gid_t,
    start: *mut c_long,
    size: *mut c_long,
    groupsp: *mut *mut gid_t,
    limit: c_long,
    errnop: *mut c_int,
) -> NssStatus {
    let body = || {
        // SAFETY: glibc's contract, forwarded.
        let user = unsafe { name_arg(user) }?;
        if start.is_null() || size.is_null() || groupsp.is_null() {
            return Err(Failure::INVALID_ARGUMENT);
        }
        // SAFETY: checked non-null; glibc passes distinct writable objects that nothing
        // else touches during the call.
        let array = unsafe {
            GroupArray {
                start: &mut *start,
                size: &mut *size,
                groups: &mut *groupsp,
                limit,
            }
        };
        // SAFETY: `*groupsp` is a malloc'ed array as described (glibc's contract).
        unsafe { initgroups(user, group, array) }
    };
    // SAFETY: `errnop` comes from glibc: valid, or NULL which `run` checks.
    unsafe { ffi::run(errnop, body) }
}
