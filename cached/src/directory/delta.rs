//! Merging an incremental sync into the served copy (design.md §8). Pure: a view of the
//! copy, what the server said changed (mapped with the same code as a full copy), the
//! ids it lists, in; the [`Change`] to apply, or why only a complete copy will do, out.
//!
//! The rules are those of a one-entry merge ([`super::merge`]), chained through one
//! [`Overlay`] so that each merge sees the previous ones:
//!
//! 1. entries the server no longer lists are removed ([`merge::remove`]);
//! 2. changed users are merged, then changed groups (their members resolved against
//!    the users as they now are), then changed shadow data;
//! 3. anything a one-entry merge cannot settle, a full copy settles: a changed entry
//!    refused (a full copy refuses it with the duplicate rules in view), a conflict
//!    (a name or id held by another entry), an entry refused as a duplicate by the last
//!    full copy, an id listed that is neither cached, refused by the last full copy, nor
//!    among the changes (it was missed) → [`Doubt`].

use std::collections::HashSet;

use super::change::Change;
use super::local_accounts::LocalAccounts;
use super::mapping::{map_shadow_fields, AdminFields, ArrivedGroup, MappedUser};
use super::merge::{self, Gone, Merge};
use super::model::{EntryKind, PosixGroup, Refusal};
use super::overlay::Overlay;
use super::view::DirectoryView;

/// Most changed entries merged one by one: each merge reads the ones before it through
/// the overlay, so merging costs grow with the square of their number; past this, a
/// complete copy is cheaper (and a server that answered the filter with everything is
/// caught here too, if its timestamps did not give it away).
pub const MAX_CHANGES: usize = 5_000;

/// Why an incremental sync cannot be applied: a complete copy is needed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Doubt(pub String);

/// What the server said since the last sync.
#[derive(Debug, Default)]
pub struct Delta {
    /// Users modified since, mapped.
    pub users: Vec<MappedUser>,
    /// Groups modified since, mapped.
    pub groups: Vec<ArrivedGroup>,
    /// Admin-token Users modified since (only the shadow fields), when fetched.
    pub shadow: Option<Vec<AdminFields>>,
    /// Every user SCIM id the server lists.
    pub user_ids: HashSet<String>,
    /// Every group SCIM id the server lists.
    pub group_ids: HashSet<String>,
}

/// What the copy holds that a deletion could concern.
#[derive(Debug, Default)]
pub struct Held {
    /// (SCIM id, uid) of every cached user.
    pub users: Vec<(String, u32)>,
    /// (SCIM id, gid) of every cached SCIM group.
    pub groups: Vec<(String, u32)>,
    /// SCIM ids the last complete copy refused (the server lists them, we do not
    /// serve them).
    pub refused: HashSet<(EntryKind, String)>,
}

/// How much the merge did, for the sync report, and what it refused on the way.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Merged {
    pub users_removed: usize,
    pub groups_removed: usize,
    /// Shadow data refused (the user itself is kept, as in a full copy): for `status`.
    pub refused: Vec<Refusal>,
}

