//! Applying one [`Change`] (an incremental sync's merged edits) to the cache file in
//! one transaction: `kill -9` at any moment leaves the copy before it or after it,
//! never a mix, and writing costs the size of the change, not of the directory.
//!
//! Every `Put` replaces the rows holding any of its keys, as
//! [`crate::directory::change`] defines it.

use std::time::SystemTime;

use rusqlite::params;

use super::{Store, StoreError};
use crate::directory::change::{Change, Edit};

impl Store {
    /// Applies `change` and records `synced_at`, all in one transaction.
    pub fn apply_change(
        &mut self,
        change: &Change,
        synced_at: SystemTime,
    ) -> Result<(), StoreError> {
        // Taken first: a write that fails must not leave it for another copy.
        let baseline = self.staged_baseline.take();
        let refused = self.staged_refused.take();
        let path = self.path.clone();
        let sql = |op: &'static str| {
            let path = path.clone();
            move |source| StoreError::Sqlite { path, op, source }
        };
        let tx = self.conn.transaction().map_err(sql("begin"))?;
        // A `Put` replaces the holder of its SCIM id too: without an index each would
        // scan the table (100,000 rows). Made once, in the first incremental sync.
        tx.execute_batch(
            "CREATE INDEX IF NOT EXISTS users_by_scim_id ON users (scim_id);
             CREATE INDEX IF NOT EXISTS groups_by_scim_id ON groups (scim_id);",
        )
        .map_err(sql("index SCIM ids"))?;
        for edit in &change.edits {
            match edit {
                Edit::RemoveUser { uid } => {
                    tx.execute("DELETE FROM users WHERE uid = ?1", params![uid])
                        .map_err(sql("remove user"))?;
                }
                Edit::PutUser(u) => {
                    for (column, key) in [
                        ("uid", rusqlite::types::Value::from(u.uid)),
                        ("name", u.name.clone().into()),
                        ("scim_id", u.scim_id.clone().into()),
                    ] {
                        tx.execute(&format!("DELETE FROM users WHERE {column} = ?1"), [key])
                            .map_err(sql("replace user"))?;
                    }
                    tx.execute(
                        "INSERT INTO users (uid, name, scim_id, gid, gecos, home, shell, active)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                        params![
                            u.uid, u.name, u.scim_id, u.gid, u.gecos, u.home, u.shell, u.active
                        ],
                    )
                    .map_err(sql("write user"))?;
                }
                Edit::RemoveGroup { gid } => {
                    tx.execute("DELETE FROM groups WHERE gid = ?1", params![gid])
                        .map_err(sql("remove group"))?;
                }
                Edit::PutGroup(g) => {
                    tx.execute("DELETE FROM groups WHERE gid = ?1", params![g.gid])
                        .map_err(sql("replace group"))?;
                    tx.execute("DELETE FROM groups WHERE name = ?1", params![g.name])
                        .map_err(sql("replace group"))?;
                    if !g.scim_id.is_empty() {
                        tx.execute("DELETE FROM groups WHERE scim_id = ?1", params![g.scim_id])
                            .map_err(sql("replace group"))?;
                    }
                    let members = serde_json::Value::from(g.members.clone()).to_string();
                    tx.execute(
                        "INSERT INTO groups (gid, name, scim_id, members) VALUES (?1, ?2, ?3, ?4)",
                        params![g.gid, g.name, g.scim_id, members],
                    )
                    .map_err(sql("write group"))?;
                }
                Edit::RemoveShadow { name } => {
                    tx.execute("DELETE FROM shadow WHERE name = ?1", params![name])
                        .map_err(sql("remove shadow"))?;
                }
                Edit::PutShadow(s) => {
                    tx.execute(
                        "INSERT OR REPLACE INTO shadow (name, pwdp) VALUES (?1, ?2)",
                        params![s.name, s.pwdp],
                    )
                    .map_err(sql("write shadow"))?;
                }
                // Not stored: worked out again from /etc/passwd when the cache is loaded
                // (`merge::recheck`).
                Edit::SameAccounts(_) => {}
            }
        }
        super::record_synced_at(&tx, synced_at, baseline.as_deref(), refused.as_deref())
            .map_err(sql("write sync time"))?;
        tx.commit().map_err(sql("commit"))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::model::{Directory, PosixGroup, PosixUser, ShadowEntry};
    use std::time::UNIX_EPOCH;

    fn user(uid: u32, name: &str, scim: &str) -> PosixUser {
        PosixUser {
            uid,
            name: name.into(),
            scim_id: scim.into(),
            gid: uid,
            gecos: String::new(),
            home: format!("/home/{name}"),
            shell: "/bin/bash".into(),
            active: true,
        }
    }

    #[test]
    fn change_reaches_the_file_like_the_reference_apply() {
        let path = std::env::temp_dir()
            .join(format!(
                "wb-store-delta-{}-{}",
                std::process::id(),
                SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap()
                    .as_nanos()
            ))
            .join("cache.db");
        let (mut store, _) = Store::open(&path).unwrap();
        let mut reference = Directory {
            users: vec![user(1001, "alice", "a"), user(1002, "bob", "b")],
            groups: vec![PosixGroup {
                scim_id: "g".into(),
                name: "staff2".into(),
                gid: 5000,
                members: vec!["alice".into(), "bob".into()],
            }],
            shadow: vec![ShadowEntry {
                name: "bob".into(),
                pwdp: "$6$x".into(),
            }],
            ..Directory::default()
        };
        store
            .replace_all(&reference, true, SystemTime::now())
            .unwrap();
        // bob renamed robert (same SCIM id and uid), alice gone, the group follows.
        let change = Change {
            edits: vec![
                Edit::RemoveUser { uid: 1001 },
                Edit::RemoveShadow { name: "bob".into() },
                Edit::PutUser(user(1002, "robert", "b")),
                Edit::PutGroup(PosixGroup {
                    scim_id: "g".into(),
                    name: "staff2".into(),
                    gid: 5000,
                    members: vec!["robert".into()],
                }),
                Edit::PutShadow(ShadowEntry {
                    name: "robert".into(),
                    pwdp: "$6$y".into(),
                }),
            ],
        };
        reference.apply(&change);
        store.apply_change(&change, SystemTime::now()).unwrap();
        drop(store);
        let (store, _) = Store::open(&path).unwrap();
        let loaded = store.load().unwrap().directory;
        assert_eq!(loaded.users, reference.users);
        assert_eq!(loaded.groups, reference.groups);
        assert_eq!(loaded.shadow, reference.shadow);
        if let Some(d) = path.parent() {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}
