//! The sync thread: syncs of Users and Groups every `sync-interval` (jittered), complete
//! copies or, once the server has shown it can, incremental ones (`incremental.rs`,
//! design.md §8), exponential backoff after failures, on demand for `workbench-cached
//! sync`, and the reload of configuration and tokens on `SIGHUP`.
//!
//! A copy is applied only when every page arrived and mapping succeeded; otherwise the
//! previous copy keeps being served (design.md §6). A copy that would empty a non-empty
//! cache is applied only when the next copy confirms it.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use serde_json::{json, Value};

use crate::cache::snapshot::Snapshot;
use crate::cache::store::Store;
use crate::config::Config;
use crate::daemon::token_slots::TokenSlot;
use crate::directory::change::{Change, Edit};
use crate::directory::local_accounts::{LocalAccounts, GROUP_PATH, PASSWD_PATH};
use crate::directory::mapping::{
    build_directory_mapped, keep_shadow_fields, map_arrived_group, map_user,
};
use crate::directory::merge;
use crate::directory::model::{Directory, EntryKind, PosixGroup, PosixUser};
use crate::directory::view::DirectoryView;
use crate::ondemand::state::OnDemand;
use crate::ondemand::state::UsableTokens;
use crate::schedule::jitter::Jitter;
use crate::schedule::sync_plan::{Baseline, Fingerprint, SyncPlan};
use crate::scim::budget::SyncBudget;
use crate::scim::client::ScimClient;
use crate::scim::error::ScimError;
use crate::state::health::SyncReport;
use crate::state::PushedTokens;
use crate::state::{Shared, NO_GID};
use crate::tokens::file::TokenKind;

#[path = "incremental.rs"]
mod incremental;

/// Timeout of one on-demand SCIM request (misses and refreshes): below the module's
/// 3 s deadline so a lookup gets an answer, if only `TRYAGAIN`.
const ONDEMAND_REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

/// How often token files are checked for changes while waiting.
const TOKEN_POLL: Duration = Duration::from_secs(2);

/// Longest the attempt before `READY=1` may take, whatever `sync-deadline` says: below
/// systemd's default start timeout (90 s), so that a slow or hostile server cannot keep
/// the unit from starting (and restarting for ever). A first sync cut short is retried
/// by the sync thread with the whole `sync-deadline`.
pub const FIRST_SYNC_DEADLINE: Duration = Duration::from_secs(45);

/// Why a sync attempt did not apply a new copy.
#[derive(Debug)]
pub enum SyncError {
    NoUserToken(&'static str),
    Scim {
        what: &'static str,
        source: ScimError,
    },
    LocalAccounts {
        path: PathBuf,
        source: std::io::Error,
    },
    Store(crate::cache::store::StoreError),
    WouldEmpty,
}

impl std::fmt::Display for SyncError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SyncError::NoUserToken(state) => write!(f, "user token {state}: cannot fetch users"),
            SyncError::Scim { what, source } => write!(f, "fetching {what}: {source}"),
            SyncError::LocalAccounts { path, source } => {
                write!(f, "reading {}: {source}", path.display())
            }
            SyncError::Store(e) => write!(f, "{e}"),
            SyncError::WouldEmpty => write!(
                f,
                "the server returned no users while the cache has some; keeping the cache \
                 until the next sync confirms it"
            ),
        }
    }
}

