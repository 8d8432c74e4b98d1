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

use std::time::{Duration, SystemTime};

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
