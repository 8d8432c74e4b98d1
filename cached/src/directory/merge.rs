//! Merging one entry fetched on its own (on-demand lookup, refresh, refetch after
//! `invalidate`) into the served copy. Pure: a view of the current copy and the entry
//! in, the [`Change`] to apply (or why not) out. The entry has already been mapped by
//! [`super::mapping`] (per-entry validation and [`super::rules`]); what is decided here
//! is what needs the rest of the directory, with the same rules as a full copy:
//!
//! - a name or id held by another SCIM id is a conflict, not merged (a full copy refuses
//!   both holders; one entry fetched alone cannot show which is right);
//! - an entry the last full copy refused as a duplicate stays refused;
//! - user private groups are given and taken by [`rules::private_group`], so one never
//!   takes a local group's name or gid, nor one another directory group has.
//!
//! Only entries around the merged one are read (by key, through [`DirectoryView`]) and
//! only those are changed, so a merge costs O(log n) lookups in the directory size plus
//! the size of the groups it touches: no copy of the directory, no scan of it.

use super::change::Change;
use super::local_accounts::LocalAccounts;
use super::model::{Directory, EntryKind, PosixGroup, PosixUser, Refusal, ShadowEntry};
use super::overlay::Overlay;
use super::rules::{self, GroupSpace};
use super::validate::{check_home, Problem};
use super::view::{DirectoryView, GroupSummary};
use crate::config::Config;

/// What merging one entry would do. `C` is the change ([`Change`]); tests use the copy
/// it produces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Merge<C = Change> {
    /// The served copy already says exactly this.
    Unchanged,
    /// The edits to apply.
    Changed(C),
    /// Its name or id is held by another entry: not merged.
    Conflict,
}

/// Whether the last full copy refused this SCIM id for sharing a name or an id with
/// another entry. One entry fetched alone cannot show that, so merging it would serve
/// what a full copy refuses (both entries of a duplicate pair are refused). It stays
/// refused until a full copy no longer finds the duplicate.
pub fn refused_as_duplicate(copy: &impl DirectoryView, kind: EntryKind, scim_id: &str) -> bool {
    copy.refused_as_duplicate(kind, scim_id)
}

/// A [`GroupSpace`] read from a directory copy: every group's name and gid, the gids of
/// the SCIM groups the last full copy refused, and the users per gid.
pub struct ViewSpace<'a, V: DirectoryView + ?Sized>(pub &'a V);

impl<V: DirectoryView + ?Sized> GroupSpace for ViewSpace<'_, V> {
    fn gid_taken(&self, gid: u32) -> bool {
        self.0.group_summary(gid).is_some() || self.0.gid_claimed_by_refused_group(gid)
    }
    fn name_taken(&self, name: &str) -> bool {
        self.0.gid_of_group_named_like(name).is_some()
    }
    fn users_with_gid(&self, gid: u32) -> usize {
        self.0.users_with_gid(gid)
    }
}

/// Merges one valid user. A renamed user's name is replaced in group member lists; its
/// private group follows it when the rules allow one.
pub fn merge_user(
    dir: &impl DirectoryView,
    user: &PosixUser,
    private_groups: bool,
    local: &LocalAccounts,
) -> Merge {
    if dir.user_by_uid(user.uid).as_ref() == Some(user) {
        return Merge::Unchanged;
    }
    let held_by_other = |u: Option<PosixUser>| u.is_some_and(|u| u.scim_id != user.scim_id);
    // A name held ignoring case counts: sudo matches `Alice` to rules for `alice`.
    if held_by_other(dir.user_named_like(&user.name)) || held_by_other(dir.user_by_uid(user.uid)) {
        return Merge::Conflict;
    }
    let mut next = Overlay::new(dir);
    if let Some(old) = dir.user_by_scim_id(&user.scim_id) {
        next.remove_user(old.uid);
        drop_private_group(&mut next, &old);
        if old.name != user.name {
            next.remove_shadow(&old.name);
            rename_member(&mut next, &old.name, Some(&user.name));
        }
    }
    next.put_user(user.clone());
    drop_invalid_private_groups(&mut next, user.gid, local);
    let same = mark_same_accounts(&mut next, local);
    if private_groups && !same.contains(&user.name) {
        if let Some(g) = rules::granted_private_group(user, &ViewSpace(&next), local) {
            next.put_group(g);
        }
    }
    Merge::Changed(next.into_change())
}