/// The change that brings `dir` up to date with `delta`, or why a complete copy is
/// needed instead.
pub fn merge_delta(
    dir: &impl DirectoryView,
    held: &Held,
    delta: &Delta,
    private_groups: bool,
    local: &LocalAccounts,
) -> Result<(Change, Merged), Doubt> {
    let doubt = |s: String| Err(Doubt(s));
    let changes = delta.users.len() + delta.groups.len();
    if changes > MAX_CHANGES {
        return doubt(format!(
            "{changes} changed entries (more than {MAX_CHANGES}): a complete copy is cheaper"
        ));
    }
    let mut next = Overlay::new(dir);
    let mut merged = Merged::default();

    // Ids the server lists must be known: cached, refused, or changed now.
    let changed_users: HashSet<&str> = delta
        .users
        .iter()
        .map(|m| match m {
            Ok(u) => u.scim_id.as_str(),
            Err(r) => r.scim_id.as_str(),
        })
        .collect();
    let changed_groups: HashSet<&str> = delta
        .groups
        .iter()
        .map(|g| match &g.mapped {
            Ok(g) => g.scim_id.as_str(),
            Err(r) => r.scim_id.as_str(),
        })
        .collect();
    for id in &delta.user_ids {
        let known = dir.user_by_scim_id(id).is_some()
            || changed_users.contains(id.as_str())
            || held.refused.contains(&(EntryKind::User, id.clone()));
        if !known {
            return doubt(format!(
                "user {id:?} is listed but neither cached nor among the changes"
            ));
        }
    }
    for id in &delta.group_ids {
        let known = dir.group_by_scim_id(id).is_some()
            || changed_groups.contains(id.as_str())
            || held.refused.contains(&(EntryKind::Group, id.clone()));
        if !known {
            return doubt(format!(
                "group {id:?} is listed but neither cached nor among the changes"
            ));
        }
    }

    // 1. Deletions (first, so that a name freed by one is free for a change).
    for (scim_id, uid) in &held.users {
        if !delta.user_ids.contains(scim_id) && !changed_users.contains(scim_id.as_str()) {
            if let Some(c) = merge::remove(&next, Gone::Uid(*uid)) {
                next.apply(&c);
                merged.users_removed += 1;
            }
        }
    }
    for (scim_id, gid) in &held.groups {
        if !delta.group_ids.contains(scim_id) && !changed_groups.contains(scim_id.as_str()) {
            if let Some(c) = merge::remove(&next, Gone::Gid(*gid)) {
                next.apply(&c);
                merged.groups_removed += 1;
            }
        }
    }

    // 2. Changed users.
    for mapped in &delta.users {
        let user = match mapped {
            Ok(u) => u,
            Err(r) => {
                return doubt(format!(
                    "changed user {:?} refused ({})",
                    r.scim_id,
                    r.reason.as_str()
                ))
            }
        };
        if dir.refused_as_duplicate(EntryKind::User, &user.scim_id) {
            return doubt(format!(
                "user {:?} was refused as a duplicate by the last complete copy",
                user.scim_id
            ));
        }
        match merge::merge_user(&next, user, private_groups, local) {
            Merge::Unchanged => {}
            Merge::Changed(c) => next.apply(&c),
            Merge::Conflict => {
                return doubt(format!(
                    "user {} (SCIM id {:?}): name or uid held by another entry",
                    user.name, user.scim_id
                ))
            }
        }
    }

    // 3. Changed groups, members resolved against the users as they now are.
    for arrived in &delta.groups {
        let g = match &arrived.mapped {
            Ok(g) => g,
            Err(r) => {
                return doubt(format!(
                    "changed group {:?} refused ({})",
                    r.scim_id,
                    r.reason.as_str()
                ))
            }
        };
        if dir.refused_as_duplicate(EntryKind::Group, &g.scim_id) {
            return doubt(format!(
                "group {:?} was refused as a duplicate by the last complete copy",
                g.scim_id
            ));
        }
        let mut seen = HashSet::new();
        let members = g
            .member_ids
            .iter()
            .filter_map(|id| next.user_by_scim_id(id).map(|u| u.name.clone()))
            .filter(|n| seen.insert(n.clone()))
            .collect();
        let group = PosixGroup {
            scim_id: g.scim_id.clone(),
            name: g.name.clone(),
            gid: g.gid,
            members,
        };
        match merge::merge_group(&next, &group) {
            Merge::Unchanged => {}
            Merge::Changed(c) => next.apply(&c),
            Merge::Conflict => {
                return doubt(format!(
                    "group {} (SCIM id {:?}): name or gid held by another entry",
                    group.name, group.scim_id
                ))
            }
        }
    }

    // 4. Shadow data of the users that changed for the admin token.
    if let Some(admin) = &delta.shadow {
        for v in admin {
            let Some(id) = v.id() else {
                continue;
            };
            let Some(user) = next.user_by_scim_id(id) else {
                continue;
            };
            if next.same_accounts().contains(&user.name) {
                continue;
            }
            let entry = map_shadow_fields(&user, std::slice::from_ref(v), &mut merged.refused);
            if let Merge::Changed(c) = merge::merge_shadow(&next, &user.scim_id, &entry) {
                next.apply(&c);
            }
        }
    }
    Ok((next.into_change(), merged))
}

#[cfg(test)]
#[path = "delta_tests.rs"]
mod tests;
