//! Waiting for the next request of a burst without sleeping.
//!
//! Lookups the in-process map cannot answer come in bursts: `ls -l` over files of many
//! owners, `id` of a user in fifty groups, a scan of uids nobody has. Each one is a
//! request on the client's kept connection, sent microseconds after our last reply. If
//! the connection's thread is blocked in `read()` by then, the kernel must wake it (and
//! an idle CPU with it), which on a virtual machine costs tens of microseconds: most of
//! a socket lookup. So once a connection is in a burst (its last request came within
//! [`BURST_GAP`] of the reply before), its thread polls for the next request for up to
//! [`SPIN`] before blocking again. The cost is bounded: at most [`SPIN`] per request of
//! a burst, nothing for a connection that asks now and then, and at most
//! [`MAX_SPINNING`] threads poll at once, so a local user who keeps many connections
//! bursting makes the daemon burn no more than one core on it (which that user could
//! burn anyway); the other connections simply block as before.

use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::socket::{recv, MsgFlags};

/// How long a connection in a burst is polled for its next request.
pub const SPIN: Duration = Duration::from_micros(60);
/// A request that arrives within this long of the previous reply continues a burst.
pub const BURST_GAP: Duration = Duration::from_micros(250);
/// Threads that may poll at the same time, daemon-wide.
pub const MAX_SPINNING: usize = 1;

static SPINNING: AtomicUsize = AtomicUsize::new(0);

/// A place among the [`MAX_SPINNING`], given back on drop.
struct SpinSlot;

impl SpinSlot {
    fn take() -> Option<SpinSlot> {
        SPINNING
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < MAX_SPINNING).then_some(n + 1)
            })
            .ok()
            .map(|_| SpinSlot)
    }
}

impl Drop for SpinSlot {
    fn drop(&mut self) {
        SPINNING.fetch_sub(1, Ordering::AcqRel);
    }
}

/// One connection's burst state.
#[derive(Debug, Default)]
pub struct Burst {
    replied_at: Option<Instant>,
    active: bool,
}

impl Burst {
    /// A request has arrived (its first bytes were read just now).
    pub fn request_arrived(&mut self) {
        self.active = self.replied_at.is_some_and(|t| t.elapsed() < BURST_GAP);
    }

    /// The reply to it has been written.
    pub fn replied(&mut self) {
        self.replied_at = Some(Instant::now());
    }

    /// In a burst: polls `stream` for up to [`SPIN`] until something is readable (a
    /// request, an EOF or an error: the blocking read that follows reports it at once).
    /// Returns whether it came within the spin; outside a burst, or with
    /// [`MAX_SPINNING`] threads polling already, `false` at once.
    pub fn await_next(&self, stream: &UnixStream) -> bool {
        if !self.active {
            return false;
        }
        let Some(_slot) = SpinSlot::take() else {
            return false;
        };
        let start = Instant::now();
        let mut byte = [0u8; 1];
        loop {
            // MSG_PEEK: the byte stays queued for the framed read.
            match recv(
                stream.as_raw_fd(),
                &mut byte,
                MsgFlags::MSG_PEEK | MsgFlags::MSG_DONTWAIT,
            ) {
                Err(Errno::EAGAIN) => {}
                Err(Errno::EINTR) => {}
                _ => return true,
            }
            if start.elapsed() >= SPIN {
                return false;
            }
            std::hint::spin_loop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    fn in_burst() -> Burst {
        let mut b = Burst::default();
        b.replied();
        b.request_arrived();
        b
    }

    #[test]
    fn only_a_request_soon_after_a_reply_starts_a_burst() {
        let mut b = Burst::default();
        b.request_arrived();
        assert!(!b.active, "the first request of a connection is no burst");
        b.replied();
        b.request_arrived();
        assert!(b.active);
        b.replied_at = Instant::now().checked_sub(BURST_GAP * 2);
        b.request_arrived();
        assert!(!b.active, "a request long after the reply ends the burst");
    }

    // One test for everything that takes the daemon-wide spin slot: tests run in
    // parallel threads, and a second one polling would make the slot look taken.
    #[test]
    fn polls_until_a_request_or_the_spin_ends_one_thread_at_a_time() {
        let (mut client, server) = UnixStream::pair().unwrap();
        let idle = Burst::default();
        assert!(!idle.await_next(&server), "outside a burst: no polling");

        let b = in_burst();
        let t0 = Instant::now();
        assert!(!b.await_next(&server), "nothing was sent");
        assert!(t0.elapsed() >= SPIN);

        client.write_all(b"x").unwrap();
        assert!(b.await_next(&server));
        assert!(
            b.await_next(&server),
            "the byte stays queued for the framed read"
        );
        let mut byte = [0u8; 1];
        (&server).read_exact(&mut byte).unwrap();
        assert_eq!(&byte, b"x");
        client.write_all(b"y").unwrap();

        let held = SpinSlot::take().unwrap();
        assert!(!b.await_next(&server), "the slot is taken: block as before");
        drop(held);
        assert!(b.await_next(&server));

        drop(client);
        let (closed, server2) = UnixStream::pair().unwrap();
        drop(closed);
        assert!(b.await_next(&server2), "an EOF ends the polling too");
    }
}
