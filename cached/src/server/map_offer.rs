//! Answering a module's `MapImage` request: the current image's sealed memfd passed with
//! `SCM_RIGHTS` beside a [`MapOffer`], or `Unavailable` when there is none right now (being
//! rebuilt after a change, or the fast path is off). Anyone may ask: the image holds only
//! what any local process may look up (no shadow, no tokens), and every connection is
//! already budgeted per peer uid.

use std::io::{self, IoSlice, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;

use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags, UnixAddr};
use workbench_wire::{MapOffer, Status};

use crate::ondemand::state::OnDemand;

/// Sends the answer to one `MapImage` request on `stream`.
pub fn send(stream: &mut UnixStream, refused: u8, od: &OnDemand) -> io::Result<()> {
    let Some(published) = od.shared.fastpath.offer(refused) else {
        return stream.write_all(&Status::Unavailable.frame(b"no map image right now"));
    };
    let offer = MapOffer {
        generation: published.header.generation,
        len: published.image.len() as u64,
    };
    let frame = Status::Found.frame(&offer.encode());
    let fds = [published.image.fd().as_raw_fd()];
    // The descriptor rides on the first byte; the kernel gives the module its own copy.
    let sent = sendmsg::<UnixAddr>(
        stream.as_raw_fd(),
        &[IoSlice::new(&frame)],
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::MSG_NOSIGNAL,
        None,
    )
    .map_err(io::Error::from)?;
    match frame.get(sent..) {
        Some(rest) if !rest.is_empty() => stream.write_all(rest),
        _ => Ok(()),
    }
}
