//! `workbench-cached invalidate`: mark entries expired so that the next lookup refetches
//! them from the server (`--all` also asks for a full sync).
//!
//! Entries are marked, not dropped: the refetch goes by uid or gid, which every valid
//! entry has — a user named after its `userName` (`alice@example.com` → `alice`) cannot
//! be found again by name with a SCIM filter — and if the server cannot be asked, the
//! marked entry is still served like any other stale entry.

use std::time::SystemTime;

use workbench_wire::request::InvalidateTarget;

use super::freshness::EntryId;
use super::state::OnDemand;
use crate::directory::view::DirectoryView;

/// Marks the named entries expired; returns how many were marked.
pub fn expire_entries(od: &OnDemand, target: &InvalidateTarget) -> usize {
    let ids: Vec<EntryId> = {
        let snap = od.shared.snapshot();
        match target {
            InvalidateTarget::All => {
                let (uids, gids) = snap.refetchable_ids();
                uids.into_iter()
                    .map(EntryId::User)
                    .chain(gids.into_iter().map(EntryId::Group))
                    .collect()
            }
            InvalidateTarget::User(name) => snap
                .user_by_name(&String::from_utf8_lossy(name))
                .map(|u| EntryId::User(u.uid))
                .into_iter()
                .collect(),
            InvalidateTarget::Group(name) => snap
                .group_by_name(&String::from_utf8_lossy(name))
                .filter(|g| !g.scim_id.is_empty())
                .map(|g| EntryId::Group(g.gid))
                .into_iter()
                .collect(),
        }
    };
    let ttl = od.shared.config().positive_ttl;
    let expired_at = SystemTime::now()
        .checked_sub(ttl)
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let mut freshness = od.freshness();
    for id in &ids {
        freshness.confirm(*id, expired_at);
    }
    drop(freshness);
    // The next lookup asks the server, whatever it said before.
    od.negative().clear();
    // No process answers these entries from its map any more, from now (before the
    // command's caller hears back); the next image is built with them expired.
    od.shared.fastpath.retire();
    ids.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::model::{Directory, PosixGroup, PosixUser};
    use crate::ondemand::freshness::{classify, Age};

    #[test]
    fn marks_the_user_expired_and_keeps_serving_it() {
        let config =
            crate::config::Config::from_pairs(&[("server-address", "https://h/")]).unwrap();
        let ttl = config.positive_ttl;
        let od = OnDemand::new(crate::state::Shared::new(config));
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
        od.shared.serve(dir);
        od.shared.health().last_sync = Some(SystemTime::now());
        let n = expire_entries(&od, &InvalidateTarget::User(b"carol".to_vec()));
        assert_eq!(n, 1);
        assert!(od
            .shared
            .snapshot()
            .passwd_record_by_name("carol")
            .is_some());
        let age = od
            .freshness()
            .age(EntryId::User(1003), od.shared.health().last_sync);
        assert_eq!(classify(age, ttl), Age::Expired);
        // A private group has nothing to refetch on its own.
        assert_eq!(
            expire_entries(&od, &InvalidateTarget::Group(b"carol".to_vec())),
            0
        );
    }
}
