//! The fast-path thread: renews the current image's heartbeat and builds the next image
//! whenever one is wanted (the served data changed, a sync confirmed everything). The
//! build reads the served snapshot under its read lock and a copy of the freshness
//! table, so lookups are never held up by it.

use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use workbench_wire::map::HEARTBEAT_MS;

use crate::fastpath::clock::monotonic_secs;
use crate::fastpath::image::{build, fresh_until, Entry, NEVER};
use crate::ondemand::freshness::EntryId;
use crate::ondemand::state::OnDemand;
use crate::schedule::refresh_ahead::fresh_for;

/// Starts the thread; it ends when the daemon shuts down, retiring the image.
pub fn spawn(od: Arc<OnDemand>) -> std::io::Result<JoinHandle<()>> {
    thread::Builder::new()
        .name("fastpath".into())
        .spawn(move || run(&od))
}

fn run(od: &OnDemand) {
    let publisher = &od.shared.fastpath;
    // Half the heartbeat period: a build between two beats still leaves the lease
    // (five periods) far from running out.
    let tick = Duration::from_millis(HEARTBEAT_MS / 2);
    loop {
        if od.shared.is_shutting_down() {
            publisher.stop();
            return;
        }
        publisher.heartbeat();
        if publisher.wait_for_work(tick) && !od.shared.is_shutting_down() {
            rebuild(od);
        }
    }
}

fn rebuild(od: &OnDemand) {
    let publisher = &od.shared.fastpath;
    let started = Instant::now();
    let cpu_before = thread_cpu();
    // Read under the apply lock, which a change holds from serving new data to
    // resetting the freshness table: the table then matches the data as of `changes`,
    // and a change applied after this makes the image stale (`publish` discards it).
    let (changes, freshness) = {
        let _apply = od.shared.apply_lock();
        (publisher.changes(), od.freshness().clone())
    };
    let generation = publisher.next_generation();
    let key = random_key();
    let config = od.shared.config();
    let ttl = config.positive_ttl;
    // A copy just served confirmed everything, even before the sync's bookkeeping
    // records its time: an image built in between is not all expired.
    let last_sync = od.shared.health().last_sync.max(freshness.reset_at());
    let now = monotonic_secs();
    let expiry = |e: Entry| match e {
        Entry::User(uid) => fresh_until(
            freshness.age(EntryId::User(uid), last_sync),
            fresh_for(uid, ttl),
            now,
        ),
        Entry::Group(gid, true) => fresh_until(
            freshness.age(EntryId::Group(gid), last_sync),
            fresh_for(gid, ttl),
            now,
        ),
        Entry::Group(_, false) => NEVER,
    };
    let built = {
        let snap = od.shared.snapshot();
        build(&snap, generation, key, config.enumerate, expiry)
    };
    let (bytes, counts) = match built {
        Ok(b) => b,
        Err(e) => {
            log::error!("fast path: cannot build the map image: {e}; lookups use the socket");
            publisher.note_error(&e.to_string());
            return;
        }
    };
    let cpu = thread_cpu().saturating_sub(cpu_before);
    let published = publisher.publish(&bytes, counts, changes, cpu);
    let size = bytes.len();
    drop(bytes);
    match published {
        Ok(true) => log::debug!(
            "fast path: generation {generation} published ({} users, {} groups, {} bytes) in {} ms",
            counts.users,
            counts.groups,
            size,
            started.elapsed().as_millis()
        ),
        Ok(false) => {}
        Err(e) => {
            log::warn!("fast path disabled: {e}; lookups use the socket");
            publisher.disable(&e.to_string());
        }
    }
}

/// A fresh hash key per generation, from the kernel's random pool.
fn random_key() -> [u64; 2] {
    let mut buf = [0u8; 16];
    let mut filled = 0usize;
    while filled < buf.len() {
        let rest = &mut buf[filled..];
        // SAFETY: `rest` is a valid writable buffer of `rest.len()` bytes.
        let n = unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) };
        if n <= 0 {
            // Interrupted, or no getrandom: the time still differs per generation, and
            // a probe is bounded whatever the key.
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64)
                ^ u64::from(std::process::id());
            return [t, t.rotate_left(32) ^ 0x9e37_79b9_7f4a_7c15];
        }
        filled += n as usize;
    }
    let (a, b) = buf.split_at(8);
    [
        u64::from_le_bytes(a.try_into().unwrap_or([0; 8])),
        u64::from_le_bytes(b.try_into().unwrap_or([0; 8])),
    ]
}

fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec for the call to fill.
    if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) } != 0 {
        return Duration::ZERO;
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}
