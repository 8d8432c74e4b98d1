//! The answer kept for the retry after `ERANGE`.
//!
//! glibc answers `ERANGE` by calling again with a buffer twice as large, at once and on
//! the same thread. Keeping the last keyed response that did not fit (request frame +
//! response) for a short time lets that retry, and the ones after it for a huge group,
//! be served without another round trip. Every call takes the slot, so a stored answer
//! is used at most by the immediately following identical request, and only under the
//! credentials it was fetched with: a shadow answer kept for root is never replayed to
//! the same thread after `setresuid`.

use std::cell::RefCell;
use std::time::{Duration, Instant};

use crate::connection::Reply;
use crate::credentials::Credentials;

/// How long a kept answer may be replayed.
pub const REPLAY_TTL: Duration = Duration::from_secs(1);

struct Kept {
    frame: Vec<u8>,
    reply: Reply,
    at: Instant,
    owner: Credentials,
}

thread_local! {
    static LAST: RefCell<Option<Kept>> = const { RefCell::new(None) };
}

/// Takes the kept answer if it was for exactly `frame`, under the current credentials,
/// and is still fresh; clears the slot either way.
pub fn take(frame: &[u8]) -> Option<Reply> {
    let kept = LAST
        .try_with(|slot| slot.try_borrow_mut().ok().and_then(|mut s| s.take()))
        .ok()
        .flatten()?;
    (kept.frame == frame && kept.owner == Credentials::current() && kept.at.elapsed() < REPLAY_TTL)
        .then_some(kept.reply)
}

/// Keeps `reply` for a retry of `frame`.
pub fn keep(frame: Vec<u8>, reply: Reply) {
    let kept = Kept {
        frame,
        reply,
        at: Instant::now(),
        owner: Credentials::current(),
    };
    let _ = LAST.try_with(|slot| {
        if let Ok(mut s) = slot.try_borrow_mut() {
            *s = Some(kept);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use workbench_wire::Status;

    fn reply() -> Reply {
        Reply {
            status: Status::Found,
            payload: vec![1, 2, 3],
        }
    }

    #[test]
    fn replays_once_and_only_the_same_request() {
        keep(b"req".to_vec(), reply());
        assert_eq!(take(b"other"), None);
        // The mismatching take cleared it.
        assert_eq!(take(b"req"), None);
        keep(b"req".to_vec(), reply());
        assert_eq!(take(b"req"), Some(reply()));
        assert_eq!(take(b"req"), None);
    }
}
