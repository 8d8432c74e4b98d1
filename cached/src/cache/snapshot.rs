//! The directory copy being served, indexed for lookups and for merges.
//!
//! A full sync builds a new [`Snapshot`] from its [`Directory`] and the daemon swaps it
//! in whole; an on-demand merge applies a [`Change`] to it in place, in O(log n) per
//! edit (plus the size of the entries edited): no copy of the directory, no rebuild.
//!
//! Each entry is held once, in its wire encoding ([`super::records`]), in one record
//! buffer ([`Heap`]); answering a lookup is an index probe and a copy of bytes, and the
//! [`DirectoryView`] the merge rules read decodes an entry only when asked for it. The
//! indexes store ids, not keys: names and SCIM ids are looked up through keyed hashes
//! checked against the records ([`KeyIndex`]), and group memberships are pairs of a
//! member name's id and a gid ([`MemberIndex`]).
//!
//! Invariants (kept by construction: a full copy has unique keys and every `Put`
//! replaces the holders of its keys): each uid, user name and user SCIM id belongs to
//! one user; each gid, group name and non-empty group SCIM id to one group.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::ops::Bound::{Excluded, Unbounded};

use workbench_wire::record::{GroupRecord, PasswdRecord};

use super::heap::{Heap, Span};
use super::key_index::KeyIndex;
use super::member_index::MemberIndex;
use super::name_table::NameTable;
use super::page::{page, Page};
use super::records::{encode_group, encode_shadow, encode_user};
use crate::directory::change::{Change, Edit};
use crate::directory::model::{Directory, EntryKind, PosixGroup, PosixUser, Refusal, ShadowEntry};
use crate::directory::view::{is_duplicate_refusal, DirectoryView, GroupSummary};

/// A user: its passwd record and its SCIM id in the heap.
#[derive(Debug, Clone, Copy)]
struct UserSlot {
    record: Span,
    scim_id: Span,
    active: bool,
}

/// A group: its group record and its SCIM id (empty for a user private group).
#[derive(Debug, Clone, Copy)]
struct GroupSlot {
    record: Span,
    scim_id: Span,
}

/// A SCIM id and the uid or gid it is held under.
pub type HeldId = (String, u32);

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
    heap: Heap,
    /// uid → user, in uid order (enumeration order).
    users: BTreeMap<u32, UserSlot>,
    user_by_name: KeyIndex,
    /// Lower-cased name → uid (the rules refuse two names equal ignoring case).
    user_by_folded_name: KeyIndex,
    user_by_scim_id: KeyIndex,
    /// Primary gid → how many users have it (user private group rules).
    users_per_gid: HashMap<u32, u32>,
    /// gid → group, in gid order.
    groups: BTreeMap<u32, GroupSlot>,
    group_by_name: KeyIndex,
    group_by_folded_name: KeyIndex,
    group_by_scim_id: KeyIndex,
    /// Member name → gids of the groups listing it (`initgroups`, renames).
    members: MemberIndex,
    /// User name → `sp_pwdp`.
    shadow: NameTable,
    /// The last full copy's refusals (kept for the cache file and `status`).
    refused: Vec<Refusal>,
    /// SCIM ids the last full copy refused as duplicates.
    duplicates: HashSet<(EntryKind, String)>,
    /// Gids claimed by SCIM groups the last full copy refused.
    refused_group_gids: BTreeSet<u32>,
    /// Names of the users that are local accounts taken over by Workbench (same name
    /// and uid as a line of /etc/passwd): known to the merge rules and for memberships,
    /// never answered as passwd or shadow (the local lines are). Held by name, as
    /// `Directory::same_account` is, so a user renumbered under its name stays hidden.
    same_account: BTreeSet<String>,
}

fn utf8(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).unwrap_or("")
}

fn text(bytes: &[u8]) -> String {
    // Records are encoded from `String`s, so this never replaces anything.
    String::from_utf8_lossy(bytes).into_owned()
}

