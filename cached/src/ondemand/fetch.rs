//! One filtered SCIM request for one entry, and merging its answer into the served copy.
//!
//! The answer is mapped and validated by exactly the same code as a full copy
//! (`directory::mapping`, `directory::rules`) and merged by `directory::merge`, which
//! applies the same conflict and private-group rules. Merging never creates a state a
//! full copy could not: an entry whose name or id is held by another SCIM id is not
//! merged (a full sync is requested instead, which applies the duplicate rules to
//! everything at once). Entries the rules refuse are logged and counted in `status` as a
//! full copy's are (`daemon::refusals`).

use std::path::Path;
use std::time::SystemTime;

use serde_json::Value;

use super::freshness::EntryId;
use super::key::LookupKey;
use crate::daemon::refusals::note_refusal;
use crate::daemon::state::{Counters, Shared};
use crate::daemon::sync::{LOCAL_GROUP, LOCAL_PASSWD};
use crate::directory::local_accounts::LocalAccounts;
use crate::directory::mapping::{map_group, map_shadow, map_user, MappedGroup};
use crate::directory::merge::{self, refused_as_duplicate, Gone, Merge};
use crate::directory::model::{Directory, EntryKind, PosixGroup, PosixUser, Refusal};
use crate::scim::client::ScimClient;
use crate::scim::{GroupFilter, ScimError, UserFilter};
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
pub fn fetch(shared: &Shared, key: &LookupKey) -> FetchResult {
    let od = &shared.ondemand;
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
    Counters::bump(&shared.counters.scim_lookups);
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
            Counters::bump(&shared.counters.scim_lookup_failures);
            od.gate().failed();
            if e.is_auth() {
                // The sync thread marks the token rejected and reports it.
                shared.request(|r| r.sync_now = true);
            }
            log::info!("{key}: SCIM lookup failed: {e}");
            return Err(FetchError::Scim(scim_text(&e)));
        }
    };
    let local = LocalAccounts::load(Path::new(LOCAL_PASSWD), Path::new(LOCAL_GROUP))
        .map_err(|e| FetchError::Scim(format!("reading {LOCAL_PASSWD}: {e}")))?;
    let config = shared.config();
    let copy = shared.directory();
    let map_user_noted = |v: &Value| noted(shared, map_user(v, &config, &local));
    match key {
        LookupKey::UserName(_) | LookupKey::Uid(_) => {
            let matching: Vec<PosixUser> = resources
                .iter()
                .filter_map(map_user_noted)
                .filter(|u| !refused_as_duplicate(&copy, EntryKind::User, &u.scim_id))
                .filter(|u| user_matches(u, key))
                .collect();
            match matching.as_slice() {
                [] => {
                    if let LookupKey::Uid(uid) = key {
                        if let Some(user) = renumbered(&client, &token, &copy, *uid, |v| {
                            map_user_noted(v).filter(|u| {
                                !refused_as_duplicate(&copy, EntryKind::User, &u.scim_id)
                            })
                        }) {
                            // Replaces the cached entry (same SCIM id): group member
                            // lists, kept by name, stay as they are.
                            let outcome =
                                merge_user(shared, &user, config.user_private_groups, &local);
                            shared.ondemand.negative().insert(key.clone());
                            return Ok(outcome);
                        }
                    }
                    if matches!(key, LookupKey::UserName(_))
                        && !answered
                        && shared.health().last_sync.is_none()
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
                    Ok(remove(shared, key))
                }
                [u] => Ok(merge_user(shared, u, config.user_private_groups, &local)),
                _ => Ok(ambiguous(shared, key)),
            }
        }
        LookupKey::GroupName(_) | LookupKey::Gid(_) => {
            let matching: Vec<MappedGroup> = resources
                .iter()
                .filter_map(|v| noted(shared, map_group(v, &config, &local)))
                .filter(|g| !refused_as_duplicate(&copy, EntryKind::Group, &g.scim_id))
                .filter(|g| match key {
                    LookupKey::GroupName(n) => &g.name == n,
                    LookupKey::Gid(id) => g.gid == *id,
                    _ => false,
                })
                .collect();
            match matching.as_slice() {
                [] => Ok(remove(shared, key)),
                [g] => {
                    let dir = shared.directory();
                    let members = resolve_members(&dir, &g.member_ids);
                    Ok(merge_group(
                        shared,
                        PosixGroup {
                            scim_id: g.scim_id.clone(),
                            name: g.name.clone(),
                            gid: g.gid,
                            members,
                        },
                    ))
                }
                _ => Ok(ambiguous(shared, key)),
            }
        }
        LookupKey::Shadow(name) => Ok(merge_shadow(shared, name, &resources)),
    }
}

/// The mapped entry, or `None` once its refusal is logged and counted.
fn noted<T>(shared: &Shared, mapped: Result<T, Refusal>) -> Option<T> {
    mapped.map_err(|r| note_refusal(shared, &r)).ok()
}

