//! One filtered SCIM request for one entry, and merging its answer into the served copy.
//!
//! The answer is mapped and validated by exactly the same code as a full copy
//! (`directory::mapping`, `directory::rules`) and merged by `directory::merge`, which
//! applies the same conflict and private-group rules. Merging never creates a state a
//! full copy could not: an entry whose name or id is held by another SCIM id is not
//! merged (a full sync is requested instead, which applies the duplicate rules to
//! everything at once). Entries the rules refuse are logged and counted in `status` as a
//! full copy's are (`daemon::refusals`).

use std::time::SystemTime;

use serde_json::Value;

use super::freshness::EntryId;
use super::key::LookupKey;
use super::state::OnDemand;
use crate::cache::snapshot::Snapshot;
use crate::directory::change::Change;
use crate::directory::local_accounts::{LocalAccounts, PASSWD_PATH};
use crate::directory::mapping::{map_group, map_shadow, map_user, MappedGroup};
use crate::directory::merge::{self, Gone, Merge};
use crate::directory::model::{EntryKind, PosixGroup, PosixUser, Refusal};
use crate::directory::view::DirectoryView;
use crate::scim::client::ScimClient;
use crate::scim::{GroupFilter, ScimError, UserFilter};
use crate::state::refusals::note_refusal;
use crate::state::Counters;
use crate::tokens::secret::BearerToken;

/// What the server said about one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchOutcome {
    /// It exists; the served copy now holds the server's version.
    Present,
    /// The server has no such entry; it was removed from the served copy if there.
    Absent,
    /// The server could not answer exactly (filter unsupported, duplicates): the full
    /// copy stands, and a full sync was requested where useful.
    Unknown,
    /// It exists, but its name or id is held by another cached entry (a reused uid, a
    /// swapped name): not merged; a full sync was requested to settle both at once.
    /// Not "not found": the server just said it exists.
    Conflict,
}

/// Why no answer came.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchError {
    /// No SCIM client or no usable user token.
    NotConfigured(&'static str),
    /// The server is in backoff or the per-node rate limit is reached: not asked.
    Backoff,
    /// The request failed (unreachable, timeout, 5xx, malformed, 401/403 …).
    Scim(String),
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FetchError::NotConfigured(what) => write!(f, "{what}"),
            FetchError::Backoff => write!(f, "server in backoff or rate limit reached"),
            FetchError::Scim(e) => write!(f, "{e}"),
        }
    }
}

pub type FetchResult = Result<FetchOutcome, FetchError>;

