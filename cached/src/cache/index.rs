//! In-memory index over one consistent copy of the directory.
//!
//! An [`Index`] is immutable once built: a sync builds a new one and swaps an `Arc`, so
//! lookups never wait for a sync and never see half of one. Records are encoded once, at
//! build time, in the wire format ([`workbench_wire::record`]), so answering a lookup is
//! a hash probe and a copy.

use std::collections::{BTreeMap, HashMap};

use workbench_wire::codec::Writer;
use workbench_wire::record::{GroupRecord, PasswdRecord, ShadowRecord};
use workbench_wire::response::{LIST_PAGE_HEADER_LEN, LIST_RECORD_OVERHEAD};

use crate::directory::model::{Directory, PosixGroup, PosixUser, ShadowEntry};

/// `pw_passwd` and `gr_passwd` for every directory entry: the hash lives in shadow.
pub const PASSWORD_PLACEHOLDER: &str = "x";

/// One pre-encoded record plus the key it is listed under.
#[derive(Debug, Clone)]
struct Encoded {
    key: u32,
    bytes: Vec<u8>,
}

/// Lookup structures for one directory copy.
#[derive(Debug, Default)]
pub struct Index {
    users: Vec<Encoded>,
    user_by_name: HashMap<String, usize>,
    user_by_uid: BTreeMap<u32, usize>,
    groups: Vec<Encoded>,
    group_by_name: HashMap<String, usize>,
    group_by_gid: BTreeMap<u32, usize>,
    /// User name → gids of every group listing the user (plus the primary gid).
    memberships: HashMap<String, Vec<u32>>,
    /// Shadow records in uid order, keyed by the owner's uid.
    shadow: Vec<Encoded>,
    shadow_by_name: HashMap<String, usize>,
    shadow_by_uid: BTreeMap<u32, usize>,
    /// Gids of synthesised user private groups (never fetched on their own).
    private_gids: std::collections::HashSet<u32>,
    /// Local accounts taken over by Workbench (`Directory::same_account`), name → uid:
    /// known here (memberships, and no network for them), never answered as passwd.
    same_account: HashMap<String, u32>,
    same_account_uids: std::collections::HashSet<u32>,
}

/// Counts shown by `status`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IndexCounts {
    pub users: usize,
    pub groups: usize,
    pub shadow: usize,
}

impl Index {
    /// Builds the index; `dir` has already been validated (unique names and ids).
    pub fn build(dir: &Directory) -> Index {
        let mut ix = Index::default();
        for u in &dir.users {
            if dir.is_same_account(&u.name) {
                // The local passwd line answers; its directory groups still count.
                ix.same_account.insert(u.name.clone(), u.uid);
                ix.same_account_uids.insert(u.uid);
                ix.memberships.entry(u.name.clone()).or_default();
                continue;
            }
            let pos = ix.users.len();
            ix.users.push(Encoded {
                key: u.uid,
                bytes: encode_user(u),
            });
            ix.user_by_name.insert(u.name.clone(), pos);
            ix.user_by_uid.insert(u.uid, pos);
            ix.memberships
                .entry(u.name.clone())
                .or_default()
                .push(u.gid);
        }
        for g in &dir.groups {
            let pos = ix.groups.len();
            ix.groups.push(Encoded {
                key: g.gid,
                bytes: encode_group(g),
            });
            ix.group_by_name.insert(g.name.clone(), pos);
            ix.group_by_gid.insert(g.gid, pos);
            if g.scim_id.is_empty() {
                ix.private_gids.insert(g.gid);
            }
            for m in &g.members {
                if let Some(list) = ix.memberships.get_mut(m) {
                    list.push(g.gid);
                }
            }
        }
        for list in ix.memberships.values_mut() {
            list.sort_unstable();
            list.dedup();
        }
        let uid_of: HashMap<&str, u32> = dir
            .users
            .iter()
            .filter(|u| !dir.is_same_account(&u.name))
            .map(|u| (u.name.as_str(), u.uid))
            .collect();
        let mut shadow: Vec<(u32, &ShadowEntry)> = dir
            .shadow
            .iter()
            .filter_map(|s| uid_of.get(s.name.as_str()).map(|uid| (*uid, s)))
            .collect();
        shadow.sort_by_key(|(uid, _)| *uid);
        for (uid, s) in shadow {
            let pos = ix.shadow.len();
            ix.shadow.push(Encoded {
                key: uid,
                bytes: encode_shadow(s),
            });
            ix.shadow_by_name.insert(s.name.clone(), pos);
            ix.shadow_by_uid.insert(uid, pos);
        }
        // Enumeration walks the BTreeMaps in key order; keep `users`/`groups` positions
        // stable (they are referenced by the maps) and let the maps provide the order.
        ix
    }

    pub fn counts(&self) -> IndexCounts {
        IndexCounts {
            users: self.users.len(),
            groups: self.groups.len(),
            shadow: self.shadow.len(),
        }
    }

    pub fn passwd_by_name(&self, name: &str) -> Option<&[u8]> {
        self.user_by_name
            .get(name)
            .and_then(|&i| self.users.get(i))
            .map(|e| e.bytes.as_slice())
    }