impl Snapshot {
    /// Indexes a full copy (already validated: unique names and ids).
    ///
    /// In two passes, so that the snapshot ends up compact in memory: first every record
    /// goes into the record buffer while the copy is taken apart (the copy and the
    /// snapshot are never both whole); then, with the copy freed, the indexes are built
    /// from the buffer, their many small allocations packed into the memory the copy
    /// gave back instead of pinning pages scattered among its freed strings.
    pub fn from_directory(dir: Directory) -> Snapshot {
        let Directory {
            users,
            groups,
            shadow,
            refused,
            refused_group_gids,
            same_account,
        } = dir;
        // Records are a little larger than their strings: a fair first guess.
        let guess: usize = users
            .iter()
            .map(|u| {
                56 + 2 * u.name.len()
                    + u.gecos.len()
                    + u.home.len()
                    + u.shell.len()
                    + u.scim_id.len()
            })
            .sum::<usize>()
            + shadow
                .iter()
                .map(|s| s.name.len() + s.pwdp.len())
                .sum::<usize>()
            + groups
                .iter()
                .map(|g| {
                    24 + g.name.len()
                        + g.scim_id.len()
                        + g.members.iter().map(|m| m.len() + 4).sum::<usize>()
                })
                .sum::<usize>();
        let mut heap = Heap::with_capacity(guess);
        let mut user_slots: Vec<(u32, UserSlot)> = Vec::with_capacity(users.len());
        for u in users {
            if let (Some(record), Some(scim_id)) =
                (heap.push(&encode_user(&u)), heap.push(u.scim_id.as_bytes()))
            {
                let slot = UserSlot {
                    record,
                    scim_id,
                    active: u.active,
                };
                user_slots.push((u.uid, slot));
            }
        }
        let mut group_slots: Vec<(u32, GroupSlot)> = Vec::with_capacity(groups.len());
        for g in groups {
            if let (Some(record), Some(scim_id)) = (
                heap.push(&encode_group(&g)),
                heap.push(g.scim_id.as_bytes()),
            ) {
                group_slots.push((g.gid, GroupSlot { record, scim_id }));
            }
        }
        let mut hashes: Vec<(Span, Span)> = Vec::with_capacity(shadow.len());
        for e in shadow {
            if let (Some(name), Some(pwdp)) =
                (heap.push(e.name.as_bytes()), heap.push(e.pwdp.as_bytes()))
            {
                hashes.push((name, pwdp));
            }
        }
        let mut s = Snapshot {
            heap,
            ..Snapshot::default()
        };
        // The copy's strings are gone; now the indexes, sized once.
        s.user_by_name.reserve(user_slots.len());
        s.user_by_folded_name.reserve(user_slots.len());
        s.user_by_scim_id.reserve(user_slots.len());
        s.users_per_gid.reserve(user_slots.len());
        s.group_by_name.reserve(group_slots.len());
        s.group_by_folded_name.reserve(group_slots.len());
        s.group_by_scim_id.reserve(group_slots.len());
        s.members.reserve(user_slots.len());
        s.shadow.reserve(hashes.len());
        for (uid, slot) in user_slots {
            s.index_user(uid, slot);
        }
        for (gid, slot) in group_slots {
            s.index_group(gid, slot);
        }
        for (name, pwdp) in hashes {
            let key = text(s.heap.get(name));
            if s.uid_of_any(&key).is_some() && !s.has_shadow(&key) {
                s.shadow.insert_spans(&s.heap, &key, name, pwdp);
            }
        }
        s.duplicates = refused
            .iter()
            .filter(|r| is_duplicate_refusal(r))
            .map(|r| (r.kind, r.scim_id.clone()))
            .collect();
        s.refused = refused;
        s.refused_group_gids = refused_group_gids.into_iter().collect();
        s.set_same_accounts(&same_account);
        s.heap.shrink();
        s.user_by_name.shrink();
        s.user_by_folded_name.shrink();
        s.user_by_scim_id.shrink();
        s.group_by_name.shrink();
        s.group_by_folded_name.shrink();
        s.group_by_scim_id.shrink();
        s.members.shrink();
        s.shadow.shrink();
        s.users_per_gid.shrink_to_fit();
        s
    }