/// Asks the server about `key` and merges the answer.
pub fn fetch(od: &OnDemand, key: &LookupKey) -> FetchResult {
    // Taken before the question goes out: a full copy served after it is newer than the
    // answer (see `remove`).
    let asked_at_copy = od.shared.copies_served();
    let client = od
        .client()
        .ok_or(FetchError::NotConfigured("SCIM client not configured"))?;
    let token = od
        .tokens()
        .user
        .ok_or(FetchError::NotConfigured("no usable user token"))?;
    let admin_token = od.tokens().admin;
    if matches!(key, LookupKey::Shadow(_)) && admin_token.is_none() {
        return Err(FetchError::NotConfigured("no usable admin token"));
    }
    if !od.gate().admit() {
        return Err(FetchError::Backoff);
    }
    Counters::bump(&od.shared.counters.scim_lookups);
    let asked = std::time::Instant::now();
    // Whether "no match" from the filters is an answer: false when the server could not
    // filter by `userName sw` (a derived name cannot be found by `eq`).
    let mut answered = true;
    let mut by_name = |token: &BearerToken, name: &str| {
        client.lookup_user_by_name(token, name).map(|found| {
            answered = found.is_some();
            found.unwrap_or_default()
        })
    };
    let result = match key {
        LookupKey::UserName(name) => by_name(&token, name),
        LookupKey::Uid(uid) => client.lookup_user(&token, UserFilter::PosixUserId(*uid)),
        LookupKey::GroupName(name) => {
            client.lookup_group(&token, GroupFilter::PosixGroupName(name))
        }
        LookupKey::Gid(gid) => client.lookup_group(&token, GroupFilter::PosixGroupId(*gid)),
        LookupKey::Shadow(name) => match admin_token {
            Some(admin) => by_name(&admin, name),
            None => Err(ScimError::Config("no usable admin token".into())),
        },
    };
    log::debug!(
        "{key}: SCIM lookup answered in {} ms",
        asked.elapsed().as_millis()
    );
    let resources = match result {
        Ok(r) => {
            od.gate().succeeded();
            r
        }
        Err(e) if e.is_bad_filter() => {
            od.gate().succeeded();
            log::debug!("{key}: filter not usable ({e}); the full copy stands");
            return Ok(FetchOutcome::Unknown);
        }
        Err(e) => {
            Counters::bump(&od.shared.counters.scim_lookup_failures);
            od.gate().failed();
            if e.is_auth() {
                // The sync thread marks the token rejected and reports it.
                od.shared.request(|r| r.sync_now = true);
            }
            log::info!("{key}: SCIM lookup failed: {e}");
            return Err(FetchError::Scim(scim_text(&e)));
        }
    };
    let local = LocalAccounts::load_system()
        .map_err(|e| FetchError::Scim(format!("reading {PASSWD_PATH}: {e}")))?;
    let config = od.shared.config();
    // Each check takes the read lock for a moment; none is held across a request.
    let duplicate = |kind, scim_id: &str| od.shared.snapshot().refused_as_duplicate(kind, scim_id);
    let map_user_noted = |v: &Value| noted(od, map_user(v, &config, &local));
    match key {
        LookupKey::UserName(_) | LookupKey::Uid(_) => {
            let matching: Vec<PosixUser> = resources
                .iter()
                .filter_map(map_user_noted)
                .filter(|u| !duplicate(EntryKind::User, &u.scim_id))
                .filter(|u| user_matches(u, key))
                .collect();
            match matching.as_slice() {
                [] => {
                    if let LookupKey::Uid(uid) = key {
                        let cached = od.shared.snapshot().user_by_uid(*uid);
                        if let Some(user) = cached.and_then(|cached| {
                            renumbered(&client, &token, &cached, |v| {
                                map_user_noted(v)
                                    .filter(|u| !duplicate(EntryKind::User, &u.scim_id))
                            })
                        }) {
                            // Replaces the cached entry (same SCIM id): group member
                            // lists, kept by name, stay as they are.
                            let outcome = merge_user(od, &user, config.user_private_groups, &local);
                            od.negative().insert(key.clone());
                            return Ok(outcome);
                        }
                    }
                    if matches!(key, LookupKey::UserName(_))
                        && !answered
                        && od.shared.health().last_sync.is_none()
                    {
                        // A user without posixUserName is named after userName minus its
                        // @domain, which only `userName sw "name@"` finds. When the server
                        // cannot filter that way, until a complete copy has been seen
                        // "none" for a name is no answer: the resolver says TRYAGAIN,
                        // never "no such user" for alice whose userName is
                        // alice@example.com.
                        log::debug!("{key}: no match by filter, and no complete copy yet");
                        return Ok(FetchOutcome::Unknown);
                    }
                    Ok(remove(od, key, asked_at_copy))
                }
                [u] => Ok(merge_user(od, u, config.user_private_groups, &local)),
                _ => Ok(ambiguous(od, key)),
            }
        }
        LookupKey::GroupName(_) | LookupKey::Gid(_) => {
            let matching: Vec<MappedGroup> = resources
                .iter()
                .filter_map(|v| noted(od, map_group(v, &config, &local)))
                .filter(|g| !duplicate(EntryKind::Group, &g.scim_id))
                .filter(|g| match key {
                    LookupKey::GroupName(n) => &g.name == n,
                    LookupKey::Gid(id) => g.gid == *id,
                    _ => false,
                })
                .collect();
            match matching.as_slice() {
                [] => Ok(remove(od, key, asked_at_copy)),
                [g] => {
                    let members = resolve_members(&*od.shared.snapshot(), &g.member_ids);
                    Ok(merge_group(
                        od,
                        PosixGroup {
                            scim_id: g.scim_id.clone(),
                            name: g.name.clone(),
                            gid: g.gid,
                            members,
                        },
                    ))
                }
                _ => Ok(ambiguous(od, key)),
            }
        }
        LookupKey::Shadow(name) => Ok(merge_shadow(od, name, &resources)),
    }
}

