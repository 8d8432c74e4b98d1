//! `libnss_floor.so.2`, for `scripts/bench` only (never installed or packaged): an NSS
//! module whose `getpwnam_r`, `getpwuid_r` and `getgrnam_r` answer every key at once with
//! one small fixed entry, copying it into the caller's buffer like any module must.
//!
//! Its row (`glibc-floor`) is what a lookup through glibc costs when the module itself
//! costs next to nothing: glibc's NSS dispatch, which since glibc 2.33 includes a
//! `stat()` of `/etc/nsswitch.conf` on every call (`nss_database_check_reload_and_get`).
//! Every NSS module, SSSD's memory cache included, pays it; nscd does not (glibc asks it
//! before any module). Subtracting this row from `module-only` leaves what the workbench
//! module itself costs.

use libc::{c_char, c_int, group, passwd, size_t, uid_t};

const NSS_STATUS_TRYAGAIN: c_int = -2;
const NSS_STATUS_SUCCESS: c_int = 1;

/// `floor\0x\0/\0/bin/sh\0`: name, password, home (also gecos: empty), shell.
const STRINGS: &[u8] = b"floor\0x\0/\0/bin/sh\0";
const PASSWD_AT: usize = 6;
const DIR_AT: usize = 8;
const SHELL_AT: usize = 10;
const GECOS_AT: usize = 5; // the NUL ending "floor": an empty string

/// Copies [`STRINGS`] (and for a group a one-slot NULL `gr_mem` array) into `buffer`.
///
/// # Safety
///
/// `buffer` is valid for `buflen` writable bytes.
unsafe fn place(buffer: *mut c_char, buflen: size_t, array: bool) -> Option<*mut c_char> {
    let align = std::mem::align_of::<*mut c_char>();
    let pad = (buffer as usize).wrapping_neg() & (align - 1);
    let need = pad + if array { align } else { 0 } + STRINGS.len();
    if buflen < need {
        return None;
    }
    // SAFETY: need <= buflen bytes are written, the pointer slot aligned by `pad`.
    unsafe {
        let mut at = buffer.add(pad);
        if array {
            at.cast::<*mut c_char>().write(std::ptr::null_mut());
            at = at.add(align);
        }
        std::ptr::copy_nonoverlapping(STRINGS.as_ptr().cast::<c_char>(), at, STRINGS.len());
        Some(at)
    }
}

/// # Safety
///
/// glibc's NSS contract for `getpwnam_r`.
#[no_mangle]
pub unsafe extern "C" fn _nss_floor_getpwnam_r(
    _name: *const c_char,
    result: *mut passwd,
    buffer: *mut c_char,
    buflen: size_t,
    errnop: *mut c_int,
) -> c_int {
    // SAFETY: forwarded contract.
    unsafe { _nss_floor_getpwuid_r(4242, result, buffer, buflen, errnop) }
}

/// # Safety
///
/// glibc's NSS contract for `getpwuid_r`.
#[no_mangle]
pub unsafe extern "C" fn _nss_floor_getpwuid_r(
    uid: uid_t,
    result: *mut passwd,
    buffer: *mut c_char,
    buflen: size_t,
    errnop: *mut c_int,
) -> c_int {
    // SAFETY: glibc passes a valid buffer, struct and errno pointer.
    unsafe {
        let Some(s) = place(buffer, buflen, false) else {
            *errnop = libc::ERANGE;
            return NSS_STATUS_TRYAGAIN;
        };
        *result = passwd {
            pw_name: s,
            pw_passwd: s.add(PASSWD_AT),
            pw_uid: uid,
            pw_gid: uid,
            pw_gecos: s.add(GECOS_AT),
            pw_dir: s.add(DIR_AT),
            pw_shell: s.add(SHELL_AT),
        };
    }
    NSS_STATUS_SUCCESS
}

/// # Safety
///
/// glibc's NSS contract for `getgrnam_r`.
#[no_mangle]
pub unsafe extern "C" fn _nss_floor_getgrnam_r(
    _name: *const c_char,
    result: *mut group,
    buffer: *mut c_char,
    buflen: size_t,
    errnop: *mut c_int,
) -> c_int {
    // SAFETY: glibc passes a valid buffer, struct and errno pointer.
    unsafe {
        let Some(s) = place(buffer, buflen, true) else {
            *errnop = libc::ERANGE;
            return NSS_STATUS_TRYAGAIN;
        };
        *result = group {
            gr_name: s,
            gr_passwd: s.add(PASSWD_AT),
            gr_gid: 4242,
            gr_mem: s.sub(std::mem::align_of::<*mut c_char>()).cast(),
        };
    }
    NSS_STATUS_SUCCESS
}
