use libc::{c_char, c_int, size_t, spwd};
use workbench_wire::Request;

use super::{by_name, next_entry};
use crate::enumeration::Cursor;
use crate::ffi;
use crate::fill::Shadow;
use crate::status::NssStatus;

static CURSOR: Cursor = Cursor::new();

/// `getspnam_r` backend. The daemon answers only privileged peers; others get
/// `UNAVAIL`/`EACCES`.
///
/// # Safety
///
/// glibc's NSS contract: `name` a NUL-terminated string, `result` one writable
/// `struct spwd`, `buffer` `buflen` writable bytes, `errnop` a writable `int`.
#[no_mangle]
pub unsafe extern "C" fn _nss_workbench_getspnam_r(
    name: *const c_char,
    result: *mut spwd,
    buffer: *mut c_char,
    buflen: size_t,
    errnop: *mut c_int,
) -> NssStatus {
    // SAFETY: glibc's contract, forwarded.
    unsafe { by_name::<Shadow>(name, Request::ShadowByName, result, buffer, buflen, errnop) }
}

/// `setspent` backend: restart the enumeration.
#[no_mangle]
pub extern "C" fn _nss_workbench_setspent(_stayopen: c_int) -> NssStatus {
    ffi::run_void(|| CURSOR.reset())
}

/// `getspent_r` backend.
///
/// # Safety
///
/// As [`_nss_workbench_getspnam_r`].
#[no_mangle]
pub unsafe extern "C" fn _nss_workbench_getspent_r(
    result: *mut spwd,
    buffer: *mut c_char,
    buflen: size_t,
    errnop: *mut c_int,
) -> NssStatus {
    // SAFETY: glibc's contract, forwarded.
    unsafe { next_entry::<Shadow>(&CURSOR, result, buffer, buflen, errnop) }
}

/// `endspent` backend: drop the enumeration state.
#[no_mangle]
pub extern "C" fn _nss_workbench_endspent() -> NssStatus {
    ffi::run_void(|| CURSOR.reset())
}
