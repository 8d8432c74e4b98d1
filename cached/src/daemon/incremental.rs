//! Incremental syncs (design.md §8): after a complete copy, a sync lists the ids of
//! Users and Groups (`attributes=id`) and asks only for what was modified since the last
//! applied sync (`meta.lastModified gt`, [`SAFETY_MARGIN`] before it began), merges that
//! with the one-entry merge rules ([`crate::directory::delta`]), and writes only the
//! change to the cache file, in one transaction.
//!
//! [`SyncPlan`] decides which kind each sync is. A server that refuses or ignores
//! either request, or whose answer does not add up, is remembered as not supporting
//! them (until restart or `SIGHUP`) and the same attempt makes a complete copy instead,
//! within what is left of the sync's budget. A merge in doubt (a conflict, a refused
//! entry, a listed id nobody knows) also means a complete copy now, without giving up
//! incremental syncs. A sync dropped for its byte budget or deadline is followed by a
//! complete copy.

use std::collections::HashSet;
use std::time::SystemTime;

use crate::directory::delta::{merge_delta, Delta, Doubt, Held};
use crate::directory::local_accounts::LocalAccounts;
use crate::directory::mapping::{keep_shadow_fields, map_arrived_group, map_user};
use crate::directory::model::EntryKind;
use crate::schedule::sync_plan::{
    baseline_after_full, counted_full_start, Baseline, FullReason, SyncKind, SAFETY_MARGIN,
};
use crate::scim::attributes::{GROUPS_ENDPOINT, USERS_ENDPOINT};
use crate::scim::budget::SyncBudget;
use crate::scim::delta::is_unsupported;
use crate::scim::error::ScimError;
use crate::state::health::SyncReport;

use super::{Applied, SyncError, Syncer};

/// Past this many users, a "changed since" answer holding every user means the server
/// ignores the filter (below it, everything may well have changed).
const EVERYTHING_FROM: usize = 100;

/// The refused entries' ids as the cache file keeps them: `[["user"|"group", id], …]`.
pub(super) fn encode_refused<'a>(ids: impl Iterator<Item = (EntryKind, &'a str)>) -> String {
    let list: Vec<serde_json::Value> = ids
        .map(|(kind, id)| serde_json::json!([kind_text(kind), id]))
        .collect();
    serde_json::Value::Array(list).to_string()
}

/// What [`encode_refused`] wrote, or `None` if the text is anything else.
pub(super) fn decode_refused(text: &str) -> Option<HashSet<(EntryKind, String)>> {
    let list: Vec<(String, String)> = serde_json::from_str(text).ok()?;
    list.into_iter()
        .map(|(kind, id)| {
            let kind = match kind.as_str() {
                "user" => EntryKind::User,
                "group" => EntryKind::Group,
                _ => return None,
            };
            Some((kind, id))
        })
        .collect()
}

fn kind_text(kind: EntryKind) -> &'static str {
    match kind {
        EntryKind::User => "user",
        EntryKind::Group => "group",
    }
}

/// Why an incremental sync was not applied.
enum NotApplied {
    /// The server cannot do it: remember, copy everything now.
    Unsupported(String),
    /// The merge is in doubt: copy everything now.
    Doubt(String),
    /// The sync failed as a complete copy would have (unreachable, budget, token).
    Failed(SyncError),
}

impl Syncer {
    /// One sync, complete or incremental as the plan says; an incremental one that
    /// cannot be applied becomes a complete copy in the same attempt.
    pub(super) fn planned_fetch_and_apply(&mut self) -> Result<Applied, SyncError> {
        let config = self.shared.config();
        let started = SystemTime::now();
        // Before the local files are read for the merge: if they change in between, the
        // baseline is the older one's and a restart makes a complete copy (the safe way).
        let fingerprint = super::fingerprint(&config);
        let result = self.planned_sync(&config, started, fingerprint);
        // Whatever happened, no baseline waits for a later write.
        self.store.stage_baseline(None);
        self.store.stage_refused(None);
        result
    }