/// Owns everything a sync needs.
pub struct Syncer {
    /// The on-demand state (its client, tokens and freshness follow each sync).
    od: Arc<OnDemand>,
    shared: Arc<Shared>,
    store: Store,
    client: Option<ScimClient>,
    user_token: TokenSlot,
    admin_token: TokenSlot,
    jitter: Jitter,
    /// Set when a copy came back empty over a non-empty cache.
    empty_seen: bool,
    /// Refusals already logged (kind, SCIM id, reason): each is logged once.
    logged_refusals: std::collections::HashSet<(EntryKind, String, &'static str)>,
    explicit_config: Option<PathBuf>,
    /// Caps `sync-deadline` for the attempt before `READY=1`.
    deadline_cap: Option<Duration>,
    /// Complete or incremental (design.md §8).
    plan: SyncPlan,
    /// The budget a complete copy continues with after an incremental attempt in the
    /// same sync.
    pending_budget: Option<SyncBudget>,
    /// Incremental syncs in a row that were answered with every user.
    everything_streak: u32,
    /// The ids of the entries refused in the cached copy, as the cache file recorded
    /// them: what a restarted daemon knows of them until its next complete copy.
    restored_refused: HashSet<(EntryKind, String)>,
}

impl Syncer {
    pub fn new(od: Arc<OnDemand>, store: Store, explicit_config: Option<PathBuf>) -> Syncer {
        let config = od.shared.config();
        let mut s = Syncer {
            user_token: TokenSlot::new(TokenKind::User, config.user_token_path.clone()),
            admin_token: TokenSlot::new(TokenKind::Admin, config.admin_token_path.clone()),
            client: None,
            shared: Arc::clone(&od.shared),
            od,
            store,
            jitter: Jitter::seeded(),
            empty_seen: false,
            logged_refusals: Default::default(),
            explicit_config,
            deadline_cap: None,
            plan: SyncPlan::new(),
            pending_budget: None,
            everything_streak: 0,
            restored_refused: HashSet::new(),
        };
        s.rebuild_client(&config);
        s.publish_tokens();
        s
    }

    fn rebuild_client(&mut self, config: &Config) {
        // Lookups get their own client with a timeout below the module's deadline.
        let mut lookup_config = config.clone();
        lookup_config.request_timeout = config.request_timeout.min(ONDEMAND_REQUEST_TIMEOUT);
        self.od.set_client(ScimClient::new(&lookup_config).ok());
        self.client = match ScimClient::new(config) {
            Ok(c) => Some(c),
            Err(e) => {
                log::error!("cannot set up the SCIM client: {e}");
                self.shared.health().last_error = Some(format!("SCIM client: {e}"));
                None
            }
        };
    }

    fn publish_tokens(&self) {
        let mut h = self.shared.health();
        h.user_token = self.user_token.health();
        h.admin_token = self.admin_token.health();
        drop(h);
        self.od.set_tokens(UsableTokens {
            user: self.user_token.usable().cloned(),
            admin: self.admin_token.usable().cloned(),
        });
    }

    /// Serves what the cache file holds (before the first sync), and takes up the sync
    /// baseline written with it. Returns whether the cache is usable as it is: its
    /// baseline matches today's settings and local files, so the daemon may serve it and
    /// sync later (design.md §8).
    pub fn load_cached(&mut self) -> bool {
        let loaded = match self.store.load() {
            Ok(snap) => {
                let n = snap.directory.users.len();
                if snap.synced_at.is_some() {
                    self.shared.health().last_sync = snap.synced_at;
                }
                let directory = self.held_to_rules(snap.directory);
                self.shared.serve(directory);
                self.od.forget_answered();
                log::info!("cache {}: {n} users loaded", self.store.path().display());
                true
            }
            Err(e) => {
                log::error!("{e}; starting with an empty cache");
                false
            }
        };
        self.learn_shadow_gid();
        loaded && self.resume_plan()
    }

    /// Takes up the baseline in the cache file, if it is usable.
    fn resume_plan(&mut self) -> bool {
        let config = self.shared.config();
        let saved_text = self.store.baseline();
        let saved = saved_text.as_deref().and_then(Baseline::decode);
        let current = match fingerprint(&config) {
            Some(f) => f,
            None => return false,
        };
        self.plan = SyncPlan::resume(saved.as_ref(), current);
        // Without the refused ids, an incremental sync would find ids the copy lacks
        // and know no reason why: in doubt, a complete copy.
        let refused = self
            .store
            .refused_ids()
            .and_then(|t| incremental::decode_refused(&t));
        let refused_ok = refused.is_some();
        if !refused_ok {
            self.plan = SyncPlan::new();
        }
        self.restored_refused = refused.unwrap_or_default();
        let usable = self.plan.resumable();
        let why = match (&saved_text, &saved) {
            (None, _) => "no sync baseline in the cache",
            (Some(_), None) => "the sync baseline in the cache is unreadable",
            (Some(_), Some(b)) if b.fingerprint != current => {
                "settings, local accounts or the daemon changed since the cache was written"
            }
            _ if !refused_ok => "the refused ids in the cache are missing or unreadable",
            _ => "the sync baseline in the cache does not add up",
        };
        if usable {
            log::info!(
                "cache usable as it is: served now, first sync ({}) after a jittered delay",
                match self
                    .plan
                    .decide(SystemTime::now(), config.full_sync_interval)
                {
                    crate::schedule::sync_plan::SyncKind::Incremental { .. } =>
                        "incremental".to_string(),
                    crate::schedule::sync_plan::SyncKind::Full(r) => r.as_text(),
                }
            );
        } else {
            log::info!("{why}: complete copy at start");
        }
        usable
    }

