//! The directory copy being served, indexed for lookups and for merges.
//!
//! A full sync builds a new [`Snapshot`] from its [`Directory`] and the daemon swaps it
//! in whole; an on-demand merge applies a [`Change`] to it in place, in O(log n) per
//! edit (plus the size of the entries edited): no copy of the directory, no rebuild.
//! Every entry is encoded once in the wire format ([`super::records`]) when it enters,
//! so answering a lookup is a hash probe and a copy of bytes.
//!
//! Invariants (kept by construction: a full copy has unique keys and every `Put`
//! replaces the holders of its keys): each uid, user name and user SCIM id belongs to
//! one user; each gid, group name and non-empty group SCIM id to one group; a shadow
//! entry is served only for a user present.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::ops::Bound::{Excluded, Unbounded};

use super::page::{page, Page};
use super::records::{encode_group, encode_shadow, encode_user};
use crate::directory::change::{Change, Edit};
use crate::directory::model::{Directory, EntryKind, PosixGroup, PosixUser, Refusal, ShadowEntry};
use crate::directory::view::{is_duplicate_refusal, DirectoryView};

/// A user and its passwd record.
#[derive(Debug)]
struct UserSlot {
    user: PosixUser,
    record: Vec<u8>,
}

/// A group and its group record.
#[derive(Debug)]
struct GroupSlot {
    group: PosixGroup,
    record: Vec<u8>,
}

/// A shadow entry and its shadow record.
#[derive(Debug)]
struct ShadowSlot {
    entry: ShadowEntry,
    record: Vec<u8>,
}

/// Counts shown by `status`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SnapshotCounts {
    pub users: usize,
    pub groups: usize,
    pub shadow: usize,
}

/// One served directory copy with its indexes.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// uid → user, in uid order (enumeration order).
    users: BTreeMap<u32, UserSlot>,
    uid_by_name: HashMap<String, u32>,
    uid_by_scim_id: HashMap<String, u32>,
    /// Primary gid → how many users have it (user private group rules).
    users_per_gid: HashMap<u32, usize>,
    /// gid → group, in gid order.
    groups: BTreeMap<u32, GroupSlot>,
    gid_by_name: HashMap<String, u32>,
    gid_by_scim_id: HashMap<String, u32>,
    /// Member name → gids of the groups listing it (`initgroups`, renames).
    listed_in: HashMap<String, BTreeSet<u32>>,
    /// User name → shadow entry.
    shadow: HashMap<String, ShadowSlot>,
    /// The last full copy's refusals (kept for the sync diff and the cache file).
    refused: Vec<Refusal>,
    /// SCIM ids the last full copy refused as duplicates.
    duplicates: HashSet<(EntryKind, String)>,
    /// Gids claimed by SCIM groups the last full copy refused.
    refused_group_gids: BTreeSet<u32>,
    /// Users that are local accounts taken over by Workbench (same name and uid as a
    /// line of /etc/passwd), name → uid: known to the merge rules and for memberships,
    /// never answered as passwd or shadow (the local lines are).
    same_account: BTreeMap<String, u32>,
}

impl Snapshot {
    /// Indexes a full copy (already validated: unique names and ids).
    pub fn from_directory(dir: &Directory) -> Snapshot {
        let mut s = Snapshot::default();
        for u in &dir.users {
            s.put_user(u.clone());
        }
        for g in &dir.groups {
            s.put_group(g.clone());
        }
        for e in &dir.shadow {
            if s.uid_by_name.contains_key(&e.name) {
                s.put_shadow(e.clone());
            }
        }
        s.refused = dir.refused.clone();
        s.duplicates = dir
            .refused
            .iter()
            .filter(|r| is_duplicate_refusal(r))
            .map(|r| (r.kind, r.scim_id.clone()))
            .collect();
        s.refused_group_gids = dir.refused_group_gids.iter().copied().collect();
        s.set_same_accounts(&dir.same_account);
        s
    }

