//! HTTP/1.1 over a Unix socket (`server-address=unix:/path`, Workbench 2024.09+), as a
//! ureq connector.
//!
//! ureq keeps doing all the HTTP work (request writing, `Content-Length` and chunked
//! bodies, size limits, the global timeout, connection reuse); this file only replaces
//! the TCP socket by a Unix one. The hostname in the URL is never resolved: the
//! resolver hands ureq a placeholder address that the connector ignores.
//!
//! Before the request (and the token) is written, the socket is checked: its directory
//! must not be writable by others, and the peer (`SO_PEERCRED`) must be root or the
//! socket file's owner, so that no other local user can stand in for Workbench.
//!
//! The connector API is `ureq::unversioned`, outside ureq's semver promise, which is
//! why `cached/Cargo.toml` pins ureq to `~3.5`.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};
use std::time;

use nix::errno::Errno;
use nix::sys::socket::{
    connect, getsockopt, setsockopt, socket, sockopt, AddressFamily, SockFlag, SockType, UnixAddr,
};
use nix::sys::time::TimeVal;
use ureq::unversioned::resolver::{ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, LazyBuffers, NextTimeout, ShutdownHandle, Transport,
};
use ureq::Timeout;

/// Opens a Unix stream socket to one fixed path for every request of its agent.
#[derive(Debug)]
pub(crate) struct UnixConnector {
    socket: PathBuf,
}

impl UnixConnector {
    pub(crate) fn new(socket: PathBuf) -> Self {
        UnixConnector { socket }
    }
}

impl Connector<()> for UnixConnector {
    type Out = UnixTransport;

    fn connect(
        &self,
        details: &ConnectionDetails,
        _chained: Option<()>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        let stream = connect_with_timeout(&self.socket, details.timeout.not_zero().map(|d| *d))?;
        let buffers = LazyBuffers::new(
            details.config.input_buffer_size(),
            details.config.output_buffer_size(),
        );
        let transport = UnixTransport {
            stream: Arc::new(SharedStream(stream)),
            buffers,
            timeout_read: None,
            timeout_write: None,
        };
        (details.register_shutdown)(Arc::downgrade(&transport.stream) as Weak<dyn ShutdownHandle>)?;
        Ok(Some(transport))
    }
}

/// Connects with `SO_SNDTIMEO` set first: on Linux that bounds how long a blocking
/// `connect` waits for room in a full listen backlog (it then fails with `EAGAIN`).
fn connect_with_timeout(
    path: &Path,
    timeout: Option<time::Duration>,
) -> Result<UnixStream, ureq::Error> {
    let addr = UnixAddr::new(path).map_err(errno_to_io)?;
    let fd = socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(errno_to_io)?;
    if let Some(t) = timeout {
        setsockopt(&fd, sockopt::SendTimeout, &TimeVal::from(timeval_of(t)))
            .map_err(errno_to_io)?;
    }
    let owner = trusted_socket_owner(path)?;
    match connect(fd.as_raw_fd(), &addr) {
        Ok(()) => {}
        Err(Errno::EAGAIN) if timeout.is_some() => {
            return Err(ureq::Error::Timeout(Timeout::Connect))
        }
        Err(e) => return Err(errno_to_io(e)),
    }
    check_peer(path, &fd, owner)?;
    let stream = UnixStream::from(fd);
    // Clear the connect deadline; reads and writes set their own below.
    stream.set_write_timeout(None)?;
    Ok(stream)
}

/// Why the token is not sent over this socket (design.md §7). Carried inside an
/// `io::Error` through ureq and turned into `ScimError::UntrustedSocket`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UntrustedSocket(pub(crate) String);

impl std::fmt::Display for UntrustedSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UntrustedSocket {}

fn untrusted(message: String) -> ureq::Error {
    ureq::Error::Io(io::Error::other(UntrustedSocket(message)))
}

/// The owner of the socket file, once its directory is known to be one that others
/// cannot write: in such a directory (even a sticky one like `/tmp`) anyone could have
/// bound the path first, and would then own the file and pass the peer check. Only the
/// socket's own directory is checked; the ancestors are the administrator's layout.
fn trusted_socket_owner(path: &Path) -> Result<u32, ureq::Error> {
    // A missing socket is an ordinary connection failure (server down).
    let owner = std::fs::symlink_metadata(path)?.uid();
    let dir = path.parent().unwrap_or(Path::new("/"));
    let dir_meta = std::fs::metadata(dir)?;
    let mode = dir_meta.mode() & 0o7777;
    if mode & 0o002 != 0 {
        return Err(untrusted(format!(
            "the directory {} holding the server socket is writable by others (mode \
             {mode:04o}): anyone could have put a socket there; move the socket to a \
             directory only its owner can write, or fix: chmod o-w {}",
            dir.display(),
            dir.display()
        )));
    }
    Ok(owner)
}

