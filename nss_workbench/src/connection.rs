//! One Unix stream connection to the daemon and one request/response exchange on it.
//!
//! The socket is non-blocking once connected; every read and write that would block
//! waits in `poll` for at most the time left on the call's [`Deadline`]. `connect` on an
//! `AF_UNIX` socket cannot be driven by `poll` (a non-blocking connect to a full backlog
//! fails with `EAGAIN` instead of `EINPROGRESS`), so it is a blocking connect bounded by
//! `SO_SNDTIMEO`, which the kernel honours for Unix-socket connects. Once connected, the
//! listener's credentials are checked ([`crate::trust`]) before a byte is sent.

use std::os::fd::{FromRawFd, OwnedFd};

use libc::{c_int, c_void};
use workbench_wire::{FrameHeader, Status, FRAME_HEADER_LEN, MAX_RESPONSE_LEN};

use crate::credentials::Credentials;
use crate::deadline::Deadline;
use crate::error::{last_errno, ClientError};
use crate::module_fd::ModuleFd;
use crate::socket_path::SocketPath;
use crate::trust;

/// Payload bytes read per step: a hostile length header cannot make us allocate the
/// whole [`MAX_RESPONSE_LEN`] up front.
const READ_CHUNK: usize = 64 * 1024;

/// A decoded response frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: Status,
    pub payload: Vec<u8>,
}

/// Failure of one exchange, with whether it is the signature of a connection the daemon
/// had already closed (idle timeout, restart) before it saw our request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExchangeError {
    pub error: ClientError,
    /// EOF, `EPIPE` or `ECONNRESET` before any response byte arrived: safe to retry on a
    /// fresh connection (lookups are idempotent).
    pub stale: bool,
}

impl ExchangeError {
    fn fatal(error: ClientError) -> Self {
        ExchangeError {
            error,
            stale: false,
        }
    }
}

/// An open connection, tagged with the caller credentials and socket path it was made
/// for (see [`crate::credentials`]).
#[derive(Debug)]
pub struct Connection {
    fd: ModuleFd,
    owner: Credentials,
    path: Vec<u8>,
}

impl Connection {
    /// Connects to `path` within `deadline` and checks who is listening there
    /// ([`trust::peer_trusted`]) before anything is sent.
    pub fn open(path: &SocketPath, deadline: &Deadline) -> Result<Connection, ClientError> {
        let owner = Credentials::current();
        let (addr, addr_len) = unix_address(&path.bytes)?;
        let fd = ModuleFd::unix_stream()?;
        loop {
            set_send_timeout(&fd, deadline)?;
            // SAFETY: `addr` is an initialised sockaddr_un and `addr_len` its used size.
            let rc = unsafe {
                libc::connect(
                    fd.raw(),
                    std::ptr::addr_of!(addr).cast::<libc::sockaddr>(),
                    addr_len,
                )
            };
            if rc == 0 {
                break;
            }
            match last_errno() {
                libc::EINTR => continue,
                libc::EISCONN => break,
                libc::EAGAIN | libc::EINPROGRESS | libc::ETIMEDOUT => {
                    return Err(ClientError::TimedOut)
                }
                libc::ENOENT
                | libc::ECONNREFUSED
                | libc::ENOTDIR
                | libc::EACCES
                | libc::EPERM
                | libc::ELOOP
                | libc::ENAMETOOLONG
                | libc::EPROTOTYPE
                | libc::ENOTSOCK => return Err(ClientError::NotRunning),
                e => return Err(ClientError::Io(e)),
            }
        }
        // A listener the kernel will not name is as untrusted as a wrong one.
        let trusted =
            trust::peer_uid(fd.raw()).is_some_and(|uid| trust::peer_trusted(uid, path.from_env));
        if !trusted {
            return Err(ClientError::UntrustedPeer);
        }
        set_nonblocking(&fd)?;
        Ok(Connection {
            fd,
            owner,
            path: path.bytes.clone(),
        })
    }

    /// Whether this connection may carry a request now: made by this process under its
    /// current effective uid and gid (after `fork()` it is shared with the parent; after
    /// `setresuid` the daemon would still judge us by the old credentials), for `path`,
    /// and its descriptor still our socket.
    pub fn usable_for(&self, path: &SocketPath) -> bool {
        self.owner == Credentials::current() && self.path == path.bytes && self.fd.still_ours()
    }

