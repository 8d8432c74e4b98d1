//! Whether the next sync is a complete copy or an incremental one (design.md §8).
//!
//! Pure bookkeeping over wall-clock times passed in (no I/O, no clock of its own), so
//! that the daemon's sync loop and the fleet simulator drive the same decisions.
//!
//! After a complete copy, a sync may ask only for what changed since that copy began
//! (`meta.lastModified gt` its start minus [`SAFETY_MARGIN`]) and list ids to find
//! deletions. A complete copy is made instead when there has been none yet, when
//! `full-sync-interval` has passed since the last one, when the server showed that it
//! cannot do either request (remembered until [`SyncPlan::forget_support`]: restart or
//! `SIGHUP`), or when the last attempt left anything in doubt.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::jitter::Jitter;

/// Subtracted from the start of the last complete (or incremental) copy to form the
/// `meta.lastModified gt` bound: covers clock differences between node and server, and
/// changes made on the server while that copy was being read. An entry modified in the
/// margin is fetched twice, which is harmless.
pub const SAFETY_MARGIN: Duration = Duration::from_secs(300);

/// What a sync should do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncKind {
    /// Copy everything.
    Full(FullReason),
    /// Ask for what was modified after `since`, and list ids to find deletions.
    Incremental { since: SystemTime },
}

/// Why a complete copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FullReason {
    /// No complete copy since start (or since `SIGHUP`).
    NoCompleteCopy,
    /// `full-sync-interval` passed since the last complete copy.
    Interval,
    /// The server cannot answer the incremental requests (the reason it showed).
    Unsupported(String),
    /// The last attempt failed in a way that leaves the copy in doubt, or its result did
    /// not add up.
    Doubt(String),
}

impl FullReason {
    pub fn as_text(&self) -> String {
        match self {
            FullReason::NoCompleteCopy => "no complete copy yet".to_string(),
            FullReason::Interval => "full-sync-interval reached".to_string(),
            FullReason::Unsupported(r) => format!("incremental sync unsupported: {r}"),
            FullReason::Doubt(r) => format!("previous sync in doubt: {r}"),
        }
    }
}

/// What the server has shown about incremental requests.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Support {
    /// Not tried yet.
    #[default]
    Unknown,
    Supported,
    /// Refused, ignored or answered with something that did not add up.
    Unsupported(String),
}

impl Support {
    /// `supported`, `unknown` or `unsupported (reason)`, for `status`.
    pub fn as_text(&self) -> String {
        match self {
            Support::Unknown => "unknown".to_string(),
            Support::Supported => "supported".to_string(),
            Support::Unsupported(r) => format!("unsupported ({r})"),
        }
    }
}

/// Which kind the last successful sync was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LastKind {
    Full,
    Incremental,
}

impl LastKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LastKind::Full => "full",
            LastKind::Incremental => "incremental",
        }
    }
}

/// What a restarted daemon needs to go on with incremental syncs (kept in the cache
/// file's `meta` table, written in the transaction that wrote the copy): when the last
/// complete copy and the last applied sync began, and a fingerprint of everything that
/// would make the cached copy wrong to build on (the settings that shape entries, the
/// local `/etc/passwd` and `/etc/group`, the daemon's version).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Baseline {
    pub last_full_start: SystemTime,
    pub last_applied_start: SystemTime,
    pub fingerprint: Fingerprint,
}

/// A stable 64-bit FNV-1a hash (not `DefaultHasher`, which may change between Rust
/// releases and so between builds: a fingerprint must mean the same after an upgrade).
/// Detects change, not tampering: the cache file is root's, mode 0600.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint(pub u64);

impl Fingerprint {
    /// The hash of `parts`, each length-prefixed so that moving bytes from one part to
    /// the next changes it.
    pub fn of<'a>(parts: impl IntoIterator<Item = &'a [u8]>) -> Fingerprint {
        const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
        const PRIME: u64 = 0x0000_0100_0000_01b3;
        let mut h = OFFSET;
        let mut eat = |bytes: &[u8]| {
            for b in bytes {
                h ^= u64::from(*b);
                h = h.wrapping_mul(PRIME);
            }
        };
        for part in parts {
            eat(&(part.len() as u64).to_le_bytes());
            eat(part);
        }
        Fingerprint(h)
    }
}

impl Baseline {
    /// `v1 <full start> <applied start> <fingerprint>`: seconds since the epoch and hex.
    pub fn encode(&self) -> String {
        let secs = |t: SystemTime| t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        format!(
            "v1 {} {} {:016x}",
            secs(self.last_full_start),
            secs(self.last_applied_start),
            self.fingerprint.0
        )
    }