    /// `copy` held to today's rules, configuration and local files: a copy made under
    /// older ones (the cache at start, the served copy at SIGHUP) must not be served as
    /// is until the next sync, nor while the server cannot be asked.
    fn held_to_rules(&self, cached: Directory) -> Directory {
        let local = match LocalAccounts::load_system() {
            Ok(local) => local,
            Err(e) => {
                log::warn!("reading {PASSWD_PATH} and {GROUP_PATH}: {e}; copy served as it is");
                return cached;
            }
        };
        let (directory, refused) = merge::recheck(&cached, &self.shared.config(), &local);
        for r in &refused {
            crate::state::refusals::note_refusal(&self.shared, r);
        }
        directory
    }

    /// Finds the shadow group's id in /etc/group. Done at start and on reload, not only
    /// by a sync: a daemon restarted while the server is unreachable serves cached hashes,
    /// and the setgid unix_chkpwd (non-root pam_unix) must be let in to read them.
    fn learn_shadow_gid(&self) {
        let config = self.shared.config();
        match LocalAccounts::load_system() {
            Ok(local) => self.set_shadow_gid(&local, &config.shadow_group),
            Err(e) => log::warn!(
                "reading {PASSWD_PATH} and {GROUP_PATH}: {e}; shadow-group peers are let in \
                 after the next sync"
            ),
        }
    }

    fn set_shadow_gid(&self, local: &LocalAccounts, shadow_group: &str) {
        let gid = local.gid_of_group(shadow_group).unwrap_or(NO_GID);
        let before = self
            .shared
            .shadow_gid
            .swap(gid, std::sync::atomic::Ordering::Relaxed);
        if before != gid {
            if gid == NO_GID {
                // Expected where there is no such group (RHEL: its unix_chkpwd is setuid root).
                log::info!(
                    "shadow-group {shadow_group:?} is not in {GROUP_PATH}: only root may read \
                     shadow data"
                );
            } else {
                log::info!(
                    "shadow-group {shadow_group:?} is gid {gid}: its members may read shadow data"
                );
            }
        }
    }

    /// The wait before the first sync of a daemon that started with a usable cache.
    pub fn first_delay_after_resume(&mut self) -> Duration {
        let interval = self.shared.config().sync_interval;
        self.jitter.first_sync_after_resume(interval)
    }

    /// The attempt before `READY=1`: [`Syncer::sync_once`] within
    /// [`FIRST_SYNC_DEADLINE`].
    pub fn first_sync(&mut self) -> (bool, Value) {
        self.deadline_cap = Some(FIRST_SYNC_DEADLINE);
        let outcome = self.sync_once();
        self.deadline_cap = None;
        let configured = self.shared.config().sync_deadline;
        if !outcome.0 && configured > FIRST_SYNC_DEADLINE {
            log::info!(
                "the first sync after start may take at most {} s (so that the daemon is \
                 ready within systemd's start timeout); if it ran out of time, the next \
                 attempt has the whole sync-deadline ({} s)",
                FIRST_SYNC_DEADLINE.as_secs(),
                configured.as_secs()
            );
        }
        outcome
    }

    /// One sync attempt, reported to the shared state and returned for the CLI.
    pub fn sync_once(&mut self) -> (bool, Value) {
        let outcome = self.attempt();
        release_freed_memory();
        outcome
    }

