//! What an on-demand lookup is for.

use crate::cache::snapshot::Snapshot;
use crate::directory::change::{Change, Edit};
use crate::directory::view::DirectoryView;

/// One entry as the module asks for it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LookupKey {
    UserName(String),
    Uid(u32),
    GroupName(String),
    Gid(u32),
    /// The shadow entry of a user, fetched with the admin token.
    Shadow(String),
}

impl std::fmt::Display for LookupKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LookupKey::UserName(n) => write!(f, "user {n}"),
            LookupKey::Uid(u) => write!(f, "uid {u}"),
            LookupKey::GroupName(n) => write!(f, "group {n}"),
            LookupKey::Gid(g) => write!(f, "gid {g}"),
            LookupKey::Shadow(n) => write!(f, "shadow of {n}"),
        }
    }
}

impl LookupKey {
    /// Whether `snap` has the entry this key names (a taken-over local account counts:
    /// it is known): a remembered "none" for it is then out of date.
    pub fn answered_by(&self, snap: &Snapshot) -> bool {
        match self {
            LookupKey::UserName(n) => snap.user_by_name(n).is_some(),
            LookupKey::Uid(u) => snap.user_by_uid(*u).is_some(),
            LookupKey::GroupName(n) => snap.group_by_name(n).is_some(),
            LookupKey::Gid(g) => snap.group_by_gid(*g).is_some(),
            LookupKey::Shadow(n) => snap.shadow_record(n).is_some(),
        }
    }

    /// The keys of the entries `change` puts in.
    pub fn put_by(change: &Change) -> Vec<LookupKey> {
        let mut keys = Vec::new();
        for edit in &change.edits {
            match edit {
                Edit::PutUser(u) => {
                    keys.push(LookupKey::UserName(u.name.clone()));
                    keys.push(LookupKey::Uid(u.uid));
                }
                Edit::PutGroup(g) => {
                    keys.push(LookupKey::GroupName(g.name.clone()));
                    keys.push(LookupKey::Gid(g.gid));
                }
                Edit::PutShadow(e) => keys.push(LookupKey::Shadow(e.name.clone())),
                _ => {}
            }
        }
        keys
    }
}