    /// The baseline `text` holds, or `None` if it is not exactly what
    /// [`Baseline::encode`] writes (anything in doubt means a complete copy).
    pub fn decode(text: &str) -> Option<Baseline> {
        let mut parts = text.split(' ');
        if parts.next()? != "v1" {
            return None;
        }
        let full: u64 = parts.next()?.parse().ok()?;
        let applied: u64 = parts.next()?.parse().ok()?;
        let fp = parts.next()?;
        if fp.len() != 16 || parts.next().is_some() {
            return None;
        }
        let fingerprint = Fingerprint(u64::from_str_radix(fp, 16).ok()?);
        Some(Baseline {
            last_full_start: UNIX_EPOCH.checked_add(Duration::from_secs(full))?,
            last_applied_start: UNIX_EPOCH.checked_add(Duration::from_secs(applied))?,
            fingerprint,
        })
    }
}

/// The state the decision is made from.
#[derive(Debug, Clone, Default)]
pub struct SyncPlan {
    /// When the last complete copy began.
    last_full_start: Option<SystemTime>,
    /// When the last copy (complete or incremental) that was applied began: changes
    /// before it are in the cache.
    last_applied_start: Option<SystemTime>,
    support: Support,
    /// Set when the next sync must be complete whatever the rest says.
    doubt: Option<String>,
    last_kind: Option<LastKind>,
}

impl SyncPlan {
    pub fn new() -> SyncPlan {
        SyncPlan::default()
    }

    /// The plan of a daemon that starts with a cache written under `saved` (if any),
    /// where today's fingerprint is `current`: it goes on with incremental syncs from
    /// where the cache is, unless anything is in doubt (no baseline, another
    /// fingerprint, times that do not add up), when it starts as a new daemon would.
    /// What the server supports is asked again, as after any restart.
    pub fn resume(saved: Option<&Baseline>, current: Fingerprint) -> SyncPlan {
        match saved {
            Some(b) if b.fingerprint == current && b.last_applied_start >= b.last_full_start => {
                SyncPlan {
                    last_full_start: Some(b.last_full_start),
                    last_applied_start: Some(b.last_applied_start),
                    ..SyncPlan::default()
                }
            }
            _ => SyncPlan::default(),
        }
    }

    /// What a restart needs, once a complete copy was applied.
    pub fn baseline(&self, fingerprint: Fingerprint) -> Option<Baseline> {
        Some(Baseline {
            last_full_start: self.last_full_start?,
            last_applied_start: self.last_applied_start?,
            fingerprint,
        })
    }

    /// Whether the cache can be served and built on without a sync at start: it holds a
    /// complete copy made under today's settings (the next sync may still be a
    /// complete copy, if one is due: it is as due a little later, and a fleet powered
    /// off for a weekend must not copy everything at the same boot).
    pub fn resumable(&self) -> bool {
        self.last_full_start.is_some() && self.last_applied_start.is_some()
    }

    /// The kind of the sync starting at `now`.
    pub fn decide(&self, now: SystemTime, full_interval: Duration) -> SyncKind {
        let (Some(full), Some(applied)) = (self.last_full_start, self.last_applied_start) else {
            return SyncKind::Full(FullReason::NoCompleteCopy);
        };
        if let Support::Unsupported(r) = &self.support {
            return SyncKind::Full(FullReason::Unsupported(r.clone()));
        }
        if let Some(r) = &self.doubt {
            return SyncKind::Full(FullReason::Doubt(r.clone()));
        }
        // A clock set back counts as "interval passed": a complete copy is always safe.
        match now.duration_since(full) {
            Ok(age) if age < full_interval => {}
            _ => return SyncKind::Full(FullReason::Interval),
        }
        let since = applied.checked_sub(SAFETY_MARGIN).unwrap_or(applied);
        SyncKind::Incremental { since }
    }

    /// A complete copy that began at `started` was applied.
    pub fn full_applied(&mut self, started: SystemTime) {
        self.last_full_start = Some(started);
        self.last_applied_start = Some(started);
        self.doubt = None;
        self.last_kind = Some(LastKind::Full);
    }

    /// A complete copy made for `reason` that began at `started` was applied. The first
    /// one of a node (or since `SIGHUP`) counts as made up to half a `full_interval`
    /// earlier (uniformly): a fleet started, or reloaded, together would otherwise make
    /// its later complete copies together too, every `full_interval`
    /// (`scripts/fleet-sim --hours 48`: about 4,000 requests/s on day two for 5,000
    /// nodes, 28 times the steady mean). Only when the next one is due moves: changes
    /// are still asked for from `started`.
    pub fn complete_copy_applied(
        &mut self,
        started: SystemTime,
        reason: &FullReason,
        jitter: &mut Jitter,
        full_interval: Duration,
    ) {
        let counted = counted_full_start(started, reason, jitter, full_interval);
        self.full_applied_as(started, counted);
    }