    fn attempt(&mut self) -> (bool, Value) {
        let started = Instant::now();
        let result = self.planned_fetch_and_apply();
        let now = SystemTime::now();
        self.publish_tokens();
        let mut h = self.shared.health();
        h.last_attempt = Some(now);
        match result {
            Ok(applied) => {
                h.reachable = Some(true);
                h.last_sync = Some(now);
                h.last_error = applied.admin_error.clone();
                h.consecutive_failures = 0;
                h.empty_pending = false;
                h.last_sync_report = Some(applied.report.clone());
                drop(h);
                // Everything is confirmed as of now: the map's expiries are renewed.
                self.shared.fastpath.want_rebuild();
                let counts = self.shared.snapshot().counts();
                let report = json!({
                    "ok": true,
                    "duration_ms": started.elapsed().as_millis() as u64,
                    "users": counts.users,
                    "groups": counts.groups,
                    "changes": applied.changes,
                    "refused": after_refused_total(&self.shared),
                    "shadow": if applied.shadow_updated { "updated" } else { "kept" },
                    "bytes": applied.bytes,
                    "kind": applied.report.kind,
                    "full_reason": applied.report.full_reason,
                    "resources": applied.report.resources,
                    "warning": applied.admin_error,
                });
                log::info!(
                    "sync applied: {}{}, {} resources, {} bytes",
                    applied.report.kind,
                    applied
                        .report
                        .full_reason
                        .as_deref()
                        .map(|r| format!(" ({r})"))
                        .unwrap_or_default(),
                    applied.report.resources,
                    applied.report.bytes
                );
                (true, report)
            }
            Err(e) => {
                let msg = e.to_string();
                if let SyncError::Scim { source, .. } = &e {
                    h.reachable = Some(answered(source));
                    self.shared.counters.count_dropped_sync(source);
                }
                h.empty_pending = matches!(e, SyncError::WouldEmpty);
                h.consecutive_failures = h.consecutive_failures.saturating_add(1);
                h.last_error = Some(msg.clone());
                drop(h);
                log::warn!("sync failed: {msg}");
                (false, json!({ "ok": false, "error": msg }))
            }
        }
    }

