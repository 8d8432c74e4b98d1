use libc::{c_char, c_int, passwd, size_t, uid_t};
use workbench_wire::Request;

use super::{by_id, by_name, next_entry};
use crate::enumeration::Cursor;
use crate::ffi;
use crate::fill::Passwd;
use crate::status::NssStatus;

static CURSOR: Cursor = Cursor::new();

/// `getpwnam_r` backend.
///
/// # Safety
///
/// glibc's NSS contract: `name` a NUL-terminated string, `result` one writable
/// `struct passwd`, `buffer` `buflen` writable bytes, `errnop` a writable `int`.
#[no_mangle]
pub unsafe extern "C" fn _nss_workbench_getpwnam_r(
    name: *const c_char,
    result: *mut passwd,
    buffer: *mut c_char,
    buflen: size_t,
    errnop: *mut c_int,
) -> NssStatus {
    // SAFETY: glibc's contract, forwarded.
    unsafe { by_name::<Passwd>(name, Request::PasswdByName, result, buffer, buflen, errnop) }
}

/// `getpwuid_r` backend.
///
/// # Safety
///
/// As [`_nss_workbench_getpwnam_r`].
#[no_mangle]
pub unsafe extern "C" fn _nss_workbench_getpwuid_r(
    uid: uid_t,
    result: *mut passwd,
    buffer: *mut c_char,
    buflen: size_t,
    errnop: *mut c_int,
) -> NssStatus {
    // SAFETY: glibc's contract, forwarded.
    unsafe { by_id::<Passwd>(uid, Request::PasswdByUid, result, buffer, buflen, errnop) }
}

/// `setpwent` backend: restart the enumeration. `stayopen` is irrelevant (no file).
#[no_mangle]
pub extern "C" fn _nss_workbench_setpwent(_stayopen: c_int) -> NssStatus {
    ffi::run_void(|| CURSOR.reset())
}

/// `getpwent_r` backend.
///
/// # Safety
///
/// As [`_nss_workbench_getpwnam_r`].
#[no_mangle]
pub unsafe extern "C" fn _nss_workbench_getpwent_r(
    result: *mut passwd,
    buffer: *mut c_char,
    buflen: size_t,
    errnop: *mut c_int,
) -> NssStatus {
    // SAFETY: glibc's contract, forwarded.
    unsafe { next_entry::<Passwd>(&CURSOR, result, buffer, buflen, errnop) }
}

/// `endpwent` backend: drop the enumeration state.
#[no_mangle]
pub extern "C" fn _nss_workbench_endpwent() -> NssStatus {
    ffi::run_void(|| CURSOR.reset())
}
