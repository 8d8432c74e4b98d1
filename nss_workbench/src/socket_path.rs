//! Where the daemon listens: compiled in, overridable for ordinary processes only.

use std::ffi::CStr;

use libc::c_char;
use workbench_wire::DEFAULT_SOCKET_PATH;

extern "C" {
    // glibc >= 2.17; not bound by the `libc` crate.
    pub(crate) fn secure_getenv(name: *const c_char) -> *mut c_char;
}

/// `workbench_wire::SOCKET_ENV` as a C string, built at compile time so that no lookup allocates it
/// (a unit test keeps the two spellings equal).
const SOCKET_ENV_C: &CStr = c"WORKBENCH_NSS_SOCKET";

/// The socket path for one call, and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketPath {
    pub bytes: Vec<u8>,
    /// Set from `WORKBENCH_NSS_SOCKET`: then (and only then) a daemon running as the
    /// caller's own non-root uid is trusted, as for a test or a side-by-side install the
    /// user started themselves. The compiled-in path is trusted only with a root peer.
    pub from_env: bool,
}

/// The socket path for this call.
///
/// `secure_getenv` returns NULL in setuid/setgid programs (`su`, `unix_chkpwd`), so
/// they can never be pointed at another daemon through the environment. Read on every
/// call (it is a scan of `environ`), so tests and side-by-side installs that change the
/// variable are honoured.
pub fn socket_path() -> SocketPath {
    // SAFETY: `SOCKET_ENV_C` is a valid NUL-terminated string; secure_getenv only reads it and
    // returns NULL or a pointer into `environ`, which we copy out at once.
    let value = unsafe { secure_getenv(SOCKET_ENV_C.as_ptr()) };
    let bytes = if value.is_null() {
        &[][..]
    } else {
        // SAFETY: a non-null result of secure_getenv is a NUL-terminated string in `environ`.
        unsafe { CStr::from_ptr(value) }.to_bytes()
    };
    if bytes.is_empty() {
        SocketPath {
            bytes: DEFAULT_SOCKET_PATH.as_bytes().to_vec(),
            from_env: false,
        }
    } else {
        SocketPath {
            bytes: bytes.to_vec(),
            from_env: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use workbench_wire::SOCKET_ENV;

    #[test]
    fn c_name_matches_the_wire_constant() {
        assert_eq!(SOCKET_ENV_C.to_bytes(), SOCKET_ENV.as_bytes());
    }
}