    fn fetch_and_apply(&mut self) -> Result<Applied, SyncError> {
        self.user_token.reload_if_changed();
        self.admin_token.reload_if_changed();
        let config = self.shared.config();
        if self.client.is_none() {
            self.rebuild_client(&config);
        }
        let Some(client) = self.client.as_ref() else {
            return Err(SyncError::Scim {
                what: "nothing",
                source: ScimError::Config("SCIM client not configured".into()),
            });
        };
        let Some(token) = self.user_token.for_sync().cloned() else {
            return Err(SyncError::NoUserToken(self.user_token.health().as_str()));
        };
        // Read first: users are mapped (collisions with local accounts checked) as each
        // page arrives, so the copy never sits in memory as JSON.
        let local = LocalAccounts::load_system().map_err(|source| SyncError::LocalAccounts {
            path: PathBuf::from(PASSWD_PATH),
            source,
        })?;
        self.set_shadow_gid(&local, &config.shadow_group);
        // One budget for the three copies: a sync is bounded as a whole (design.md §3).
        let deadline = match self.deadline_cap {
            Some(cap) => config.sync_deadline.min(cap),
            None => config.sync_deadline,
        };
        let mut budget = self
            .pending_budget
            .take()
            .unwrap_or_else(|| SyncBudget::new(config.sync_max_bytes, deadline));
        let users = match client
            .fetch_all_users_shaped(&token, &mut budget, |v| map_user(&v, &config, &local))
        {
            Ok(u) => u,
            Err(e) => {
                if e.is_auth() {
                    self.user_token.mark_rejected();
                }
                return Err(SyncError::Scim {
                    what: "Users",
                    source: e,
                });
            }
        };
        // Groups are mapped as their pages arrive too: a group of 20,000 members is a
        // few hundred KB of member ids, not megabytes of JSON objects.
        let groups = client
            .fetch_all_groups_shaped(&token, &mut budget, |v| {
                map_arrived_group(&v, &config, &local)
            })
            .map_err(|e| {
                if e.is_auth() {
                    self.user_token.mark_rejected();
                }
                SyncError::Scim {
                    what: "Groups",
                    source: e,
                }
            })?;
        self.user_token.mark_accepted();
        // Shadow: only with the admin token, and only for shadow data.
        let mut admin_error = None;
        let admin_users = match self.admin_token.for_sync().cloned() {
            // Only id, active and the hash are kept from each resource as its page
            // arrives: the admin copy is not a second copy of the whole directory.
            Some(admin) => {
                match client.fetch_all_users_shaped(&admin, &mut budget, keep_shadow_fields) {
                    Ok(u) => {
                        self.admin_token.mark_accepted();
                        Some(u)
                    }
                    // The budget is the sync's, not the admin copy's: past it the whole sync
                    // is dropped, as the design says, rather than applied without shadow.
                    Err(e @ (ScimError::OverBudget { .. } | ScimError::PastDeadline { .. })) => {
                        return Err(SyncError::Scim {
                            what: "Users (admin token)",
                            source: e,
                        });
                    }
                    Err(e) => {
                        if e.is_auth() {
                            self.admin_token.mark_rejected();
                        }
                        admin_error = Some(format!("shadow data not refreshed: {e}"));
                        None
                    }
                }
            }
            None => None,
        };
        log::debug!(
            "sync read {} bytes of {} allowed",
            budget.used_bytes(),
            budget.max_bytes()
        );
        let resources =
            (users.len() + groups.len() + admin_users.as_ref().map_or(0, Vec::len)) as u64;
        let mut dir =
            build_directory_mapped(users, groups, admin_users.as_deref(), &config, &local);
        let shadow_updated = admin_users.is_some();
        // Freed before the snapshot is built, not after: nothing of the sync's
        // intermediate data should sit among the snapshot's allocations.
        drop(admin_users);
        if dir.users.is_empty() && !self.shared.snapshot().has_no_users() && !self.empty_seen {
            self.empty_seen = true;
            return Err(SyncError::WouldEmpty);
        }
        self.empty_seen = false;
        if !shadow_updated {
            // Keep the hashes we had for users that still exist: the same user (name and
            // SCIM id), never a new user who took an old user's name.
            let served = self.shared.snapshot();
            dir.shadow = dir
                .users
                .iter()
                .filter(|u| {
                    served
                        .user_by_name(&u.name)
                        .is_some_and(|was| was.scim_id == u.scim_id)
                })
                .filter_map(|u| served.shadow_of(&u.name))
                .collect();
        }
        self.store.stage_refused(Some(incremental::encode_refused(
            dir.refused.iter().map(|r| (r.kind, r.scim_id.as_str())),
        )));
        self.store
            .replace_all(&dir, shadow_updated, SystemTime::now())
            .map_err(SyncError::Store)?;
        // This copy's refusals are all in `status` now.
        self.restored_refused.clear();
        self.record_refusals(&dir);
        // What changed against what is served (read from the served snapshot: no second
        // copy of the directory is made), and the next snapshot, both built without the
        // apply lock: on-demand merges go on meanwhile and only wait for the swap.
        let changes = diff(&self.shared.snapshot(), &dir);
        let next = Snapshot::from_directory(dir);
        {
            let _apply = self.shared.apply_lock();
            self.shared.swap(next);
            self.od.freshness().reset();
        }
        self.od.forget_answered();
        Ok(Applied {
            shadow_updated,
            admin_error,
            bytes: budget.used_bytes(),
            changes,
            report: SyncReport {
                kind: "full",
                full_reason: None,
                bytes: budget.used_bytes(),
                resources,
            },
        })
    }

