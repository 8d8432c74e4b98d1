//! What a keyed lookup asks for: the entry whose freshness decides (its [`LookupKey`])
//! and which record of the served copy answers it.

use workbench_wire::codec::Writer;
use workbench_wire::record::encode_gid_list;

use super::key::LookupKey;
use crate::cache::snapshot::Snapshot;

/// One keyed lookup from the module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Query {
    PasswdByName(String),
    PasswdByUid(u32),
    GroupByName(String),
    GroupByGid(u32),
    /// The gids of a user's groups (`initgroups_dyn`).
    InitGroups(String),
    /// A user's shadow entry (the caller has checked the peer may read it).
    Shadow(String),
}

impl Query {
    /// The entry whose presence and freshness decide the answer: the user for passwd,
    /// initgroups and shadow (a shadow entry follows its user), the group for group.
    pub fn key(&self) -> LookupKey {
        match self {
            Query::PasswdByName(n) | Query::InitGroups(n) | Query::Shadow(n) => {
                LookupKey::UserName(n.clone())
            }
            Query::PasswdByUid(u) => LookupKey::Uid(*u),
            Query::GroupByName(n) => LookupKey::GroupName(n.clone()),
            Query::GroupByGid(g) => LookupKey::Gid(*g),
        }
    }

    /// The encoded answer from `snap`, if it has one.
    pub fn read(&self, snap: &Snapshot) -> Option<Vec<u8>> {
        match self {
            Query::PasswdByName(n) => snap.passwd_record_by_name(n).map(<[u8]>::to_vec),
            Query::PasswdByUid(u) => snap.passwd_record_by_uid(*u).map(<[u8]>::to_vec),
            Query::GroupByName(n) => snap.group_record_by_name(n).map(<[u8]>::to_vec),
            Query::GroupByGid(g) => snap.group_record_by_gid(*g).map(<[u8]>::to_vec),
            Query::InitGroups(n) => snap.memberships(n).map(|gids| {
                let mut w = Writer::new();
                encode_gid_list(&gids, &mut w);
                w.buf
            }),
            Query::Shadow(n) => snap.shadow_record(n),
        }
    }
}
