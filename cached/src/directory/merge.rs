//! Merging one entry fetched on its own (on-demand lookup, refresh, refetch after
//! `invalidate`) into the served [`Directory`]. Pure: the current copy and the entry in,
//! the next copy (or why not) out. The entry has already been mapped by
//! [`super::mapping`] (per-entry validation and [`super::rules`]); what is decided here
//! is what needs the rest of the directory, with the same rules as a full copy:
//!
//! - a name or id held by another SCIM id is a conflict, not merged (a full copy refuses
//!   both holders; one entry fetched alone cannot show which is right);
//! - an entry the last full copy refused as a duplicate stays refused;
//! - user private groups are given and taken by [`rules::private_group`], so one never
//!   takes a local group's name or gid, nor one another directory group has.

use std::collections::{HashMap, HashSet};

use super::local_accounts::LocalAccounts;
use super::model::{Directory, EntryKind, PosixGroup, PosixUser, Refusal, RefusalReason};
use super::rules::{self, GroupSpace};
use super::validate::{check_home, Problem};
use crate::config::Config;

/// What merging one entry would do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Merge {
    /// The served copy already says exactly this.
    Unchanged,
    /// The copy to serve instead.
    Changed(Directory),
    /// Its name or id is held by another entry: not merged.
    Conflict,
}

/// Whether the last full copy refused this SCIM id for sharing a name or an id with
/// another entry. One entry fetched alone cannot show that, so merging it would serve
/// what a full copy refuses (both entries of a duplicate pair are refused). It stays
/// refused until a full copy no longer finds the duplicate.
pub fn refused_as_duplicate(copy: &Directory, kind: EntryKind, scim_id: &str) -> bool {
    copy.refused.iter().any(|r| {
        r.kind == kind
            && r.scim_id == scim_id
            && matches!(
                r.reason,
                RefusalReason::DuplicateName | RefusalReason::DuplicateId
            )
    })
}

/// Merges one valid user. A renamed user's name is replaced in group member lists; its
/// private group follows it when the rules allow one.
pub fn merge_user(
    dir: &Directory,
    user: &PosixUser,
    private_groups: bool,
    local: &LocalAccounts,
) -> Merge {
    if dir.users.iter().any(|u| u == user) {
        return Merge::Unchanged;
    }
    if dir
        .users
        .iter()
        .any(|u| u.scim_id != user.scim_id && (u.name == user.name || u.uid == user.uid))
    {
        return Merge::Conflict;
    }
    let mut next = dir.clone();
    if let Some(old) = next.users.iter().position(|u| u.scim_id == user.scim_id) {
        let old = next.users.remove(old);
        drop_private_group(&mut next, &old);
        if old.name != user.name {
            next.shadow.retain(|s| s.name != old.name);
            for g in &mut next.groups {
                for m in &mut g.members {
                    if *m == old.name {
                        m.clone_from(&user.name);
                    }
                }
            }
        }
    }
    let pos = next.users.partition_point(|u| u.uid < user.uid);
    next.users.insert(pos, user.clone());
    drop_invalid_private_groups(&mut next, local);
    rules::mark_same_accounts(&mut next, local);
    if private_groups && !next.is_same_account(&user.name) {
        let mut space = GroupSpace::of(&next.groups, &next.users);
        for gid in &next.refused_group_gids {
            space.claim_gid(*gid);
        }
        if let Some(g) = rules::granted_private_group(user, &space, local) {
            insert_group(&mut next, g);
        }
    }
    Merge::Changed(next)
}

/// Merges one valid SCIM group (members already resolved to names). It replaces a user
/// private group with its name or gid, as in a full copy where SCIM groups come first.
pub fn merge_group(dir: &Directory, group: &PosixGroup) -> Merge {
    if dir.groups.iter().any(|g| g == group) {
        return Merge::Unchanged;
    }
    if dir.groups.iter().any(|g| {
        !g.scim_id.is_empty()
            && g.scim_id != group.scim_id
            && (g.name == group.name || g.gid == group.gid)
    }) {
        return Merge::Conflict;
    }
    let mut next = dir.clone();
    next.groups.retain(|g| {
        g.scim_id != group.scim_id
            && !(g.scim_id.is_empty() && (g.name == group.name || g.gid == group.gid))
    });
    insert_group(&mut next, group.clone());
    Merge::Changed(next)
}

