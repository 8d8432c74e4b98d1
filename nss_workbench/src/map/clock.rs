//! `CLOCK_MONOTONIC`, the clock of the image's heartbeat and expiry words: read through
//! the vDSO, so checking an entry's freshness costs no system call.

/// Milliseconds of `CLOCK_MONOTONIC`, or `None` if the clock cannot be read (the map is
/// then not used).
pub fn monotonic_ms() -> Option<u64> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec for the call to fill.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    if rc != 0 {
        return None;
    }
    let secs = u64::try_from(ts.tv_sec).ok()?;
    let nanos = u64::try_from(ts.tv_nsec).ok()?;
    secs.checked_mul(1000)?.checked_add(nanos / 1_000_000)
}
