//! One total deadline per NSS call: connect, write and read all draw from it.

use std::time::{Duration, Instant};

use crate::error::ClientError;

/// Total time one NSS call may spend talking to the daemon (design.md §5).
pub const LOOKUP_TIMEOUT: Duration = Duration::from_secs(3);

/// A point in time after which the call gives up with [`ClientError::TimedOut`].
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    at: Instant,
}

impl Deadline {
    /// A deadline [`LOOKUP_TIMEOUT`] from now.
    pub fn start() -> Self {
        Deadline::after(LOOKUP_TIMEOUT)
    }

    pub fn after(d: Duration) -> Self {
        let now = Instant::now();
        Deadline {
            at: now.checked_add(d).unwrap_or(now),
        }
    }

    /// Time left, or `TimedOut` once it is spent.
    pub fn remaining(&self) -> Result<Duration, ClientError> {
        match self.at.checked_duration_since(Instant::now()) {
            Some(d) if !d.is_zero() => Ok(d),
            _ => Err(ClientError::TimedOut),
        }
    }

    /// Time left in whole milliseconds for `poll`, rounded up so that a poll never
    /// returns early and spins; at least 1.
    pub fn poll_timeout_ms(&self) -> Result<libc::c_int, ClientError> {
        let d = self.remaining()?;
        let ms = d.as_micros().div_ceil(1000).max(1);
        Ok(libc::c_int::try_from(ms).unwrap_or(libc::c_int::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spent_deadline_times_out() {
        let d = Deadline::after(Duration::ZERO);
        assert_eq!(d.remaining(), Err(ClientError::TimedOut));
        assert_eq!(d.poll_timeout_ms(), Err(ClientError::TimedOut));
    }

    #[test]
    fn poll_timeout_rounds_up() {
        let d = Deadline::after(Duration::from_micros(1500));
        let ms = d.poll_timeout_ms().unwrap();
        assert!((1..=2).contains(&ms), "{ms}");
        let d = Deadline::start();
        assert!(d.poll_timeout_ms().unwrap() > 2000);
    }
}
