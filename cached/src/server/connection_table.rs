//! The live connections by peer uid (`SO_PEERCRED`): one local user cannot take the
//! connections everybody else needs (design.md §7).
//!
//! Policy, decided when a connection is accepted, before a thread is started for it:
//!
//! 1. A uid other than 0 holds at most [`PER_UID`] connections. Past that, its own
//!    longest-held idle connection is closed to make room (the module reconnects
//!    transparently); if none of its connections is idle, the new one is refused.
//! 2. Uids other than 0 together hold at most [`MAX_CONNECTIONS`] − [`ROOT_RESERVE`]:
//!    the reserve is root's alone (logins, `pam_unix`, system services).
//! 3. When the table is full for the newcomer, the idle connection held longest by the
//!    uid holding the most connections is closed, provided that uid holds more than the
//!    newcomer would afterwards (so nobody is squeezed below a heavier user); only when
//!    there is no such idle connection is the newcomer refused. Root may take an idle
//!    connection from anyone.
//!
//! "Idle" means waiting for the first byte of a request; a connection is closed with
//! `shutdown(SHUT_RD)` on its socket, so its thread's blocked read returns at once and a
//! request already received is still answered (the module retries on a fresh connection
//! when its reused one was closed). Refusals and evictions
//! are counted in `status` (`connections`) and logged with the uid, at most one line per
//! [`LOG_EVERY`].

use std::collections::{BTreeMap, HashMap};
use std::os::unix::io::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::state::{Counters, Shared};

/// Most connections served at once. Each module thread keeps at most one open.
pub const MAX_CONNECTIONS: usize = 4096;
/// Most connections one uid other than 0 may hold.
pub const PER_UID: usize = MAX_CONNECTIONS / 8;
/// Connections only uid 0 may use.
pub const ROOT_RESERVE: usize = MAX_CONNECTIONS / 16;
/// Closed connections whose thread has not ended yet, beyond [`MAX_CONNECTIONS`]: an
/// eviction frees its table slot at once, its descriptor and thread a moment later.
pub const CLOSING_SLACK: usize = 256;
/// Least time between two log lines about refused or evicted connections.
pub const LOG_EVERY: Duration = Duration::from_secs(10);

/// Why a connection was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The uid holds its [`PER_UID`] connections and none of them is idle.
    UidOverBudget,
    /// Every slot the uid may use is taken and no heavier user has an idle connection.
    Full,
}

/// A connection as the table sees it.
struct Entry {
    idle: Arc<AtomicBool>,
    /// The connection's socket, to wake its thread with `shutdown(2)`. Open for as long
    /// as the entry exists: the [`Registration`] owning the socket leaves the table
    /// before closing it, so the number can never name another connection's socket.
    fd: RawFd,
}

#[derive(Default)]
struct Inner {
    next_id: u64,
    total: usize,
    /// Connections by uid, oldest first (ids grow).
    by_uid: HashMap<u32, BTreeMap<u64, Entry>>,
}

impl Inner {
    fn held(&self, uid: u32) -> usize {
        self.by_uid.get(&uid).map_or(0, BTreeMap::len)
    }

    /// Closes the longest-held idle connection of `uid`; false if it has none.
    fn evict_idle(&mut self, uid: u32) -> bool {
        let Some(conns) = self.by_uid.get_mut(&uid) else {
            return false;
        };
        let Some(id) = conns
            .iter()
            .find(|(_, e)| e.idle.load(Ordering::SeqCst))
            .map(|(id, _)| *id)
        else {
            return false;
        };
        if let Some(entry) = conns.remove(&id) {
            // SAFETY: the descriptor is open (see `Entry::fd`; we hold the table lock,
            // which its owner takes before closing it); shutdown only changes socket
            // state. The read side only: a response being written still reaches the
            // client.
            unsafe { libc::shutdown(entry.fd, libc::SHUT_RD) };
        }
        if conns.is_empty() {
            self.by_uid.remove(&uid);
        }
        self.total = self.total.saturating_sub(1);
        true
    }

    /// The uids to take an idle connection from for `newcomer`, heaviest first: those
    /// holding more than the newcomer would after admission (anyone, for root).
    fn heavier_than(&self, newcomer: u32) -> Vec<u32> {
        let after = self.held(newcomer).saturating_add(1);
        let mut uids: Vec<(usize, u32)> = self
            .by_uid
            .iter()
            .filter(|(uid, conns)| **uid != newcomer && (newcomer == 0 || conns.len() > after))
            .map(|(uid, conns)| (conns.len(), *uid))
            .collect();
        uids.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        uids.into_iter().map(|(_, uid)| uid).collect()
    }
}

/// What happened on admission, for the counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admitted {
    /// Whose idle connection was closed to make room, if any.
    pub evicted_from: Option<u32>,
}