    /// A complete copy that began at `started` was applied; the next is due a full
    /// interval after `counted` (see [`counted_full_start`]).
    pub fn full_applied_as(&mut self, started: SystemTime, counted: SystemTime) {
        self.full_applied(started);
        self.last_full_start = Some(counted.min(started));
    }

    /// An incremental sync that began at `started` was applied.
    pub fn incremental_applied(&mut self, started: SystemTime) {
        self.last_applied_start = Some(started);
        self.support = Support::Supported;
        self.doubt = None;
        self.last_kind = Some(LastKind::Incremental);
    }

    /// The server showed it cannot answer incremental requests: complete copies until
    /// [`SyncPlan::forget_support`].
    pub fn mark_unsupported(&mut self, reason: String) {
        self.support = Support::Unsupported(reason);
    }

    /// The next sync must be complete (a sync dropped for its budget or deadline, a
    /// result that did not add up, a conflict only a complete copy settles).
    pub fn doubt(&mut self, reason: String) {
        self.doubt = Some(reason);
    }

    /// `SIGHUP`: the server (or its address) may have changed; try again, after a
    /// complete copy.
    pub fn forget_support(&mut self) {
        *self = SyncPlan::default();
    }

    pub fn support(&self) -> &Support {
        &self.support
    }

    pub fn last_kind(&self) -> Option<LastKind> {
        self.last_kind
    }

    pub fn last_full_start(&self) -> Option<SystemTime> {
        self.last_full_start
    }
}

/// When a complete copy made for `reason` that began at `started` counts as made, for
/// the interval to the next (see [`SyncPlan::complete_copy_applied`]): `started`, or
/// for a node's first complete copy up to half a `full_interval` before it.
pub fn counted_full_start(
    started: SystemTime,
    reason: &FullReason,
    jitter: &mut Jitter,
    full_interval: Duration,
) -> SystemTime {
    if *reason != FullReason::NoCompleteCopy {
        return started;
    }
    started
        .checked_sub(jitter.within(full_interval / 2))
        .unwrap_or(started)
}

