//! The current mapping, lock-free for readers.
//!
//! A fixed set of slots, never freed: `CURRENT` names the slot in use and an epoch. A
//! reader raises the slot's reader count, then checks `CURRENT` still names that slot
//! and epoch; only then does it touch the mapping, and it lowers the count when done.
//! Each slot's count is split into [`STRIPES`] counters on their own cache lines, a
//! thread using the one its thread id picks: two threads reading on two cores would
//! otherwise pass one cache line back and forth twice per lookup. The refresher sums
//! them; the argument below holds for each counter on its own.
//! The refresher (one thread at a time, [`RefreshLock`]) replaces `CURRENT` first and
//! unmaps a slot only when it is not current and its count is zero. With sequentially
//! consistent operations on both sides, either the refresher sees the reader's count or
//! the reader sees the new `CURRENT` and backs off: a mapping is never unmapped under a
//! reader, and a slot is refilled only when no reader can still be using it.
//!
//! After `fork()` the child inherits the mappings and `CURRENT` (both whole: `CURRENT`
//! is published only after its slot is complete), and counts raised by parent threads
//! that do not exist in the child: such a slot is never unmapped in the child, which
//! costs address space, never safety. A refresh lock held by a thread of the parent is
//! taken over by the child (the holder's pid is in the lock).

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};

use super::mapping::Mapping;

const SLOT_COUNT: usize = 4;
/// Reader counters per slot (a power of two).
const STRIPES: usize = 16;

/// One reader counter alone on its cache line.
#[repr(align(64))]
struct Stripe(AtomicUsize);

#[allow(clippy::declare_interior_mutable_const)]
const NO_READERS: Stripe = Stripe(AtomicUsize::new(0));

struct Slot {
    readers: [Stripe; STRIPES],
    mapping: UnsafeCell<Option<Mapping>>,
}

impl Slot {
    /// Threads reading this slot now (exact once no reader can still arrive).
    fn reader_count(&self) -> usize {
        self.readers
            .iter()
            .fold(0usize, |n, s| n.wrapping_add(s.0.load(Ordering::SeqCst)))
    }
}

/// The calling thread's counter: `pthread_self()` is the address of the thread's
/// control block, distinct per live thread and a few pages apart, so its page number
/// spreads threads over the stripes. Two threads sharing one is only slower, never
/// wrong. (Always `Some`: the index is masked to the array's length.)
fn stripe_of(slot: &Slot) -> Option<&AtomicUsize> {
    // SAFETY: pthread_self has no preconditions.
    let me = unsafe { libc::pthread_self() } as usize;
    let i = ((me >> 12) ^ (me >> 16)) & (STRIPES - 1);
    slot.readers.get(i).map(|s| &s.0)
}

// SAFETY: `mapping` is written only by the refresh-lock holder, and only while the slot
// is not current and has no readers (see the module comment); readers only read it
// after the protocol above guarantees no writer.
unsafe impl Sync for Slot {}

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY: Slot = Slot {
    readers: [NO_READERS; STRIPES],
    mapping: UnsafeCell::new(None),
};

static SLOTS: [Slot; SLOT_COUNT] = [EMPTY; SLOT_COUNT];
/// 0: no current mapping; else `epoch << 3 | slot index`.
static CURRENT: AtomicU64 = AtomicU64::new(0);
static EPOCH: AtomicU64 = AtomicU64::new(0);

/// A reader's hold on the current mapping.
pub struct Reading {
    count: &'static AtomicUsize,
    mapping: &'static Mapping,
}

impl Reading {
    pub fn mapping(&self) -> &Mapping {
        self.mapping
    }
}