    fn set_same_accounts(&mut self, names: &[String]) {
        self.same_account = names
            .iter()
            .filter_map(|n| self.uid_by_name.get(n).map(|uid| (n.clone(), *uid)))
            .collect();
    }

    /// Whether user `name` is a local account taken over by Workbench.
    pub fn is_same_account(&self, name: &str) -> bool {
        self.same_account.contains_key(name)
    }

    fn is_same_account_uid(&self, uid: u32) -> bool {
        self.same_account.values().any(|u| *u == uid)
    }

    /// Names of the taken-over local accounts, sorted (`status`).
    pub fn same_account_names(&self) -> Vec<String> {
        self.same_account.keys().cloned().collect()
    }

    /// The copy as a [`Directory`] (users by uid, groups by gid, shadow entries in their
    /// users' uid order). Linear: for the sync's diff and the cache file, not lookups.
    pub fn to_directory(&self) -> Directory {
        Directory {
            users: self.users.values().map(|s| s.user.clone()).collect(),
            groups: self.groups.values().map(|s| s.group.clone()).collect(),
            shadow: self
                .users
                .values()
                .filter_map(|u| self.shadow.get(&u.user.name))
                .map(|s| s.entry.clone())
                .collect(),
            refused: self.refused.clone(),
            refused_group_gids: self.refused_group_gids.iter().copied().collect(),
            same_account: self.same_account_names(),
        }
    }

    /// Applies one merge's edits.
    pub fn apply(&mut self, change: &Change) {
        for edit in &change.edits {
            match edit {
                Edit::RemoveUser { uid } => {
                    self.remove_user(*uid);
                }
                Edit::PutUser(u) => self.put_user(u.clone()),
                Edit::RemoveGroup { gid } => {
                    self.remove_group(*gid);
                }
                Edit::PutGroup(g) => self.put_group(g.clone()),
                Edit::RemoveShadow { name } => {
                    self.shadow.remove(name);
                }
                Edit::PutShadow(e) => self.put_shadow(e.clone()),
                Edit::SameAccounts(names) => self.set_same_accounts(names),
            }
        }
    }

    fn put_user(&mut self, user: PosixUser) {
        // Replace every holder of one of its keys (normally only the same uid).
        let holders: BTreeSet<u32> = [
            Some(user.uid),
            self.uid_by_name.get(&user.name).copied(),
            self.uid_by_scim_id.get(&user.scim_id).copied(),
        ]
        .into_iter()
        .flatten()
        .collect();
        for uid in holders {
            self.remove_user(uid);
        }
        self.uid_by_name.insert(user.name.clone(), user.uid);
        self.uid_by_scim_id.insert(user.scim_id.clone(), user.uid);
        *self.users_per_gid.entry(user.gid).or_default() += 1;
        let record = encode_user(&user);
        self.users.insert(user.uid, UserSlot { user, record });
    }