/// The mapped entry, or `None` once its refusal is logged and counted.
fn noted<T>(od: &OnDemand, mapped: Result<T, Refusal>) -> Option<T> {
    mapped.map_err(|r| note_refusal(&od.shared, &r)).ok()
}

/// The `cached` user, which the server no longer has under its uid, as the server now
/// has it under the same name and SCIM id (its uid changed), if it does.
/// Asking by name before dropping the entry keeps its group memberships, which a removal
/// would strip until the next full copy. Any failure here means "drop it" as before.
fn renumbered(
    client: &ScimClient,
    token: &BearerToken,
    cached: &PosixUser,
    map: impl Fn(&Value) -> Option<PosixUser>,
) -> Option<PosixUser> {
    let uid = cached.uid;
    let found = client.lookup_user_by_name(token, &cached.name).ok()??;
    let mut same: Vec<PosixUser> = found
        .iter()
        .filter_map(map)
        .filter(|u| u.scim_id == cached.scim_id && u.name == cached.name && u.uid != uid)
        .collect();
    (same.len() == 1).then(|| same.remove(0))
}

fn scim_text(e: &ScimError) -> String {
    e.to_string()
}

fn user_matches(u: &PosixUser, key: &LookupKey) -> bool {
    match key {
        LookupKey::UserName(n) => &u.name == n,
        LookupKey::Uid(id) => u.uid == *id,
        _ => false,
    }
}

fn ambiguous(od: &OnDemand, key: &LookupKey) -> FetchOutcome {
    log::warn!("{key}: the server returned several entries; requesting a full sync");
    od.shared.request(|r| r.sync_now = true);
    FetchOutcome::Unknown
}

/// Member SCIM ids to the names of cached users, in order, without duplicates (ids of
/// users not cached are left out, as a full copy leaves out refused ones).
fn resolve_members(dir: &impl DirectoryView, ids: &[String]) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    ids.iter()
        .filter_map(|id| dir.user_name_by_scim_id(id))
        .filter(|n| seen.insert(n.clone()))
        .collect()
}

/// Computes a change from the served copy and applies it, under the apply lock so that
/// no other change comes between; `compute` returns `None` when there is nothing to do.
fn apply(od: &OnDemand, compute: impl FnOnce(&Snapshot) -> Option<Change>) -> bool {
    let _guard = od.shared.apply_lock();
    // The read guard is dropped before the write: computing never blocks readers.
    let change = compute(&od.shared.snapshot());
    match change {
        Some(change) if !change.is_empty() => {
            od.shared.apply_change(&change);
            od.forget_put(&change);
            true
        }
        _ => false,
    }
}

/// Applies a [`Merge`] computed under the apply lock; true on a conflict.
fn apply_merge(od: &OnDemand, merge: impl FnOnce(&Snapshot) -> Merge) -> bool {
    let mut conflict = false;
    apply(od, |dir| match merge(dir) {
        Merge::Unchanged => None,
        Merge::Changed(change) => Some(change),
        Merge::Conflict => {
            conflict = true;
            None
        }
    });
    conflict
}

fn confirm(od: &OnDemand, id: EntryId) {
    od.confirm(id, SystemTime::now());
}