/// The cached user with `uid`, which the server no longer has under that uid, as the
/// server now has it under the same name and SCIM id (its uid changed), if it does.
/// Asking by name before dropping the entry keeps its group memberships, which a removal
/// would strip until the next full copy. Any failure here means "drop it" as before.
fn renumbered(
    client: &ScimClient,
    token: &BearerToken,
    copy: &Directory,
    uid: u32,
    map: impl Fn(&Value) -> Option<PosixUser>,
) -> Option<PosixUser> {
    let cached = copy.users.iter().find(|u| u.uid == uid)?;
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

fn ambiguous(shared: &Shared, key: &LookupKey) -> FetchOutcome {
    log::warn!("{key}: the server returned several entries; requesting a full sync");
    shared.request(|r| r.sync_now = true);
    FetchOutcome::Unknown
}

fn resolve_members(dir: &Directory, ids: &[String]) -> Vec<String> {
    let by_id: std::collections::HashMap<&str, &str> = dir
        .users
        .iter()
        .map(|u| (u.scim_id.as_str(), u.name.as_str()))
        .collect();
    let mut seen = std::collections::HashSet::new();
    ids.iter()
        .filter_map(|id| by_id.get(id.as_str()).copied())
        .filter(|n| seen.insert(*n))
        .map(str::to_string)
        .collect()
}

/// Applies `change` to the served directory and serves the result, unless `change`
/// returns `None` (nothing to change).
fn apply(shared: &Shared, change: impl FnOnce(&Directory) -> Option<Directory>) -> bool {
    let _guard = shared.ondemand.apply_lock();
    let current = shared.directory();
    match change(&current) {
        Some(next) => {
            shared.serve(next);
            true
        }
        None => false,
    }
}

/// Applies a [`Merge`] computed under the apply lock; true on a conflict.
fn apply_merge(shared: &Shared, merge: impl FnOnce(&Directory) -> Merge) -> bool {
    let mut conflict = false;
    apply(shared, |dir| match merge(dir) {
        Merge::Unchanged => None,
        Merge::Changed(next) => Some(next),
        Merge::Conflict => {
            conflict = true;
            None
        }
    });
    conflict
}

fn confirm(shared: &Shared, id: EntryId) {
    shared.ondemand.freshness().confirm(id, SystemTime::now());
}

/// After a merge attempt: on a conflict, ask for a full sync (which applies the
/// duplicate rules to everything at once); otherwise forget any "none" remembered for the
/// entry's keys and record that the server just confirmed it.
fn settle(
    shared: &Shared,
    conflict: bool,
    what: &str,
    keys: [LookupKey; 2],
    id: EntryId,
) -> FetchOutcome {
    if conflict {
        log::warn!("{what}: name or id held by another cached entry; requesting a full sync");
        shared.request(|r| r.sync_now = true);
        return FetchOutcome::Conflict;
    }
    let mut negative = shared.ondemand.negative();
    for k in &keys {
        negative.remove(k);
    }
    drop(negative);
    confirm(shared, id);
    FetchOutcome::Present
}

fn merge_user(
    shared: &Shared,
    user: &PosixUser,
    private_groups: bool,
    local: &LocalAccounts,
) -> FetchOutcome {
    let conflict = apply_merge(shared, |dir| {
        merge::merge_user(dir, user, private_groups, local)
    });
    settle(
        shared,
        conflict,
        &format!("user {} (SCIM id {:?})", user.name, user.scim_id),
        [
            LookupKey::UserName(user.name.clone()),
            LookupKey::Uid(user.uid),
        ],
        EntryId::User(user.uid),
    )
}

fn merge_group(shared: &Shared, group: PosixGroup) -> FetchOutcome {
    let conflict = apply_merge(shared, |dir| merge::merge_group(dir, &group));
    settle(
        shared,
        conflict,
        &format!("group {} (SCIM id {:?})", group.name, group.scim_id),
        [
            LookupKey::GroupName(group.name.clone()),
            LookupKey::Gid(group.gid),
        ],
        EntryId::Group(group.gid),
    )
}

fn merge_shadow(shared: &Shared, name: &str, admin: &[Value]) -> FetchOutcome {
    let dir = shared.directory();
    let Some(user) = dir.users.iter().find(|u| u.name == name).cloned() else {
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
    apply(shared, |dir| {
        if dir.shadow.iter().any(|s| s == &entry) {
            return None;
        }
        let mut next = dir.clone();
        next.shadow.retain(|s| s.name != entry.name);
        next.shadow.push(entry.clone());
        Some(next)
    });
    FetchOutcome::Present
}

/// The server has no entry for `key`: drop ours (if any) and remember the answer.
fn remove(shared: &Shared, key: &LookupKey) -> FetchOutcome {
    let gone = match key {
        LookupKey::UserName(n) => Gone::UserName(n),
        LookupKey::Uid(id) => Gone::Uid(*id),
        LookupKey::GroupName(n) => Gone::GroupName(n),
        LookupKey::Gid(id) => Gone::Gid(*id),
        LookupKey::Shadow(_) => return FetchOutcome::Absent,
    };
    apply(shared, |dir| merge::remove(dir, gone));
    shared.ondemand.negative().insert(key.clone());
    FetchOutcome::Absent
}
