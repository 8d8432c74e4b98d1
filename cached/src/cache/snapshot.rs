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
use std::sync::Arc;

use workbench_wire::record::{GroupRecord, PasswdRecord};

use super::page::{page, Page};
use super::records::{encode_group, encode_shadow, encode_user};
use crate::directory::change::{Change, Edit};
use crate::directory::model::{Directory, EntryKind, PosixGroup, PosixUser, Refusal, ShadowEntry};
use crate::directory::view::{is_duplicate_refusal, DirectoryView, GroupSummary};

/// A user, stored once: its passwd record plus what the record does not carry.
#[derive(Debug)]
struct UserSlot {
    record: Box<[u8]>,
    /// Shared with the `uid_by_scim_id` key.
    scim_id: Arc<str>,
    active: bool,
}

/// A group, stored once: its group record plus its SCIM id (empty for a user private
/// group).
#[derive(Debug)]
struct GroupSlot {
    record: Box<[u8]>,
    scim_id: Arc<str>,
}

/// Counts shown by `status`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SnapshotCounts {
    pub users: usize,
    pub groups: usize,
    pub shadow: usize,
}

/// One served directory copy with its indexes. Each entry is held once, as the record
/// that answers lookups; the [`DirectoryView`] the merge rules read decodes it on
/// demand (a merge reads a handful of entries, a lookup none).
#[derive(Debug, Default)]
pub struct Snapshot {
    /// uid → user, in uid order (enumeration order).
    users: BTreeMap<u32, UserSlot>,
    uid_by_name: HashMap<Box<str>, u32>,
    uid_by_scim_id: HashMap<Arc<str>, u32>,
    /// Primary gid → how many users have it (user private group rules).
    users_per_gid: HashMap<u32, u32>,
    /// gid → group, in gid order.
    groups: BTreeMap<u32, GroupSlot>,
    gid_by_name: HashMap<Box<str>, u32>,
    gid_by_scim_id: HashMap<Arc<str>, u32>,
    /// Member name → gids of the groups listing it, ascending (`initgroups`, renames).
    listed_in: HashMap<Box<str>, Vec<u32>>,
    /// User name → `sp_pwdp` (the record is encoded when asked for).
    shadow: HashMap<Box<str>, Box<str>>,
    /// The last full copy's refusals (kept for the cache file and `status`).
    refused: Vec<Refusal>,
    /// SCIM ids the last full copy refused as duplicates.
    duplicates: HashSet<(EntryKind, String)>,
    /// Gids claimed by SCIM groups the last full copy refused.
    refused_group_gids: BTreeSet<u32>,
}

fn text(bytes: &[u8]) -> String {
    // Records are encoded from `String`s, so this never replaces anything.
    String::from_utf8_lossy(bytes).into_owned()
}

impl UserSlot {
    fn user(&self) -> Option<PosixUser> {
        let r = PasswdRecord::decode(&self.record).ok()?;
        Some(PosixUser {
            scim_id: self.scim_id.to_string(),
            name: text(r.name),
            uid: r.uid,
            gid: r.gid,
            gecos: text(r.gecos),
            home: text(r.dir),
            shell: text(r.shell),
            active: self.active,
        })
    }
}

impl GroupSlot {
    fn group(&self) -> Option<PosixGroup> {
        let r = GroupRecord::decode(&self.record).ok()?;
        Some(PosixGroup {
            scim_id: self.scim_id.to_string(),
            name: text(r.name),
            gid: r.gid,
            members: r.members.iter().map(|m| text(m)).collect(),
        })
    }

    fn name(&self) -> Option<String> {
        GroupRecord::decode(&self.record).ok().map(|r| text(r.name))
    }
}

impl Snapshot {
    /// Indexes a full copy (already validated: unique names and ids).
    pub fn from_directory(dir: &Directory) -> Snapshot {
        let mut s = Snapshot::default();
        for u in &dir.users {
            s.put_user(u);
        }
        for g in &dir.groups {
            s.put_group(g);
        }
        for e in &dir.shadow {
            if s.uid_by_name.contains_key(e.name.as_str()) {
                s.put_shadow(e);
            }
        }
        s.set_refusals(dir);
        s.shrink();
        s
    }

    fn set_refusals(&mut self, dir: &Directory) {
        self.refused = dir.refused.clone();
        self.duplicates = dir
            .refused
            .iter()
            .filter(|r| is_duplicate_refusal(r))
            .map(|r| (r.kind, r.scim_id.clone()))
            .collect();
        self.refused_group_gids = dir.refused_group_gids.iter().copied().collect();
    }