    fn remove_user(&mut self, uid: u32) -> Option<PosixUser> {
        let slot = self.users.remove(&uid)?;
        let u = slot.user;
        if self.uid_by_name.get(&u.name) == Some(&uid) {
            self.uid_by_name.remove(&u.name);
        }
        if self.uid_by_scim_id.get(&u.scim_id) == Some(&uid) {
            self.uid_by_scim_id.remove(&u.scim_id);
        }
        if let Some(n) = self.users_per_gid.get_mut(&u.gid) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.users_per_gid.remove(&u.gid);
            }
        }
        Some(u)
    }

    fn put_group(&mut self, group: PosixGroup) {
        let by_scim = if group.scim_id.is_empty() {
            None
        } else {
            self.gid_by_scim_id.get(&group.scim_id).copied()
        };
        let holders: BTreeSet<u32> = [
            Some(group.gid),
            self.gid_by_name.get(&group.name).copied(),
            by_scim,
        ]
        .into_iter()
        .flatten()
        .collect();
        for gid in holders {
            self.remove_group(gid);
        }
        self.gid_by_name.insert(group.name.clone(), group.gid);
        if !group.scim_id.is_empty() {
            self.gid_by_scim_id.insert(group.scim_id.clone(), group.gid);
        }
        for m in &group.members {
            self.listed_in
                .entry(m.clone())
                .or_default()
                .insert(group.gid);
        }
        let record = encode_group(&group);
        self.groups.insert(group.gid, GroupSlot { group, record });
    }

    fn remove_group(&mut self, gid: u32) -> Option<PosixGroup> {
        let slot = self.groups.remove(&gid)?;
        let g = slot.group;
        if self.gid_by_name.get(&g.name) == Some(&gid) {
            self.gid_by_name.remove(&g.name);
        }
        if !g.scim_id.is_empty() && self.gid_by_scim_id.get(&g.scim_id) == Some(&gid) {
            self.gid_by_scim_id.remove(&g.scim_id);
        }
        for m in &g.members {
            if let Some(gids) = self.listed_in.get_mut(m) {
                gids.remove(&gid);
                if gids.is_empty() {
                    self.listed_in.remove(m);
                }
            }
        }
        Some(g)
    }

    fn put_shadow(&mut self, entry: ShadowEntry) {
        let record = encode_shadow(&entry);
        self.shadow
            .insert(entry.name.clone(), ShadowSlot { entry, record });
    }

    pub fn counts(&self) -> SnapshotCounts {
        SnapshotCounts {
            // Taken-over accounts are answered by the local files, not counted here.
            users: self.users.len().saturating_sub(self.same_account.len()),
            groups: self.groups.len(),
            shadow: self.shadow.len(),
        }
    }

    /// True when no user is served.
    pub fn has_no_users(&self) -> bool {
        self.users.is_empty()
    }

    /// The passwd record of the user named `name`.
    pub fn passwd_record_by_name(&self, name: &str) -> Option<&[u8]> {
        let uid = self.uid_by_name.get(name)?;
        self.passwd_record_by_uid(*uid)
    }

    /// The passwd record of the user with `uid`. A taken-over local account's line is
    /// the local one: never answered from here.
    pub fn passwd_record_by_uid(&self, uid: u32) -> Option<&[u8]> {
        if self.is_same_account_uid(uid) {
            return None;
        }
        self.users.get(&uid).map(|s| s.record.as_slice())
    }

    /// The group record of the group named `name`.
    pub fn group_record_by_name(&self, name: &str) -> Option<&[u8]> {
        let gid = self.gid_by_name.get(name)?;
        self.group_record_by_gid(*gid)
    }

    /// The group record of the group with `gid`.
    pub fn group_record_by_gid(&self, gid: u32) -> Option<&[u8]> {
        self.groups.get(&gid).map(|s| s.record.as_slice())
    }

    /// The shadow record of the user named `name` (only for a user present).
    pub fn shadow_record(&self, name: &str) -> Option<&[u8]> {
        if !self.uid_by_name.contains_key(name) || self.is_same_account(name) {
            return None;
        }
        self.shadow.get(name).map(|s| s.record.as_slice())
    }

    /// Gids for `initgroups` (the primary gid and every group listing the user, sorted,
    /// without duplicates), or `None` when `name` is not a directory user.
    pub fn memberships(&self, name: &str) -> Option<Vec<u32>> {
        let uid = self.uid_by_name.get(name)?;
        let primary = self.users.get(uid)?.user.gid;
        let mut gids: BTreeSet<u32> = self.listed_in.get(name).cloned().unwrap_or_default();
        // A taken-over account's primary group is its local line's, which the caller of
        // initgroups passes in: only its directory groups come from here.
        if !self.is_same_account(name) {
            gids.insert(primary);
        }
        Some(gids.into_iter().collect())
    }

    /// Users after `after` in uid order; see [`page`].
    pub fn passwd_page(&self, after: Option<u32>, max: usize, max_bytes: usize) -> Page<'_> {
        let entries = self
            .users
            .range((lower(after), Unbounded))
            .filter(|(uid, _)| !self.is_same_account_uid(**uid))
            .map(|(uid, s)| (*uid, s.record.as_slice()));
        page(entries, after, max, max_bytes)
    }

    /// Groups after `after` in gid order; see [`page`].
    pub fn group_page(&self, after: Option<u32>, max: usize, max_bytes: usize) -> Page<'_> {
        let entries = self
            .groups
            .range((lower(after), Unbounded))
            .map(|(gid, s)| (*gid, s.record.as_slice()));
        page(entries, after, max, max_bytes)
    }

    /// Shadow entries after `after` in their users' uid order; see [`page`].
    pub fn shadow_page(&self, after: Option<u32>, max: usize, max_bytes: usize) -> Page<'_> {
        let entries = self
            .users
            .range((lower(after), Unbounded))
            .filter(|(uid, _)| !self.is_same_account_uid(**uid))
            .filter_map(|(uid, u)| {
                self.shadow
                    .get(&u.user.name)
                    .map(|s| (*uid, s.record.as_slice()))
            });
        page(entries, after, max, max_bytes)
    }

    /// Every user's uid and every SCIM group's gid (what `invalidate --all` expires).
    pub fn refetchable_ids(&self) -> (Vec<u32>, Vec<u32>) {
        let uids = self.users.keys().copied().collect();
        let gids = self
            .groups
            .values()
            .filter(|s| !s.group.scim_id.is_empty())
            .map(|s| s.group.gid)
            .collect();
        (uids, gids)
    }
}

