//! State shared by the socket server, the sync thread and the signal handler: the
//! configuration, the served snapshot, health, counters, requests to the sync thread.
//! The on-demand path keeps its own memory beside it (`ondemand::state`).
//!
//! | file | job |
//! | --- | --- |
//! | [`health`] | what `status` says about the server and the tokens |
//! | [`refusals`] | refused entries: logged once, counted by reason |

pub mod health;
pub mod refusals;

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock, RwLockReadGuard};
use std::time::SystemTime;

use crate::cache::snapshot::Snapshot;
use crate::config::Config;
use crate::directory::change::Change;
use crate::directory::model::Directory;
use crate::fastpath::Publisher;
use health::Health;

/// Lock-free counters reported by `status`.
#[derive(Debug, Default)]
pub struct Counters {
    /// Lookups answered (module requests, not CLI commands).
    pub lookups: AtomicU64,
    /// Lookups answered with an entry.
    pub hits: AtomicU64,
    /// Requests that could not be decoded; their connection was closed.
    pub bad_requests: AtomicU64,
    /// Connections refused because the connection limit was reached (every kind).
    pub connections_refused: AtomicU64,
    /// Of those, refused because the peer uid held its budget of busy connections.
    pub connections_refused_per_uid: AtomicU64,
    /// Idle connections closed to make room for another (design.md §7, fairness).
    pub connections_evicted_idle: AtomicU64,
    /// On-demand misses answered `TRYAGAIN` because their peer uid used up its share.
    pub ondemand_over_budget: AtomicU64,
    /// Shadow requests refused to an unprivileged peer.
    pub shadow_denied: AtomicU64,
    /// Shadow requests refused because they were not the first request on their
    /// connection (credentials are captured at connect); the connection was closed.
    pub shadow_not_first: AtomicU64,
    /// Filtered SCIM requests made for misses and refreshes.
    pub scim_lookups: AtomicU64,
    /// Of those, the ones that failed (server down, timeout, 5xx, …).
    pub scim_lookup_failures: AtomicU64,
    /// Lookups that joined another caller's request instead of making their own.
    pub shared_flights: AtomicU64,
    /// Lookups answered from a stale entry because the server failed.
    pub stale_answers: AtomicU64,
    /// Lookups answered `TRYAGAIN` (server unreachable, nothing usable cached).
    pub try_again: AtomicU64,
    /// Syncs dropped, by why (a hostile or broken server; design.md §3, §2).
    pub dropped_syncs: DroppedSyncs,
}

/// Syncs dropped (cache kept) because the server's answers broke a bound.
#[derive(Debug, Default)]
pub struct DroppedSyncs {
    /// Past `sync-max-bytes`.
    pub over_max_bytes: AtomicU64,
    /// Past `sync-deadline`.
    pub past_deadline: AtomicU64,
    /// Pages missing or inconsistent (`totalResults` changing, wrong `startIndex` …).
    pub incomplete: AtomicU64,
    /// One response over the per-page cap, or an absurd `totalResults`.
    pub too_large: AtomicU64,
}

impl Counters {
    pub fn bump(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a sync dropped because of `e`, when `e` is a bound the server broke.
    pub fn count_dropped_sync(&self, e: &crate::scim::ScimError) {
        use crate::scim::ScimError;
        let d = &self.dropped_syncs;
        match e {
            ScimError::OverBudget { .. } => Self::bump(&d.over_max_bytes),
            ScimError::PastDeadline { .. } => Self::bump(&d.past_deadline),
            ScimError::Incomplete { .. } => Self::bump(&d.incomplete),
            ScimError::TooLarge { .. } => Self::bump(&d.too_large),
            _ => {}
        }
    }
}

/// Requests from the CLI or signals to the sync thread.
#[derive(Debug, Default)]
pub struct SyncRequests {
    /// Sync now (CLI `sync`, `invalidate --all`).
    pub sync_now: bool,
    /// Re-read configuration and tokens (SIGHUP).
    pub reload: bool,
    /// Tickets handed to CLI `sync` callers, in order.
    pub tickets_issued: u64,
    /// Every ticket up to this one has been answered by an attempt that started after
    /// it was issued (so `sync` never reports a sync that began before it asked).
    pub tickets_done: u64,
    /// Outcome of the latest attempt, as the JSON the CLI prints.
    pub last_report: Option<(bool, serde_json::Value)>,
    /// Token files as root's `workbench-cached reload` read them, applied with the next
    /// reload (the newest push wins).
    pub pushed: Option<PushedTokens>,
    /// `reload` requests handed out / applied, in order (as the sync tickets).
    pub reloads_issued: u64,
    pub reloads_done: u64,
}

/// The two token states a `workbench-cached reload` sent.
#[derive(Debug)]
pub struct PushedTokens {
    pub user: crate::tokens::file::TokenState,
    pub admin: crate::tokens::file::TokenState,
}

/// Everything shared between threads.
pub struct Shared {
    pub config: RwLock<Arc<Config>>,
    /// The copy being served. Readers hold the lock only to copy an answer out;
    /// merges edit it in place, full syncs swap it whole.
    pub served: RwLock<Snapshot>,
    pub health: Mutex<Health>,
    pub counters: Counters,
    pub sync: Mutex<SyncRequests>,
    pub sync_wake: Condvar,
    pub shutdown: AtomicBool,
    pub started: SystemTime,
    /// GID of `shadow-group` read from /etc/group, or [`NO_GID`].
    pub shadow_gid: AtomicU32,
    /// Serialises changes to the served copy (on-demand merges and full syncs), from
    /// computing a change to applying it.
    pub apply: Mutex<()>,
    /// Full copies served so far (each [`Shared::swap`]): an on-demand answer asked for
    /// before the latest copy is older than it.
    pub copies: AtomicU64,
    /// The in-process map's current generation: retired by every change to the served
    /// copy before the change's caller answers anyone.
    pub fastpath: Publisher,
}

/// Sentinel for "shadow-group does not exist": `(gid_t)-1` is never a real group.
pub const NO_GID: u32 = u32::MAX;

impl Shared {
    pub fn new(config: Config) -> Arc<Shared> {
        Arc::new(Shared {
            config: RwLock::new(Arc::new(config)),
            served: RwLock::new(Snapshot::default()),
            health: Mutex::new(Health::default()),
            counters: Counters::default(),
            sync: Mutex::new(SyncRequests::default()),
            sync_wake: Condvar::new(),
            shutdown: AtomicBool::new(false),
            started: SystemTime::now(),
            shadow_gid: AtomicU32::new(NO_GID),
            apply: Mutex::new(()),
            copies: AtomicU64::new(0),
            fastpath: Publisher::new(),
        })
    }

