//! Socket activation: taking the listening socket that systemd bound for us
//! (`workbench-cached.socket`, passed as fd 3 with `LISTEN_PID`/`LISTEN_FDS`) instead of
//! binding it ourselves.
//!
//! Why the package does this: the unit's hardening (ProtectSystem=, PrivateTmp=, ...)
//! gives the daemon a mount namespace of its own, and a socket bound inside it is a
//! "disconnected path" to every process outside. AppArmor refuses a connect() to a
//! disconnected path before any rule is consulted, so under Ubuntu's enforced
//! `unix-chkpwd` profile pam_unix's setgid helper could not reach the daemon at all.
//! systemd binds the socket in the host's namespace, where the path is an ordinary one.
//!
//! Without `LISTEN_PID` naming this process (a test, `scripts/demo`, a hand start) the
//! daemon binds `socket-path` itself, as before.

use std::ffi::OsStr;
use std::io;
use std::os::fd::{FromRawFd, RawFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

/// The first descriptor systemd passes (`SD_LISTEN_FDS_START` in sd-daemon.h).
pub const LISTEN_FDS_START: RawFd = 3;

/// The environment variables of the protocol; removed once read, so that nothing the
/// daemon might start inherits a claim to descriptors it does not have.
const ENV_VARS: [&str; 3] = ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"];

/// A passed socket the daemon cannot use. Each is a unit or configuration mistake that
/// a restart cannot fix, so `serve` exits 2 (no restart loop) with this message.
#[derive(Debug)]
pub enum ActivationError {
    /// `LISTEN_FDS` is not a count, or is not 1: the daemon listens on one socket.
    Count { listen_fds: String },
    /// fd 3 is not a listening `AF_UNIX` stream socket (`what` says what it is instead).
    NotListeningUnixStream { what: String },
    /// fd 3 is bound somewhere else than `socket-path`, where the module connects.
    WrongPath {
        passed: Option<PathBuf>,
        configured: PathBuf,
    },
    /// Asking the kernel about fd 3 failed.
    Inspect {
        call: &'static str,
        source: io::Error,
    },
}

impl std::fmt::Display for ActivationError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ActivationError::Count { listen_fds } => write!(
                f,
                "systemd passed LISTEN_FDS={listen_fds:?}; workbench-cached listens on exactly \
                 one socket (one ListenStream= in workbench-cached.socket)"
            ),
            ActivationError::NotListeningUnixStream { what } => write!(
                f,
                "the socket systemd passed (fd {LISTEN_FDS_START}) is {what}, not a listening \
                 Unix stream socket: workbench-cached.socket needs ListenStream=<path>"
            ),
            ActivationError::WrongPath { passed, configured } => write!(
                f,
                "systemd passed a socket bound to {}, but socket-path is {}: the NSS module \
                 connects to socket-path, so make ListenStream= in workbench-cached.socket \
                 and socket-path the same",
                passed
                    .as_deref()
                    .map_or_else(|| "no path".to_string(), |p| p.display().to_string()),
                configured.display()
            ),
            ActivationError::Inspect { call, source } => write!(
                f,
                "inspecting the socket systemd passed (fd {LISTEN_FDS_START}): {call}: {source}"
            ),
        }
    }
}

impl std::error::Error for ActivationError {}

/// How many descriptors the environment says were passed to this process: 0 unless
/// `LISTEN_PID` is this process' PID (the variables may have been inherited from a
/// parent that was activated itself, and then they describe its descriptors, not ours).
pub fn passed_count(
    listen_pid: Option<&OsStr>,
    listen_fds: Option<&OsStr>,
    own_pid: u32,
) -> Result<usize, ActivationError> {
    let for_us = listen_pid
        .and_then(OsStr::to_str)
        .and_then(|p| p.parse::<u32>().ok())
        .is_some_and(|p| p == own_pid);
    if !for_us {
        return Ok(0);
    }
    let raw = listen_fds.map(|v| v.to_string_lossy().into_owned());
    match raw.as_deref().map(str::parse::<usize>) {
        Some(Ok(n)) => Ok(n),
        _ => Err(ActivationError::Count {
            listen_fds: raw.unwrap_or_default(),
        }),
    }
}

