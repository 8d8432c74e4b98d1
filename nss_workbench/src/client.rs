//! Request/response with connection reuse: at most one connection per thread, never one
//! made by another process or under other effective credentials, and one retry on a
//! fresh connection when a reused one turns out to have been closed by the daemon (idle
//! timeout, restart).
//!
//! Shadow requests never use, and never leave behind, a kept connection: each goes on a
//! fresh connection opened under the caller's credentials of that moment and closed
//! after the answer. The daemon judges a connection by the credentials captured at
//! `connect()`, so a connection opened by root and kept across `setresuid` would
//! otherwise still read hashes (the daemon, for its part, answers shadow only as the
//! first request on a connection and then closes it).
//!
//! The connection is moved out of its thread-local slot for the duration of the I/O, so
//! nothing is borrowed or locked while waiting, and a re-entrant call (a signal handler
//! doing a lookup) simply opens its own connection.

use std::cell::RefCell;
use std::os::fd::OwnedFd;

use workbench_wire::Request;

use crate::connection::{Connection, Reply};
use crate::deadline::Deadline;
use crate::error::ClientError;
use crate::socket_path::socket_path;

thread_local! {
    static CONNECTION: RefCell<Option<Connection>> = const { RefCell::new(None) };
}

/// Which connection a request travels on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// The thread's kept connection (opened if needed, kept afterwards).
    Kept,
    /// A connection of its own, closed after the answer; the kept one is not touched.
    Fresh,
}

impl Channel {
    /// Shadow requests go [`Channel::Fresh`], everything else [`Channel::Kept`].
    pub fn for_request(request: &Request) -> Channel {
        if request.wants_shadow() {
            Channel::Fresh
        } else {
            Channel::Kept
        }
    }
}

/// Sends `request` and returns the daemon's response, all within `deadline`.
pub fn call(request: &Request, deadline: &Deadline) -> Result<Reply, ClientError> {
    call_frame(&request.to_frame(), Channel::for_request(request), deadline)
}

/// [`call`] for an already encoded request frame.
pub fn call_frame(
    frame: &[u8],
    channel: Channel,
    deadline: &Deadline,
) -> Result<Reply, ClientError> {
    let path = socket_path();
    if channel == Channel::Fresh {
        let mut conn = Connection::open(&path, deadline)?;
        return conn.exchange(frame, deadline).map_err(|e| e.error);
    }
    // A connection that is not usable (another process, other credentials, another path)
    // is dropped: closed when its descriptor is still our socket, forgotten otherwise.
    if let Some(mut conn) = take_cached().filter(|c| c.usable_for(&path)) {
        match conn.exchange(frame, deadline) {
            Ok(reply) => {
                store_cached(conn);
                return Ok(reply);
            }
            Err(e) if e.stale => drop(conn),
            Err(e) => return Err(e.error),
        }
    }
    let mut conn = Connection::open(&path, deadline)?;
    let reply = conn.exchange(frame, deadline).map_err(|e| e.error)?;
    store_cached(conn);
    Ok(reply)
}

/// Sends a `MapImage` request (`frame`) on the thread's kept connection, like a lookup,
/// and returns the reply with the descriptor that came with it; `Ok(None)` when the
/// listener is not root's: no image is asked for from anyone else (the connection stays
/// kept for lookups, which have their own trust rule).
pub fn call_for_map(
    frame: &[u8],
    deadline: &Deadline,
) -> Result<Option<(Reply, Option<OwnedFd>)>, ClientError> {
    let path = socket_path();
    let ask = |conn: &mut Connection| {
        if !conn.peer_is_root() {
            return Ok(None);
        }
        conn.exchange_with_fd(frame, deadline).map(Some)
    };
    if let Some(mut conn) = take_cached().filter(|c| c.usable_for(&path)) {
        match ask(&mut conn) {
            Ok(answer) => {
                store_cached(conn);
                return Ok(answer);
            }
            Err(e) if e.stale => drop(conn),
            Err(e) => return Err(e.error),
        }
    }
    let mut conn = Connection::open(&path, deadline)?;
    let answer = ask(&mut conn).map_err(|e| e.error)?;
    store_cached(conn);
    Ok(answer)
}

/// Closes this thread's cached connection, if any.
pub fn disconnect() {
    drop(take_cached());
}

fn take_cached() -> Option<Connection> {
    CONNECTION
        .try_with(|slot| slot.try_borrow_mut().ok().and_then(|mut s| s.take()))
        .ok()
        .flatten()
}

fn store_cached(conn: Connection) {
    // During thread teardown the slot may be gone: the connection is then just closed.
    let _ = CONNECTION.try_with(|slot| {
        if let Ok(mut s) = slot.try_borrow_mut() {
            *s = Some(conn);
        }
    });
}
