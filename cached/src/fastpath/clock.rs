//! The clock the image's heartbeat and expiry words use: `CLOCK_MONOTONIC`, which the
//! module reads through the vDSO (no system call) and which no one can set.

/// Milliseconds of `CLOCK_MONOTONIC`.
pub fn monotonic_ms() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec for the call to fill.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    if rc != 0 {
        return 0;
    }
    u64::try_from(ts.tv_sec).unwrap_or(0) * 1000
        + u64::try_from(ts.tv_nsec).unwrap_or(0) / 1_000_000
}

/// Seconds of `CLOCK_MONOTONIC`.
pub fn monotonic_secs() -> u64 {
    monotonic_ms() / 1000
}
