//! A change to a directory copy, as the merge rules compute it: a short list of edits,
//! each naming one entry. The served snapshot applies it in O(log n) per edit
//! (`cache::snapshot`); [`Directory::apply`] applies it by scanning, the reference the
//! merge tests compare against.
//!
//! Every `Put` replaces whatever entry of its kind holds the same key (uid, name or SCIM
//! id for users; gid, name or SCIM id for groups; name for shadow entries), so applying
//! a change can never leave two entries claiming one key, whatever the order.

use super::model::{Directory, PosixGroup, PosixUser, ShadowEntry};

/// One edit of one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Edit {
    /// Drop the user with this uid (its group memberships and shadow entry are separate
    /// edits).
    RemoveUser { uid: u32 },
    /// Add the user, replacing any user with its uid, name or SCIM id.
    PutUser(PosixUser),
    /// Drop the group with this gid.
    RemoveGroup { gid: u32 },
    /// Add the group, replacing any group with its gid, name or (non-empty) SCIM id.
    PutGroup(PosixGroup),
    /// Drop the shadow entry of the user named `name`.
    RemoveShadow { name: String },
    /// Add the shadow entry, replacing the one with its name.
    PutShadow(ShadowEntry),
    /// The users that are local accounts taken over by Workbench are now these (sorted
    /// names; at most as many as `/etc/passwd` has users). Always the last edit.
    SameAccounts(Vec<String>),
}

/// The edits one merge makes, removals first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Change {
    pub edits: Vec<Edit>,
}

impl Change {
    /// True when applying it changes nothing.
    pub fn is_empty(&self) -> bool {
        self.edits.is_empty()
    }
}

/// Whether `a` and `b` claim one group key (gid, name, or a non-empty SCIM id).
pub fn same_group_key(a: &PosixGroup, b: &PosixGroup) -> bool {
    a.gid == b.gid || a.name == b.name || (!a.scim_id.is_empty() && a.scim_id == b.scim_id)
}

/// Whether `a` and `b` claim one user key (uid, name or SCIM id).
pub fn same_user_key(a: &PosixUser, b: &PosixUser) -> bool {
    a.uid == b.uid || a.name == b.name || a.scim_id == b.scim_id
}

impl Directory {
    /// Applies `change` in place, keeping users sorted by uid and groups by gid (as a
    /// full copy is). Linear in the directory size: for tests and small copies.
    pub fn apply(&mut self, change: &Change) {
        for edit in &change.edits {
            match edit {
                Edit::RemoveUser { uid } => self.users.retain(|u| u.uid != *uid),
                Edit::PutUser(user) => {
                    self.users.retain(|u| !same_user_key(u, user));
                    let pos = self.users.partition_point(|u| u.uid < user.uid);
                    self.users.insert(pos, user.clone());
                }
                Edit::RemoveGroup { gid } => self.groups.retain(|g| g.gid != *gid),
                Edit::PutGroup(group) => {
                    self.groups.retain(|g| !same_group_key(g, group));
                    let pos = self.groups.partition_point(|g| g.gid < group.gid);
                    self.groups.insert(pos, group.clone());
                }
                Edit::RemoveShadow { name } => self.shadow.retain(|s| s.name != *name),
                Edit::PutShadow(entry) => {
                    self.shadow.retain(|s| s.name != entry.name);
                    self.shadow.push(entry.clone());
                }
                Edit::SameAccounts(names) => self.same_account.clone_from(names),
            }
        }
    }
}