    /// Indexes a user whose records are in the heap (no holder of its keys present).
    fn index_user(&mut self, uid: u32, slot: UserSlot) {
        let Some((name, gid)) = self.passwd(&slot).map(|r| (text(r.name), r.gid)) else {
            return;
        };
        let scim_id = text(self.heap.get(slot.scim_id));
        let name_taken = self
            .user_by_name
            .slot_holder(&name)
            .is_some_and(|h| h != uid && !self.user_name_is(h, &name));
        self.user_by_name.insert(&name, uid, name_taken);
        let folded = name.to_ascii_lowercase();
        let folded_taken = self
            .user_by_folded_name
            .slot_holder(&folded)
            .is_some_and(|h| h != uid && !self.user_name_is_like(h, &folded));
        self.user_by_folded_name.insert(&folded, uid, folded_taken);
        let scim_taken = self
            .user_by_scim_id
            .slot_holder(&scim_id)
            .is_some_and(|h| h != uid && !self.user_scim_id_is(h, &scim_id));
        self.user_by_scim_id.insert(&scim_id, uid, scim_taken);
        *self.users_per_gid.entry(gid).or_default() += 1;
        self.users.insert(uid, slot);
    }

    /// Indexes a group whose records are in the heap (no holder of its keys present).
    fn index_group(&mut self, gid: u32, slot: GroupSlot) {
        let Some(group) = self.group_of(&slot) else {
            return;
        };
        let name_taken = self
            .group_by_name
            .slot_holder(&group.name)
            .is_some_and(|h| h != gid && !self.group_name_is(h, &group.name));
        self.group_by_name.insert(&group.name, gid, name_taken);
        let folded = group.name.to_ascii_lowercase();
        let folded_taken = self
            .group_by_folded_name
            .slot_holder(&folded)
            .is_some_and(|h| h != gid && !self.group_name_is_like(h, &folded));
        self.group_by_folded_name.insert(&folded, gid, folded_taken);
        if !group.scim_id.is_empty() {
            let scim_taken = self
                .group_by_scim_id
                .slot_holder(&group.scim_id)
                .is_some_and(|h| h != gid && !self.group_scim_id_is(h, &group.scim_id));
            self.group_by_scim_id
                .insert(&group.scim_id, gid, scim_taken);
        }
        for m in &group.members {
            self.members.add(&mut self.heap, m, gid);
        }
        self.groups.insert(gid, slot);
    }

    fn set_same_accounts(&mut self, names: &[String]) {
        self.same_account = names.iter().cloned().collect();
    }

    /// Whether user `name` is a local account taken over by Workbench.
    pub fn is_same_account(&self, name: &str) -> bool {
        self.same_account.contains(name) && self.uid_of_any(name).is_some()
    }

    fn is_same_account_uid(&self, uid: u32) -> bool {
        !self.same_account.is_empty()
            && self
                .users
                .get(&uid)
                .and_then(|s| self.passwd(s))
                .is_some_and(|r| self.same_account.contains(utf8(r.name)))
    }

    /// Names of the taken-over local accounts present, sorted (`status`).
    pub fn same_account_names(&self) -> Vec<String> {
        self.same_account
            .iter()
            .filter(|n| self.uid_of_any(n).is_some())
            .cloned()
            .collect()
    }

