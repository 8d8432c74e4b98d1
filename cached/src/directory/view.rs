//! Read access to a directory copy by key: what the merge rules need to know about the
//! entries around the one being merged. [`Directory`] answers by scanning (it is the
//! reference the rules are tested against); the served snapshot (`cache::snapshot`)
//! answers from its indexes, so a merge touches only the entries it concerns.

use super::model::{Directory, EntryKind, PosixGroup, PosixUser, RefusalReason, ShadowEntry};

/// A group's name and SCIM id without its members (cheap to read even for a group of
/// 20,000).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSummary {
    pub name: String,
    /// Empty for a user private group.
    pub scim_id: String,
}

impl GroupSummary {
    /// A synthesised user private group (no SCIM id).
    pub fn is_private(&self) -> bool {
        self.scim_id.is_empty()
    }
}

/// A directory copy, looked up by key. Names and ids are unique per kind in every copy
/// (a full copy refuses duplicates; merges never create them). Entries are returned by
/// value: the served snapshot holds them encoded and decodes what is asked for.
pub trait DirectoryView {
    /// The user with this SCIM id.
    fn user_by_scim_id(&self, scim_id: &str) -> Option<PosixUser>;
    /// The name of the user with this SCIM id (group member lists).
    fn user_name_by_scim_id(&self, scim_id: &str) -> Option<String> {
        self.user_by_scim_id(scim_id).map(|u| u.name)
    }
    /// The user with this POSIX name.
    fn user_by_name(&self, name: &str) -> Option<PosixUser>;
    /// The user with this uid.
    fn user_by_uid(&self, uid: u32) -> Option<PosixUser>;
    /// The user whose name equals `name` ignoring ASCII case (at most one: the rules
    /// refuse a second).
    fn user_named_like(&self, name: &str) -> Option<PosixUser>;
    /// The gid of the group whose name equals `name` ignoring ASCII case.
    fn gid_of_group_named_like(&self, name: &str) -> Option<u32>;
    /// How many users have `gid` as their primary gid.
    fn users_with_gid(&self, gid: u32) -> usize;
    /// The group (SCIM or user private) with this name.
    fn group_by_name(&self, name: &str) -> Option<PosixGroup>;
    /// The group (SCIM or user private) with this gid.
    fn group_by_gid(&self, gid: u32) -> Option<PosixGroup>;
    /// The name and SCIM id of the group with this gid, without its members.
    fn group_summary(&self, gid: u32) -> Option<GroupSummary> {
        self.group_by_gid(gid).map(|g| GroupSummary {
            name: g.name,
            scim_id: g.scim_id,
        })
    }
    /// The gid of the group with this name.
    fn gid_of_group(&self, name: &str) -> Option<u32> {
        self.group_by_name(name).map(|g| g.gid)
    }
    /// The SCIM group with this SCIM id.
    fn group_by_scim_id(&self, scim_id: &str) -> Option<PosixGroup>;
    /// Gids of the groups whose member list names `user_name`, ascending.
    fn groups_listing(&self, user_name: &str) -> Vec<u32>;
    /// The shadow entry of the user named `name`.
    fn shadow_of(&self, name: &str) -> Option<ShadowEntry>;
    /// Whether the last full copy refused this SCIM id for sharing a name or an id with
    /// another entry.
    fn refused_as_duplicate(&self, kind: EntryKind, scim_id: &str) -> bool;
    /// Whether a SCIM group the last full copy refused claims `gid`: no user private
    /// group may stand in for it.
    fn gid_claimed_by_refused_group(&self, gid: u32) -> bool;
    /// Names of the users that are local accounts taken over by Workbench, sorted
    /// ([`Directory::same_account`]).
    fn same_accounts(&self) -> Vec<String>;
}

/// Whether `r` refuses an entry for sharing a name or an id with another.
pub fn is_duplicate_refusal(r: &super::model::Refusal) -> bool {
    matches!(
        r.reason,
        RefusalReason::DuplicateName | RefusalReason::DuplicateId
    )
}

impl DirectoryView for Directory {
    fn user_by_scim_id(&self, scim_id: &str) -> Option<PosixUser> {
        self.users.iter().find(|u| u.scim_id == scim_id).cloned()
    }
    fn user_by_name(&self, name: &str) -> Option<PosixUser> {
        self.users.iter().find(|u| u.name == name).cloned()
    }
    fn user_by_uid(&self, uid: u32) -> Option<PosixUser> {
        self.users.iter().find(|u| u.uid == uid).cloned()
    }
    fn user_named_like(&self, name: &str) -> Option<PosixUser> {
        self.users
            .iter()
            .find(|u| u.name.eq_ignore_ascii_case(name))
            .cloned()
    }
    fn gid_of_group_named_like(&self, name: &str) -> Option<u32> {
        self.groups
            .iter()
            .find(|g| g.name.eq_ignore_ascii_case(name))
            .map(|g| g.gid)
    }
    fn users_with_gid(&self, gid: u32) -> usize {
        self.users.iter().filter(|u| u.gid == gid).count()
    }
    fn group_by_name(&self, name: &str) -> Option<PosixGroup> {
        self.groups.iter().find(|g| g.name == name).cloned()
    }
    fn group_by_gid(&self, gid: u32) -> Option<PosixGroup> {
        self.groups.iter().find(|g| g.gid == gid).cloned()
    }
    fn group_by_scim_id(&self, scim_id: &str) -> Option<PosixGroup> {
        self.groups
            .iter()
            .find(|g| !g.scim_id.is_empty() && g.scim_id == scim_id)
            .cloned()
    }
    fn groups_listing(&self, user_name: &str) -> Vec<u32> {
        let mut gids: Vec<u32> = self
            .groups
            .iter()
            .filter(|g| g.members.iter().any(|m| m == user_name))
            .map(|g| g.gid)
            .collect();
        gids.sort_unstable();
        gids
    }
    fn shadow_of(&self, name: &str) -> Option<ShadowEntry> {
        self.shadow.iter().find(|s| s.name == name).cloned()
    }
    fn refused_as_duplicate(&self, kind: EntryKind, scim_id: &str) -> bool {
        self.refused
            .iter()
            .any(|r| r.kind == kind && r.scim_id == scim_id && is_duplicate_refusal(r))
    }
    fn gid_claimed_by_refused_group(&self, gid: u32) -> bool {
        self.refused_group_gids.contains(&gid)
    }
    fn same_accounts(&self) -> Vec<String> {
        self.same_account.clone()
    }
}