    fn record_refusals(&mut self, dir: &Directory) {
        let mut counts = std::collections::BTreeMap::new();
        let mut detail = Vec::new();
        // A lookup since the last copy may already have logged one (daemon::refusals).
        let listed = std::mem::take(&mut self.shared.health().refused_detail);
        for (kind, scim_id, reason, _) in listed {
            let kind = if kind == "user" {
                EntryKind::User
            } else {
                EntryKind::Group
            };
            self.logged_refusals.insert((kind, scim_id, reason));
        }
        for r in &dir.refused {
            *counts.entry(r.reason.as_str()).or_insert(0u64) += 1;
            let kind = match r.kind {
                EntryKind::User => "user",
                EntryKind::Group => "group",
            };
            if self
                .logged_refusals
                .insert((r.kind, r.scim_id.clone(), r.reason.as_str()))
            {
                log::warn!(
                    "refused {kind} with SCIM id {:?}: {}: {}",
                    r.scim_id,
                    r.reason.as_str(),
                    r.detail
                );
            }
            detail.push((
                kind.to_string(),
                r.scim_id.clone(),
                r.reason.as_str(),
                r.detail.clone(),
            ));
        }
        let mut h = self.shared.health();
        h.refused = counts;
        h.refused_detail = detail;
    }

    /// SIGHUP: configuration and tokens; with `pushed` (root's `workbench-cached
    /// reload`), the tokens are those instead of a re-read.
    fn reload(&mut self, pushed: Option<PushedTokens>) {
        match Config::load(self.explicit_config.as_deref()) {
            Ok(loaded) => {
                for w in &loaded.warnings {
                    log::warn!("{w}");
                }
                let config = loaded.config;
                crate::daemon::logging::set_level(config.log_level);
                self.user_token.set_path(config.user_token_path.clone());
                self.admin_token.set_path(config.admin_token_path.clone());
                self.rebuild_client(&config);
                match self.shared.config.write() {
                    Ok(mut c) => *c = Arc::new(config),
                    Err(p) => *p.into_inner() = Arc::new(config),
                }
                log::info!("configuration reloaded");
                // positive-ttl and enumerate shape the map: processes stop using the
                // current one now, and the next is built under the new settings.
                self.shared.fastpath.retire();
                // The server (or its address) may have changed: what it was found to
                // support is asked again, after a complete copy.
                self.plan.forget_support();
                // Rules from the new settings (reserved-names, home-must-be-under …)
                // apply to what is served now, not only from the next copy.
                let _apply = self.shared.apply_lock();
                let current = self.shared.served_directory();
                let rechecked = self.held_to_rules(current.clone());
                if rechecked != current {
                    self.shared.serve(rechecked);
                    self.od.forget_answered();
                }
            }
            Err(e) => log::error!("configuration not reloaded, keeping the old one: {e}"),
        }
        match pushed {
            Some(p) => {
                self.user_token.push(p.user);
                self.admin_token.push(p.admin);
            }
            None => {
                self.user_token.reload();
                self.admin_token.reload();
            }
        }
        self.publish_tokens();
        self.learn_shadow_gid();
    }

    /// Runs until shutdown. The first sync has already happened, or is due after
    /// `first` (a daemon that started with a usable cache).
    pub fn run(mut self, first: Option<Duration>) {
        let mut next = first.unwrap_or_else(|| self.next_delay());
        let mut due = Instant::now() + next;
        loop {
            let (sync_now, reload) = self.wait_until(due);
            if self.shared.is_shutting_down() {
                break;
            }
            if reload {
                let (pushed, covers) = {
                    let mut r = self.shared.sync_requests();
                    (r.pushed.take(), r.reloads_issued)
                };
                self.reload(pushed);
                self.shared
                    .request(|r| r.reloads_done = r.reloads_done.max(covers));
            }
            if sync_now || reload || Instant::now() >= due {
                // Tickets issued before this attempt starts are answered by it.
                let covers = self.shared.sync_requests().tickets_issued;
                let report = self.sync_once();
                self.finish_attempt(report, covers);
                next = self.next_delay();
                due = Instant::now() + next;
            }
        }
        if let Err(e) = self.store.close() {
            log::warn!("closing the cache: {e}");
        }
    }

    /// Publishes a report for CLI waiters holding tickets up to `covers`.
    pub fn finish_attempt(&self, report: (bool, Value), covers: u64) {
        self.shared.request(|r| {
            r.tickets_done = r.tickets_done.max(covers);
            r.last_report = Some(report);
        });
    }