    fn planned_sync(
        &mut self,
        config: &crate::config::Config,
        started: SystemTime,
        fingerprint: Option<crate::schedule::sync_plan::Fingerprint>,
    ) -> Result<Applied, SyncError> {
        let deadline = match self.deadline_cap {
            Some(cap) => config.sync_deadline.min(cap),
            None => config.sync_deadline,
        };
        let mut budget = SyncBudget::new(config.sync_max_bytes, deadline);
        let reason = match self.plan.decide(started, config.full_sync_interval) {
            SyncKind::Full(reason) => reason,
            SyncKind::Incremental { since } => {
                // Written with the change it goes with: the complete copy it builds on,
                // changes up to this sync's start.
                let baseline = fingerprint.and_then(|fp| {
                    Some(Baseline {
                        last_full_start: self.plan.last_full_start()?,
                        last_applied_start: started,
                        fingerprint: fp,
                    })
                });
                self.store.stage_baseline(baseline.map(|b| b.encode()));
                match self.incremental(since, &mut budget) {
                    Ok(applied) => {
                        self.everything_streak = 0;
                        self.plan.incremental_applied(started);
                        self.publish_plan();
                        return Ok(applied);
                    }
                    Err(NotApplied::Unsupported(why)) => {
                        log::warn!(
                            "incremental sync not supported by the server: {why}; making \
                         complete copies until restart or SIGHUP"
                        );
                        self.plan.mark_unsupported(why.clone());
                        FullReason::Unsupported(why)
                    }
                    Err(NotApplied::Doubt(why)) => {
                        log::info!("incremental sync in doubt ({why}): making a complete copy");
                        FullReason::Doubt(why)
                    }
                    Err(NotApplied::Failed(e)) => {
                        if let SyncError::Scim {
                            source:
                                ScimError::OverBudget { .. }
                                | ScimError::PastDeadline { .. }
                                | ScimError::TooLarge { .. },
                            ..
                        } = &e
                        {
                            self.plan.doubt(e.to_string());
                        }
                        self.publish_plan();
                        return Err(e);
                    }
                }
            }
        };
        let counted = counted_full_start(
            started,
            &reason,
            &mut self.jitter,
            config.full_sync_interval,
        );
        self.store.stage_baseline(
            fingerprint.map(|fp| baseline_after_full(started, counted, fp).encode()),
        );
        // What the incremental attempt read counts against this sync's budget too.
        self.pending_budget = Some(budget);
        let result = self.fetch_and_apply();
        self.pending_budget = None;
        let result = result.map(|mut applied| {
            applied.report.full_reason = Some(reason.as_text());
            applied
        });
        match &result {
            Ok(_) => self.plan.full_applied_as(started, counted),
            Err(SyncError::Scim { source, .. })
                if matches!(
                    source,
                    ScimError::OverBudget { .. }
                        | ScimError::PastDeadline { .. }
                        | ScimError::TooLarge { .. }
                ) =>
            {
                self.plan.doubt(source.to_string())
            }
            Err(_) => {}
        }
        self.publish_plan();
        result
    }

    /// What `status` says about incremental syncs.
    fn publish_plan(&self) {
        self.shared.health().incremental = Some(self.plan.support().as_text());
    }