impl Drop for Reading {
    fn drop(&mut self) {
        self.count.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The current mapping, held until the returned value is dropped.
pub fn read() -> Option<Reading> {
    let cur = CURRENT.load(Ordering::SeqCst);
    if cur == 0 {
        return None;
    }
    let slot = SLOTS.get((cur & 7) as usize)?;
    let count = stripe_of(slot)?;
    count.fetch_add(1, Ordering::SeqCst);
    if CURRENT.load(Ordering::SeqCst) != cur {
        count.fetch_sub(1, Ordering::SeqCst);
        return None;
    }
    // SAFETY: the slot is current with our count raised: no refresher writes it now.
    let mapping = unsafe { (*slot.mapping.get()).as_ref() };
    match mapping {
        Some(mapping) => Some(Reading { count, mapping }),
        None => {
            count.fetch_sub(1, Ordering::SeqCst);
            None
        }
    }
}

/// The refresh lock: at most one thread per process replaces the mapping.
pub struct RefreshLock(());

static LOCK_HOLDER: AtomicU32 = AtomicU32::new(0);

impl RefreshLock {
    /// Takes the lock without waiting, or `None` (the caller uses the socket). A lock
    /// held by another process's thread (we are a child of `fork()`) is taken over.
    pub fn try_lock() -> Option<RefreshLock> {
        // SAFETY: getpid has no preconditions.
        let me = unsafe { libc::getpid() } as u32;
        match LOCK_HOLDER.compare_exchange(0, me, Ordering::SeqCst, Ordering::SeqCst) {
            Ok(_) => Some(RefreshLock(())),
            Err(holder) if holder != me => LOCK_HOLDER
                .compare_exchange(holder, me, Ordering::SeqCst, Ordering::SeqCst)
                .ok()
                .map(|_| RefreshLock(())),
            Err(_) => None,
        }
    }

    /// Makes `mapping` current, or gives it back when every slot is still in use.
    pub fn install(&self, mapping: Mapping) -> Option<Mapping> {
        self.reclaim();
        let cur = CURRENT.load(Ordering::SeqCst);
        let free = SLOTS.iter().enumerate().find(|(i, s)| {
            (cur == 0 || (cur & 7) as usize != *i)
                && s.reader_count() == 0
                // SAFETY: not current and no readers: only the lock holder touches it.
                && unsafe { (*s.mapping.get()).is_none() }
        });
        let Some((i, slot)) = free else {
            return Some(mapping);
        };
        // SAFETY: as above; the slot becomes visible to readers only through CURRENT.
        unsafe { *slot.mapping.get() = Some(mapping) };
        let epoch = EPOCH.fetch_add(1, Ordering::SeqCst) + 1;
        CURRENT.store((epoch << 3) | i as u64, Ordering::SeqCst);
        self.reclaim();
        None
    }

    /// Stops using the current mapping (retired, or its lease ran out).
    pub fn drop_current(&self) {
        CURRENT.store(0, Ordering::SeqCst);
        self.reclaim();
    }

    /// Unmaps every mapping that is not current and that no thread reads.
    pub fn reclaim(&self) {
        let cur = CURRENT.load(Ordering::SeqCst);
        for (i, slot) in SLOTS.iter().enumerate() {
            if cur != 0 && (cur & 7) as usize == i {
                continue;
            }
            if slot.reader_count() != 0 {
                continue;
            }
            // SAFETY: not current and no readers (a reader arriving now sees CURRENT
            // changed and backs off without touching the mapping).
            let old = unsafe { (*slot.mapping.get()).take() };
            if let Some(m) = old {
                // SAFETY: no reader holds it (above), and it is no longer reachable.
                unsafe { m.unmap() };
            }
        }
    }
}

impl Drop for RefreshLock {
    fn drop(&mut self) {
        LOCK_HOLDER.store(0, Ordering::SeqCst);
    }
}

/// Mappings currently held by this process (tests count them).
pub fn mapped_count() -> usize {
    SLOTS
        .iter()
        // SAFETY: a racy read of whether a slot is filled, for a diagnostic count only.
        .filter(|s| unsafe { (*s.mapping.get()).is_some() })
        .count()
}
