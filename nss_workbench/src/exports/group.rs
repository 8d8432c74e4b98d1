use libc::{c_char, c_int, gid_t, group, size_t};
use workbench_wire::Request;

use super::{by_id, by_name, next_entry};
use crate::enumeration::Cursor;
use crate::ffi;
use crate::fill::Group;
use crate::status::NssStatus;

static CURSOR: Cursor = Cursor::new();

/// `getgrnam_r` backend.
///
/// # Safety
///
/// glibc's NSS contract: `name` a NUL-terminated string, `result` one writable
/// `struct group`, `buffer` `buflen` writable bytes, `errnop` a writable `int`.
#[no_mangle]
pub unsafe extern "C" fn _nss_workbench_getgrnam_r(
    name: *const c_char,
    result: *mut group,
    buffer: *mut c_char,
    buflen: size_t,
    errnop: *mut c_int,
) -> NssStatus {
    // SAFETY: glibc's contract, forwarded.
    unsafe { by_name::<Group>(name, Request::GroupByName, result, buffer, buflen, errnop) }
}

/// `getgrgid_r` backend.
///
/// # Safety
///
/// As [`_nss_workbench_getgrnam_r`].
#[no_mangle]
pub unsafe extern "C" fn _nss_workbench_getgrgid_r(
    gid: gid_t,
    result: *mut group,
    buffer: *mut c_char,
    buflen: size_t,
    errnop: *mut c_int,
) -> NssStatus {
    // SAFETY: glibc's contract, forwarded.
    unsafe { by_id::<Group>(gid, Request::GroupByGid, result, buffer, buflen, errnop) }
}

/// `setgrent` backend: restart the enumeration. `stayopen` is irrelevant (no file).
#[no_mangle]
pub extern "C" fn _nss_workbench_setgrent(_stayopen: c_int) -> NssStatus {
    ffi::run_void(|| CURSOR.reset())
}

/// `getgrent_r` backend.
///
/// # Safety
///
/// As [`_nss_workbench_getgrnam_r`].
#[no_mangle]
pub unsafe extern "C" fn _nss_workbench_getgrent_r(
    result: *mut group,
    buffer: *mut c_char,
    buflen: size_t,
    errnop: *mut c_int,
) -> NssStatus {
    // SAFETY: glibc's contract, forwarded.
    unsafe { next_entry::<Group>(&CURSOR, result, buffer, buflen, errnop) }
}

/// `endgrent` backend: drop the enumeration state.
#[no_mangle]
pub extern "C" fn _nss_workbench_endgrent() -> NssStatus {
    ffi::run_void(|| CURSOR.reset())
}
