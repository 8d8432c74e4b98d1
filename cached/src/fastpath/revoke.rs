//! Which entries of the current image a change makes wrong, so that they are revoked in
//! place (their expiry word set to 0, before the change's caller answers anyone) instead
//! of the whole image being retired: a cache miss that adds one user then costs a few
//! slot writes, not a rebuild of 100,000 entries.
//!
//! The set is a superset, computed from the data before the change: every entry a `Put`
//! may replace (same id, same name, same SCIM id), every entry removed, and for every
//! group touched, its members before and after (their `initgroups` answers change).
//! A change to the taken-over local accounts (rare: a local user added or removed) is
//! not worked out entry by entry: the caller retires the image.

use crate::cache::snapshot::Snapshot;
use crate::directory::change::{Change, Edit};

/// One key of the image to revoke. Revoking a group also revokes its members as the
/// image lists them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Revoke {
    Uid(u32),
    UserName(String),
    Gid(u32),
    GroupName(String),
}

/// What `change` makes wrong in an image of `before` (the snapshot it applies to), or
/// `None` when the image must be retired as a whole.
pub fn affected(before: &Snapshot, change: &Change) -> Option<Vec<Revoke>> {
    let mut out = Vec::new();
    for edit in &change.edits {
        match edit {
            Edit::RemoveUser { uid } => out.push(Revoke::Uid(*uid)),
            Edit::PutUser(u) => {
                out.push(Revoke::Uid(u.uid));
                out.push(Revoke::UserName(u.name.clone()));
                if let Some(old) = before.uid_with_scim_id(&u.scim_id) {
                    out.push(Revoke::Uid(old));
                }
            }
            Edit::RemoveGroup { gid } => out.push(Revoke::Gid(*gid)),
            Edit::PutGroup(g) => {
                out.push(Revoke::Gid(g.gid));
                out.push(Revoke::GroupName(g.name.clone()));
                if !g.scim_id.is_empty() {
                    if let Some(old) = before.gid_with_scim_id(&g.scim_id) {
                        out.push(Revoke::Gid(old));
                    }
                }
                out.extend(g.members.iter().cloned().map(Revoke::UserName));
            }
            Edit::RemoveShadow { .. } | Edit::PutShadow(_) => {}
            Edit::SameAccounts(_) => return None,
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::model::{Directory, PosixGroup, PosixUser};

    fn user(id: &str, name: &str, uid: u32) -> PosixUser {
        PosixUser {
            scim_id: id.into(),
            name: name.into(),
            uid,
            gid: uid,
            gecos: String::new(),
            home: format!("/home/{name}"),
            shell: "/bin/bash".into(),
            active: true,
        }
    }

    #[test]
    fn a_put_revokes_what_it_replaces_by_id_name_and_scim_id() {
        let mut dir = Directory::default();
        dir.users.push(user("u-1", "ann", 1001));
        dir.groups.push(PosixGroup {
            scim_id: "g-1".into(),
            name: "devs".into(),
            gid: 2001,
            members: vec!["ann".into()],
        });
        let before = Snapshot::from_directory(dir);
        // ann renamed and renumbered: only her SCIM id ties the two.
        let change = Change {
            edits: vec![
                Edit::PutUser(user("u-1", "anna", 1501)),
                Edit::PutGroup(PosixGroup {
                    scim_id: "g-1".into(),
                    name: "developers".into(),
                    gid: 2501,
                    members: vec!["anna".into()],
                }),
            ],
        };
        let got = affected(&before, &change).unwrap();
        for want in [
            Revoke::Uid(1501),
            Revoke::UserName("anna".into()),
            Revoke::Uid(1001),
            Revoke::Gid(2501),
            Revoke::GroupName("developers".into()),
            Revoke::Gid(2001),
        ] {
            assert!(got.contains(&want), "{want:?} missing from {got:?}");
        }
    }

    #[test]
    fn a_change_of_taken_over_accounts_retires_the_image() {
        let before = Snapshot::from_directory(Directory::default());
        let change = Change {
            edits: vec![Edit::SameAccounts(vec!["deploy".into()])],
        };
        assert_eq!(affected(&before, &change), None);
    }
}