/// After a merge attempt: on a conflict, ask for a full sync (which applies the
/// duplicate rules to everything at once); otherwise forget any "none" remembered for the
/// entry's keys and record that the server just confirmed it.
fn settle(
    od: &OnDemand,
    conflict: bool,
    what: &str,
    keys: [LookupKey; 2],
    id: EntryId,
) -> FetchOutcome {
    if conflict {
        log::warn!("{what}: name or id held by another cached entry; requesting a full sync");
        od.shared.request(|r| r.sync_now = true);
        return FetchOutcome::Conflict;
    }
    let mut negative = od.negative();
    for k in &keys {
        negative.remove(k);
    }
    drop(negative);
    confirm(od, id);
    FetchOutcome::Present
}

fn merge_user(
    od: &OnDemand,
    user: &PosixUser,
    private_groups: bool,
    local: &LocalAccounts,
) -> FetchOutcome {
    let conflict = apply_merge(od, |dir| {
        merge::merge_user(dir, user, private_groups, local)
    });
    settle(
        od,
        conflict,
        &format!("user {} (SCIM id {:?})", user.name, user.scim_id),
        [
            LookupKey::UserName(user.name.clone()),
            LookupKey::Uid(user.uid),
        ],
        EntryId::User(user.uid),
    )
}

fn merge_group(od: &OnDemand, group: PosixGroup) -> FetchOutcome {
    let conflict = apply_merge(od, |dir| merge::merge_group(dir, &group));
    settle(
        od,
        conflict,
        &format!("group {} (SCIM id {:?})", group.name, group.scim_id),
        [
            LookupKey::GroupName(group.name.clone()),
            LookupKey::Gid(group.gid),
        ],
        EntryId::Group(group.gid),
    )
}

fn merge_shadow(od: &OnDemand, name: &str, admin: &[Value]) -> FetchOutcome {
    let Some(user) = od.shared.snapshot().user_by_name(name) else {
        return FetchOutcome::Absent;
    };
    // Only resources for this very user (matched by SCIM id) count.
    let mine: Vec<Value> = admin
        .iter()
        .filter(|v| v.get("id").and_then(Value::as_str) == Some(user.scim_id.as_str()))
        .cloned()
        .collect();
    let mut refused = Vec::new();
    let entry = map_shadow(&user, &mine, &mut refused);
    for r in refused {
        log::warn!(
            "refused shadow of user with SCIM id {:?}: {}: {}",
            r.scim_id,
            r.reason.as_str(),
            r.detail
        );
    }
    apply_merge(od, |dir| merge::merge_shadow(dir, &user.scim_id, &entry));
    FetchOutcome::Present
}

/// The server has no entry for `key`: drop ours (if any) and remember the answer.
///
/// Unless a full copy was served after the question was asked: that copy is the newer
/// answer (it may hold the entry, added on the server meanwhile), so nothing is removed
/// or remembered, and the lookup reads the served copy (`Present`).
fn remove(od: &OnDemand, key: &LookupKey, asked_at_copy: u64) -> FetchOutcome {
    let gone = match key {
        LookupKey::UserName(n) => Gone::UserName(n),
        LookupKey::Uid(id) => Gone::Uid(*id),
        LookupKey::GroupName(n) => Gone::GroupName(n),
        LookupKey::Gid(id) => Gone::Gid(*id),
        LookupKey::Shadow(_) => return FetchOutcome::Absent,
    };
    let mut outdated = false;
    apply(od, |dir| {
        // Under the apply lock, which a full copy's swap also takes: no race.
        if od.shared.copies_served() != asked_at_copy {
            outdated = true;
            return None;
        }
        merge::remove(dir, gone)
    });
    if outdated {
        log::debug!("{key}: a full copy arrived while the server was asked; it stands");
        return FetchOutcome::Present;
    }
    od.negative().insert(key.clone());
    FetchOutcome::Absent
}
