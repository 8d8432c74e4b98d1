//! Which daemon the module talks to at all (design.md §7).
//!
//! `SO_PEERCRED` on a connected `AF_UNIX` socket reports whoever called `listen()`:
//! systemd (uid 0) when socket-activated as packaged, the daemon itself (root) otherwise.
//! A socket path that merely exists proves nothing: `/run` may be writable by someone
//! else in a container, and `WORKBENCH_NSS_SOCKET` can point anywhere. The rule:
//! - a peer with uid 0 is trusted;
//! - a non-root peer only when the path came from `WORKBENCH_NSS_SOCKET` (so never for
//!   setuid/setgid programs: `secure_getenv`) and the caller's real, effective and saved
//!   uids all equal that peer's uid: a user's own test daemon can only lie to that user.
//!
//! Anything else gets nothing sent and `UNAVAIL`, so the next NSS source answers.

use crate::credentials::all_uids;

/// Whether a daemon whose listening socket belongs to `peer_uid` may be asked.
pub fn peer_trusted(peer_uid: libc::uid_t, from_env: bool) -> bool {
    peer_uid == 0 || (from_env && all_uids() == [peer_uid; 3])
}

/// The uid `SO_PEERCRED` reports for the connected socket `fd`; `None` if it fails.
pub fn peer_uid(fd: libc::c_int) -> Option<libc::uid_t> {
    let mut cred = libc::ucred {
        pid: 0,
        uid: libc::uid_t::MAX,
        gid: libc::gid_t::MAX,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: `cred` is a valid ucred and `len` its exact size.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            std::ptr::addr_of_mut!(cred).cast::<libc::c_void>(),
            &mut len,
        )
    };
    (rc == 0).then_some(cred.uid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_peer_is_always_trusted() {
        assert!(peer_trusted(0, false));
        assert!(peer_trusted(0, true));
    }

    #[test]
    fn non_root_peer_needs_the_environment_and_the_same_uid() {
        let me = unsafe { libc::geteuid() };
        let other = if me == 4242 { 4243 } else { 4242 };
        assert!(!peer_trusted(other, false));
        assert!(!peer_trusted(other, true));
        if me != 0 {
            assert!(!peer_trusted(me, false));
            assert!(peer_trusted(me, true));
        }
    }
}
