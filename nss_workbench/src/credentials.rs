//! Who the calling process is right now: the key every piece of per-caller state (the
//! cached connection, the replay slot, the shadow enumeration page) is tied to.
//!
//! The daemon decides what a connection may read from `SO_PEERCRED`, which the kernel
//! captures at `connect()`. A process that changes its effective uid or gid without
//! `exec` (a root daemon calling `setresuid` after a lookup) must therefore never reuse
//! a connection, a kept answer or a buffered page obtained under its old credentials.

/// The process id and effective ids of the caller, read on every call (a few `get*id`
/// system calls, cheaper than any socket I/O).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Credentials {
    pub pid: libc::pid_t,
    pub euid: libc::uid_t,
    pub egid: libc::gid_t,
}

impl Credentials {
    /// The calling process's credentials now.
    pub fn current() -> Credentials {
        // SAFETY: getpid, geteuid and getegid have no preconditions and cannot fail.
        unsafe {
            Credentials {
                pid: libc::getpid(),
                euid: libc::geteuid(),
                egid: libc::getegid(),
            }
        }
    }

    /// The calling process's pid now (what a `fork()` changes).
    pub fn current_pid() -> libc::pid_t {
        // SAFETY: getpid has no preconditions and cannot fail.
        unsafe { libc::getpid() }
    }
}

/// The real, effective and saved uids, all of which must equal a non-root daemon's uid
/// before the module trusts it (see [`crate::connection::peer_trusted`]).
pub fn all_uids() -> [libc::uid_t; 3] {
    let (mut r, mut e, mut s) = (0, 0, 0);
    // SAFETY: three valid out-pointers; getresuid cannot fail with valid pointers.
    let rc = unsafe { libc::getresuid(&mut r, &mut e, &mut s) };
    if rc != 0 {
        // Unreachable in practice; answering "root" makes the caller the strictest case.
        return [0, 0, 0];
    }
    [r, e, s]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn current_matches_the_process() {
        let c = Credentials::current();
        assert_eq!(c.pid, unsafe { libc::getpid() });
        assert_eq!(c.euid, unsafe { libc::geteuid() });
        assert_eq!(c.egid, unsafe { libc::getegid() });
        assert_eq!(all_uids()[1], c.euid);
    }
}