/// The listening socket systemd passed, or `Ok(None)` when this process was not
/// socket-activated. Call first thing, before the daemon opens any file (a file opened
/// earlier could land on fd 3 and be mistaken for the socket) and before any thread
/// starts (it edits the environment). Check the path with [`check_path`] once the
/// configuration is loaded.
pub fn take() -> Result<Option<UnixListener>, ActivationError> {
    let count = passed_count(
        std::env::var_os("LISTEN_PID").as_deref(),
        std::env::var_os("LISTEN_FDS").as_deref(),
        std::process::id(),
    );
    for var in ENV_VARS {
        std::env::remove_var(var);
    }
    match count? {
        0 => return Ok(None),
        1 => {}
        n => {
            return Err(ActivationError::Count {
                listen_fds: n.to_string(),
            })
        }
    }
    let fd = LISTEN_FDS_START;
    check_listening_unix_stream(fd)?;
    // SAFETY: by the protocol, checked above (LISTEN_PID is our PID, LISTEN_FDS=1), fd 3
    // was handed to this process to own; it is an open listening socket (checked), and
    // nothing else in the daemon takes it: the variables are gone, so take() finds no
    // descriptor a second time.
    let listener = unsafe { UnixListener::from_raw_fd(fd) };
    set_cloexec(fd)?;
    listener
        .set_nonblocking(false)
        .map_err(|source| ActivationError::Inspect {
            call: "fcntl(F_SETFL)",
            source,
        })?;
    Ok(Some(listener))
}

/// Refuses a passed socket bound anywhere but `socket_path`, where the module connects.
pub fn check_path(listener: &UnixListener, socket_path: &Path) -> Result<(), ActivationError> {
    let addr = listener
        .local_addr()
        .map_err(|source| ActivationError::Inspect {
            call: "getsockname",
            source,
        })?;
    let passed = addr.as_pathname().map(Path::to_path_buf);
    if passed.as_deref() != Some(socket_path) {
        return Err(ActivationError::WrongPath {
            passed,
            configured: socket_path.to_path_buf(),
        });
    }
    Ok(())
}

/// Logs a warning when the socket file's mode is not the one the daemon gives its own
/// socket: systemd applies `SocketMode=`, and with anything narrower than 0666 lookups
/// by ordinary users fail (the module then falls through, silently for them).
pub fn warn_on_mode(socket_path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    match std::fs::metadata(socket_path) {
        Ok(meta) if meta.permissions().mode() & 0o777 != crate::server::listener::SOCKET_MODE => {
            log::warn!(
                "socket {} has mode {:04o}, not {:04o}: lookups by users who cannot write \
                 to it fail (SocketMode= in workbench-cached.socket)",
                socket_path.display(),
                meta.permissions().mode() & 0o777,
                crate::server::listener::SOCKET_MODE
            );
        }
        Ok(_) => {}
        Err(e) => log::warn!("socket {}: {e}", socket_path.display()),
    }
}

/// Refuses anything but a listening `AF_UNIX` `SOCK_STREAM` socket on `fd` (a datagram
/// socket, a TCP socket, a file or a closed descriptor from a mistaken unit).
fn check_listening_unix_stream(fd: RawFd) -> Result<(), ActivationError> {
    let domain = sockopt(fd, libc::SO_DOMAIN, "getsockopt(SO_DOMAIN)").map_err(|e| match e {
        ActivationError::Inspect { source, .. }
            if source.raw_os_error() == Some(libc::ENOTSOCK) =>
        {
            ActivationError::NotListeningUnixStream {
                what: "not a socket".into(),
            }
        }
        ActivationError::Inspect { source, .. } if source.raw_os_error() == Some(libc::EBADF) => {
            ActivationError::NotListeningUnixStream {
                what: "not an open descriptor".into(),
            }
        }
        other => other,
    })?;
    if domain != libc::AF_UNIX {
        return Err(ActivationError::NotListeningUnixStream {
            what: format!("a socket of address family {domain}"),
        });
    }
    let kind = sockopt(fd, libc::SO_TYPE, "getsockopt(SO_TYPE)")?;
    if kind != libc::SOCK_STREAM {
        return Err(ActivationError::NotListeningUnixStream {
            what: format!("a Unix socket of type {kind} (datagram or seqpacket)"),
        });
    }
    if sockopt(fd, libc::SO_ACCEPTCONN, "getsockopt(SO_ACCEPTCONN)")? == 0 {
        return Err(ActivationError::NotListeningUnixStream {
            what: "a Unix stream socket that is not listening".into(),
        });
    }
    Ok(())
}