    fn next_delay(&mut self) -> Duration {
        let config = self.shared.config();
        let failures = self.shared.health().consecutive_failures;
        let cached = !self.shared.snapshot().has_no_users();
        self.jitter
            .next_sync(failures, config.sync_interval, cached)
    }

    /// Sleeps until `due`, a request, or shutdown; polls token files meanwhile.
    fn wait_until(&mut self, due: Instant) -> (bool, bool) {
        loop {
            {
                let mut r = self.shared.sync_requests();
                if r.sync_now || r.reload || self.shared.is_shutting_down() {
                    let out = (r.sync_now, r.reload);
                    r.sync_now = false;
                    r.reload = false;
                    return out;
                }
                let left = due.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return (false, false);
                }
                let _ = self.shared.sync_wake.wait_timeout(r, left.min(TOKEN_POLL));
            }
            let user_changed = self.user_token.reload_if_changed();
            let admin_changed = self.admin_token.reload_if_changed();
            if user_changed || admin_changed {
                self.publish_tokens();
                // A new token is worth using at once.
                return (true, false);
            }
        }
    }
}

/// What the cached copy was built under and must still hold for a restarted daemon to
/// build on it: the settings that decide which entries are kept and how they are mapped,
/// the local accounts they are checked against, the daemon's version. `None` when the
/// local files cannot be read (then nothing is built on).
pub(super) fn fingerprint(config: &Config) -> Option<Fingerprint> {
    let passwd = std::fs::read(PASSWD_PATH).ok()?;
    let group = std::fs::read(GROUP_PATH).ok()?;
    // Debug text is enough: a format that changes with the toolchain only costs one
    // complete copy.
    let settings = format!(
        "{:?}",
        (
            &config.server_address_text,
            &config.admin_token_path,
            config.min_uid,
            config.min_gid,
            &config.default_shell,
            &config.home_root,
            &config.home_must_be_under,
            &config.reserved_names,
            &config.local_primary_gids,
            config.user_private_groups,
            &config.shadow_group,
        )
    );
    Some(Fingerprint::of([
        env!("CARGO_PKG_VERSION").as_bytes(),
        settings.as_bytes(),
        &passwd,
        &group,
    ]))
}

/// Whether the server answered at all (an HTTP response, even an error, means it is
/// reachable).
fn answered(e: &ScimError) -> bool {
    !matches!(
        e,
        ScimError::Connect { .. }
            | ScimError::Timeout { .. }
            | ScimError::PastDeadline { .. }
            | ScimError::Tls { .. }
            | ScimError::Config(_)
    )
}

struct Applied {
    shadow_updated: bool,
    admin_error: Option<String>,
    /// Response bytes the sync read (against `sync-max-bytes`).
    bytes: u64,
    /// Users and groups added, removed and changed, by name.
    changes: Value,
    /// What kind of sync, what it fetched.
    report: SyncReport,
}

fn after_refused_total(shared: &Shared) -> u64 {
    shared.health().refused.values().sum()
}

/// What changed between two copies, by name, for `workbench-cached sync`.
/// Most names listed per kind of change in a sync report (the counts are always whole):
/// a first copy of 100,000 users would otherwise keep a report of megabytes.
const REPORT_NAMES: usize = 1000;

/// Names added, removed and changed between the served copy and the next one, sorted,
/// at most [`REPORT_NAMES`] of each with the full counts. The served copy is walked once,
/// an entry at a time; the next copy is indexed by name.
fn diff(before: &Snapshot, after: &Directory) -> Value {
    use std::collections::HashMap;
    fn changes<T: PartialEq>(
        old: impl Iterator<Item = (String, T)>,
        new: &HashMap<&str, &T>,
    ) -> (Vec<String>, Vec<String>, Vec<String>) {
        let (mut removed, mut changed) = (Vec::new(), Vec::new());
        let mut seen = std::collections::HashSet::new();
        for (name, entry) in old {
            match new.get(name.as_str()) {
                None => removed.push(name.clone()),
                Some(now) if **now != entry => changed.push(name.clone()),
                Some(_) => {}
            }
            seen.insert(name);
        }
        let mut added: Vec<String> = new
            .keys()
            .filter(|k| !seen.contains(**k))
            .map(|k| k.to_string())
            .collect();
        added.sort();
        removed.sort();
        changed.sort();
        (added, removed, changed)
    }
    let users: HashMap<&str, &PosixUser> =
        after.users.iter().map(|u| (u.name.as_str(), u)).collect();
    let (ua, ur, uc) = changes(before.users().map(|u| (u.name.clone(), u)), &users);
    drop(users);
    let groups: HashMap<&str, &PosixGroup> =
        after.groups.iter().map(|g| (g.name.as_str(), g)).collect();
    let (ga, gr, gc) = changes(before.groups().map(|g| (g.name.clone(), g)), &groups);
    report_sections(ua, ur, uc, ga, gr, gc)
}

