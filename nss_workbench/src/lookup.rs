//! Keyed lookups (`getpwnam_r`, `getgrgid_r`, `getspnam_r`, …): one request, one record.

use workbench_wire::{Request, FRAME_HEADER_LEN, MAX_REQUEST_LEN};

use crate::arena::Arena;
use crate::client::{self, Channel};
use crate::deadline::Deadline;
use crate::fill::{Database, FillError, Key};
use crate::map::{self, answer::Refresh};
use crate::replay;
use crate::status::Failure;

/// Encodes a keyed request.
///
/// A request too large for the daemon to accept carries a name far longer than any
/// user or group name (at most 64 bytes): no such entry can exist, so the answer is
/// an authoritative `NOTFOUND` given without a round trip.
pub fn encode(request: &Request) -> Result<Vec<u8>, Failure> {
    let frame = request.to_frame();
    let payload_len = frame.len().saturating_sub(FRAME_HEADER_LEN);
    if payload_len > usize::try_from(MAX_REQUEST_LEN).unwrap_or(usize::MAX) {
        return Err(Failure::NOT_FOUND);
    }
    Ok(frame)
}

/// Answers from the map if it can (refreshing the mapping if needed), else asks the
/// daemon (or the replay slot) for `request()` and copies the answer out.
///
/// A retry after `ERANGE` is served from [`replay`] when it comes at once.
pub fn keyed<D: Database>(
    request: impl FnOnce() -> Request,
    key: Key<'_>,
    entry: &mut D::Entry,
    arena: &mut Arena,
) -> Result<(), Failure> {
    if let Some(answer) = map::answer::keyed::<D>(key, entry, arena, Refresh::Allowed) {
        return answer;
    }
    let request = &request();
    let frame = encode(request)?;
    let reply = match replay::take(&frame) {
        Some(r) => r,
        None => client::call_frame(&frame, Channel::for_request(request), &Deadline::start())?,
    };
    if let Some(f) = Failure::from_wire(reply.status) {
        return Err(f);
    }
    match D::fill(&reply.payload, key, entry, arena) {
        Ok(()) => Ok(()),
        Err(FillError::BufferTooSmall) => {
            replay::keep(frame, reply);
            Err(Failure::BUFFER_TOO_SMALL)
        }
        Err(e) => Err(e.into()),
    }
}
