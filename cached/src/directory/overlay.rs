//! Pending edits over a [`DirectoryView`], readable as the copy they would produce.
//!
//! The merge rules are written as a sequence of steps ("drop the old user's private
//! group, put the user, drop private groups that became invalid, grant one if the rules
//! allow"), each step reading the result of the previous ones. An overlay lets them do
//! that without copying the directory: it holds only the entries the merge touched, and
//! [`Overlay::into_change`] turns them into the [`Change`] to apply.

use std::collections::BTreeMap;

use super::change::{Change, Edit};
use super::model::{EntryKind, PosixGroup, PosixUser, ShadowEntry};
use super::view::{DirectoryView, GroupSummary};

/// The copy `base` would become with the edits made so far.
pub struct Overlay<'a, V: DirectoryView + ?Sized> {
    base: &'a V,
    /// uid → the user now there (`None`: removed).
    users: BTreeMap<u32, Option<PosixUser>>,
    /// gid → the group now there (`None`: removed).
    groups: BTreeMap<u32, Option<PosixGroup>>,
    /// user name → the shadow entry now there (`None`: removed).
    shadow: BTreeMap<String, Option<ShadowEntry>>,
    /// The taken-over local accounts, when changed.
    same_accounts: Option<Vec<String>>,
}

impl<'a, V: DirectoryView + ?Sized> Overlay<'a, V> {
    pub fn new(base: &'a V) -> Self {
        Overlay {
            base,
            users: BTreeMap::new(),
            groups: BTreeMap::new(),
            shadow: BTreeMap::new(),
            same_accounts: None,
        }
    }

    /// The taken-over local accounts are now `names` (sorted).
    pub fn set_same_accounts(&mut self, names: Vec<String>) {
        self.same_accounts = Some(names);
    }

    /// Puts `user` at its uid. The caller has removed any other holder of its name.
    pub fn put_user(&mut self, user: PosixUser) {
        self.users.insert(user.uid, Some(user));
    }

    pub fn remove_user(&mut self, uid: u32) {
        self.users.insert(uid, None);
    }

    /// Puts `group` at its gid. The caller has removed any other holder of its name.
    pub fn put_group(&mut self, group: PosixGroup) {
        self.groups.insert(group.gid, Some(group));
    }

    pub fn remove_group(&mut self, gid: u32) {
        self.groups.insert(gid, None);
    }

    pub fn put_shadow(&mut self, entry: ShadowEntry) {
        self.shadow.insert(entry.name.clone(), Some(entry));
    }

    pub fn remove_shadow(&mut self, name: &str) {
        self.shadow.insert(name.to_string(), None);
    }

    /// Makes the edits of `change` (computed against this overlay), so that the next
    /// merge reads their result: how several merges are chained into one change.
    pub fn apply(&mut self, change: &Change) {
        for edit in &change.edits {
            match edit {
                Edit::RemoveUser { uid } => self.remove_user(*uid),
                Edit::PutUser(u) => self.put_user(u.clone()),
                Edit::RemoveGroup { gid } => self.remove_group(*gid),
                Edit::PutGroup(g) => self.put_group(g.clone()),
                Edit::RemoveShadow { name } => self.remove_shadow(name),
                Edit::PutShadow(s) => self.put_shadow(s.clone()),
                Edit::SameAccounts(names) => self.set_same_accounts(names.clone()),
            }
        }
    }

    /// The edits that turn the base into this copy: removals first, then puts; entries
    /// put back exactly as they were are left out.
    pub fn into_change(self) -> Change {
        let mut removals = Vec::new();
        let mut puts = Vec::new();
        for (uid, user) in self.users {
            let before = self.base.user_by_uid(uid);
            match user {
                None if before.is_some() => removals.push(Edit::RemoveUser { uid }),
                None => {}
                Some(u) if before.as_ref() == Some(&u) => {}
                Some(u) => puts.push(Edit::PutUser(u)),
            }
        }
        for (gid, group) in self.groups {
            match group {
                None if self.base.group_summary(gid).is_some() => {
                    removals.push(Edit::RemoveGroup { gid })
                }
                None => {}
                Some(g) if self.base.group_by_gid(gid).as_ref() == Some(&g) => {}
                Some(g) => puts.push(Edit::PutGroup(g)),
            }
        }
        for (name, entry) in self.shadow {
            let before = self.base.shadow_of(&name);
            match entry {
                None if before.is_some() => removals.push(Edit::RemoveShadow { name }),
                None => {}
                Some(s) if before.as_ref() == Some(&s) => {}
                Some(s) => puts.push(Edit::PutShadow(s)),
            }
        }
        removals.extend(puts);
        if let Some(names) = self.same_accounts {
            if names != self.base.same_accounts() {
                removals.push(Edit::SameAccounts(names));
            }
        }
        Change { edits: removals }
    }
}