    /// The uid of a cached user.
    pub fn uid_of(&self, name: &str) -> Option<u32> {
        self.user_by_name
            .get(name)
            .and_then(|&i| self.users.get(i))
            .map(|e| e.key)
    }

    /// The gid of a cached group.
    pub fn gid_of(&self, name: &str) -> Option<u32> {
        self.group_by_name
            .get(name)
            .and_then(|&i| self.groups.get(i))
            .map(|e| e.key)
    }

    /// True for a synthesised user private group.
    pub fn is_private_group(&self, gid: u32) -> bool {
        self.private_gids.contains(&gid)
    }

    pub fn passwd_by_uid(&self, uid: u32) -> Option<&[u8]> {
        self.user_by_uid
            .get(&uid)
            .and_then(|&i| self.users.get(i))
            .map(|e| e.bytes.as_slice())
    }

    pub fn group_by_name(&self, name: &str) -> Option<&[u8]> {
        self.group_by_name
            .get(name)
            .and_then(|&i| self.groups.get(i))
            .map(|e| e.bytes.as_slice())
    }

    pub fn group_by_gid(&self, gid: u32) -> Option<&[u8]> {
        self.group_by_gid
            .get(&gid)
            .and_then(|&i| self.groups.get(i))
            .map(|e| e.bytes.as_slice())
    }

    pub fn shadow_by_name(&self, name: &str) -> Option<&[u8]> {
        self.shadow_by_name
            .get(name)
            .and_then(|&i| self.shadow.get(i))
            .map(|e| e.bytes.as_slice())
    }

    /// Gids for `initgroups`, or `None` when the user is not a directory user.
    pub fn memberships(&self, name: &str) -> Option<&[u32]> {
        self.memberships.get(name).map(Vec::as_slice)
    }

    /// The uid of a local account taken over by Workbench (never served as passwd).
    pub fn same_account_uid(&self, name: &str) -> Option<u32> {
        self.same_account.get(name).copied()
    }

    /// Whether `uid` is a local account taken over by Workbench.
    pub fn is_same_account_uid(&self, uid: u32) -> bool {
        self.same_account_uids.contains(&uid)
    }

    /// Whether this copy answers `key` (an entry, or a taken-over local account): a
    /// remembered "none" for it is then out of date.
    pub fn answers(&self, key: &crate::ondemand::key::LookupKey) -> bool {
        use crate::ondemand::key::LookupKey;
        match key {
            LookupKey::UserName(n) => self.has_user(n) || self.same_account.contains_key(n),
            LookupKey::Uid(u) => {
                self.user_by_uid.contains_key(u) || self.same_account_uids.contains(u)
            }
            LookupKey::GroupName(n) => self.has_group(n),
            LookupKey::Gid(g) => self.group_by_gid.contains_key(g),
            LookupKey::Shadow(n) => self.shadow_by_name.contains_key(n),
        }
    }

    pub fn has_user(&self, name: &str) -> bool {
        self.user_by_name.contains_key(name)
    }

    pub fn has_group(&self, name: &str) -> bool {
        self.group_by_name.contains_key(name)
    }

    /// Users after `after` in uid order: at most `max` records, and no more than fit in
    /// `max_bytes` once encoded as a `ListPage`; returns records and whether the listing
    /// is complete.
    pub fn passwd_page(&self, after: Option<u32>, max: usize, max_bytes: usize) -> Page<'_> {
        page(&self.user_by_uid, &self.users, after, max, max_bytes)
    }

    /// Groups after `after` in gid order; as [`Index::passwd_page`].
    pub fn group_page(&self, after: Option<u32>, max: usize, max_bytes: usize) -> Page<'_> {
        page(&self.group_by_gid, &self.groups, after, max, max_bytes)
    }

    /// Shadow entries after `after` in uid order; as [`Index::passwd_page`].
    pub fn shadow_page(&self, after: Option<u32>, max: usize, max_bytes: usize) -> Page<'_> {
        page(&self.shadow_by_uid, &self.shadow, after, max, max_bytes)
    }
}

/// One enumeration page.
#[derive(Debug)]
pub struct Page<'a> {
    pub records: Vec<&'a [u8]>,
    pub last_key: Option<u32>,
    pub done: bool,
}