    /// Sends one request frame and reads one response frame.
    pub fn exchange(&mut self, frame: &[u8], deadline: &Deadline) -> Result<Reply, ExchangeError> {
        self.send_all(frame, deadline)?;
        let mut header = [0u8; FRAME_HEADER_LEN];
        self.recv_exact(&mut header, deadline, true)?;
        let hdr = FrameHeader::parse(&header, MAX_RESPONSE_LEN)
            .map_err(|e| ExchangeError::fatal(ClientError::Protocol(e)))?;
        let status = Status::from_tag(hdr.tag)
            .map_err(|e| ExchangeError::fatal(ClientError::Protocol(e)))?;
        let len = usize::try_from(hdr.len).unwrap_or(usize::MAX);
        let mut payload: Vec<u8> = Vec::with_capacity(len.min(READ_CHUNK));
        while payload.len() < len {
            let start = payload.len();
            let step = (len - start).min(READ_CHUNK);
            payload.resize(start + step, 0);
            let chunk = payload
                .get_mut(start..)
                .ok_or(ExchangeError::fatal(ClientError::Io(libc::EIO)))?;
            self.recv_exact(chunk, deadline, false)?;
        }
        Ok(Reply { status, payload })
    }

    /// Whether the listener is root's (`SO_PEERCRED` uid 0): only such a daemon may hand
    /// this process a map image, whatever `WORKBENCH_NSS_SOCKET` says.
    pub fn peer_is_root(&self) -> bool {
        trust::peer_uid(self.fd.raw()) == Some(0)
    }

    /// [`Connection::exchange`] for an answer that may carry one descriptor
    /// (`SCM_RIGHTS`, received close-on-exec). Any other descriptor that arrives is
    /// closed at once, and so is the one returned if the caller drops it.
    pub fn exchange_with_fd(
        &mut self,
        frame: &[u8],
        deadline: &Deadline,
    ) -> Result<(Reply, Option<OwnedFd>), ExchangeError> {
        self.send_all(frame, deadline)?;
        let mut header = [0u8; FRAME_HEADER_LEN];
        let mut fd = None;
        let mut filled = 0usize;
        while filled < header.len() {
            let rest = header.get_mut(filled..).unwrap_or(&mut []);
            match self.recv_with_fds(rest, &mut fd) {
                // Closed before the first byte: a kept connection the daemon had closed.
                Ok(0) if filled == 0 => {
                    return Err(ExchangeError {
                        error: ClientError::Closed,
                        stale: true,
                    })
                }
                Ok(0) => {
                    return Err(ExchangeError::fatal(ClientError::Protocol(
                        workbench_wire::DecodeError::Truncated,
                    )))
                }
                Ok(n) => filled += n,
                Err(libc::EINTR) => {}
                Err(libc::EAGAIN) => self.wait(libc::POLLIN, deadline)?,
                Err(libc::ECONNRESET) if filled == 0 => {
                    return Err(ExchangeError {
                        error: ClientError::Io(libc::ECONNRESET),
                        stale: true,
                    })
                }
                Err(e) => return Err(ExchangeError::fatal(ClientError::Io(e))),
            }
        }
        let hdr = FrameHeader::parse(&header, MAX_RESPONSE_LEN)
            .map_err(|e| ExchangeError::fatal(ClientError::Protocol(e)))?;
        let status = Status::from_tag(hdr.tag)
            .map_err(|e| ExchangeError::fatal(ClientError::Protocol(e)))?;
        // An offer is a few bytes: anything long is not one.
        let len = usize::try_from(hdr.len).unwrap_or(usize::MAX);
        if len > READ_CHUNK {
            return Err(ExchangeError::fatal(ClientError::Inconsistent));
        }
        let mut payload = vec![0u8; len];
        self.recv_exact(&mut payload, deadline, false)?;
        Ok((Reply { status, payload }, fd))
    }

