//! Local accounts from `/etc/passwd` and `/etc/group`, read directly: the daemon must
//! never resolve names through NSS (it would end up asking itself). Local accounts win
//! over directory entries (design.md §5).

use std::collections::{HashMap, HashSet};
use std::io;
use std::path::Path;

/// The standard locations.
pub const PASSWD_PATH: &str = "/etc/passwd";
pub const GROUP_PATH: &str = "/etc/group";

/// Names and ids taken by local users and groups.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LocalAccounts {
    pub user_names: HashSet<String>,
    pub uids: HashSet<u32>,
    pub group_names: HashSet<String>,
    pub gids: HashSet<u32>,
    /// Group name → gid; the first line wins, as with the `files` backend.
    group_gid: HashMap<String, u32>,
    /// User name → uid and uid → user name; the first line wins, as with `files`.
    user_uid: HashMap<String, u32>,
    uid_user: HashMap<u32, String>,
    /// Lower-cased user and group name → the name as written: sudo (and other tools)
    /// match names ignoring case by default, so `Deploy` from a directory must not stand
    /// for the local `deploy`.
    user_folded: HashMap<String, String>,
    group_folded: HashMap<String, String>,
}

impl LocalAccounts {
    /// Reads this system's [`PASSWD_PATH`] and [`GROUP_PATH`].
    pub fn load_system() -> io::Result<LocalAccounts> {
        Self::load(Path::new(PASSWD_PATH), Path::new(GROUP_PATH))
    }

    /// Reads `passwd` and `group` (usually [`PASSWD_PATH`], [`GROUP_PATH`]).
    pub fn load(passwd: &Path, group: &Path) -> io::Result<LocalAccounts> {
        let passwd = std::fs::read(passwd)?;
        let group = std::fs::read(group)?;
        Ok(Self::parse(
            &String::from_utf8_lossy(&passwd),
            &String::from_utf8_lossy(&group),
        ))
    }

    /// Parses the text of the two files. Comments, blank lines, NIS `+`/`-` entries and
    /// lines that are not well formed are skipped.
    pub fn parse(passwd: &str, group: &str) -> LocalAccounts {
        let mut local = LocalAccounts::default();
        for fields in records(passwd, 7) {
            if let (Some(name), Some(uid)) = (fields.first(), fields.get(2)) {
                if let Ok(uid) = uid.parse::<u32>() {
                    local.user_names.insert((*name).to_string());
                    local
                        .user_folded
                        .entry(name.to_ascii_lowercase())
                        .or_insert_with(|| (*name).to_string());
                    local.uids.insert(uid);
                    local.user_uid.entry((*name).to_string()).or_insert(uid);
                    local
                        .uid_user
                        .entry(uid)
                        .or_insert_with(|| (*name).to_string());
                }
            }
        }
        for fields in records(group, 4) {
            if let (Some(name), Some(gid)) = (fields.first(), fields.get(2)) {
                if let Ok(gid) = gid.parse::<u32>() {
                    local.group_names.insert((*name).to_string());
                    local
                        .group_folded
                        .entry(name.to_ascii_lowercase())
                        .or_insert_with(|| (*name).to_string());
                    local.gids.insert(gid);
                    local.group_gid.entry((*name).to_string()).or_insert(gid);
                }
            }
        }
        local
    }

    /// The uid of local user `name`, as `getpwnam` through `files` would give it.
    pub fn uid_of_user(&self, name: &str) -> Option<u32> {
        self.user_uid.get(name).copied()
    }

    /// The local user whose name equals `name` ignoring ASCII case, if any.
    pub fn user_named_like(&self, name: &str) -> Option<&str> {
        self.user_folded
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }

    /// The local group whose name equals `name` ignoring ASCII case, if any.
    pub fn group_named_like(&self, name: &str) -> Option<&str> {
        self.group_folded
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }

    /// The name of the local user with `uid`, as `getpwuid` through `files` would give it.
    pub fn user_with_uid(&self, uid: u32) -> Option<&str> {
        self.uid_user.get(&uid).map(String::as_str)
    }

    /// The gid of local group `name` (resolves `shadow-group`).
    pub fn gid_of_group(&self, name: &str) -> Option<u32> {
        self.group_gid.get(name).copied()
    }
}

/// The `:`-separated fields of each usable line that has exactly `count` fields.
fn records(text: &str, count: usize) -> impl Iterator<Item = Vec<&str>> {
    text.lines().filter_map(move |line| {
        let line = line.trim_end_matches('\r');
        if line.is_empty() || line.starts_with(['#', '+', '-']) {
            return None;
        }
        let fields: Vec<&str> = line.split(':').collect();
        let name_ok = fields.first().is_some_and(|n| !n.is_empty());
        (fields.len() == count && name_ok).then_some(fields)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse::tests::TempDir;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/bash\n\
        # a comment\n\
        \n\
        daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n\
        garbage line\n\
        bad:x:notanumber:1::/:/bin/sh\n\
        short:x:5\n\
        +nisuser::::::\n\
        localuser:x:1000:1000:Local,,,:/home/localuser:/bin/bash\r\n\
        :x:7:7::/:/bin/sh\n";
    const GROUP: &str = "root:x:0:\n\
        shadow:x:42:\n\
        users:x:100:alice,bob\n\
        #comment:x:5:\n\
        shadow:x:43:\n\
        broken:x:\n\
        huge:x:99999999999:\n";

    #[test]
    fn parses_valid_lines_and_skips_the_rest() {
        let l = LocalAccounts::parse(PASSWD, GROUP);
        let mut names: Vec<_> = l.user_names.iter().cloned().collect();
        names.sort();
        assert_eq!(names, vec!["daemon", "localuser", "root"]);
        assert!(l.uids.contains(&0) && l.uids.contains(&1) && l.uids.contains(&1000));
        assert!(!l.uids.contains(&5) && !l.uids.contains(&7));
        let mut groups: Vec<_> = l.group_names.iter().cloned().collect();
        groups.sort();
        assert_eq!(groups, vec!["root", "shadow", "users"]);
        assert_eq!(l.gid_of_group("shadow"), Some(42), "first line wins");
        assert_eq!(l.gid_of_group("users"), Some(100));
        assert_eq!(l.gid_of_group("nope"), None);
        assert_eq!(l.uid_of_user("localuser"), Some(1000));
        assert_eq!(l.user_with_uid(1), Some("daemon"));
        assert_eq!(l.uid_of_user("nope"), None);
        assert!(l.gids.contains(&43));
    }

    #[test]
    fn loads_files_and_reports_missing_ones() {
        let d = TempDir::new("local");
        let p = d.write("passwd", PASSWD);
        let g = d.write("group", GROUP);
        let l = LocalAccounts::load(&p, &g).unwrap();
        assert!(l.user_names.contains("localuser"));
        assert!(LocalAccounts::load(&d.0.join("nope"), &g).is_err());
    }

    #[test]
    fn loads_the_real_system_files() {
        let l = LocalAccounts::load(Path::new(PASSWD_PATH), Path::new(GROUP_PATH)).unwrap();
        assert!(l.user_names.contains("root") && l.uids.contains(&0));
        assert_eq!(l.gid_of_group("root"), Some(0));
    }
}