/// Merges one valid SCIM group (members already resolved to names). It replaces a user
/// private group with its name or gid, as in a full copy where SCIM groups come first.
pub fn merge_group(dir: &impl DirectoryView, group: &PosixGroup) -> Merge {
    if dir.group_by_gid(group.gid).as_ref() == Some(group) {
        return Merge::Unchanged;
    }
    // The groups holding its name or gid, read without their members.
    let holders: Vec<(u32, GroupSummary)> =
        [dir.gid_of_group_named_like(&group.name), Some(group.gid)]
            .into_iter()
            .flatten()
            .filter_map(|gid| dir.group_summary(gid).map(|s| (gid, s)))
            .collect();
    if holders
        .iter()
        .any(|(_, s)| !s.is_private() && s.scim_id != group.scim_id)
    {
        return Merge::Conflict;
    }
    let mut next = Overlay::new(dir);
    if let Some(old) = dir.group_by_scim_id(&group.scim_id) {
        next.remove_group(old.gid);
    }
    for (gid, _) in holders.iter().filter(|(_, s)| s.is_private()) {
        next.remove_group(*gid);
    }
    next.put_group(group.clone());
    Merge::Changed(next.into_change())
}

/// Merges the shadow entry of a cached user.
/// The hash is taken only for the user it was fetched for (`scim_id`): if that name now
/// belongs to nobody or to another SCIM id (the user was removed or replaced while the
/// hash was being fetched), nothing is merged, so no account ever gets another's hash.
pub fn merge_shadow(dir: &impl DirectoryView, scim_id: &str, entry: &ShadowEntry) -> Merge {
    if dir
        .user_by_name(&entry.name)
        .is_none_or(|u| u.scim_id != scim_id)
    {
        return Merge::Unchanged;
    }
    if dir.shadow_of(&entry.name).as_ref() == Some(entry) {
        return Merge::Unchanged;
    }
    let mut next = Overlay::new(dir);
    next.put_shadow(entry.clone());
    Merge::Changed(next.into_change())
}