    pub fn config(&self) -> Arc<Config> {
        match self.config.read() {
            Ok(c) => Arc::clone(&c),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// The copy to answer from. Hold the guard only to read an answer out: a merge
    /// waits for it (a full sync builds its copy without it and only swaps under it).
    pub fn snapshot(&self) -> RwLockReadGuard<'_, Snapshot> {
        self.served.read().unwrap_or_else(|p| p.into_inner())
    }

    /// The served copy as a [`Directory`]: linear in its size, for the sync thread (its
    /// diff, the hashes it keeps, the rules it re-applies), never for a lookup.
    pub fn served_directory(&self) -> Directory {
        self.snapshot().to_directory()
    }

    /// Serves a full copy: indexed without the lock (taking the copy apart as it goes),
    /// swapped in under it, the old snapshot freed after it is released.
    pub fn serve(&self, directory: Directory) {
        self.swap(Snapshot::from_directory(directory));
    }

    /// Serves `next` (built by the caller, outside any lock); the old snapshot is freed
    /// after the lock is released.
    pub fn swap(&self, next: Snapshot) {
        let old = {
            let mut served = self.served.write().unwrap_or_else(|p| p.into_inner());
            self.copies.fetch_add(1, Ordering::SeqCst);
            let old = std::mem::replace(&mut *served, next);
            self.fastpath.retire();
            old
        };
        drop(old);
    }

    /// How many full copies have been served (see [`Shared::copies`]).
    pub fn copies_served(&self) -> u64 {
        self.copies.load(Ordering::SeqCst)
    }

    /// Held while a change to the served copy is computed and applied.
    pub fn apply_lock(&self) -> std::sync::MutexGuard<'_, ()> {
        self.apply.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Applies one merge's edits to the served copy. The caller holds
    /// [`Shared::apply_lock`] from computing the change to here, so no other change
    /// comes between.
    pub fn apply_change(&self, change: &Change) {
        let mut served = self.served.write().unwrap_or_else(|p| p.into_inner());
        // Worked out on the data before the change, and revoked before the lock is
        // released: no lookup is answered from the new data while a process's map can
        // still answer the old.
        let affected = crate::fastpath::revoke::affected(&served, change);
        served.apply(change);
        match affected {
            Some(keys) => self.fastpath.revoke(&keys),
            None => self.fastpath.retire(),
        }
    }

    pub fn health(&self) -> std::sync::MutexGuard<'_, Health> {
        self.health.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn sync_requests(&self) -> std::sync::MutexGuard<'_, SyncRequests> {
        self.sync.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn shadow_gid(&self) -> Option<u32> {
        match self.shadow_gid.load(Ordering::Relaxed) {
            NO_GID => None,
            g => Some(g),
        }
    }

    pub fn is_shutting_down(&self) -> bool {
        self.shutdown.load(Ordering::SeqCst)
    }

    /// Asks the sync thread to act now and wakes it.
    pub fn request(&self, f: impl FnOnce(&mut SyncRequests)) {
        let mut r = self.sync_requests();
        f(&mut r);
        drop(r);
        self.sync_wake.notify_all();
    }
}
