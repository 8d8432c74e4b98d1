//! `workbench-cached invalidate`: drop entries from the served copy so that the next
//! lookup fetches them from the server again (`--all` also asks for a full sync).

use workbench_wire::request::InvalidateTarget;

use crate::daemon::state::Shared;
use crate::directory::model::Directory;

/// Removes the named entries from memory; returns how many were dropped.
pub fn drop_entries(shared: &Shared, target: &InvalidateTarget) -> usize {
    let _apply = shared.ondemand.apply_lock();
    let current = shared.directory();
    let mut next: Directory = (*current).clone();
    let before = next.users.len() + next.groups.len();
    match target {
        InvalidateTarget::All => {
            next.users.clear();
            next.groups.clear();
            next.shadow.clear();
        }
        InvalidateTarget::User(name) => {
            let name = String::from_utf8_lossy(name);
            next.users.retain(|u| u.name != name);
            next.shadow.retain(|s| s.name != name);
            // Its private group goes too: it is derived from the user, and if kept it
            // would hold the name when the refetched user comes back with another gid.
            next.groups
                .retain(|g| !(g.scim_id.is_empty() && g.name == name));
        }
        InvalidateTarget::Group(name) => {
            let name = String::from_utf8_lossy(name);
            next.groups.retain(|g| g.name != name);
        }
    }
    let dropped = before - (next.users.len() + next.groups.len());
    if dropped > 0 {
        shared.serve(next);
    }
    // The next lookup asks the server, whatever it said before.
    shared.ondemand.negative().clear();
    dropped
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::model::{PosixGroup, PosixUser};

    #[test]
    fn dropping_a_user_drops_its_private_group_only() {
        let config =
            crate::config::Config::from_pairs(&[("server-address", "https://h/")]).unwrap();
        let shared = Shared::new(config);
        let mut dir = Directory::default();
        dir.users.push(PosixUser {
            scim_id: "u-carol".into(),
            name: "carol".into(),
            uid: 1003,
            gid: 1003,
            gecos: String::new(),
            home: "/home/carol".into(),
            shell: "/bin/bash".into(),
            active: true,
        });
        dir.groups.push(PosixGroup {
            scim_id: String::new(),
            name: "carol".into(),
            gid: 1003,
            members: vec![],
        });
        dir.groups.push(PosixGroup {
            scim_id: "g-ds".into(),
            name: "data_science".into(),
            gid: 2002,
            members: vec!["carol".into()],
        });
        shared.serve(dir);
        let dropped = drop_entries(&shared, &InvalidateTarget::User(b"carol".to_vec()));
        assert_eq!(dropped, 2);
        let after = shared.directory();
        assert!(after.users.is_empty());
        assert_eq!(after.groups.len(), 1);
        assert_eq!(after.groups[0].name, "data_science");
    }
}