/// The process that accepted must run as root or as the socket file's owner.
fn check_peer(path: &Path, fd: &OwnedFd, owner: u32) -> Result<(), ureq::Error> {
    let creds = getsockopt(fd, sockopt::PeerCredentials).map_err(errno_to_io)?;
    let uid = creds.uid();
    if uid == 0 || uid == owner {
        return Ok(());
    }
    Err(untrusted(format!(
        "the process listening on {} runs as uid {uid} (pid {}), which is neither root nor \
         the socket file's owner (uid {owner})",
        path.display(),
        creds.pid()
    )))
}

fn timeval_of(d: time::Duration) -> libc::timeval {
    // A zero timeval means "no timeout" to the kernel: never send one.
    let d = d.max(time::Duration::from_millis(1));
    libc::timeval {
        tv_sec: libc::time_t::try_from(d.as_secs()).unwrap_or(libc::time_t::MAX),
        tv_usec: libc::suseconds_t::from(d.subsec_micros() as i32),
    }
}

fn errno_to_io(e: Errno) -> ureq::Error {
    ureq::Error::Io(io::Error::from(e))
}

/// The stream, shared (weakly) with the agent so that `Agent::shutdown` can interrupt
/// blocked I/O. A newtype because `ShutdownHandle` and `UnixStream` are both foreign.
#[derive(Debug)]
struct SharedStream(UnixStream);

impl ShutdownHandle for SharedStream {
    fn shutdown(&self) {
        // Already closed or shut down: nothing left to interrupt.
        let _ = self.0.shutdown(std::net::Shutdown::Both);
    }
}

#[derive(Debug)]
pub(crate) struct UnixTransport {
    stream: Arc<SharedStream>,
    buffers: LazyBuffers,
    timeout_read: Option<time::Duration>,
    timeout_write: Option<time::Duration>,
}

/// Maps a socket timeout (Linux reports `EAGAIN` for `SO_RCVTIMEO`) to ureq's timeout,
/// which carries the reason (global, per-read …) ureq expects.
fn io_result<T>(r: io::Result<T>, reason: Timeout) -> Result<T, ureq::Error> {
    match r {
        Ok(v) => Ok(v),
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ) =>
        {
            Err(ureq::Error::Timeout(reason))
        }
        Err(e) => Err(ureq::Error::Io(e)),
    }
}

/// The remaining budget for one read or write; `None` when no timeout applies. An
/// exhausted budget is an immediate timeout, never a blocking call without one.
fn budget(timeout: NextTimeout) -> Result<Option<time::Duration>, ureq::Error> {
    if timeout.after.is_not_happening() {
        return Ok(None);
    }
    let after: time::Duration = *timeout.after;
    if after.is_zero() {
        return Err(ureq::Error::Timeout(timeout.reason));
    }
    Ok(Some(after))
}

impl Transport for UnixTransport {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        let timeout = timeout.for_write();
        let limit = budget(timeout)?;
        if limit != self.timeout_write {
            self.stream.0.set_write_timeout(limit)?;
            self.timeout_write = limit;
        }
        let output = self.buffers.output().get(..amount).ok_or_else(|| {
            ureq::Error::Io(io::Error::new(
                io::ErrorKind::InvalidInput,
                "output amount exceeds buffer",
            ))
        })?;
        io_result((&self.stream.0).write_all(output), timeout.reason)
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        let timeout = timeout.for_read();
        let limit = budget(timeout)?;
        if limit != self.timeout_read {
            self.stream.0.set_read_timeout(limit)?;
            self.timeout_read = limit;
        }
        let input = self.buffers.input_append_buf();
        let amount = loop {
            match (&self.stream.0).read(input) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                r => break io_result(r, timeout.reason)?,
            }
        };
        self.buffers.input_appended(amount);
        Ok(amount > 0)
    }

    fn is_open(&mut self) -> bool {
        // A pooled connection is reusable only if the peer has neither closed it nor
        // sent anything unasked: probe with a non-blocking read.
        let stream = &self.stream.0;
        if stream.set_nonblocking(true).is_err() {
            return false;
        }
        let mut buf = [0u8; 1];
        let open = matches!(
            (&*stream).read(&mut buf),
            Err(ref e) if e.kind() == io::ErrorKind::WouldBlock
        );
        stream.set_nonblocking(false).is_ok() && open
    }
}

/// Never resolves anything: the connector ignores addresses, but ureq requires at
/// least one.
#[derive(Debug)]
pub(crate) struct NoResolver;

impl Resolver for NoResolver {
    fn resolve(
        &self,
        _uri: &ureq::http::Uri,
        _config: &ureq::config::Config,
        _timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let mut addrs = self.empty();
        addrs.push(SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 80)));
        Ok(addrs)
    }
}
