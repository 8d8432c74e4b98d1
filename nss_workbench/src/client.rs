//! Request/response with connection reuse: at most one connection per thread, never one
//! inherited from another process, and one retry on a fresh connection when a reused
//! one turns out to have been closed by the daemon (idle timeout, restart).
//!
//! The connection is moved out of its thread-local slot for the duration of the I/O, so
//! nothing is borrowed or locked while waiting, and a re-entrant call (a signal handler
//! doing a lookup) simply opens its own connection.

use std::cell::RefCell;

use workbench_wire::Request;

use crate::connection::{Connection, Reply};
use crate::deadline::Deadline;
use crate::error::ClientError;
use crate::socket_path::socket_path;

thread_local! {
    static CONNECTION: RefCell<Option<Connection>> = const { RefCell::new(None) };
}

/// Sends `request` and returns the daemon's response, all within `deadline`.
pub fn call(request: &Request, deadline: &Deadline) -> Result<Reply, ClientError> {
    call_frame(&request.to_frame(), deadline)
}

/// [`call`] for an already encoded request frame.
pub fn call_frame(frame: &[u8], deadline: &Deadline) -> Result<Reply, ClientError> {
    let path = socket_path();
    // Dropping a connection from another process (or for another path) closes our copy
    // of the descriptor: harmless to its owner, and we never read or write it.
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