fn lower(after: Option<u32>) -> std::ops::Bound<u32> {
    match after {
        Some(k) => Excluded(k),
        None => Unbounded,
    }
}

impl DirectoryView for Snapshot {
    fn user_by_scim_id(&self, scim_id: &str) -> Option<&PosixUser> {
        let uid = self.uid_by_scim_id.get(scim_id)?;
        self.user_by_uid(*uid)
    }
    fn user_by_name(&self, name: &str) -> Option<&PosixUser> {
        let uid = self.uid_by_name.get(name)?;
        self.user_by_uid(*uid)
    }
    fn user_by_uid(&self, uid: u32) -> Option<&PosixUser> {
        self.users.get(&uid).map(|s| &s.user)
    }
    fn users_with_gid(&self, gid: u32) -> usize {
        self.users_per_gid.get(&gid).copied().unwrap_or(0)
    }
    fn group_by_name(&self, name: &str) -> Option<&PosixGroup> {
        let gid = self.gid_by_name.get(name)?;
        self.group_by_gid(*gid)
    }
    fn group_by_gid(&self, gid: u32) -> Option<&PosixGroup> {
        self.groups.get(&gid).map(|s| &s.group)
    }
    fn group_by_scim_id(&self, scim_id: &str) -> Option<&PosixGroup> {
        let gid = self.gid_by_scim_id.get(scim_id)?;
        self.group_by_gid(*gid)
    }
    fn groups_listing(&self, user_name: &str) -> Vec<u32> {
        self.listed_in
            .get(user_name)
            .map(|gids| gids.iter().copied().collect())
            .unwrap_or_default()
    }
    fn shadow_of(&self, name: &str) -> Option<&ShadowEntry> {
        self.shadow.get(name).map(|s| &s.entry)
    }
    fn refused_as_duplicate(&self, kind: EntryKind, scim_id: &str) -> bool {
        self.duplicates.contains(&(kind, scim_id.to_string()))
    }
    fn gid_claimed_by_refused_group(&self, gid: u32) -> bool {
        self.refused_group_gids.contains(&gid)
    }
    fn same_accounts(&self) -> Vec<String> {
        self.same_account_names()
    }
}

#[cfg(test)]
#[path = "snapshot_tests.rs"]
mod tests;