    fn passwd(&self, slot: &UserSlot) -> Option<PasswdRecord<'_>> {
        PasswdRecord::decode(self.heap.get(slot.record)).ok()
    }

    fn group_record(&self, slot: &GroupSlot) -> Option<GroupRecord<'_>> {
        GroupRecord::decode(self.heap.get(slot.record)).ok()
    }

    fn user_of(&self, slot: &UserSlot) -> Option<PosixUser> {
        let r = self.passwd(slot)?;
        Some(PosixUser {
            scim_id: text(self.heap.get(slot.scim_id)),
            name: text(r.name),
            uid: r.uid,
            gid: r.gid,
            gecos: text(r.gecos),
            home: text(r.dir),
            shell: text(r.shell),
            active: slot.active,
        })
    }

    fn group_of(&self, slot: &GroupSlot) -> Option<PosixGroup> {
        let r = self.group_record(slot)?;
        Some(PosixGroup {
            scim_id: text(self.heap.get(slot.scim_id)),
            name: text(r.name),
            gid: r.gid,
            members: r.members.iter().map(|m| text(m)).collect(),
        })
    }

    fn user_name_is(&self, uid: u32, name: &str) -> bool {
        self.users
            .get(&uid)
            .and_then(|s| self.passwd(s))
            .is_some_and(|r| r.name == name.as_bytes())
    }

    fn user_name_is_like(&self, uid: u32, folded: &str) -> bool {
        self.users
            .get(&uid)
            .and_then(|s| self.passwd(s))
            .is_some_and(|r| r.name.eq_ignore_ascii_case(folded.as_bytes()))
    }

    fn group_name_is_like(&self, gid: u32, folded: &str) -> bool {
        self.groups
            .get(&gid)
            .and_then(|s| self.group_record(s))
            .is_some_and(|r| r.name.eq_ignore_ascii_case(folded.as_bytes()))
    }

    fn user_scim_id_is(&self, uid: u32, scim_id: &str) -> bool {
        self.users
            .get(&uid)
            .is_some_and(|s| self.heap.get(s.scim_id) == scim_id.as_bytes())
    }

    fn group_name_is(&self, gid: u32, name: &str) -> bool {
        self.groups
            .get(&gid)
            .and_then(|s| self.group_record(s))
            .is_some_and(|r| r.name == name.as_bytes())
    }

    fn group_scim_id_is(&self, gid: u32, scim_id: &str) -> bool {
        self.groups
            .get(&gid)
            .is_some_and(|s| self.heap.get(s.scim_id) == scim_id.as_bytes())
    }

    /// The uid of user `name`, taken-over accounts included.
    fn uid_of_any(&self, name: &str) -> Option<u32> {
        self.user_by_name
            .get(name, |uid| self.user_name_is(uid, name))
    }

    fn uid_of_scim_id(&self, scim_id: &str) -> Option<u32> {
        self.user_by_scim_id
            .get(scim_id, |uid| self.user_scim_id_is(uid, scim_id))
    }

    fn gid_of_name(&self, name: &str) -> Option<u32> {
        self.group_by_name
            .get(name, |gid| self.group_name_is(gid, name))
    }

    fn gid_of_scim_id(&self, scim_id: &str) -> Option<u32> {
        self.group_by_scim_id
            .get(scim_id, |gid| self.group_scim_id_is(gid, scim_id))
    }

    /// The copy as a [`Directory`] (users by uid, groups by gid, shadow entries in their
    /// users' uid order). Linear: for tests and whole-copy checks, not lookups.
    pub fn to_directory(&self) -> Directory {
        Directory {
            users: self.users().collect(),
            groups: self.groups().collect(),
            shadow: self
                .users
                .values()
                .filter_map(|slot| self.shadow_of(utf8(self.passwd(slot)?.name)))
                .collect(),
            refused: self.refused.clone(),
            refused_group_gids: self.refused_group_gids.iter().copied().collect(),
            same_account: self.same_account_names(),
        }
    }

    /// Every user, decoded, in uid order (the sync's report of what changed walks the
    /// old copy once with these).
    pub fn users(&self) -> impl Iterator<Item = PosixUser> + '_ {
        self.users.values().filter_map(|s| self.user_of(s))
    }

    /// Every group, decoded, in gid order.
    pub fn groups(&self) -> impl Iterator<Item = PosixGroup> + '_ {
        self.groups.values().filter_map(|s| self.group_of(s))
    }

    /// Applies one merge's edits.
    pub fn apply(&mut self, change: &Change) {
        for edit in &change.edits {
            match edit {
                Edit::RemoveUser { uid } => self.remove_user(*uid),
                Edit::PutUser(u) => self.put_user(u),
                Edit::RemoveGroup { gid } => self.remove_group(*gid),
                Edit::PutGroup(g) => self.put_group(g),
                Edit::RemoveShadow { name } => self.remove_shadow(name),
                Edit::PutShadow(e) => self.put_shadow(e),
                Edit::SameAccounts(names) => self.set_same_accounts(names),
            }
        }
        if self.heap.wants_compaction() {
            self.compact();
        }
    }

    fn put_user(&mut self, user: &PosixUser) {
        // Replace every holder of one of its keys (normally only the same uid).
        let holders: BTreeSet<u32> = [
            Some(user.uid),
            self.uid_of_any(&user.name),
            self.uid_of_scim_id(&user.scim_id),
        ]
        .into_iter()
        .flatten()
        .collect();
        for uid in holders {
            self.remove_user(uid);
        }
        let (Some(record), Some(scim_id)) = (
            self.heap.push(&encode_user(user)),
            self.heap.push(user.scim_id.as_bytes()),
        ) else {
            log::error!("record buffer full: user {} not served", user.name);
            return;
        };
        let slot = UserSlot {
            record,
            scim_id,
            active: user.active,
        };
        self.index_user(user.uid, slot);
    }

    fn remove_user(&mut self, uid: u32) {
        let Some(slot) = self.users.get(&uid).copied() else {
            return;
        };
        if let Some((name, gid)) = self.passwd(&slot).map(|r| (text(r.name), r.gid)) {
            self.user_by_name.remove(&name, uid);
            self.user_by_folded_name
                .remove(&name.to_ascii_lowercase(), uid);
            if let Some(n) = self.users_per_gid.get_mut(&gid) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    self.users_per_gid.remove(&gid);
                }
            }
        }
        let scim_id = text(self.heap.get(slot.scim_id));
        self.user_by_scim_id.remove(&scim_id, uid);
        self.heap.free(slot.record);
        self.heap.free(slot.scim_id);
        self.users.remove(&uid);
    }

    fn put_group(&mut self, group: &PosixGroup) {
        let by_scim = if group.scim_id.is_empty() {
            None
        } else {
            self.gid_of_scim_id(&group.scim_id)
        };
        let holders: BTreeSet<u32> = [Some(group.gid), self.gid_of_name(&group.name), by_scim]
            .into_iter()
            .flatten()
            .collect();
        for gid in holders {
            self.remove_group(gid);
        }
        let (Some(record), Some(scim_id)) = (
            self.heap.push(&encode_group(group)),
            self.heap.push(group.scim_id.as_bytes()),
        ) else {
            log::error!("record buffer full: group {} not served", group.name);
            return;
        };
        self.index_group(group.gid, GroupSlot { record, scim_id });
    }

    fn remove_group(&mut self, gid: u32) {
        let Some(slot) = self.groups.get(&gid).copied() else {
            return;
        };
        let scim_id = text(self.heap.get(slot.scim_id));
        if !scim_id.is_empty() {
            self.group_by_scim_id.remove(&scim_id, gid);
        }
        if let Some(group) = self.group_of(&slot) {
            self.group_by_name.remove(&group.name, gid);
            self.group_by_folded_name
                .remove(&group.name.to_ascii_lowercase(), gid);
            for m in &group.members {
                self.members.remove(&mut self.heap, m, gid);
            }
        }
        self.heap.free(slot.record);
        self.heap.free(slot.scim_id);
        self.groups.remove(&gid);
    }

    fn put_shadow(&mut self, entry: &ShadowEntry) {
        self.shadow
            .put(&mut self.heap, &entry.name, entry.pwdp.as_bytes());
    }

    fn remove_shadow(&mut self, name: &str) {
        self.shadow.remove(&mut self.heap, name);
    }

    /// Rewrites the heap with live records only.
    fn compact(&mut self) {
        let (used, garbage) = self.heap.sizes();
        let mut heap = Heap::with_capacity(used.saturating_sub(garbage));
        let moved = |heap: &mut Heap, span: Span| heap.push(self.heap.get(span)).unwrap_or(span);
        let mut users = self.users.clone();
        for slot in users.values_mut() {
            slot.record = moved(&mut heap, slot.record);
            slot.scim_id = moved(&mut heap, slot.scim_id);
        }
        let mut groups = self.groups.clone();
        for slot in groups.values_mut() {
            slot.record = moved(&mut heap, slot.record);
            slot.scim_id = moved(&mut heap, slot.scim_id);
        }
        self.members.relocate(|span| moved(&mut heap, span));
        self.shadow.relocate(|span| moved(&mut heap, span));
        log::debug!("record buffer compacted: {used} bytes, {garbage} of them garbage");
        self.heap = heap;
        self.users = users;
        self.groups = groups;
    }

    pub fn counts(&self) -> SnapshotCounts {
        SnapshotCounts {
            // Taken-over accounts are answered by the local files, not counted here.
            users: self
                .users
                .len()
                .saturating_sub(self.same_account_names().len()),
            groups: self.groups.len(),
            // Hashes of taken-over accounts are kept but never served: not counted.
            shadow: self.shadow.len().saturating_sub(
                self.same_account
                    .iter()
                    .filter(|n| self.shadow.get(&self.heap, n).is_some())
                    .count(),
            ),
        }
    }

    /// Bytes of the record buffer (live and garbage), for `status`.
    pub fn record_bytes(&self) -> usize {
        self.heap.sizes().0
    }

    /// True when no user is served.
    pub fn has_no_users(&self) -> bool {
        self.users.is_empty()
    }

    /// The uid of the user named `name` (the lookup path: index probes, nothing
    /// decoded but the candidate's name).
    pub fn uid_of(&self, name: &str) -> Option<u32> {
        self.uid_of_any(name)
    }

    /// The uid of the user with SCIM id `scim_id` (what a change replacing it by SCIM id
    /// affects).
    pub fn uid_with_scim_id(&self, scim_id: &str) -> Option<u32> {
        self.uid_of_scim_id(scim_id)
    }

    /// The gid of the group with SCIM id `scim_id`.
    pub fn gid_with_scim_id(&self, scim_id: &str) -> Option<u32> {
        self.gid_of_scim_id(scim_id)
    }

    /// Whether a user has `uid`.
    pub fn has_uid(&self, uid: u32) -> bool {
        self.users.contains_key(&uid)
    }

    /// The gid of the group named `name`.
    pub fn gid_of(&self, name: &str) -> Option<u32> {
        self.gid_of_name(name)
    }

    /// Whether the group with `gid` is a SCIM group (`false`: a user private group),
    /// or `None` when there is none.
    pub fn is_scim_group(&self, gid: u32) -> Option<bool> {
        self.groups.get(&gid).map(|s| !s.scim_id.is_empty())
    }

    /// Whether the user named `name` has a shadow entry.
    pub fn has_shadow(&self, name: &str) -> bool {
        self.uid_of_any(name).is_some() && self.shadow.get(&self.heap, name).is_some()
    }

    /// The passwd record of the user named `name`.
    pub fn passwd_record_by_name(&self, name: &str) -> Option<&[u8]> {
        self.passwd_record_by_uid(self.uid_of_any(name)?)
    }

    /// The passwd record of the user with `uid`. A taken-over local account's line is
    /// the local one: never answered from here.
    pub fn passwd_record_by_uid(&self, uid: u32) -> Option<&[u8]> {
        if self.is_same_account_uid(uid) {
            return None;
        }
        self.users.get(&uid).map(|s| self.heap.get(s.record))
    }

    /// The group record of the group named `name`.
    pub fn group_record_by_name(&self, name: &str) -> Option<&[u8]> {
        self.group_record_by_gid(self.gid_of_name(name)?)
    }

    /// The group record of the group with `gid`.
    pub fn group_record_by_gid(&self, gid: u32) -> Option<&[u8]> {
        self.groups.get(&gid).map(|s| self.heap.get(s.record))
    }

    /// The shadow record of the user named `name` (only for a user present, never for
    /// a taken-over account), encoded when asked for.
    pub fn shadow_record(&self, name: &str) -> Option<Vec<u8>> {
        if self.is_same_account(name) {
            return None;
        }
        self.shadow_of(name).map(|e| encode_shadow(&e))
    }

    /// Gids for `initgroups` (the primary gid and every group listing the user, sorted,
    /// without duplicates), or `None` when `name` is not a directory user.
    pub fn memberships(&self, name: &str) -> Option<Vec<u32>> {
        let uid = self.uid_of_any(name)?;
        let primary = self.passwd(self.users.get(&uid)?)?.gid;
        let mut gids = self.members.gids_of(&self.heap, name);
        // A taken-over account's primary group is its local line's, which the caller of
        // initgroups passes in: only its directory groups come from here.
        if !self.is_same_account(name) {
            if let Err(at) = gids.binary_search(&primary) {
                gids.insert(at, primary);
            }
        }
        Some(gids)
    }

    /// Users after `after` in uid order; see [`page`].
    pub fn passwd_page(&self, after: Option<u32>, max: usize, max_bytes: usize) -> Page<'_> {
        let entries = self
            .users
            .range((lower(after), Unbounded))
            .filter(|(uid, _)| !self.is_same_account_uid(**uid))
            .map(|(uid, s)| (*uid, self.heap.get(s.record)));
        page(entries, after, max, max_bytes)
    }

    /// Groups after `after` in gid order; see [`page`].
    pub fn group_page(&self, after: Option<u32>, max: usize, max_bytes: usize) -> Page<'_> {
        let entries = self
            .groups
            .range((lower(after), Unbounded))
            .map(|(gid, s)| (*gid, self.heap.get(s.record)));
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
            if self.is_same_account_uid(*uid) {
                continue;
            }
            let Some(r) = self.passwd(slot) else {
                continue;
            };
            let Some(pwdp) = self.shadow.get(&self.heap, utf8(r.name)) else {
                continue;
            };
            let entry = ShadowEntry {
                name: text(r.name),
                pwdp: text(pwdp),
            };
            out.push((*uid, encode_shadow(&entry)));
        }
        page(
            out.iter().map(|(k, r)| (*k, r.as_slice())),
            after,
            max,
            max_bytes,
        )
    }

    /// (SCIM id, uid) of every user and (SCIM id, gid) of every SCIM group, read from
    /// the slots without decoding a record (an incremental sync compares them with the
    /// server's id listing).
    pub fn held_ids(&self) -> (Vec<HeldId>, Vec<HeldId>) {
        let users = self
            .users
            .iter()
            .map(|(uid, s)| (text(self.heap.get(s.scim_id)), *uid))
            .collect();
        let groups = self
            .groups
            .iter()
            .filter(|(_, s)| !s.scim_id.is_empty())
            .map(|(gid, s)| (text(self.heap.get(s.scim_id)), *gid))
            .collect();
        (users, groups)
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
        self.user_by_uid(self.uid_of_scim_id(scim_id)?)
    }
    fn user_name_by_scim_id(&self, scim_id: &str) -> Option<String> {
        let slot = self.users.get(&self.uid_of_scim_id(scim_id)?)?;
        self.passwd(slot).map(|r| text(r.name))
    }
    fn user_by_name(&self, name: &str) -> Option<PosixUser> {
        self.user_by_uid(self.uid_of_any(name)?)
    }
    fn user_by_uid(&self, uid: u32) -> Option<PosixUser> {
        self.users.get(&uid).and_then(|s| self.user_of(s))
    }
    fn user_named_like(&self, name: &str) -> Option<PosixUser> {
        let folded = name.to_ascii_lowercase();
        let uid = self
            .user_by_folded_name
            .get(&folded, |uid| self.user_name_is_like(uid, &folded))?;
        self.user_by_uid(uid)
    }
    fn gid_of_group_named_like(&self, name: &str) -> Option<u32> {
        let folded = name.to_ascii_lowercase();
        self.group_by_folded_name
            .get(&folded, |gid| self.group_name_is_like(gid, &folded))
    }
    fn users_with_gid(&self, gid: u32) -> usize {
        self.users_per_gid.get(&gid).map_or(0, |n| *n as usize)
    }
    fn group_by_name(&self, name: &str) -> Option<PosixGroup> {
        self.group_by_gid(self.gid_of_name(name)?)
    }
    fn group_by_gid(&self, gid: u32) -> Option<PosixGroup> {
        self.groups.get(&gid).and_then(|s| self.group_of(s))
    }
    fn group_summary(&self, gid: u32) -> Option<GroupSummary> {
        let slot = self.groups.get(&gid)?;
        Some(GroupSummary {
            name: text(self.group_record(slot)?.name),
            scim_id: text(self.heap.get(slot.scim_id)),
        })
    }
    fn gid_of_group(&self, name: &str) -> Option<u32> {
        self.gid_of_name(name)
    }
    fn group_by_scim_id(&self, scim_id: &str) -> Option<PosixGroup> {
        self.group_by_gid(self.gid_of_scim_id(scim_id)?)
    }
    fn groups_listing(&self, user_name: &str) -> Vec<u32> {
        self.members.gids_of(&self.heap, user_name)
    }
    fn shadow_of(&self, name: &str) -> Option<ShadowEntry> {
        // Only for a user present: a name's hash outlives nothing else.
        self.uid_of_any(name)?;
        Some(ShadowEntry {
            name: name.to_string(),
            pwdp: text(self.shadow.get(&self.heap, name)?),
        })
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