/// Cut by encoded bytes as well as by count: record sizes vary by three orders of
/// magnitude (a 1 KB gecos, a 4 KB home, a group of 100,000 members), so no record count
/// keeps every page under the frame limit.
fn page<'a>(
    order: &BTreeMap<u32, usize>,
    entries: &'a [Encoded],
    after: Option<u32>,
    max: usize,
    max_bytes: usize,
) -> Page<'a> {
    use std::ops::Bound::{Excluded, Unbounded};
    let lower = match after {
        Some(k) => Excluded(k),
        None => Unbounded,
    };
    let mut it = order.range((lower, Unbounded)).peekable();
    let mut records = Vec::new();
    let mut last_key = after;
    let mut bytes = LIST_PAGE_HEADER_LEN;
    while records.len() < max {
        let Some(&(_, &i)) = it.peek() else { break };
        let Some(e) = entries.get(i) else {
            it.next();
            continue;
        };
        let cost = LIST_RECORD_OVERHEAD.saturating_add(e.bytes.len());
        if bytes.saturating_add(cost) > max_bytes {
            if !records.is_empty() {
                break;
            }
            // Validation keeps every record far below a page (MAX_GECOS, MAX_HOME,
            // MAX_MEMBERS), so this cannot happen; if it did, leaving one entry out is
            // better than an enumeration that can never get past it.
            log::error!(
                "entry with id {} encodes to {} bytes, more than a page holds: not listed",
                e.key,
                e.bytes.len()
            );
            last_key = Some(e.key);
            it.next();
            continue;
        }
        bytes += cost;
        records.push(e.bytes.as_slice());
        last_key = Some(e.key);
        it.next();
    }
    let done = it.peek().is_none();
    Page {
        records,
        last_key,
        done,
    }
}

fn encode_user(u: &PosixUser) -> Vec<u8> {
    let mut w = Writer::new();
    PasswdRecord {
        name: u.name.as_bytes(),
        passwd: PASSWORD_PLACEHOLDER.as_bytes(),
        uid: u.uid,
        gid: u.gid,
        gecos: u.gecos.as_bytes(),
        dir: u.home.as_bytes(),
        shell: u.shell.as_bytes(),
    }
    .encode(&mut w);
    w.buf
}

fn encode_group(g: &PosixGroup) -> Vec<u8> {
    let mut w = Writer::new();
    GroupRecord {
        name: g.name.as_bytes(),
        passwd: PASSWORD_PLACEHOLDER.as_bytes(),
        gid: g.gid,
        members: g.members.iter().map(|m| m.as_bytes()).collect(),
    }
    .encode(&mut w);
    w.buf
}

/// Aging fields are empty (-1): Workbench does no password aging, and 0 in `sp_lstchg`
/// would make pam_unix demand a password change.
const NO_AGING: i64 = -1;

fn encode_shadow(s: &ShadowEntry) -> Vec<u8> {
    let mut w = Writer::new();
    ShadowRecord {
        name: s.name.as_bytes(),
        pwdp: s.pwdp.as_bytes(),
        lstchg: NO_AGING,
        min: NO_AGING,
        max: NO_AGING,
        warn: NO_AGING,
        inact: NO_AGING,
        expire: NO_AGING,
        flag: u64::MAX,
    }
    .encode(&mut w);
    w.buf
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str, uid: u32, gid: u32) -> PosixUser {
        PosixUser {
            scim_id: format!("u-{name}"),
            name: name.into(),
            uid,
            gid,
            gecos: String::new(),
            home: format!("/home/{name}"),
            shell: "/bin/bash".into(),
            active: true,
        }
    }

    fn dir() -> Directory {
        Directory {
            users: vec![user("alice", 1001, 1001), user("bob", 1002, 2001)],
            groups: vec![
                PosixGroup {
                    scim_id: String::new(),
                    name: "alice".into(),
                    gid: 1001,
                    members: vec![],
                },
                PosixGroup {
                    scim_id: "g".into(),
                    name: "devs".into(),
                    gid: 2001,
                    members: vec!["alice".into(), "bob".into()],
                },
            ],
            shadow: vec![ShadowEntry {
                name: "alice".into(),
                pwdp: "$6$x$y".into(),
            }],
            refused: vec![],
            refused_group_gids: vec![],
            same_account: vec![],
        }
    }

    #[test]
    fn keyed_lookups() {
        let ix = Index::build(&dir());
        let rec = PasswdRecord::decode(ix.passwd_by_name("alice").unwrap()).unwrap();
        assert_eq!(rec.uid, 1001);
        assert_eq!(rec.passwd, b"x");
        assert!(ix.passwd_by_uid(1002).is_some());
        assert!(ix.passwd_by_name("carol").is_none());
        let g = GroupRecord::decode(ix.group_by_gid(2001).unwrap()).unwrap();
        assert_eq!(g.members, vec![b"alice".as_slice(), b"bob".as_slice()]);
        assert_eq!(ix.memberships("alice").unwrap(), &[1001, 2001]);
        assert_eq!(ix.memberships("bob").unwrap(), &[2001]);
        let s = ShadowRecord::decode(ix.shadow_by_name("alice").unwrap()).unwrap();
        assert_eq!(s.lstchg, -1);
        assert!(ix.shadow_by_name("bob").is_none());
    }

    #[test]
    fn pages_walk_in_key_order() {
        let ix = Index::build(&dir());
        let p1 = ix.passwd_page(None, 1, usize::MAX);
        assert_eq!(p1.records.len(), 1);
        assert_eq!(p1.last_key, Some(1001));
        assert!(!p1.done);
        let p2 = ix.passwd_page(p1.last_key, 1, usize::MAX);
        assert_eq!(p2.last_key, Some(1002));
        assert!(p2.done);
        let p3 = ix.passwd_page(p2.last_key, 10, usize::MAX);
        assert!(p3.records.is_empty());
        assert!(p3.done);
    }
}