/// What the server no longer has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gone<'a> {
    UserName(&'a str),
    Uid(u32),
    GroupName(&'a str),
    Gid(u32),
}

/// The change that removes the entry `gone` names (a user with its private group,
/// shadow entry and memberships; a SCIM group, never a private group on its own), or
/// `None` when there is nothing to remove.
pub fn remove(dir: &impl DirectoryView, gone: Gone<'_>) -> Option<Change> {
    let mut next = Overlay::new(dir);
    match gone {
        Gone::UserName(_) | Gone::Uid(_) => {
            let old = match gone {
                Gone::UserName(n) => dir.user_by_name(n),
                Gone::Uid(id) => dir.user_by_uid(id),
                _ => None,
            }?;
            next.remove_user(old.uid);
            drop_private_group(&mut next, &old);
            next.remove_shadow(&old.name);
            rename_member(&mut next, &old.name, None);
            let same = dir.same_accounts();
            if same.contains(&old.name) {
                next.set_same_accounts(same.into_iter().filter(|n| *n != old.name).collect());
            }
        }
        Gone::GroupName(_) | Gone::Gid(_) => {
            let gid = match gone {
                Gone::GroupName(n) => dir.gid_of_group(n),
                Gone::Gid(id) => Some(id),
                _ => None,
            }?;
            if dir.group_summary(gid)?.is_private() {
                return None;
            }
            next.remove_group(gid);
        }
    }
    Some(next.into_change())
}

/// Replaces `old` by `new` in every member list naming it (`None`: drops it).
fn rename_member<V: DirectoryView + ?Sized>(
    next: &mut Overlay<'_, V>,
    old: &str,
    new: Option<&str>,
) {
    for gid in next.groups_listing(old) {
        let Some(mut g) = next.group_by_gid(gid) else {
            continue;
        };
        match new {
            Some(new) => {
                for m in &mut g.members {
                    if m == old {
                        *m = new.to_string();
                    }
                }
            }
            None => g.members.retain(|m| m != old),
        }
        next.put_group(g);
    }
}

/// Drops `user`'s private group (a group without SCIM id with its name and gid).
fn drop_private_group<V: DirectoryView + ?Sized>(next: &mut Overlay<'_, V>, user: &PosixUser) {
    let owned = next
        .group_summary(user.gid)
        .is_some_and(|g| g.is_private() && g.name == user.name);
    if owned {
        next.remove_group(user.gid);
    }
}

/// The local accounts taken over by Workbench ([`rules::is_same_account`]) in `next`,
/// recorded in it, with what such an account never has from the directory (a shadow
/// entry, a private group named after it) dropped. Only local users can be taken over,
/// so this reads as many entries as `/etc/passwd` has lines, whatever the directory's
/// size; the full copy's counterpart is [`rules::mark_same_accounts`].
fn mark_same_accounts<V: DirectoryView + ?Sized>(
    next: &mut Overlay<'_, V>,
    local: &LocalAccounts,
) -> Vec<String> {
    let mut same: Vec<String> = local
        .user_names
        .iter()
        .filter(|name| {
            next.user_by_name(name)
                .is_some_and(|u| rules::is_same_account(&u, local))
        })
        .cloned()
        .collect();
    same.sort();
    for name in &same {
        if next.shadow_of(name).is_some() {
            next.remove_shadow(name);
        }
        let private = next
            .group_by_name(name)
            .filter(|g| g.scim_id.is_empty())
            .map(|g| g.gid);
        if let Some(gid) = private {
            next.remove_group(gid);
        }
    }
    if same != next.same_accounts() {
        next.set_same_accounts(same.clone());
    }
    same
}

/// Drops every private group a full copy would not give once a user with primary gid
/// `gid` is in: the private group at `gid` if that gid is now shared by several users,
/// and private groups whose name or gid is now a local group's. Only ever removes, so an
/// entry merged next to others cannot leave them with a private group the rules refuse.
/// (Private groups whose owner left are dropped with the owner: [`drop_private_group`].)
fn drop_invalid_private_groups<V: DirectoryView + ?Sized>(
    next: &mut Overlay<'_, V>,
    gid: u32,
    local: &LocalAccounts,
) {
    let private_at = |gid: u32| {
        next.group_summary(gid)
            .is_some_and(|g| g.is_private())
            .then_some(gid)
    };
    let mut doomed = Vec::new();
    if next.users_with_gid(gid) > 1 {
        doomed.extend(private_at(gid));
    }
    for local_gid in &local.gids {
        doomed.extend(private_at(*local_gid));
    }
    for local_name in &local.group_names {
        doomed.extend(
            next.gid_of_group_named_like(local_name)
                .and_then(private_at),
        );
    }
    for gid in doomed {
        next.remove_group(gid);
    }
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
        drop_owned_private_group(&mut next, old);
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
        drop_all_invalid_private_groups(&mut next, local);
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

fn drop_owned_private_group(dir: &mut Directory, user: &PosixUser) {
    dir.groups
        .retain(|g| !(g.scim_id.is_empty() && g.name == user.name && g.gid == user.gid));
}

/// Drops every private group a full copy would not give now: its gid shared by several
/// users or held by no user of its name, or its name or gid now a local group's. The
/// whole-copy check for [`recheck`].
fn drop_all_invalid_private_groups(dir: &mut Directory, local: &LocalAccounts) {
    use std::collections::{HashMap, HashSet};
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
                    && local.group_named_like(&g.name).is_none())
        })
        .collect();
    let mut keep = keep.into_iter();
    dir.groups.retain(|_| keep.next().unwrap_or(true));
}

#[cfg(test)]
#[path = "merge_tests.rs"]
mod tests;