    /// Gives back what the maps reserved while growing.
    fn shrink(&mut self) {
        self.uid_by_name.shrink_to_fit();
        self.uid_by_scim_id.shrink_to_fit();
        self.users_per_gid.shrink_to_fit();
        self.gid_by_name.shrink_to_fit();
        self.gid_by_scim_id.shrink_to_fit();
        self.listed_in.shrink_to_fit();
        self.shadow.shrink_to_fit();
    }

    /// The copy as a [`Directory`] (users by uid, groups by gid, shadow entries in their
    /// users' uid order). Linear: for tests and whole-copy checks, not lookups.
    pub fn to_directory(&self) -> Directory {
        Directory {
            users: self.users.values().filter_map(UserSlot::user).collect(),
            groups: self.groups.values().filter_map(GroupSlot::group).collect(),
            shadow: self
                .users
                .values()
                .filter_map(UserSlot::user)
                .filter_map(|u| self.shadow_of(&u.name))
                .collect(),
            refused: self.refused.clone(),
            refused_group_gids: self.refused_group_gids.iter().copied().collect(),
        }
    }

    /// Every user and group, decoded, in uid and gid order (the sync's report of what
    /// changed walks the old copy once with these).
    pub fn users(&self) -> impl Iterator<Item = PosixUser> + '_ {
        self.users.values().filter_map(UserSlot::user)
    }

    /// See [`Snapshot::users`].
    pub fn groups(&self) -> impl Iterator<Item = PosixGroup> + '_ {
        self.groups.values().filter_map(GroupSlot::group)
    }

    /// Applies one merge's edits.
    pub fn apply(&mut self, change: &Change) {
        for edit in &change.edits {
            match edit {
                Edit::RemoveUser { uid } => self.remove_user(*uid),
                Edit::PutUser(u) => self.put_user(u),
                Edit::RemoveGroup { gid } => self.remove_group(*gid),
                Edit::PutGroup(g) => self.put_group(g),
                Edit::RemoveShadow { name } => {
                    self.shadow.remove(name.as_str());
                }
                Edit::PutShadow(e) => self.put_shadow(e),
            }
        }
    }

    fn put_user(&mut self, user: &PosixUser) {
        // Replace every holder of one of its keys (normally only the same uid).
        let holders: BTreeSet<u32> = [
            Some(user.uid),
            self.uid_by_name.get(user.name.as_str()).copied(),
            self.uid_by_scim_id.get(user.scim_id.as_str()).copied(),
        ]
        .into_iter()
        .flatten()
        .collect();
        for uid in holders {
            self.remove_user(uid);
        }
        let scim_id: Arc<str> = Arc::from(user.scim_id.as_str());
        self.uid_by_name.insert(user.name.as_str().into(), user.uid);
        self.uid_by_scim_id.insert(Arc::clone(&scim_id), user.uid);
        *self.users_per_gid.entry(user.gid).or_default() += 1;
        let slot = UserSlot {
            record: encode_user(user).into_boxed_slice(),
            scim_id,
            active: user.active,
        };
        self.users.insert(user.uid, slot);
    }

    fn remove_user(&mut self, uid: u32) {
        let Some(slot) = self.users.remove(&uid) else {
            return;
        };
        if let Ok(r) = PasswdRecord::decode(&slot.record) {
            let name = text(r.name);
            if self.uid_by_name.get(name.as_str()) == Some(&uid) {
                self.uid_by_name.remove(name.as_str());
            }
            if let Some(n) = self.users_per_gid.get_mut(&r.gid) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    self.users_per_gid.remove(&r.gid);
                }
            }
        }
        if self.uid_by_scim_id.get(&slot.scim_id) == Some(&uid) {
            self.uid_by_scim_id.remove(&slot.scim_id);
        }
    }

    fn put_group(&mut self, group: &PosixGroup) {
        let by_scim = if group.scim_id.is_empty() {
            None
        } else {
            self.gid_by_scim_id.get(group.scim_id.as_str()).copied()
        };
        let holders: BTreeSet<u32> = [
            Some(group.gid),
            self.gid_by_name.get(group.name.as_str()).copied(),
            by_scim,
        ]
        .into_iter()
        .flatten()
        .collect();
        for gid in holders {
            self.remove_group(gid);
        }
        let scim_id: Arc<str> = Arc::from(group.scim_id.as_str());
        self.gid_by_name
            .insert(group.name.as_str().into(), group.gid);
        if !group.scim_id.is_empty() {
            self.gid_by_scim_id.insert(Arc::clone(&scim_id), group.gid);
        }
        for m in &group.members {
            let gids = self.listed_in.entry(m.as_str().into()).or_default();
            if let Err(at) = gids.binary_search(&group.gid) {
                gids.insert(at, group.gid);
            }
        }
        let slot = GroupSlot {
            record: encode_group(group).into_boxed_slice(),
            scim_id,
        };
        self.groups.insert(group.gid, slot);
    }

    fn remove_group(&mut self, gid: u32) {
        let Some(slot) = self.groups.remove(&gid) else {
            return;
        };
        if !slot.scim_id.is_empty() && self.gid_by_scim_id.get(&slot.scim_id) == Some(&gid) {
            self.gid_by_scim_id.remove(&slot.scim_id);
        }
        let Ok(r) = GroupRecord::decode(&slot.record) else {
            return;
        };
        let name = text(r.name);
        if self.gid_by_name.get(name.as_str()) == Some(&gid) {
            self.gid_by_name.remove(name.as_str());
        }
        for m in &r.members {
            let m = text(m);
            if let Some(gids) = self.listed_in.get_mut(m.as_str()) {
                if let Ok(at) = gids.binary_search(&gid) {
                    gids.remove(at);
                }
                if gids.is_empty() {
                    self.listed_in.remove(m.as_str());
                }
            }
        }
    }

    fn put_shadow(&mut self, entry: &ShadowEntry) {
        self.shadow
            .insert(entry.name.as_str().into(), entry.pwdp.as_str().into());
    }

    pub fn counts(&self) -> SnapshotCounts {
        SnapshotCounts {
            users: self.users.len(),
            groups: self.groups.len(),
            shadow: self.shadow.len(),
        }
    }

    /// True when no user is served.
    pub fn has_no_users(&self) -> bool {
        self.users.is_empty()
    }

    /// The uid of the user named `name` (the lookup path: nothing decoded).
    pub fn uid_of(&self, name: &str) -> Option<u32> {
        self.uid_by_name.get(name).copied()
    }

    /// Whether a user has `uid`.
    pub fn has_uid(&self, uid: u32) -> bool {
        self.users.contains_key(&uid)
    }

    /// The gid of the group named `name`.
    pub fn gid_of(&self, name: &str) -> Option<u32> {
        self.gid_by_name.get(name).copied()
    }

    /// Whether the group with `gid` is a SCIM group (`false`: a user private group),
    /// or `None` when there is none.
    pub fn is_scim_group(&self, gid: u32) -> Option<bool> {
        self.groups.get(&gid).map(|s| !s.scim_id.is_empty())
    }

    /// Whether the user named `name` has a shadow entry.
    pub fn has_shadow(&self, name: &str) -> bool {
        self.uid_by_name.contains_key(name) && self.shadow.contains_key(name)
    }

    /// The passwd record of the user named `name`.
    pub fn passwd_record_by_name(&self, name: &str) -> Option<&[u8]> {
        let uid = self.uid_by_name.get(name)?;
        self.passwd_record_by_uid(*uid)
    }

    /// The passwd record of the user with `uid`.
    pub fn passwd_record_by_uid(&self, uid: u32) -> Option<&[u8]> {
        self.users.get(&uid).map(|s| &*s.record)
    }

    /// The group record of the group named `name`.
    pub fn group_record_by_name(&self, name: &str) -> Option<&[u8]> {
        let gid = self.gid_by_name.get(name)?;
        self.group_record_by_gid(*gid)
    }

    /// The group record of the group with `gid`.
    pub fn group_record_by_gid(&self, gid: u32) -> Option<&[u8]> {
        self.groups.get(&gid).map(|s| &*s.record)
    }

    /// The shadow record of the user named `name` (only for a user present), encoded
    /// when asked for: hashes are read rarely and kept small.
    pub fn shadow_record(&self, name: &str) -> Option<Vec<u8>> {
        if !self.uid_by_name.contains_key(name) {
            return None;
        }
        self.shadow_of(name).map(|e| encode_shadow(&e))
    }

    /// Gids for `initgroups` (the primary gid and every group listing the user, sorted,
    /// without duplicates), or `None` when `name` is not a directory user.
    pub fn memberships(&self, name: &str) -> Option<Vec<u32>> {
        let uid = self.uid_by_name.get(name)?;
        let primary = PasswdRecord::decode(&self.users.get(uid)?.record).ok()?.gid;
        let mut gids = self.listed_in.get(name).cloned().unwrap_or_default();
        if let Err(at) = gids.binary_search(&primary) {
            gids.insert(at, primary);
        }
        Some(gids)
    }

    /// Users after `after` in uid order; see [`page`].
    pub fn passwd_page(&self, after: Option<u32>, max: usize, max_bytes: usize) -> Page<'_> {
        let entries = self
            .users
            .range((lower(after), Unbounded))
            .map(|(uid, s)| (*uid, &*s.record));
        page(entries, after, max, max_bytes)
    }

    /// Groups after `after` in gid order; see [`page`].
    pub fn group_page(&self, after: Option<u32>, max: usize, max_bytes: usize) -> Page<'_> {
        let entries = self
            .groups
            .range((lower(after), Unbounded))
            .map(|(gid, s)| (*gid, &*s.record));
        page(entries, after, max, max_bytes)
    }

    /// Shadow records after `after` in their users' uid order (encoded into `out`, which
    /// the page borrows); see [`page`].
    pub fn shadow_page<'a>(
        &self,
        after: Option<u32>,
        max: usize,
        max_bytes: usize,
        out: &'a mut Vec<(u32, Vec<u8>)>,
    ) -> Page<'a> {
        // Encoded a page at a time: at most `max` records (plus one to know whether the
        // listing goes on) are built per request.
        out.clear();
        for (uid, slot) in self.users.range((lower(after), Unbounded)) {
            if out.len() > max {
                break;
            }
            let Ok(r) = PasswdRecord::decode(&slot.record) else {
                continue;
            };
            if let Some(pwdp) = self.shadow.get(&*text(r.name)) {
                let entry = ShadowEntry {
                    name: text(r.name),
                    pwdp: pwdp.to_string(),
                };
                out.push((*uid, encode_shadow(&entry)));
            }
        }
        page(
            out.iter().map(|(k, r)| (*k, r.as_slice())),
            after,
            max,
            max_bytes,
        )
    }

    /// Every user's uid and every SCIM group's gid (what `invalidate --all` expires).
    pub fn refetchable_ids(&self) -> (Vec<u32>, Vec<u32>) {
        let uids = self.users.keys().copied().collect();
        let gids = self
            .groups
            .iter()
            .filter(|(_, s)| !s.scim_id.is_empty())
            .map(|(gid, _)| *gid)
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
    fn user_by_scim_id(&self, scim_id: &str) -> Option<PosixUser> {
        let uid = self.uid_by_scim_id.get(scim_id)?;
        self.user_by_uid(*uid)
    }
    fn user_name_by_scim_id(&self, scim_id: &str) -> Option<String> {
        let uid = self.uid_by_scim_id.get(scim_id)?;
        let slot = self.users.get(uid)?;
        PasswdRecord::decode(&slot.record)
            .ok()
            .map(|r| text(r.name))
    }
    fn user_by_name(&self, name: &str) -> Option<PosixUser> {
        let uid = self.uid_by_name.get(name)?;
        self.user_by_uid(*uid)
    }
    fn user_by_uid(&self, uid: u32) -> Option<PosixUser> {
        self.users.get(&uid).and_then(UserSlot::user)
    }
    fn users_with_gid(&self, gid: u32) -> usize {
        self.users_per_gid.get(&gid).map_or(0, |n| *n as usize)
    }
    fn group_by_name(&self, name: &str) -> Option<PosixGroup> {
        let gid = self.gid_by_name.get(name)?;
        self.group_by_gid(*gid)
    }
    fn group_by_gid(&self, gid: u32) -> Option<PosixGroup> {
        self.groups.get(&gid).and_then(GroupSlot::group)
    }
    fn group_summary(&self, gid: u32) -> Option<GroupSummary> {
        let slot = self.groups.get(&gid)?;
        Some(GroupSummary {
            name: slot.name()?,
            scim_id: slot.scim_id.to_string(),
        })
    }
    fn gid_of_group(&self, name: &str) -> Option<u32> {
        self.gid_by_name.get(name).copied()
    }
    fn group_by_scim_id(&self, scim_id: &str) -> Option<PosixGroup> {
        let gid = self.gid_by_scim_id.get(scim_id)?;
        self.group_by_gid(*gid)
    }
    fn groups_listing(&self, user_name: &str) -> Vec<u32> {
        self.listed_in.get(user_name).cloned().unwrap_or_default()
    }
    fn shadow_of(&self, name: &str) -> Option<ShadowEntry> {
        self.shadow.get(name).map(|pwdp| ShadowEntry {
            name: name.to_string(),
            pwdp: pwdp.to_string(),
        })
    }
    fn refused_as_duplicate(&self, kind: EntryKind, scim_id: &str) -> bool {
        self.duplicates.contains(&(kind, scim_id.to_string()))
    }
    fn gid_claimed_by_refused_group(&self, gid: u32) -> bool {
        self.refused_group_gids.contains(&gid)
    }
}

#[cfg(test)]
#[path = "snapshot_tests.rs"]
mod tests;