/// Rate limit for the log lines: one line, then a count of what happened meanwhile.
struct RefusalLog {
    last: Option<Instant>,
    unlogged: u64,
}

/// The table; one per listener.
pub struct ConnectionTable {
    inner: Mutex<Inner>,
    log: Mutex<RefusalLog>,
}

impl Default for ConnectionTable {
    fn default() -> Self {
        ConnectionTable {
            inner: Mutex::new(Inner::default()),
            log: Mutex::new(RefusalLog {
                last: None,
                unlogged: 0,
            }),
        }
    }
}

/// A connection's place in the table, owning its socket; dropping it frees the place,
/// then closes the socket.
pub struct Registration {
    table: Arc<ConnectionTable>,
    uid: u32,
    id: u64,
    /// Set while the connection waits for a request: it may then be closed under
    /// pressure.
    pub idle: Arc<AtomicBool>,
    /// Closed after the place is freed (fields drop after [`Drop::drop`]).
    pub stream: UnixStream,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut inner = self.table.lock();
        let Some(conns) = inner.by_uid.get_mut(&self.uid) else {
            return;
        };
        // Absent when it was evicted: already uncounted.
        if conns.remove(&self.id).is_some() {
            if conns.is_empty() {
                inner.by_uid.remove(&self.uid);
            }
            inner.total = inner.total.saturating_sub(1);
        }
    }
}

impl ConnectionTable {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Connections in the table.
    pub fn len(&self) -> usize {
        self.lock().total
    }

    /// True when no connection is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Connections held by `uid`.
    pub fn held(&self, uid: u32) -> usize {
        self.lock().held(uid)
    }

    /// Admits a connection from `uid` (see the module doc for the policy), closing an
    /// idle one if needed. A refused `stream` is closed.
    pub fn admit(
        self: &Arc<Self>,
        uid: u32,
        stream: UnixStream,
    ) -> Result<(Registration, Admitted), Refusal> {
        let mut inner = self.lock();
        let mut evicted_from = None;
        if uid != 0 && inner.held(uid) >= PER_UID {
            if !inner.evict_idle(uid) {
                return Err(Refusal::UidOverBudget);
            }
            evicted_from = Some(uid);
        }
        let limit = if uid == 0 {
            MAX_CONNECTIONS
        } else {
            MAX_CONNECTIONS - ROOT_RESERVE
        };
        if inner.total >= limit {
            let victim = inner
                .heavier_than(uid)
                .into_iter()
                .find(|victim| inner.evict_idle(*victim));
            match victim {
                Some(victim) => evicted_from = Some(victim),
                None => return Err(Refusal::Full),
            }
        }
        let id = inner.next_id;
        inner.next_id = inner.next_id.wrapping_add(1);
        let idle = Arc::new(AtomicBool::new(true));
        inner.by_uid.entry(uid).or_default().insert(
            id,
            Entry {
                idle: Arc::clone(&idle),
                fd: stream.as_raw_fd(),
            },
        );
        inner.total += 1;
        Ok((
            Registration {
                table: Arc::clone(self),
                uid,
                id,
                idle,
                stream,
            },
            Admitted { evicted_from },
        ))
    }

