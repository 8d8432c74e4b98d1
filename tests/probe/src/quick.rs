//! The same glibc calls as `nss`, without copying the entry out: for benchmarks, where
//! a deep copy (a 5,000-member group is 5,000 allocations) would cost more than the
//! lookup being measured. The guard bytes and the result pointer are still checked;
//! a group's member list is walked to its end, as a program reading it would.

use std::ffi::CStr;
use std::os::raw::c_char;

use crate::entry::Region;
use crate::errno;
use crate::nss::{self, Answer, Buffer, Outcome};

fn nothing<S>(_: &S, _: &Region) -> Result<(), String> {
    Ok(())
}

/// Number of entries in a NULL-terminated `gr_mem`.
fn members(g: &libc::group) -> usize {
    let mut n = 0;
    if g.gr_mem.is_null() {
        return 0;
    }
    // SAFETY: glibc hands back a NULL-terminated array of pointers (in the caller's
    // buffer for the _r calls, in its own static buffer for getgrnam()).
    while !unsafe { *g.gr_mem.add(n) }.is_null() {
        n += 1;
    }
    n
}

fn count(g: &libc::group, _: &Region) -> Result<(), String> {
    std::hint::black_box(members(g));
    Ok(())
}

pub fn getpwnam(name: &CStr, buf: &mut Buffer) -> Outcome<()> {
    let name = name.as_ptr();
    nss::call(
        buf,
        // SAFETY: name is a live C string; buffer, struct and result pointers are valid
        // for the call (see nss::call).
        move |s, b: *mut c_char, l, r| unsafe { libc::getpwnam_r(name, s, b, l, r) },
        nothing::<libc::passwd>,
    )
}

pub fn getpwuid(uid: u32, buf: &mut Buffer) -> Outcome<()> {
    nss::call(
        buf,
        // SAFETY: as in getpwnam.
        move |s, b, l, r| unsafe { libc::getpwuid_r(uid, s, b, l, r) },
        nothing::<libc::passwd>,
    )
}

pub fn getgrnam(name: &CStr, buf: &mut Buffer) -> Outcome<()> {
    let name = name.as_ptr();
    nss::call(
        buf,
        // SAFETY: as in getpwnam.
        move |s, b, l, r| unsafe { libc::getgrnam_r(name, s, b, l, r) },
        count,
    )
}

/// Non-reentrant `getgrnam()`, glibc's own growing buffer. One thread only.
pub fn getgrnam_static(name: &CStr) -> Answer<()> {
    errno::clear();
    // SAFETY: name is a live C string.
    let g = unsafe { libc::getgrnam(name.as_ptr()) };
    let err = errno::get();
    if g.is_null() {
        return if err == 0 {
            Answer::NotFound
        } else {
            Answer::Failed(err)
        };
    }
    // SAFETY: glibc returned a valid pointer to its static group struct.
    std::hint::black_box(members(unsafe { &*g }));
    Answer::Found(())
}
