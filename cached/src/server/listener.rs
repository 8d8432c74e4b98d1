//! Binding the socket and accepting clients, each on its own small thread.
//!
//! A thread per connection keeps a slow or hostile client from delaying anyone else:
//! lookups are answered from memory, so a connection thread is cheap and short-lived in
//! CPU terms. The number of connections is bounded, per peer uid too
//! ([`connection_table`](crate::server::connection_table) has the policy); a connection
//! that is refused is closed at once, before any thread is started for it, and idle ones
//! are closed by their own deadline or, under pressure, to make room.

use std::fs;
use std::io;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;

use crate::ondemand::state::OnDemand;
use crate::server::connection;
pub use crate::server::connection_table::MAX_CONNECTIONS;
use crate::server::connection_table::{ConnectionTable, Refusal, CLOSING_SLACK};
use crate::server::peer::Peer;

/// Stack of a connection thread: answers are built on the heap.
const CONNECTION_STACK: usize = 128 * 1024;

/// Descriptors beyond the connections: the listener, the cache, SCIM requests, logging.
const FD_HEADROOM: usize = 256;

/// Threads beyond the connections': accept, sync, signals, background refreshes.
const THREAD_HEADROOM: usize = 256;

/// Connection threads at most: the table's bound plus connections closed to make room
/// whose thread has not ended yet.
const MAX_CONNECTION_THREADS: usize = MAX_CONNECTIONS + CLOSING_SLACK;

/// Open files the daemon needs: `LimitNOFILE=` in `packaging/workbench-cached.service`
/// (a unit test checks that they agree), and what [`raise_fd_limit`] asks for when
/// started outside systemd.
pub const LIMIT_NOFILE: libc::rlim_t = (MAX_CONNECTION_THREADS + FD_HEADROOM) as libc::rlim_t;

/// Tasks (threads) the daemon needs: `TasksMax=` in the service unit, whose default
/// (15% of the kernel's pid limit, 4915 on many systems) could otherwise stop connection
/// threads from starting.
pub const TASKS_MAX: usize = MAX_CONNECTION_THREADS + THREAD_HEADROOM;

/// Pause after a failed accept(). Out of descriptors (EMFILE/ENFILE) the pending
/// connection stays queued, so retrying at once would spin and flood the log; idle
/// connections free descriptors within their own deadline.
const ACCEPT_RETRY: std::time::Duration = std::time::Duration::from_millis(100);

/// Mode of the directory holding the socket.
pub const SOCKET_DIR_MODE: u32 = 0o755;
/// Mode of the socket: any local process may look up passwd and group data.
pub const SOCKET_MODE: u32 = 0o666;

/// Errors binding the socket; they stop the daemon at start.
#[derive(Debug)]
pub enum ListenError {
    Dir { path: PathBuf, source: io::Error },
    InUse { path: PathBuf },
    Bind { path: PathBuf, source: io::Error },
}

impl std::fmt::Display for ListenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ListenError::Dir { path, source } => {
                write!(f, "socket directory {}: {source}", path.display())
            }
            ListenError::InUse { path } => write!(
                f,
                "socket {} is in use by another running daemon",
                path.display()
            ),
            ListenError::Bind { path, source } => {
                write!(f, "socket {}: {source}", path.display())
            }
        }
    }
}

impl std::error::Error for ListenError {}

/// Creates the directory (0755), clears a stale socket, binds, and sets mode 0666.
pub fn bind(path: &Path) -> Result<UnixListener, ListenError> {
    if let Some(dir) = path.parent() {
        if !dir.exists() {
            fs::create_dir_all(dir)
                .and_then(|()| {
                    fs::set_permissions(dir, fs::Permissions::from_mode(SOCKET_DIR_MODE))
                })
                .map_err(|source| ListenError::Dir {
                    path: dir.to_path_buf(),
                    source,
                })?;
        }
    }
    if let Ok(meta) = fs::symlink_metadata(path) {
        if meta.file_type().is_socket() {
            if UnixStream::connect(path).is_ok() {
                return Err(ListenError::InUse {
                    path: path.to_path_buf(),
                });
            }
            let _ = fs::remove_file(path);
        }
    }
    let listener = UnixListener::bind(path).map_err(|source| ListenError::Bind {
        path: path.to_path_buf(),
        source,
    })?;
    fs::set_permissions(path, fs::Permissions::from_mode(SOCKET_MODE)).map_err(|source| {
        ListenError::Bind {
            path: path.to_path_buf(),
            source,
        }
    })?;
    Ok(listener)
}