    fn incremental(
        &mut self,
        since: SystemTime,
        budget: &mut SyncBudget,
    ) -> Result<Applied, NotApplied> {
        self.user_token.reload_if_changed();
        self.admin_token.reload_if_changed();
        let config = self.shared.config();
        let Some(client) = self.client.as_ref() else {
            return Err(NotApplied::Failed(SyncError::Scim {
                what: "nothing",
                source: ScimError::Config("SCIM client not configured".into()),
            }));
        };
        let Some(token) = self.user_token.for_sync().cloned() else {
            return Err(NotApplied::Failed(SyncError::NoUserToken(
                self.user_token.health().as_str(),
            )));
        };
        let local = LocalAccounts::load_system().map_err(|source| {
            NotApplied::Failed(SyncError::LocalAccounts {
                path: std::path::PathBuf::from(crate::directory::local_accounts::PASSWD_PATH),
                source,
            })
        })?;
        self.set_shadow_gid(&local, &config.shadow_group);
        let mut user_rejected = false;
        let mut failed = |what: &'static str, e: ScimError| {
            if is_unsupported(&e) {
                NotApplied::Unsupported(e.to_string())
            } else {
                user_rejected |= e.is_auth();
                NotApplied::Failed(SyncError::Scim { what, source: e })
            }
        };
        log::debug!(
            "incremental sync: changes since {} ({} s margin)",
            crate::text::rfc3339::rfc3339(since),
            SAFETY_MARGIN.as_secs()
        );
        // Ids first, then changes: an entry added in between is among the changes and
        // need not be listed; one listed is either cached or among the changes.
        let fetched = (|| {
            let user_ids = client
                .list_ids(&token, USERS_ENDPOINT, budget)
                .map_err(|e| failed("Users (ids)", e))?;
            let group_ids = client
                .list_ids(&token, GROUPS_ENDPOINT, budget)
                .map_err(|e| failed("Groups (ids)", e))?;
            let users = client
                .fetch_modified_after(&token, USERS_ENDPOINT, since, budget, |v| {
                    map_user(&v, &config, &local)
                })
                .map_err(|e| failed("Users (changed)", e))?;
            let groups = client
                .fetch_modified_after(&token, GROUPS_ENDPOINT, since, budget, |v| {
                    map_arrived_group(&v, &config, &local)
                })
                .map_err(|e| failed("Groups (changed)", e))?;
            Ok(Delta {
                users,
                groups,
                shadow: None,
                user_ids,
                group_ids,
            })
        })();
        if user_rejected {
            self.user_token.mark_rejected();
        }
        let mut delta = fetched?;
        self.user_token.mark_accepted();
        let mut admin_error = None;
        if let Some(admin) = self.admin_token.for_sync().cloned() {
            match client.fetch_modified_after(
                &admin,
                USERS_ENDPOINT,
                since,
                budget,
                keep_shadow_fields,
            ) {
                Ok(v) => {
                    self.admin_token.mark_accepted();
                    delta.shadow = Some(v);
                }
                Err(e) if is_unsupported(&e) => return Err(NotApplied::Unsupported(e.to_string())),
                Err(e @ (ScimError::OverBudget { .. } | ScimError::PastDeadline { .. })) => {
                    return Err(NotApplied::Failed(SyncError::Scim {
                        what: "Users (admin token, changed)",
                        source: e,
                    }))
                }
                Err(e) => {
                    if e.is_auth() {
                        self.admin_token.mark_rejected();
                    }
                    admin_error = Some(format!("shadow data not refreshed: {e}"));
                }
            }
        }
        let resources = (delta.user_ids.len()
            + delta.group_ids.len()
            + delta.users.len()
            + delta.groups.len()
            + delta.shadow.as_ref().map_or(0, Vec::len)) as u64;
        if delta.users.len() > EVERYTHING_FROM && delta.users.len() >= delta.user_ids.len() {
            // Every user modified since the last sync: either everything did change (a
            // migration on the server) or the filter is answered with everything
            // (timestamps that always say "now"). Once is a complete copy; twice in a
            // row, the server is taken not to support it (else every sync would fetch
            // everything twice).
            let why = format!(
                "the filter on {} was answered with every user ({})",
                crate::scim::attributes::LAST_MODIFIED,
                delta.users.len()
            );
            self.everything_streak += 1;
            return Err(if self.everything_streak >= 2 {
                NotApplied::Unsupported(why)
            } else {
                NotApplied::Doubt(why)
            });
        }
        if delta.user_ids.is_empty() && !self.shared.snapshot().has_no_users() {
            // A complete copy decides, with its protection against emptying the cache.
            return Err(NotApplied::Doubt("the server lists no users".into()));
        }
        let mut held_refused: HashSet<(EntryKind, String)> = self
            .shared
            .health()
            .refused_detail
            .iter()
            .map(|(kind, id, _, _)| {
                let kind = if kind == "user" {
                    EntryKind::User
                } else {
                    EntryKind::Group
                };
                (kind, id.clone())
            })
            .collect();
        // Refused before a restart, as the cache file recorded them.
        held_refused.extend(self.restored_refused.iter().cloned());
        let mut refused_after = held_refused.clone();
        let (changed, edits, changes) = {
            let _apply = self.shared.apply_lock();
            let computed = {
                let snap = self.shared.snapshot();
                // Ids only: no record decoded (a 20,000-member group included).
                let (users, groups) = snap.held_ids();
                let held = Held {
                    users,
                    groups,
                    refused: held_refused,
                };
                merge_delta(&*snap, &held, &delta, config.user_private_groups, &local)
            };
            let (change, merged) = computed.map_err(|Doubt(why)| NotApplied::Doubt(why))?;
            // Written with the change: what a restart needs to build on it. An id kept
            // after its entry left or was accepted costs nothing (it is only consulted
            // for ids the copy lacks); the next complete copy writes the exact set.
            refused_after.extend(merged.refused.iter().map(|r| (r.kind, r.scim_id.clone())));
            self.store.stage_refused(Some(encode_refused(
                refused_after.iter().map(|(k, id)| (*k, id.as_str())),
            )));
            let changes = super::change_report(&self.shared.snapshot(), &change);
            // Written first: what is served is what a restart would load.
            self.store
                .apply_change(&change, SystemTime::now())
                .map_err(|e| NotApplied::Failed(SyncError::Store(e)))?;
            if !change.is_empty() {
                self.shared.apply_change(&change);
                self.od.forget_put(&change);
            }
            self.od.forget_answered();
            self.od.freshness().reset();
            (merged, change.edits.len(), changes)
        };
        for r in &changed.refused {
            crate::state::refusals::note_refusal(&self.shared, r);
        }
        let report = SyncReport {
            kind: "incremental",
            full_reason: None,
            bytes: budget.used_bytes(),
            resources,
        };
        log::info!(
            "incremental sync: {} changed user(s), {} changed group(s), {} user(s) and {} \
             group(s) removed, {edits} edit(s); {} resources, {} bytes",
            delta.users.len(),
            delta.groups.len(),
            changed.users_removed,
            changed.groups_removed,
            report.resources,
            report.bytes
        );
        Ok(Applied {
            shadow_updated: delta.shadow.is_some(),
            admin_error,
            bytes: budget.used_bytes(),
            changes,
            report,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_ids_round_trip_and_garbage_is_none() {
        let ids = [(EntryKind::User, "u-1"), (EntryKind::Group, "g \"x\"")];
        let text = encode_refused(ids.iter().copied());
        let back = decode_refused(&text).unwrap();
        assert_eq!(back.len(), 2);
        assert!(back.contains(&(EntryKind::Group, "g \"x\"".to_string())));
        assert_eq!(decode_refused("[]"), Some(HashSet::new()));
        for bad in [
            "",
            "{}",
            "[[\"host\",\"x\"]]",
            "[[\"user\"]]",
            "[[\"user\",1]]",
        ] {
            assert_eq!(decode_refused(bad), None, "{bad:?}");
        }
    }
}
