//! Peer credentials and the privileges they carry.

use std::os::unix::io::AsFd;
use std::os::unix::net::UnixStream;

use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};

/// Credentials of the connecting process, captured by the kernel at `connect()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer {
    pub pid: i32,
    pub uid: u32,
    pub gid: u32,
}

impl Peer {
    /// Reads `SO_PEERCRED`; `None` if the kernel would not say (the peer is then treated
    /// as unprivileged).
    pub fn of(stream: &UnixStream) -> Option<Peer> {
        let cred = getsockopt(&stream.as_fd(), PeerCredentials).ok()?;
        Some(Peer {
            pid: cred.pid(),
            uid: cred.uid(),
            gid: cred.gid(),
        })
    }

    /// Root may run `invalidate` and `sync` and sees refusal details in `status`.
    pub fn is_root(&self) -> bool {
        self.uid == 0
    }

    /// Shadow data goes to effective UID 0 or effective GID `shadow-group`, as
    /// `/etc/shadow` is root:shadow 0640 (this covers the setgid `unix_chkpwd`).
    pub fn may_read_shadow(&self, shadow_gid: Option<u32>) -> bool {
        self.uid == 0 || shadow_gid.is_some_and(|g| g == self.gid)
    }
}

impl std::fmt::Display for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "pid {} uid {} gid {}", self.pid, self.uid, self.gid)
    }
}
