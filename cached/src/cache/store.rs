//! The SQLite cache file (`cache-path`, mode 0600).
//!
//! It holds the last complete copy of the directory so that a restarted daemon serves
//! everything it knew even when the server is down (design.md §6). Writes happen in one
//! transaction per sync in WAL mode, so `kill -9` at any moment leaves the previous copy
//! or the new one, never a mix. A file that SQLite cannot read is moved aside and
//! rebuilt rather than stopping the daemon.

use std::fmt;
use std::fs::{self, OpenOptions};
use std::io;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{params, Connection, OpenFlags};

use crate::directory::model::{Directory, PosixGroup, PosixUser, ShadowEntry};

/// Bumped when the schema changes; an older file is rebuilt from the server.
pub const SCHEMA_VERSION: i64 = 1;

/// Mode of the cache file: it holds shadow hashes.
pub const CACHE_FILE_MODE: u32 = 0o600;

/// Mode of the directory holding it when the daemon creates it.
pub const CACHE_DIR_MODE: u32 = 0o700;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS users (
    uid INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, scim_id TEXT NOT NULL,
    gid INTEGER NOT NULL, gecos TEXT NOT NULL, home TEXT NOT NULL, shell TEXT NOT NULL,
    active INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS groups (
    gid INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, scim_id TEXT NOT NULL,
    members TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS shadow (name TEXT PRIMARY KEY, pwdp TEXT NOT NULL);
";

/// Errors of the cache layer; each names the file.
#[derive(Debug)]
pub enum StoreError {
    /// Creating the directory or file, or fixing its mode.
    Io { path: PathBuf, source: io::Error },
    /// SQLite failed during `op`.
    Sqlite {
        path: PathBuf,
        op: &'static str,
        source: rusqlite::Error,
    },
    /// A row did not decode (the file was tampered with or is from a broken build).
    BadRow { path: PathBuf, detail: String },
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Io { path, source } => write!(f, "cache {}: {source}", path.display()),
            StoreError::Sqlite { path, op, source } => {
                write!(f, "cache {}: {op}: {source}", path.display())
            }
            StoreError::BadRow { path, detail } => {
                write!(f, "cache {}: bad row: {detail}", path.display())
            }
        }
    }
}

impl std::error::Error for StoreError {}

/// What [`Store::open`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpenOutcome {
    /// An existing, readable cache.
    Existing,
    /// No file was there; an empty cache was created.
    Created,
    /// The file was unreadable; it was renamed to `moved_to` and a new one created.
    Rebuilt { moved_to: PathBuf, reason: String },
}

/// Everything the cache file holds.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub directory: Directory,
    /// When the copy was taken from the server.
    pub synced_at: Option<SystemTime>,
}

/// An open cache file.
pub struct Store {
    conn: Connection,
    path: PathBuf,
    /// The sync baseline the next write records with the copy (see
    /// [`Store::stage_baseline`]); taken by that write whether it commits or not.
    staged_baseline: Option<String>,
    /// The refused entries' ids the next write records (see [`Store::stage_refused`]).
    staged_refused: Option<String>,
}

/// The `meta` key of the ids of the entries refused in the copy (JSON: `[["user"|"group",
/// SCIM id], …]`): an incremental sync after a restart must know them, or every id it
/// lists that the copy lacks because it was refused would put the sync in doubt.
const REFUSED_KEY: &str = "refused_ids";

/// The `meta` key of the sync baseline (`schedule::sync_plan::Baseline`, as text).
const BASELINE_KEY: &str = "sync_baseline";