/// What the server no longer has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gone<'a> {
    UserName(&'a str),
    Uid(u32),
    GroupName(&'a str),
    Gid(u32),
}

/// The copy without the entries `gone` names (a user with its private group, shadow
/// entry and memberships; a SCIM group, never a private group on its own), or `None`
/// when there is nothing to remove.
pub fn remove(dir: &Directory, gone: Gone<'_>) -> Option<Directory> {
    let mut next = dir.clone();
    match gone {
        Gone::UserName(_) | Gone::Uid(_) => {
            let matches = |u: &PosixUser| match gone {
                Gone::UserName(n) => u.name == n,
                Gone::Uid(id) => u.uid == id,
                _ => false,
            };
            let removed: Vec<PosixUser> =
                next.users.iter().filter(|u| matches(u)).cloned().collect();
            if removed.is_empty() {
                return None;
            }
            next.users.retain(|u| !matches(u));
            for old in &removed {
                drop_private_group(&mut next, old);
                next.shadow.retain(|s| s.name != old.name);
                next.same_account.retain(|n| *n != old.name);
                for g in &mut next.groups {
                    g.members.retain(|m| *m != old.name);
                }
            }
        }
        Gone::GroupName(n) => {
            let before = next.groups.len();
            next.groups.retain(|g| g.scim_id.is_empty() || g.name != n);
            if next.groups.len() == before {
                return None;
            }
        }
        Gone::Gid(id) => {
            let before = next.groups.len();
            next.groups.retain(|g| g.scim_id.is_empty() || g.gid != id);
            if next.groups.len() == before {
                return None;
            }
        }
    }
    Some(next)
}

/// A copy kept from before (the SQLite cache a restarted daemon serves until its first
/// sync, perhaps written under older rules, configuration or local files) held to
/// today's rules: entries they refuse are dropped, with their traces, and returned as
/// refusals; private groups a full copy would not give are dropped.
pub fn recheck(dir: &Directory, cfg: &Config, local: &LocalAccounts) -> (Directory, Vec<Refusal>) {
    let mut next = dir.clone();
    let mut refused = Vec::new();
    let mut dropped_users = Vec::new();
    next.users.retain(|u| {
        let verdict = check_home(&u.home).and_then(|()| rules::check_user(u, cfg, local));
        match verdict {
            Ok(()) => true,
            Err(p) => {
                refused.push(refusal(EntryKind::User, &u.scim_id, p));
                dropped_users.push(u.clone());
                false
            }
        }
    });
    for old in &dropped_users {
        drop_private_group(&mut next, old);
        next.shadow.retain(|s| s.name != old.name);
        for g in &mut next.groups {
            g.members.retain(|m| *m != old.name);
        }
    }
    next.groups.retain(|g| {
        if g.scim_id.is_empty() {
            return true;
        }
        match rules::check_group(&g.name, g.gid, cfg, local) {
            Ok(()) => true,
            Err(p) => {
                refused.push(refusal(EntryKind::Group, &g.scim_id, p));
                false
            }
        }
    });
    if cfg.user_private_groups {
        drop_invalid_private_groups(&mut next, local);
    } else {
        next.groups.retain(|g| !g.scim_id.is_empty());
    }
    rules::mark_same_accounts(&mut next, local);
    (next, refused)
}

fn refusal(kind: EntryKind, scim_id: &str, p: Problem) -> Refusal {
    Refusal {
        kind,
        scim_id: scim_id.to_string(),
        reason: p.reason,
        detail: p.detail,
    }
}

fn insert_group(dir: &mut Directory, group: PosixGroup) {
    let pos = dir.groups.partition_point(|g| g.gid < group.gid);
    dir.groups.insert(pos, group);
}

fn drop_private_group(dir: &mut Directory, user: &PosixUser) {
    dir.groups
        .retain(|g| !(g.scim_id.is_empty() && g.name == user.name && g.gid == user.gid));
}

/// Drops every private group a full copy would not give now: its gid shared by several
/// users or held by no user of its name, or its name or gid now a local group's. Only
/// ever removes, so an entry merged next to others cannot leave them with a private
/// group the rules refuse.
fn drop_invalid_private_groups(dir: &mut Directory, local: &LocalAccounts) {
    let mut users_per_gid: HashMap<u32, usize> = HashMap::new();
    for u in &dir.users {
        *users_per_gid.entry(u.gid).or_default() += 1;
    }
    let owners: HashSet<(&str, u32)> = dir.users.iter().map(|u| (u.name.as_str(), u.gid)).collect();
    let keep: Vec<bool> = dir
        .groups
        .iter()
        .map(|g| {
            !g.scim_id.is_empty()
                || (owners.contains(&(g.name.as_str(), g.gid))
                    && users_per_gid.get(&g.gid).copied().unwrap_or(0) == 1
                    && !local.gids.contains(&g.gid)
                    && !local.group_names.contains(&g.name))
        })
        .collect();
    let mut keep = keep.into_iter();
    dir.groups.retain(|_| keep.next().unwrap_or(true));
}

#[cfg(test)]
#[path = "merge_tests.rs"]
mod tests;