/// What the cache holds after a complete copy that began at `started`, counted as made
/// at `counted` (for the write that applies it: the baseline goes into the same
/// transaction).
pub fn baseline_after_full(
    started: SystemTime,
    counted: SystemTime,
    fingerprint: Fingerprint,
) -> Baseline {
    Baseline {
        last_full_start: counted.min(started),
        last_applied_start: started,
        fingerprint,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Duration = Duration::from_secs(86_400);

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
    }

    #[test]
    fn first_sync_is_complete() {
        let p = SyncPlan::new();
        assert_eq!(
            p.decide(at(0), DAY),
            SyncKind::Full(FullReason::NoCompleteCopy)
        );
        assert_eq!(p.support(), &Support::Unknown);
        assert_eq!(p.last_kind(), None);
    }

    #[test]
    fn incremental_after_a_complete_copy_with_margin() {
        let mut p = SyncPlan::new();
        p.full_applied(at(1000));
        assert_eq!(
            p.decide(at(1600), DAY),
            SyncKind::Incremental {
                since: at(1000 - 300)
            }
        );
        p.incremental_applied(at(1600));
        assert_eq!(p.last_kind(), Some(LastKind::Incremental));
        assert_eq!(p.support(), &Support::Supported);
        // The bound follows the last applied sync, the interval the last complete one.
        assert_eq!(
            p.decide(at(2200), DAY),
            SyncKind::Incremental {
                since: at(1600 - 300)
            }
        );
        assert_eq!(
            p.decide(at(1000 + 86_400), DAY),
            SyncKind::Full(FullReason::Interval)
        );
    }

    #[test]
    fn clock_set_back_means_complete_copy() {
        let mut p = SyncPlan::new();
        p.full_applied(at(1000));
        assert_eq!(p.decide(at(10), DAY), SyncKind::Full(FullReason::Interval));
    }

    #[test]
    fn unsupported_is_remembered_until_forgotten() {
        let mut p = SyncPlan::new();
        p.full_applied(at(0));
        p.mark_unsupported("HTTP 400: invalidFilter".into());
        for t in [60, 600, 6000] {
            p.full_applied(at(t));
            assert_eq!(
                p.decide(at(t + 60), DAY),
                SyncKind::Full(FullReason::Unsupported("HTTP 400: invalidFilter".into()))
            );
        }
        assert_eq!(
            p.support().as_text(),
            "unsupported (HTTP 400: invalidFilter)"
        );
        p.forget_support();
        assert_eq!(p.support(), &Support::Unknown);
        assert_eq!(
            p.decide(at(7000), DAY),
            SyncKind::Full(FullReason::NoCompleteCopy)
        );
        p.full_applied(at(7000));
        assert!(matches!(
            p.decide(at(7600), DAY),
            SyncKind::Incremental { .. }
        ));
    }

    #[test]
    fn baseline_round_trips_and_resumes_incremental_syncs() {
        let fp = Fingerprint::of([&b"server"[..], b"passwd"]);
        let mut p = SyncPlan::new();
        assert_eq!(p.baseline(fp), None);
        p.full_applied(at(1000));
        p.incremental_applied(at(1600));
        let b = p.baseline(fp).unwrap();
        let text = b.encode();
        assert_eq!(Baseline::decode(&text), Some(b));
        let r = SyncPlan::resume(Baseline::decode(&text).as_ref(), fp);
        assert_eq!(
            r.decide(at(2200), DAY),
            SyncKind::Incremental {
                since: at(1600 - 300)
            }
        );
        assert!(r.resumable());
        assert_eq!(r.support(), &Support::Unknown);
        // The complete-copy interval runs on from the saved copy, not from the restart.
        assert_eq!(
            r.decide(at(1000 + 86_400), DAY),
            SyncKind::Full(FullReason::Interval)
        );
        assert!(r.resumable());
        assert!(!SyncPlan::new().resumable());
    }

    #[test]
    fn any_doubt_about_the_baseline_means_a_complete_copy() {
        let fp = Fingerprint::of([&b"a"[..]]);
        let b = baseline_after_full(at(1000), at(1000), fp);
        let fresh = SyncKind::Full(FullReason::NoCompleteCopy);
        // Another fingerprint (settings or local files changed), none at all.
        let other = Fingerprint::of([&b"b"[..]]);
        assert_eq!(
            SyncPlan::resume(Some(&b), other).decide(at(1600), DAY),
            fresh
        );
        assert_eq!(SyncPlan::resume(None, fp).decide(at(1600), DAY), fresh);
        // Applied before the complete copy it builds on: does not add up.
        let odd = Baseline {
            last_applied_start: at(10),
            ..b
        };
        assert_eq!(
            SyncPlan::resume(Some(&odd), fp).decide(at(1600), DAY),
            fresh
        );
        // Garbled text.
        let good = b.encode();
        assert!(Baseline::decode(&good).is_some());
        for bad in [
            "",
            "v1",
            "v2 1 2 0000000000000001",
            "v1 1 2 1",
            "v1 x 2 0000000000000001",
            "v1 1 2 000000000000000g",
            "v1 1 2 0000000000000001 extra",
            "v1 -1 2 0000000000000001",
        ] {
            assert_eq!(Baseline::decode(bad), None, "{bad:?}");
        }
        // The parts are told apart: "ab","c" is not "a","bc".
        assert_ne!(
            Fingerprint::of([&b"ab"[..], b"c"]),
            Fingerprint::of([&b"a"[..], b"bc"])
        );
    }

    #[test]
    fn a_first_complete_copy_is_spread_over_half_an_interval() {
        let mut jitter = Jitter::from_seed(3);
        let mut dues = Vec::new();
        for _ in 0..200 {
            let mut p = SyncPlan::new();
            p.complete_copy_applied(at(0), &FullReason::NoCompleteCopy, &mut jitter, DAY);
            // Changes are still asked for from the copy's start.
            assert_eq!(
                p.decide(at(600), DAY),
                SyncKind::Incremental {
                    since: at(0) - SAFETY_MARGIN
                }
            );
            let full = p.last_full_start().unwrap();
            assert!(full <= at(0) && full >= at(0) - DAY / 2, "{full:?}");
            dues.push(full);
            // Later complete copies keep their place.
            p.complete_copy_applied(at(90_000), &FullReason::Interval, &mut jitter, DAY);
            assert_eq!(p.last_full_start(), Some(at(90_000)));
        }
        dues.sort();
        dues.dedup();
        assert!(dues.len() > 150, "not spread: {}", dues.len());
    }

    #[test]
    fn doubt_forces_one_complete_copy() {
        let mut p = SyncPlan::new();
        p.full_applied(at(0));
        p.doubt("over sync-max-bytes".into());
        assert_eq!(
            p.decide(at(600), DAY),
            SyncKind::Full(FullReason::Doubt("over sync-max-bytes".into()))
        );
        p.full_applied(at(600));
        assert!(matches!(
            p.decide(at(1200), DAY),
            SyncKind::Incremental { .. }
        ));
    }
}