/// The report's `changes`: at most [`REPORT_NAMES`] names per list, with full counts.
fn report_sections(
    ua: Vec<String>,
    ur: Vec<String>,
    uc: Vec<String>,
    ga: Vec<String>,
    gr: Vec<String>,
    gc: Vec<String>,
) -> Value {
    fn listed(mut names: Vec<String>) -> (usize, Vec<String>) {
        let n = names.len();
        names.truncate(REPORT_NAMES);
        (n, names)
    }
    let section = |a, r, c| {
        let ((na, a), (nr, r), (nc, c)) = (listed(a), listed(r), listed(c));
        json!({"added": a, "removed": r, "changed": c,
               "counts": {"added": na, "removed": nr, "changed": nc}})
    };
    json!({
        "users": section(ua, ur, uc),
        "groups": section(ga, gr, gc),
    })
}

/// The names an incremental sync's `change` adds, removes and changes, read from the
/// copy `before` it is applied, in the report's shape (see [`diff`]).
pub(super) fn change_report(before: &Snapshot, change: &Change) -> Value {
    let (mut ua, mut ur, mut uc) = (Vec::new(), Vec::new(), Vec::new());
    let (mut ga, mut gr, mut gc) = (Vec::new(), Vec::new(), Vec::new());
    let put_users: std::collections::HashSet<&str> = change
        .edits
        .iter()
        .filter_map(|e| match e {
            Edit::PutUser(u) => Some(u.scim_id.as_str()),
            _ => None,
        })
        .collect();
    let put_groups: std::collections::HashSet<u32> = change
        .edits
        .iter()
        .filter_map(|e| match e {
            Edit::PutGroup(g) => Some(g.gid),
            _ => None,
        })
        .collect();
    for edit in &change.edits {
        match edit {
            Edit::RemoveUser { uid } => {
                if let Some(u) = before.user_by_uid(*uid) {
                    if !put_users.contains(u.scim_id.as_str()) {
                        ur.push(u.name);
                    }
                }
            }
            Edit::PutUser(u) => {
                if before.user_by_scim_id(&u.scim_id).is_some() {
                    uc.push(u.name.clone());
                } else {
                    ua.push(u.name.clone());
                }
            }
            Edit::RemoveGroup { gid } => {
                if let Some(g) = before.group_summary(*gid) {
                    if !put_groups.contains(gid) {
                        gr.push(g.name);
                    }
                }
            }
            Edit::PutGroup(g) => {
                if before.group_summary(g.gid).is_some() {
                    gc.push(g.name.clone());
                } else {
                    ga.push(g.name.clone());
                }
            }
            _ => {}
        }
    }
    for v in [&mut ua, &mut ur, &mut uc, &mut ga, &mut gr, &mut gc] {
        v.sort();
        v.dedup();
    }
    report_sections(ua, ur, uc, ga, gr, gc)
}

/// Gives the memory a sync freed back to the system. A sync parses every page into JSON
/// values (tens of MiB for 20,000 users) and frees them at the end; glibc keeps freed
/// memory in the arena of the thread that used it, and the start-up sync (main thread)
/// and later ones (sync thread) use different arenas, so without this the daemon's RSS
/// settles at about twice the peak of one sync.
fn release_freed_memory() {
    // SAFETY: malloc_trim only walks glibc's own heap structures; 0 asks it to keep no
    // padding at the top. It has no preconditions and is thread-safe.
    unsafe {
        libc::malloc_trim(0);
    }
}
