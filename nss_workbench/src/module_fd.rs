//! The module's socket descriptor, which lives inside someone else's process.
//!
//! An application may close every descriptor from 3 up (`closefrom`, daemonising) or
//! `dup2` a file onto the number our cached connection had, and glibc may call us again
//! afterwards. The module must then neither write into nor close what now sits at that
//! number. So the descriptor is:
//! - never 0, 1 or 2 (an application that closed stdin would otherwise have its next
//!   `open` and our socket confused, and a daemon reopening `/dev/null` onto 0-2 would
//!   silently replace it): it is moved to 3 or above with `F_DUPFD_CLOEXEC`;
//! - tagged with the device and inode `fstat` reports right after `socket()`, and checked
//!   against them before every reuse and before `close`. When they differ (or the number
//!   is closed: `EBADF`) the descriptor is no longer ours and is forgotten, never closed.

use libc::c_int;

use crate::error::{last_errno, ClientError};

/// Lowest descriptor number the module uses.
pub const MIN_FD: c_int = 3;

/// A socket descriptor the module created, with the identity it had at creation.
#[derive(Debug)]
pub struct ModuleFd {
    fd: c_int,
    dev: libc::dev_t,
    ino: libc::ino_t,
}

impl ModuleFd {
    /// A new `AF_UNIX` stream socket, close-on-exec, at descriptor 3 or above.
    pub fn unix_stream() -> Result<ModuleFd, ClientError> {
        // SAFETY: plain socket(2) call; the result is checked before use.
        let raw = unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
        if raw < 0 {
            return Err(ClientError::Io(last_errno()));
        }
        let fd = if raw < MIN_FD {
            // SAFETY: `raw` is the descriptor we just created; F_DUPFD_CLOEXEC makes a
            // copy at the lowest free number >= MIN_FD.
            let moved = unsafe { libc::fcntl(raw, libc::F_DUPFD_CLOEXEC, MIN_FD) };
            let err = last_errno();
            // SAFETY: `raw` is ours (created above) and is not used again.
            unsafe { libc::close(raw) };
            if moved < 0 {
                return Err(ClientError::Io(err));
            }
            moved
        } else {
            raw
        };
        match identity(fd) {
            Some((dev, ino)) => Ok(ModuleFd { fd, dev, ino }),
            None => {
                let err = last_errno();
                // SAFETY: `fd` was created above and nothing else knows it yet.
                unsafe { libc::close(fd) };
                Err(ClientError::Io(err))
            }
        }
    }

    /// The descriptor number, for system calls on it. Check [`ModuleFd::still_ours`]
    /// before the first use after any call into application code.
    pub fn raw(&self) -> c_int {
        self.fd
    }

    /// Whether the number still refers to the socket we created (same device and inode).
    pub fn still_ours(&self) -> bool {
        identity(self.fd) == Some((self.dev, self.ino))
    }
}

impl Drop for ModuleFd {
    fn drop(&mut self) {
        // Closing a number the application has reused would close its file.
        if self.still_ours() {
            // SAFETY: the number still refers to our own socket (checked just above).
            unsafe { libc::close(self.fd) };
        }
    }
}

/// Device and inode of an open socket at `fd`; `None` when closed or not a socket.
fn identity(fd: c_int) -> Option<(libc::dev_t, libc::ino_t)> {
    // SAFETY: libc::stat is plain old data; all-zero is a valid value.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `st` is a valid out-pointer; fstat on any number is harmless (EBADF).
    let rc = unsafe { libc::fstat(fd, &mut st) };
    (rc == 0 && (st.st_mode & libc::S_IFMT) == libc::S_IFSOCK).then_some((st.st_dev, st.st_ino))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_is_at_three_or_above() {
        let s = ModuleFd::unix_stream().unwrap();
        assert!(s.raw() >= MIN_FD);
        assert!(s.still_ours());
    }

    #[test]
    fn a_replaced_number_is_forgotten_not_closed() {
        let s = ModuleFd::unix_stream().unwrap();
        let n = s.raw();
        let file = std::fs::File::open("/proc/self/status").unwrap();
        use std::os::fd::AsRawFd;
        // The application dup2s its file onto our number.
        assert_eq!(unsafe { libc::dup2(file.as_raw_fd(), n) }, n);
        assert!(!s.still_ours());
        drop(s);
        // Still open: the module did not close the application's file.
        assert!(unsafe { libc::fcntl(n, libc::F_GETFD) } >= 0);
        unsafe { libc::close(n) };
    }

    #[test]
    fn a_closed_number_is_not_ours() {
        let s = ModuleFd::unix_stream().unwrap();
        unsafe { libc::close(s.raw()) };
        assert!(!s.still_ours());
        drop(s);
    }
}
