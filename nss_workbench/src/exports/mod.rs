//! The `extern "C"` entry points, with glibc's exact signatures (`nss/nss_files` and
//! `<nss.h>`). These are the only symbols the shared object exports.
//!
//! Pointers glibc never passes as NULL are still checked: a NULL `name`, `result`,
//! `buffer`, `start`, `size` or `groupsp` gives `UNAVAIL`/`EINVAL` (the next backend
//! answers), a NULL `errnop` gives `UNAVAIL` with nothing done. A NULL `buffer` with
//! `buflen == 0` is treated as an empty buffer (`ERANGE` once the entry is known).

mod group;
mod initgroups;
mod passwd;
mod shadow;

pub use group::*;
pub use initgroups::*;
pub use passwd::*;
pub use shadow::*;

use std::ffi::CStr;

use libc::{c_char, c_int, size_t};
use workbench_wire::Request;

use crate::arena::Arena;
use crate::enumeration::Cursor;
use crate::ffi;
use crate::fill::{Database, Key};
use crate::lookup;
use crate::map::{self, answer::Refresh};
use crate::status::{Failure, NssStatus};

/// The caller's name argument as bytes (sent as is, UTF-8 or not).
///
/// # Safety
///
/// `name` is NULL or a NUL-terminated string valid for the call.
unsafe fn name_arg<'a>(name: *const c_char) -> Result<&'a [u8], Failure> {
    if name.is_null() {
        return Err(Failure::INVALID_ARGUMENT);
    }
    // SAFETY: non-null and NUL-terminated per the caller's contract.
    Ok(unsafe { CStr::from_ptr(name) }.to_bytes())
}

/// The caller's result struct and buffer.
///
/// # Safety
///
/// `result` is NULL or valid for writes of one `T`; `buffer` is NULL or valid for writes
/// of `buflen` bytes; neither is otherwise accessed during the call.
unsafe fn output<'a, T>(
    result: *mut T,
    buffer: *mut c_char,
    buflen: size_t,
) -> Result<(&'a mut T, Arena), Failure> {
    if result.is_null() || (buffer.is_null() && buflen > 0) {
        return Err(Failure::INVALID_ARGUMENT);
    }
    // SAFETY: non-null and exclusively ours for the call (glibc's contract).
    let entry = unsafe { &mut *result };
    // SAFETY: `buffer` is valid for `buflen` bytes, or NULL with length 0, in which
    // case every reservation fails before dereferencing anything.
    let arena = unsafe { Arena::new(buffer, buflen) };
    Ok((entry, arena))
}

/// `getXXnam_r`.
///
/// # Safety
///
/// As [`name_arg`] and [`output`]; `errnop` NULL or valid.
unsafe fn by_name<D: Database>(
    name: *const c_char,
    request: fn(Vec<u8>) -> Request,
    result: *mut D::Entry,
    buffer: *mut c_char,
    buflen: size_t,
    errnop: *mut c_int,
) -> NssStatus {
    let fast = || {
        // SAFETY: forwarded from our caller (glibc).
        let name = unsafe { name_arg(name) }.ok()?;
        // SAFETY: forwarded from our caller (glibc).
        let (entry, mut arena) = unsafe { output(result, buffer, buflen) }.ok()?;
        map::answer::keyed::<D>(Key::Name(name), entry, &mut arena, Refresh::ReadOnly)
    };
    let body = || {
        // SAFETY: forwarded from our caller (glibc).
        let name = unsafe { name_arg(name) }?;
        // SAFETY: forwarded from our caller (glibc).
        let (entry, mut arena) = unsafe { output(result, buffer, buflen) }?;
        lookup::keyed::<D>(
            || request(name.to_vec()),
            Key::Name(name),
            entry,
            &mut arena,
        )
    };
    // SAFETY: `errnop` comes from glibc: valid, or NULL which `run` checks.
    unsafe { ffi::run_with_fast_path(errnop, fast, body) }
}

/// `getXXid_r`.
///
/// # Safety
///
/// As [`output`]; `errnop` NULL or valid.
unsafe fn by_id<D: Database>(
    id: u32,
    request: fn(u32) -> Request,
    result: *mut D::Entry,
    buffer: *mut c_char,
    buflen: size_t,
    errnop: *mut c_int,
) -> NssStatus {
    let fast = || {
        // SAFETY: forwarded from our caller (glibc).
        let (entry, mut arena) = unsafe { output(result, buffer, buflen) }.ok()?;
        map::answer::keyed::<D>(Key::Id(id), entry, &mut arena, Refresh::ReadOnly)
    };
    let body = || {
        // SAFETY: forwarded from our caller (glibc).
        let (entry, mut arena) = unsafe { output(result, buffer, buflen) }?;
        lookup::keyed::<D>(|| request(id), Key::Id(id), entry, &mut arena)
    };
    // SAFETY: `errnop` comes from glibc: valid, or NULL which `run` checks.
    unsafe { ffi::run_with_fast_path(errnop, fast, body) }
}

/// `getXXent_r`.
///
/// # Safety
///
/// As [`output`]; `errnop` NULL or valid.
unsafe fn next_entry<D: Database>(
    cursor: &Cursor,
    result: *mut D::Entry,
    buffer: *mut c_char,
    buflen: size_t,
    errnop: *mut c_int,
) -> NssStatus {
    let body = || {
        // SAFETY: forwarded from our caller (glibc).
        let (entry, mut arena) = unsafe { output(result, buffer, buflen) }?;
        cursor.next::<D>(entry, &mut arena)
    };
    // SAFETY: `errnop` comes from glibc: valid, or NULL which `run` checks.
    unsafe { ffi::run(errnop, body) }
}