    /// One `recvmsg` into `buf`; the first descriptor received goes to `fd` (if it is
    /// still empty), every other one is closed. Returns the bytes read or the errno.
    fn recv_with_fds(&mut self, buf: &mut [u8], fd: &mut Option<OwnedFd>) -> Result<usize, c_int> {
        // Room for a few descriptors: a daemon sends one; more are closed, not leaked.
        let mut control = [0u64; 8];
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast::<c_void>(),
            iov_len: buf.len(),
        };
        // SAFETY: msghdr is plain old data; all-zero is a valid value.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast::<c_void>();
        msg.msg_controllen = std::mem::size_of_val(&control) as _;
        // SAFETY: `msg` points at a valid iovec over `buf` and a valid control buffer.
        let n = unsafe { libc::recvmsg(self.fd.raw(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
        if n < 0 {
            return Err(last_errno());
        }
        // SAFETY: walking the control messages the kernel wrote into `control`, with
        // the CMSG_* helpers, each checked against `msg_controllen`.
        unsafe {
            let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
            while !cmsg.is_null() {
                if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                    let data = libc::CMSG_DATA(cmsg).cast::<c_int>();
                    let bytes =
                        ((*cmsg).cmsg_len as usize).saturating_sub(libc::CMSG_LEN(0) as usize);
                    for i in 0..bytes / std::mem::size_of::<c_int>() {
                        let raw = std::ptr::read_unaligned(data.add(i));
                        if raw < 0 {
                            continue;
                        }
                        let owned = OwnedFd::from_raw_fd(raw);
                        if fd.is_none() {
                            *fd = Some(owned);
                        }
                    }
                }
                cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
            }
        }
        Ok(usize::try_from(n).unwrap_or(0))
    }

    fn send_all(&mut self, mut data: &[u8], deadline: &Deadline) -> Result<(), ExchangeError> {
        while !data.is_empty() {
            // SAFETY: `data` is a valid readable slice; MSG_NOSIGNAL turns a closed peer
            // into EPIPE instead of SIGPIPE for the host process.
            let n = unsafe {
                libc::send(
                    self.fd.raw(),
                    data.as_ptr().cast::<c_void>(),
                    data.len(),
                    libc::MSG_NOSIGNAL,
                )
            };
            if n >= 0 {
                let n = usize::try_from(n).unwrap_or(0);
                data = data.get(n..).unwrap_or(&[]);
                continue;
            }
            match last_errno() {
                libc::EINTR => {}
                libc::EAGAIN => self.wait(libc::POLLOUT, deadline)?,
                // Nothing of the response can have arrived before the request was sent.
                e @ (libc::EPIPE | libc::ECONNRESET) => {
                    return Err(ExchangeError {
                        error: ClientError::Io(e),
                        stale: true,
                    })
                }
                e => return Err(ExchangeError::fatal(ClientError::Io(e))),
            }
        }
        Ok(())
    }

    /// Fills `buf` completely. `first` marks the start of the response: an EOF or reset
    /// before its first byte is the signature of a stale connection.
    fn recv_exact(
        &mut self,
        buf: &mut [u8],
        deadline: &Deadline,
        first: bool,
    ) -> Result<(), ExchangeError> {
        let mut filled = 0usize;
        while let Some(rest) = buf.get_mut(filled..).filter(|r| !r.is_empty()) {
            let nothing_yet = first && filled == 0;
            // SAFETY: `rest` is a valid writable slice of `rest.len()` bytes.
            let n = unsafe {
                libc::recv(
                    self.fd.raw(),
                    rest.as_mut_ptr().cast::<c_void>(),
                    rest.len(),
                    0,
                )
            };
            if n > 0 {
                filled += usize::try_from(n).unwrap_or(0);
                continue;
            }
            if n == 0 {
                return Err(if nothing_yet {
                    ExchangeError {
                        error: ClientError::Closed,
                        stale: true,
                    }
                } else {
                    ExchangeError::fatal(ClientError::Protocol(
                        workbench_wire::DecodeError::Truncated,
                    ))
                });
            }
            match last_errno() {
                libc::EINTR => {}
                libc::EAGAIN => self.wait(libc::POLLIN, deadline)?,
                libc::ECONNRESET => {
                    return Err(ExchangeError {
                        error: ClientError::Io(libc::ECONNRESET),
                        stale: nothing_yet,
                    })
                }
                e => return Err(ExchangeError::fatal(ClientError::Io(e))),
            }
        }
        Ok(())
    }

    /// Blocks in `poll` until `events` (or an error/hang-up, which the next syscall
    /// reports) or the deadline.
    fn wait(&self, events: libc::c_short, deadline: &Deadline) -> Result<(), ExchangeError> {
        loop {
            let timeout = deadline.poll_timeout_ms().map_err(ExchangeError::fatal)?;
            let mut pfd = libc::pollfd {
                fd: self.fd.raw(),
                events,
                revents: 0,
            };
            // SAFETY: one valid pollfd for the duration of the call.
            let rc = unsafe { libc::poll(&mut pfd, 1, timeout) };
            if rc > 0 {
                if pfd.revents & libc::POLLNVAL != 0 {
                    return Err(ExchangeError::fatal(ClientError::Io(libc::EBADF)));
                }
                return Ok(());
            }
            if rc == 0 {
                // Loop: the deadline check above decides whether time is really up
                // (poll may wake a little before the rounded-up timeout).
                continue;
            }
            match last_errno() {
                libc::EINTR => {}
                e => return Err(ExchangeError::fatal(ClientError::Io(e))),
            }
        }
    }
}

fn unix_address(path: &[u8]) -> Result<(libc::sockaddr_un, libc::socklen_t), ClientError> {
    // SAFETY: sockaddr_un is plain old data; all-zero is a valid value.
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    // Keep a terminating NUL inside sun_path; a path that does not fit cannot be ours.
    if path.is_empty() || path.contains(&0) || path.len() >= addr.sun_path.len() {
        return Err(ClientError::NotRunning);
    }
    for (dst, src) in addr.sun_path.iter_mut().zip(path) {
        *dst = *src as libc::c_char;
    }
    let len = std::mem::size_of::<libc::sa_family_t>() + path.len() + 1;
    let len = libc::socklen_t::try_from(len).map_err(|_| ClientError::NotRunning)?;
    Ok((addr, len))
}

fn set_send_timeout(fd: &ModuleFd, deadline: &Deadline) -> Result<(), ClientError> {
    let left = deadline.remaining()?;
    // suseconds_t is i64 or i32 depending on the target; micros < 10^6 fit either.
    #[allow(clippy::unnecessary_fallible_conversions)]
    let mut tv = libc::timeval {
        tv_sec: libc::time_t::try_from(left.as_secs()).unwrap_or(libc::time_t::MAX),
        tv_usec: libc::suseconds_t::try_from(left.subsec_micros()).unwrap_or(0),
    };
    // A zero timeval means "wait forever": never pass it.
    if tv.tv_sec == 0 && tv.tv_usec == 0 {
        tv.tv_usec = 1;
    }
    // SAFETY: `tv` is a valid timeval and its exact size is passed.
    let rc = unsafe {
        libc::setsockopt(
            fd.raw(),
            libc::SOL_SOCKET,
            libc::SO_SNDTIMEO,
            std::ptr::addr_of!(tv).cast::<c_void>(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(ClientError::Io(last_errno()));
    }
    Ok(())
}

fn set_nonblocking(fd: &ModuleFd) -> Result<(), ClientError> {
    // SAFETY: fcntl F_GETFL on a descriptor we own.
    let flags: c_int = unsafe { libc::fcntl(fd.raw(), libc::F_GETFL) };
    if flags < 0 {
        return Err(ClientError::Io(last_errno()));
    }
    // SAFETY: fcntl F_SETFL on a descriptor we own, adding O_NONBLOCK.
    let rc = unsafe { libc::fcntl(fd.raw(), libc::F_SETFL, flags | libc::O_NONBLOCK) };
    if rc < 0 {
        return Err(ClientError::Io(last_errno()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unusable_paths_mean_not_running() {
        assert_eq!(unix_address(b"").err(), Some(ClientError::NotRunning));
        assert_eq!(unix_address(b"/a\0b").err(), Some(ClientError::NotRunning));
        assert_eq!(
            unix_address(&[b'a'; 200]).err(),
            Some(ClientError::NotRunning)
        );
        let (_, len) = unix_address(b"/run/x").unwrap();
        assert_eq!(len as usize, 2 + 6 + 1);
    }

    #[test]
    fn missing_socket_is_not_running() {
        let d = Deadline::start();
        let path = SocketPath {
            bytes: b"/nonexistent/workbench-test/socket".to_vec(),
            from_env: true,
        };
        let err = Connection::open(&path, &d).unwrap_err();
        assert_eq!(err, ClientError::NotRunning);
    }
}