    /// Counts and (rate-limited) logs a refusal or eviction concerning `uid`.
    pub fn report(&self, shared: &Shared, uid: u32, event: Result<Admitted, Refusal>) {
        let c = &shared.counters;
        let what = match event {
            Ok(Admitted {
                evicted_from: Some(victim),
            }) => {
                Counters::bump(&c.connections_evicted_idle);
                format!("closed an idle connection of uid {victim} to admit one from uid {uid}")
            }
            Ok(Admitted { evicted_from: None }) => return,
            Err(Refusal::UidOverBudget) => {
                Counters::bump(&c.connections_refused);
                Counters::bump(&c.connections_refused_per_uid);
                format!(
                    "refused a connection from uid {uid}: it holds {PER_UID} busy connections \
                     (the per-uid budget)"
                )
            }
            Err(Refusal::Full) => {
                Counters::bump(&c.connections_refused);
                format!(
                    "refused a connection from uid {uid}: {} connections open, none idle to \
                     close for it",
                    self.len()
                )
            }
        };
        let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if log.last.is_some_and(|t| now.duration_since(t) < LOG_EVERY) {
            log.unlogged = log.unlogged.saturating_add(1);
            return;
        }
        let unlogged = std::mem::take(&mut log.unlogged);
        log.last = Some(now);
        drop(log);
        log::warn!(
            "{what} ({unlogged} more refusals or evictions in the last {} s; see status \
             \"connections\")",
            LOG_EVERY.as_secs()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> (UnixStream, UnixStream) {
        UnixStream::pair().unwrap()
    }

    /// Admits `n` connections from `uid`; returns the registrations and client ends.
    fn fill(t: &Arc<ConnectionTable>, uid: u32, n: usize) -> Vec<(Registration, UnixStream)> {
        (0..n)
            .map(|_| {
                let (server, client) = pair();
                let (reg, _) = t.admit(uid, server).unwrap();
                (reg, client)
            })
            .collect()
    }

    fn busy(regs: &[(Registration, UnixStream)]) {
        for (r, _) in regs {
            r.idle.store(false, Ordering::SeqCst);
        }
    }

    #[test]
    fn a_uid_over_budget_loses_its_own_oldest_idle_connection() {
        let t = Arc::new(ConnectionTable::default());
        let held = fill(&t, 1000, PER_UID);
        let (server, _client) = pair();
        let (_reg, admitted) = t.admit(1000, server).unwrap();
        assert_eq!(admitted.evicted_from, Some(1000));
        assert_eq!(t.held(1000), PER_UID);
        // The oldest one was closed: its thread's read returns end of file at once.
        let mut buf = [0u8; 1];
        use std::io::Read;
        let mut oldest = held[0].0.stream.try_clone().unwrap();
        oldest
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        assert_eq!(oldest.read(&mut buf).unwrap(), 0);
    }

    #[test]
    fn a_uid_over_budget_with_every_connection_busy_is_refused() {
        let t = Arc::new(ConnectionTable::default());
        let held = fill(&t, 1000, PER_UID);
        busy(&held);
        let (server, _client) = pair();
        assert_eq!(t.admit(1000, server).err(), Some(Refusal::UidOverBudget));
        // Others are not affected, root neither.
        let (server, _client) = pair();
        assert!(t.admit(1001, server).is_ok());
        let (server, _client) = pair();
        assert!(t.admit(0, server).is_ok());
    }

    #[test]
    fn root_is_never_held_to_the_per_uid_budget() {
        let t = Arc::new(ConnectionTable::default());
        let _held = fill(&t, 0, PER_UID * 2);
        assert_eq!(t.held(0), PER_UID * 2);
    }

    /// Two descriptors per connection (both ends): lift the soft limit to the hard one.
    fn raise_nofile() {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit/setrlimit read or write one rlimit that lives here.
        unsafe {
            assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim), 0);
            lim.rlim_cur = lim.rlim_max;
            assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &lim), 0);
        }
    }

    #[test]
    fn the_reserve_is_roots_and_a_full_table_sheds_the_heaviest_idle_user() {
        raise_nofile();
        let t = Arc::new(ConnectionTable::default());
        let users = (MAX_CONNECTIONS - ROOT_RESERVE) / PER_UID;
        let mut all = Vec::new();
        for uid in 0..users as u32 {
            all.extend(fill(&t, 2000 + uid, PER_UID));
        }
        let rest = MAX_CONNECTIONS - ROOT_RESERVE - t.len();
        all.extend(fill(&t, 3000, rest));
        assert_eq!(t.len(), MAX_CONNECTIONS - ROOT_RESERVE);
        busy(&all);
        // Everybody busy: a newcomer is refused, root gets its reserve.
        let (server, _client) = pair();
        assert_eq!(t.admit(4000, server).err(), Some(Refusal::Full));
        let roots = fill(&t, 0, ROOT_RESERVE);
        assert_eq!(t.len(), MAX_CONNECTIONS);
        // An idle connection of a heaviest user makes room for a newcomer.
        all[PER_UID + 3].0.idle.store(true, Ordering::SeqCst);
        let (server, _client) = pair();
        let (_reg, admitted) = t.admit(4000, server).unwrap();
        assert_eq!(admitted.evicted_from, Some(2001));
        assert_eq!(t.len(), MAX_CONNECTIONS);
        drop(roots);
    }

    #[test]
    fn a_newcomer_never_squeezes_a_lighter_user() {
        let t = Arc::new(ConnectionTable::default());
        let _heavy = fill(&t, 1000, 5);
        let _light = fill(&t, 1001, 3);
        let inner = t.lock();
        // uid 1001 would hold 4 after admission: only the heavier 1000 may lose one.
        assert_eq!(inner.heavier_than(1001), vec![1000]);
        // uid 1000 would hold 6: nobody is heavier.
        assert!(inner.heavier_than(1000).is_empty());
        // Root may take from anyone, heaviest first.
        assert_eq!(inner.heavier_than(0), vec![1000, 1001]);
    }

    #[test]
    fn leaving_frees_the_place() {
        let t = Arc::new(ConnectionTable::default());
        let held = fill(&t, 1000, 10);
        assert_eq!(t.len(), 10);
        drop(held);
        assert!(t.is_empty());
        assert_eq!(t.held(1000), 0);
    }
}