impl<V: DirectoryView + ?Sized> DirectoryView for Overlay<'_, V> {
    fn user_by_scim_id(&self, scim_id: &str) -> Option<PosixUser> {
        if let Some(u) = self.users.values().flatten().find(|u| u.scim_id == scim_id) {
            return Some(u.clone());
        }
        self.base
            .user_by_scim_id(scim_id)
            .filter(|u| !self.users.contains_key(&u.uid))
    }

    fn user_by_name(&self, name: &str) -> Option<PosixUser> {
        if let Some(u) = self.users.values().flatten().find(|u| u.name == name) {
            return Some(u.clone());
        }
        self.base
            .user_by_name(name)
            .filter(|u| !self.users.contains_key(&u.uid))
    }

    fn user_by_uid(&self, uid: u32) -> Option<PosixUser> {
        match self.users.get(&uid) {
            Some(now) => now.clone(),
            None => self.base.user_by_uid(uid),
        }
    }

    fn user_named_like(&self, name: &str) -> Option<PosixUser> {
        if let Some(u) = self
            .users
            .values()
            .flatten()
            .find(|u| u.name.eq_ignore_ascii_case(name))
        {
            return Some(u.clone());
        }
        self.base
            .user_named_like(name)
            .filter(|u| !self.users.contains_key(&u.uid))
    }

    fn gid_of_group_named_like(&self, name: &str) -> Option<u32> {
        if let Some(g) = self
            .groups
            .values()
            .flatten()
            .find(|g| g.name.eq_ignore_ascii_case(name))
        {
            return Some(g.gid);
        }
        self.base
            .gid_of_group_named_like(name)
            .filter(|gid| !self.groups.contains_key(gid))
    }

    fn users_with_gid(&self, gid: u32) -> usize {
        let mut n = self.base.users_with_gid(gid);
        for (uid, now) in &self.users {
            if self.base.user_by_uid(*uid).is_some_and(|u| u.gid == gid) {
                n = n.saturating_sub(1);
            }
            if now.as_ref().is_some_and(|u| u.gid == gid) {
                n += 1;
            }
        }
        n
    }

    fn group_by_name(&self, name: &str) -> Option<PosixGroup> {
        self.gid_of_group(name)
            .and_then(|gid| self.group_by_gid(gid))
    }

    fn group_by_gid(&self, gid: u32) -> Option<PosixGroup> {
        match self.groups.get(&gid) {
            Some(now) => now.clone(),
            None => self.base.group_by_gid(gid),
        }
    }

    fn group_summary(&self, gid: u32) -> Option<GroupSummary> {
        match self.groups.get(&gid) {
            Some(now) => now.as_ref().map(|g| GroupSummary {
                name: g.name.clone(),
                scim_id: g.scim_id.clone(),
            }),
            None => self.base.group_summary(gid),
        }
    }

    fn gid_of_group(&self, name: &str) -> Option<u32> {
        if let Some(g) = self.groups.values().flatten().find(|g| g.name == name) {
            return Some(g.gid);
        }
        self.base
            .gid_of_group(name)
            .filter(|gid| !self.groups.contains_key(gid))
    }

    fn group_by_scim_id(&self, scim_id: &str) -> Option<PosixGroup> {
        if let Some(g) = self
            .groups
            .values()
            .flatten()
            .find(|g| !g.scim_id.is_empty() && g.scim_id == scim_id)
        {
            return Some(g.clone());
        }
        self.base
            .group_by_scim_id(scim_id)
            .filter(|g| !self.groups.contains_key(&g.gid))
    }

    fn groups_listing(&self, user_name: &str) -> Vec<u32> {
        let mut gids: Vec<u32> = self
            .base
            .groups_listing(user_name)
            .into_iter()
            .filter(|gid| !self.groups.contains_key(gid))
            .collect();
        gids.extend(
            self.groups
                .values()
                .flatten()
                .filter(|g| g.members.iter().any(|m| m == user_name))
                .map(|g| g.gid),
        );
        gids.sort_unstable();
        gids
    }

    fn shadow_of(&self, name: &str) -> Option<ShadowEntry> {
        match self.shadow.get(name) {
            Some(now) => now.clone(),
            None => self.base.shadow_of(name),
        }
    }

    fn refused_as_duplicate(&self, kind: EntryKind, scim_id: &str) -> bool {
        self.base.refused_as_duplicate(kind, scim_id)
    }

    fn gid_claimed_by_refused_group(&self, gid: u32) -> bool {
        self.base.gid_claimed_by_refused_group(gid)
    }

    fn same_accounts(&self) -> Vec<String> {
        match &self.same_accounts {
            Some(names) => names.clone(),
            None => self.base.same_accounts(),
        }
    }
}