/// Raises the soft limit on open files to [`LIMIT_NOFILE`] so that [`MAX_CONNECTIONS`]
/// can be reached: a process is started with a soft limit of 1024, below the bound, and
/// accept() would then fail while the connection bound is still far away. Never above
/// the hard limit; returns the soft limit in force afterwards. (The service unit sets
/// `LimitNOFILE=` itself: its system call filter forbids `setrlimit`.)
pub fn raise_fd_limit() -> io::Result<libc::rlim_t> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit into the struct we pass, which lives here.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let wanted = wanted_fd_limit(lim.rlim_cur, lim.rlim_max);
    if wanted > lim.rlim_cur {
        lim.rlim_cur = wanted;
        // SAFETY: setrlimit reads one rlimit from the struct we pass.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(lim.rlim_cur)
}

/// The soft limit to ask for: enough for every connection plus headroom, capped by the
/// hard limit, and never lower than the current soft limit.
fn wanted_fd_limit(soft: libc::rlim_t, hard: libc::rlim_t) -> libc::rlim_t {
    soft.max(LIMIT_NOFILE.min(hard))
}

/// Live connection count; the guard decrements it when its thread ends.
struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Accepts until shutdown; returns the number of connection threads still running.
pub fn serve(listener: UnixListener, od: Arc<OnDemand>) -> Arc<AtomicUsize> {
    let shared = &od.shared;
    let live = Arc::new(AtomicUsize::new(0));
    let table = Arc::new(ConnectionTable::default());
    // Consecutive accept() failures: logged once per run of them, not once per retry.
    let mut failing = 0u64;
    for stream in listener.incoming() {
        if shared.is_shutting_down() {
            break;
        }
        let stream = match stream {
            Ok(s) => {
                if failing > 0 {
                    log::info!("accept works again after {failing} failed attempts");
                    failing = 0;
                }
                s
            }
            Err(e) => {
                if failing == 0 {
                    log::warn!(
                        "accept failed: {e} ({} connections open); retrying every {} ms",
                        live.load(Ordering::SeqCst),
                        ACCEPT_RETRY.as_millis()
                    );
                }
                failing = failing.saturating_add(1);
                thread::sleep(ACCEPT_RETRY);
                continue;
            }
        };
        let peer = Peer::of(&stream);
        // A peer the kernel would not name is nobody's: it gets no privilege.
        let uid = peer.map_or(u32::MAX, |p| p.uid);
        if live.load(Ordering::SeqCst) >= MAX_CONNECTION_THREADS {
            // Connections closed to make room have not ended yet: refuse rather than
            // run out of descriptors or threads.
            table.report(shared, uid, Err(Refusal::Full));
            continue;
        }
        let mut registration = match table.admit(uid, stream) {
            Ok((registration, admitted)) => {
                table.report(shared, uid, Ok(admitted));
                registration
            }
            Err(refusal) => {
                table.report(shared, uid, Err(refusal));
                continue;
            }
        };
        live.fetch_add(1, Ordering::SeqCst);
        let slot = Slot(Arc::clone(&live));
        let od = Arc::clone(&od);
        let spawned = thread::Builder::new()
            .name("conn".into())
            .stack_size(CONNECTION_STACK)
            .spawn(move || {
                let _slot = slot;
                let idle = Arc::clone(&registration.idle);
                connection::run(&mut registration.stream, peer, &idle, &od);
            });
        if let Err(e) = spawned {
            log::warn!("cannot start a connection thread: {e}");
        }
    }
    live
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fd_limit_covers_every_connection_within_the_hard_limit() {
        let need = LIMIT_NOFILE;
        assert!(need > MAX_CONNECTIONS as libc::rlim_t);
        // systemd's default: soft 1024, hard 524288.
        assert_eq!(wanted_fd_limit(1024, 524_288), need);
        // A hard limit below the need caps it.
        assert_eq!(wanted_fd_limit(1024, 2048), 2048);
        // A higher soft limit is never lowered.
        assert_eq!(wanted_fd_limit(100_000, 524_288), 100_000);
    }

    /// `[Service]` settings of the packaged service unit.
    fn service_unit() -> Vec<(String, String)> {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../packaging/workbench-cached.service"
        );
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .skip_while(|l| l.trim() != "[Service]")
            .take_while(|l| l.trim() != "[Install]")
            .filter(|l| !l.trim_start().starts_with('#'))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect()
    }

    /// Under systemd the daemon cannot raise its own limits (`setrlimit` is outside its
    /// system call filter): the unit must grant what the connection bound needs.
    #[test]
    fn packaged_service_unit_grants_the_daemons_limits() {
        let unit = service_unit();
        let get = |key: &str| -> Vec<&str> {
            unit.iter()
                .filter(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
                .collect()
        };
        assert_eq!(get("LimitNOFILE"), vec![LIMIT_NOFILE.to_string()]);
        assert_eq!(get("TasksMax"), vec![TASKS_MAX.to_string()]);
    }

    #[test]
    fn raise_fd_limit_reaches_the_wanted_limit() {
        let soft = raise_fd_limit().unwrap();
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: as in raise_fd_limit.
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
        assert_eq!(soft, lim.rlim_cur);
        assert!(soft >= LIMIT_NOFILE.min(lim.rlim_max));
    }
}