impl Store {
    /// Opens (creating or rebuilding as needed) the cache at `path`.
    pub fn open(path: &Path) -> Result<(Store, OpenOutcome), StoreError> {
        prepare_dir(path)?;
        let existed = path.exists();
        match Store::try_open(path) {
            Ok(store) => {
                let outcome = if existed {
                    OpenOutcome::Existing
                } else {
                    OpenOutcome::Created
                };
                Ok((store, outcome))
            }
            Err(err) if existed => {
                let moved_to = move_aside(path)?;
                let store = Store::try_open(path)?;
                Ok((
                    store,
                    OpenOutcome::Rebuilt {
                        moved_to,
                        reason: err.to_string(),
                    },
                ))
            }
            Err(err) => Err(err),
        }
    }

    fn try_open(path: &Path) -> Result<Store, StoreError> {
        ensure_private_file(path)?;
        let sql = |op: &'static str| {
            let path = path.to_path_buf();
            move |source| StoreError::Sqlite { path, op, source }
        };
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(sql("open"))?;
        conn.busy_timeout(Duration::from_secs(5))
            .map_err(sql("busy_timeout"))?;
        let check: String = conn
            .query_row("PRAGMA quick_check", [], |r| r.get(0))
            .map_err(sql("quick_check"))?;
        if check != "ok" {
            return Err(StoreError::BadRow {
                path: path.to_path_buf(),
                detail: format!("quick_check: {check}"),
            });
        }
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(sql("journal_mode"))?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(sql("synchronous"))?;
        conn.execute_batch(SCHEMA).map_err(sql("create schema"))?;
        let version: Option<String> = conn
            .query_row(
                "SELECT value FROM meta WHERE key = 'schema_version'",
                [],
                |r| r.get(0),
            )
            .ok();
        match version.as_deref().map(str::parse::<i64>) {
            Some(Ok(v)) if v == SCHEMA_VERSION => {}
            None => {
                conn.execute(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?1)",
                    params![SCHEMA_VERSION.to_string()],
                )
                .map_err(sql("write schema version"))?;
            }
            Some(_) => {
                return Err(StoreError::BadRow {
                    path: path.to_path_buf(),
                    detail: format!("schema version {version:?}, expected {SCHEMA_VERSION}"),
                })
            }
        }
        Ok(Store {
            conn,
            path: path.to_path_buf(),
            staged_baseline: None,
            staged_refused: None,
        })
    }

    fn sql(&self, op: &'static str) -> impl FnOnce(rusqlite::Error) -> StoreError + '_ {
        move |source| StoreError::Sqlite {
            path: self.path.clone(),
            op,
            source,
        }
    }

    /// The sync baseline (as text) the next [`Store::replace_all`] or
    /// [`Store::apply_change`] records in the transaction that writes the copy, so that
    /// the file never holds a copy with another copy's baseline.
    pub fn stage_baseline(&mut self, text: Option<String>) {
        self.staged_baseline = text;
    }

    /// The ids of the refused entries (as text) the next write records with the copy.
    pub fn stage_refused(&mut self, text: Option<String>) {
        self.staged_refused = text;
    }

    /// The refused entries' ids written with the copy in the file, if any (text).
    pub fn refused_ids(&self) -> Option<String> {
        self.conn
            .query_row(
                "SELECT value FROM meta WHERE key = ?1",
                params![REFUSED_KEY],
                |r| r.get(0),
            )
            .ok()
    }

    /// The sync baseline written with the copy in the file, if any (text: the caller
    /// decodes it and treats anything garbled as none).
    pub fn baseline(&self) -> Option<String> {
        self.conn
            .query_row(
                "SELECT value FROM meta WHERE key = ?1",
                params![BASELINE_KEY],
                |r| r.get(0),
            )
            .ok()
    }

    /// Reads the whole cache.
    pub fn load(&self) -> Result<Snapshot, StoreError> {
        let mut snap = Snapshot::default();
        let mut stmt = self
            .conn
            .prepare("SELECT uid, name, scim_id, gid, gecos, home, shell, active FROM users ORDER BY uid")
            .map_err(self.sql("read users"))?;
        let rows = stmt
            .query_map([], |r| {
                Ok(PosixUser {
                    uid: r.get(0)?,
                    name: r.get(1)?,
                    scim_id: r.get(2)?,
                    gid: r.get(3)?,
                    gecos: r.get(4)?,
                    home: r.get(5)?,
                    shell: r.get(6)?,
                    active: r.get(7)?,
                })
            })
            .map_err(self.sql("read users"))?;
        for row in rows {
            snap.directory
                .users
                .push(row.map_err(self.sql("read users"))?);
        }
        let mut stmt = self
            .conn
            .prepare("SELECT gid, name, scim_id, members FROM groups ORDER BY gid")
            .map_err(self.sql("read groups"))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, u32>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                ))
            })
            .map_err(self.sql("read groups"))?;
        for row in rows {
            let (gid, name, scim_id, members) = row.map_err(self.sql("read groups"))?;
            let members: Vec<String> =
                serde_json::from_str(&members).map_err(|e| StoreError::BadRow {
                    path: self.path.clone(),
                    detail: format!("members of group {gid}: {e}"),
                })?;
            snap.directory.groups.push(PosixGroup {
                scim_id,
                name,
                gid,
                members,
            });
        }
        let mut stmt = self
            .conn
            .prepare("SELECT name, pwdp FROM shadow ORDER BY name")
            .map_err(self.sql("read shadow"))?;
        let rows = stmt
            .query_map([], |r| {
                Ok(ShadowEntry {
                    name: r.get(0)?,
                    pwdp: r.get(1)?,
                })
            })
            .map_err(self.sql("read shadow"))?;
        for row in rows {
            snap.directory
                .shadow
                .push(row.map_err(self.sql("read shadow"))?);
        }
        let synced: Option<String> = self
            .conn
            .query_row("SELECT value FROM meta WHERE key = 'synced_at'", [], |r| {
                r.get(0)
            })
            .ok();
        snap.synced_at = synced
            .and_then(|s| s.parse::<u64>().ok())
            .map(|secs| UNIX_EPOCH + Duration::from_secs(secs));
        Ok(snap)
    }

    /// Replaces the whole copy in one transaction. `shadow` is `None` when the admin
    /// token was not usable: the shadow rows already cached are then kept.
    pub fn replace_all(
        &mut self,
        dir: &Directory,
        replace_shadow: bool,
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
        tx.execute("DELETE FROM users", [])
            .map_err(sql("clear users"))?;
        tx.execute("DELETE FROM groups", [])
            .map_err(sql("clear groups"))?;
        {
            let mut ins = tx
                .prepare(
                    "INSERT INTO users (uid, name, scim_id, gid, gecos, home, shell, active)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )
                .map_err(sql("write users"))?;
            for u in &dir.users {
                ins.execute(params![
                    u.uid, u.name, u.scim_id, u.gid, u.gecos, u.home, u.shell, u.active
                ])
                .map_err(sql("write users"))?;
            }
            let mut ins = tx
                .prepare("INSERT INTO groups (gid, name, scim_id, members) VALUES (?1, ?2, ?3, ?4)")
                .map_err(sql("write groups"))?;
            for g in &dir.groups {
                let members = serde_json::Value::from(g.members.clone()).to_string();
                ins.execute(params![g.gid, g.name, g.scim_id, members])
                    .map_err(sql("write groups"))?;
            }
            if replace_shadow {
                tx.execute("DELETE FROM shadow", [])
                    .map_err(sql("clear shadow"))?;
                let mut ins = tx
                    .prepare("INSERT INTO shadow (name, pwdp) VALUES (?1, ?2)")
                    .map_err(sql("write shadow"))?;
                for s in &dir.shadow {
                    ins.execute(params![s.name, s.pwdp])
                        .map_err(sql("write shadow"))?;
                }
            } else {
                // Keep hashes only for users that still exist.
                tx.execute(
                    "DELETE FROM shadow WHERE name NOT IN (SELECT name FROM users)",
                    [],
                )
                .map_err(sql("prune shadow"))?;
            }
        }
        record_synced_at(&tx, synced_at, baseline.as_deref(), refused.as_deref())
            .map_err(sql("write sync time"))?;
        tx.commit().map_err(sql("commit"))?;
        Ok(())
    }

    /// Shadow rows currently stored (used when the admin token is unusable).
    pub fn shadow_rows(&self) -> Result<Vec<ShadowEntry>, StoreError> {
        Ok(self.load()?.directory.shadow)
    }

    /// Closes the database cleanly (checkpoints the WAL).
    pub fn close(self) -> Result<(), StoreError> {
        let path = self.path.clone();
        self.conn.close().map_err(|(_, source)| StoreError::Sqlite {
            path,
            op: "close",
            source,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn prepare_dir(path: &Path) -> Result<(), StoreError> {
    let Some(dir) = path.parent() else {
        return Ok(());
    };
    if dir.as_os_str().is_empty() || dir.exists() {
        return Ok(());
    }
    fs::create_dir_all(dir)
        .and_then(|()| fs::set_permissions(dir, fs::Permissions::from_mode(CACHE_DIR_MODE)))
        .map_err(|source| StoreError::Io {
            path: dir.to_path_buf(),
            source,
        })
}

/// Creates the file 0600 before SQLite does (SQLite would honour the umask), and
/// tightens an existing file that is more open than that.
fn ensure_private_file(path: &Path) -> Result<(), StoreError> {
    let io_err = |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(CACHE_FILE_MODE)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
        .map_err(io_err)?;
    let mode = file.metadata().map_err(io_err)?.permissions().mode() & 0o777;
    if mode != CACHE_FILE_MODE {
        log::warn!(
            "cache {}: mode {mode:o} is more open than {CACHE_FILE_MODE:o}; fixing",
            path.display()
        );
        file.set_permissions(fs::Permissions::from_mode(CACHE_FILE_MODE))
            .map_err(io_err)?;
    }
    Ok(())
}

/// Renames a corrupt cache (and its WAL/SHM companions) out of the way.
fn move_aside(path: &Path) -> Result<PathBuf, StoreError> {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let mut target = path.as_os_str().to_owned();
    target.push(format!(".corrupt-{secs}"));
    let target = PathBuf::from(target);
    fs::rename(path, &target).map_err(|source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    for suffix in ["-wal", "-shm"] {
        let mut side = path.as_os_str().to_owned();
        side.push(suffix);
        let side = PathBuf::from(side);
        if side.exists() {
            let mut moved = target.as_os_str().to_owned();
            moved.push(suffix);
            // Leaving a stale WAL beside a new database would corrupt it: remove if the
            // rename fails.
            if fs::rename(&side, PathBuf::from(moved)).is_err() {
                let _ = fs::remove_file(&side);
            }
        }
    }
    Ok(target)
}

/// Applying one change instead of replacing the copy (incremental syncs).
#[path = "store_delta.rs"]
mod delta;

/// Records in `meta` when the copy in the file was last brought up to date (a complete
/// copy or an incremental sync), and the sync baseline that goes with it (or none: a
/// write without one leaves no older baseline behind to be built on), in the
/// transaction that wrote it.
fn record_synced_at(
    tx: &rusqlite::Transaction<'_>,
    synced_at: SystemTime,
    baseline: Option<&str>,
    refused: Option<&str>,
) -> rusqlite::Result<()> {
    let secs = synced_at
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    tx.execute(
        "INSERT OR REPLACE INTO meta (key, value) VALUES ('synced_at', ?1)",
        params![secs.to_string()],
    )?;
    for (key, value) in [(BASELINE_KEY, baseline), (REFUSED_KEY, refused)] {
        match value {
            Some(v) => tx.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)",
                params![key, v],
            )?,
            None => tx.execute("DELETE FROM meta WHERE key = ?1", params![key])?,
        };
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_path(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "wb-store-{tag}-{}-{}",
            std::process::id(),
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        dir.join("cache.db")
    }

    fn sample() -> Directory {
        Directory {
            users: vec![PosixUser {
                scim_id: "u1".into(),
                name: "alice".into(),
                uid: 1001,
                gid: 1001,
                gecos: "Alice".into(),
                home: "/home/alice".into(),
                shell: "/bin/bash".into(),
                active: true,
            }],
            groups: vec![PosixGroup {
                scim_id: "g1".into(),
                name: "devs".into(),
                gid: 2001,
                members: vec!["alice".into()],
            }],
            shadow: vec![ShadowEntry {
                name: "alice".into(),
                pwdp: "$6$s$h".into(),
            }],
            refused: vec![],
            refused_group_gids: vec![],
            same_account: vec![],
        }
    }

    #[test]
    fn round_trip_survives_reopen_and_is_private() {
        let path = temp_path("rt");
        let (mut store, outcome) = Store::open(&path).unwrap();
        assert_eq!(outcome, OpenOutcome::Created);
        let t = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        store.replace_all(&sample(), true, t).unwrap();
        store.close().unwrap();
        let (store, outcome) = Store::open(&path).unwrap();
        assert_eq!(outcome, OpenOutcome::Existing);
        let snap = store.load().unwrap();
        assert_eq!(snap.directory.users, sample().users);
        assert_eq!(snap.directory.groups, sample().groups);
        assert_eq!(snap.directory.shadow, sample().shadow);
        assert_eq!(snap.synced_at, Some(t));
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, CACHE_FILE_MODE);
    }

    #[test]
    fn baseline_is_written_with_the_copy_and_only_with_it() {
        let path = temp_path("baseline");
        let (mut store, _) = Store::open(&path).unwrap();
        assert_eq!(store.baseline(), None);
        store.stage_baseline(Some("v1 1 2 0000000000000003".into()));
        store
            .replace_all(&sample(), true, SystemTime::now())
            .unwrap();
        store.close().unwrap();
        let (mut store, _) = Store::open(&path).unwrap();
        assert_eq!(store.baseline().as_deref(), Some("v1 1 2 0000000000000003"));
        // Taken by the write: the next write without one removes it, so no copy is
        // ever found with another copy's baseline.
        store
            .replace_all(&sample(), true, SystemTime::now())
            .unwrap();
        assert_eq!(store.baseline(), None);
        // The incremental path records it the same way.
        store.stage_baseline(Some("v1 1 5 0000000000000003".into()));
        store
            .apply_change(&Default::default(), SystemTime::now())
            .unwrap();
        assert_eq!(store.baseline().as_deref(), Some("v1 1 5 0000000000000003"));
    }

    #[test]
    fn keeps_shadow_when_not_replaced() {
        let path = temp_path("shadow");
        let (mut store, _) = Store::open(&path).unwrap();
        store
            .replace_all(&sample(), true, SystemTime::now())
            .unwrap();
        let mut no_shadow = sample();
        no_shadow.shadow.clear();
        store
            .replace_all(&no_shadow, false, SystemTime::now())
            .unwrap();
        assert_eq!(store.load().unwrap().directory.shadow.len(), 1);
        no_shadow.users.clear();
        store
            .replace_all(&no_shadow, false, SystemTime::now())
            .unwrap();
        assert!(store.load().unwrap().directory.shadow.is_empty());
    }

    #[test]
    fn corrupt_file_is_moved_aside_and_rebuilt() {
        let path = temp_path("corrupt");
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, vec![0x5a; 8192]).unwrap();
        let (store, outcome) = Store::open(&path).unwrap();
        match outcome {
            OpenOutcome::Rebuilt { moved_to, .. } => assert!(moved_to.exists()),
            other => panic!("expected rebuild, got {other:?}"),
        }
        assert!(store.load().unwrap().directory.users.is_empty());
    }
}
