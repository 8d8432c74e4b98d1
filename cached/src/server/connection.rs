//! One client connection: a sequence of request/response pairs.
//!
//! Deadlines keep hostile or stuck clients from holding a thread: a connection idle for
//! [`IDLE_TIMEOUT`] between requests is closed (the module reconnects transparently), and
//! a request that has started must arrive completely within [`REQUEST_DEADLINE`] (one
//! byte per second never completes a frame). A frame that does not decode, claims more
//! than [`workbench_wire::MAX_REQUEST_LEN`] (root's `reload`, which carries the tokens:
//! [`workbench_wire::MAX_PRIVILEGED_REQUEST_LEN`]) or has the wrong version closes that
//! connection only. A
//! shadow request is answered only as the first request of a connection, which then
//! closes (see [`run`]).

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use workbench_wire::frame::{FrameHeader, FRAME_HEADER_LEN};
use workbench_wire::max_request_len;
use workbench_wire::{DecodeError, Request, Status};

use crate::ondemand::state::OnDemand;
use crate::server::burst::Burst;
use crate::server::peer::Peer;
use crate::server::{handler, map_offer};
use crate::state::{Counters, Shared};

/// Idle time allowed between requests.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Time allowed for one request frame once its first byte arrived.
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(2);
/// Refusal text for a shadow request that is not the first on its connection.
const SHADOW_NOT_FIRST: &[u8] = b"shadow requests must be the first on a connection";
/// Time allowed to write one response.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Granularity of the shutdown check while idle.
const POLL_SLICE: Duration = Duration::from_millis(500);

/// Why a connection ended.
#[derive(Debug)]
enum ReadError {
    /// Orderly close by the client between requests.
    Closed,
    /// Idle too long, or a frame too slow to arrive.
    TimedOut,
    /// The daemon is stopping.
    Shutdown,
    Io(io::Error),
    Garbage(DecodeError),
}

/// Serves `stream` from `peer` until it closes; `idle` is set while waiting for a request
/// (the connection table may then close it under pressure).
pub fn run(
    stream: &mut UnixStream,
    peer: Option<Peer>,
    idle: &AtomicBool,
    od: &std::sync::Arc<OnDemand>,
) {
    let shared = &od.shared;
    if stream.set_write_timeout(Some(WRITE_TIMEOUT)).is_err() {
        return;
    }
    // Shadow data is decided on SO_PEERCRED, which the kernel captured at connect(): it
    // describes the caller only for the first request. A process may change its
    // credentials (setresuid without exec) and keep writing into an old connection, so a
    // shadow request is answered only as the first request on a connection, and the
    // connection is closed after it.
    let mut first = true;
    let mut burst = Burst::default();
    loop {
        let root = peer.is_some_and(|p| p.is_root());
        burst.await_next(stream);
        let (tag, payload) = match read_frame(stream, idle, root, shared) {
            Ok(f) => {
                burst.request_arrived();
                f
            }
            Err(ReadError::Garbage(e)) => {
                Counters::bump(&shared.counters.bad_requests);
                log::warn!(
                    "closing connection from {}: bad request: {e}",
                    describe(peer)
                );
                return;
            }
            Err(ReadError::TimedOut) => {
                log::debug!("closing connection from {}: deadline", describe(peer));
                return;
            }
            Err(ReadError::Io(e)) => {
                log::debug!("connection from {}: {e}", describe(peer));
                return;
            }
            Err(ReadError::Closed) | Err(ReadError::Shutdown) => return,
        };
        let request = match Request::decode(tag, &payload) {
            Ok(r) => r,
            Err(e) => {
                Counters::bump(&shared.counters.bad_requests);
                log::warn!(
                    "closing connection from {}: bad request: {e}",
                    describe(peer)
                );
                return;
            }
        };
        if request.wants_shadow() && !first {
            Counters::bump(&shared.counters.shadow_not_first);
            log::warn!(
                "closing connection from {}: shadow request after other requests on the \
                 same connection (credentials are judged at connect; the NSS module sends \
                 shadow requests on a fresh connection)",
                describe(peer)
            );
            let _ = stream.write_all(&Status::Denied.frame(SHADOW_NOT_FIRST));
            return;
        }
        first = false;
        if let Request::MapImage { refused } = request {
            if map_offer::send(stream, refused, od).is_err() {
                return;
            }
            continue;
        }
        let response = handler::answer(&request, peer, od);
        if stream.write_all(&response).is_err() || request.wants_shadow() {
            // A connection that has carried shadow data serves nothing more.
            return;
        }
        burst.replied();
    }
}

fn describe(peer: Option<Peer>) -> String {
    peer.map_or_else(|| "unknown peer".to_string(), |p| p.to_string())
}

fn read_frame(
    stream: &mut UnixStream,
    idle: &AtomicBool,
    root: bool,
    shared: &Shared,
) -> Result<(u8, Vec<u8>), ReadError> {
    let mut header = [0u8; FRAME_HEADER_LEN];
    idle.store(true, Ordering::SeqCst);
    // Wait for the first byte in slices so a stopping daemon is noticed.
    let idle_since = Instant::now();
    loop {
        if shared.is_shutting_down() {
            return Err(ReadError::Shutdown);
        }
        let left = IDLE_TIMEOUT.saturating_sub(idle_since.elapsed());
        if left.is_zero() {
            return Err(ReadError::TimedOut);
        }
        stream
            .set_read_timeout(Some(left.min(POLL_SLICE)))
            .map_err(ReadError::Io)?;
        match stream.read(&mut header[..1]) {
            Ok(0) => return Err(ReadError::Closed),
            Ok(_) => {
                idle.store(false, Ordering::SeqCst);
                break;
            }
            Err(e) if is_timeout(&e) => continue,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(ReadError::Io(e)),
        }
    }
    let deadline = Instant::now() + REQUEST_DEADLINE;
    read_exact_by(stream, &mut header[1..], deadline)?;
    let [.., tag] = header;
    let hdr =
        FrameHeader::parse(&header, max_request_len(tag, root)).map_err(ReadError::Garbage)?;
    let mut payload = vec![0u8; hdr.len as usize];
    read_exact_by(stream, &mut payload, deadline)?;
    Ok((hdr.tag, payload))
}

fn read_exact_by(
    stream: &mut UnixStream,
    mut buf: &mut [u8],
    deadline: Instant,
) -> Result<(), ReadError> {
    while !buf.is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ReadError::TimedOut);
        }
        stream.set_read_timeout(Some(left)).map_err(ReadError::Io)?;
        match stream.read(buf) {
            Ok(0) => return Err(ReadError::Io(io::ErrorKind::UnexpectedEof.into())),
            Ok(n) => buf = buf.get_mut(n..).unwrap_or_default(),
            Err(e) if is_timeout(&e) => return Err(ReadError::TimedOut),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(ReadError::Io(e)),
        }
    }
    Ok(())
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}