fn sockopt(
    fd: RawFd,
    option: libc::c_int,
    call: &'static str,
) -> Result<libc::c_int, ActivationError> {
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `value`, an int that lives here,
    // and `len` says exactly its size; a bad fd is reported as an error, not UB.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            option,
            (&mut value as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if rc == 0 {
        Ok(value)
    } else {
        Err(ActivationError::Inspect {
            call,
            source: io::Error::last_os_error(),
        })
    }
}

/// systemd passes the descriptor without close-on-exec; the daemon's own descriptors all
/// have it.
fn set_cloexec(fd: RawFd) -> Result<(), ActivationError> {
    // SAFETY: fcntl on an fd we own, with integer arguments only.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
    // SAFETY: as above.
    if flags < 0 || unsafe { libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC) } < 0 {
        return Err(ActivationError::Inspect {
            call: "fcntl(F_SETFD)",
            source: io::Error::last_os_error(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(pid: Option<&str>, fds: Option<&str>, own: u32) -> Result<usize, ActivationError> {
        passed_count(pid.map(OsStr::new), fds.map(OsStr::new), own)
    }

    #[test]
    fn descriptors_count_only_when_listen_pid_is_ours() {
        assert_eq!(count(Some("42"), Some("1"), 42).unwrap(), 1);
        // Inherited from an activated parent: describes the parent's descriptors.
        assert_eq!(count(Some("41"), Some("1"), 42).unwrap(), 0);
        assert_eq!(count(None, Some("1"), 42).unwrap(), 0);
        assert_eq!(count(Some("not-a-pid"), Some("1"), 42).unwrap(), 0);
        assert_eq!(count(Some("42"), Some("0"), 42).unwrap(), 0);
    }

    #[test]
    fn a_bad_count_for_us_is_an_error_not_zero() {
        for fds in [None, Some(""), Some("one"), Some("-1"), Some("1 ")] {
            assert!(
                matches!(
                    count(Some("42"), fds, 42),
                    Err(ActivationError::Count { .. })
                ),
                "{fds:?}"
            );
        }
    }

    /// `[Socket]` settings of the packaged socket unit.
    fn socket_unit() -> Vec<(String, String)> {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../packaging/workbench-cached.socket"
        );
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .skip_while(|l| l.trim() != "[Socket]")
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect()
    }

    /// The unit binds where the module connects, with the modes the daemon uses when it
    /// binds the socket itself: a drift here is a daemon that refuses to start, or a
    /// socket only root can use.
    #[test]
    fn packaged_socket_unit_matches_the_code() {
        let unit = socket_unit();
        let get = |key: &str| {
            let values: Vec<&str> = unit
                .iter()
                .filter(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
                .collect();
            assert_eq!(
                values.len(),
                1,
                "{key} in workbench-cached.socket: {values:?}"
            );
            values[0].to_string()
        };
        assert_eq!(get("ListenStream"), workbench_wire::DEFAULT_SOCKET_PATH);
        let default_path =
            crate::config::keys::lookup(crate::config::keys::SOCKET_PATH).map(|k| k.default_doc());
        assert_eq!(default_path, Some(workbench_wire::DEFAULT_SOCKET_PATH));
        assert_eq!(
            get("SocketMode"),
            format!("{:04o}", crate::server::listener::SOCKET_MODE)
        );
        assert_eq!(
            get("DirectoryMode"),
            format!("{:04o}", crate::server::listener::SOCKET_DIR_MODE)
        );
        assert_eq!(get("Accept"), "no");
    }

    #[test]
    fn wrong_path_names_both_paths() {
        let e = ActivationError::WrongPath {
            passed: Some("/run/other".into()),
            configured: "/run/workbench-nss/socket".into(),
        };
        let text = e.to_string();
        assert!(text.contains("/run/other") && text.contains("/run/workbench-nss/socket"));
    }
}
