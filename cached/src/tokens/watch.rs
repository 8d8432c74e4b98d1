//! Noticing that a token file changed, by polling a cheap fingerprint (one `stat`).
//!
//! Polling rather than inotify: it survives the directory being replaced, symlink swaps
//! (Kubernetes secrets), and editors that write a new file and rename it over the old
//! one, at the cost of one `stat` per poll.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// What identifies one version of a file. Any write changes `mtime`/`size`; a rename
/// over it changes `ino`; `chmod`/`chown` change `ctime` (so fixing permissions is
/// noticed too).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint {
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    pub mtime_ns: i128,
    pub ctime_ns: i128,
    pub mode: u32,
    pub uid: u32,
}

/// The fingerprint of the file at `path` (following symlinks), or `None` when it cannot
/// be stat'ed (missing, permission denied).
pub fn fingerprint(path: &Path) -> Option<Fingerprint> {
    let m = std::fs::metadata(path).ok()?;
    let ns = |s: i64, n: i64| i128::from(s) * 1_000_000_000 + i128::from(n);
    Some(Fingerprint {
        dev: m.dev(),
        ino: m.ino(),
        size: m.size(),
        mtime_ns: ns(m.mtime(), m.mtime_nsec()),
        ctime_ns: ns(m.ctime(), m.ctime_nsec()),
        mode: m.mode(),
        uid: m.uid(),
    })
}

/// One watched file: remembers the last fingerprint seen.
#[derive(Debug, Clone)]
pub struct Watched {
    path: PathBuf,
    last: Option<Fingerprint>,
}

impl Watched {
    /// Starts watching `path`, taking its current fingerprint as the baseline.
    pub fn new(path: &Path) -> Watched {
        Watched {
            path: path.to_path_buf(),
            last: fingerprint(path),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the file changed (appeared, disappeared, or differs) since the last call
    /// (or `new`); the new fingerprint becomes the baseline.
    pub fn changed(&mut self) -> bool {
        let now = fingerprint(&self.path);
        let changed = now != self.last;
        self.last = now;
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse::tests::TempDir;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn missing_file_has_no_fingerprint() {
        let d = TempDir::new("watch");
        assert_eq!(fingerprint(&d.0.join("nope")), None);
    }

    #[test]
    fn detects_appearance_rewrite_rename_chmod_and_removal() {
        let d = TempDir::new("watch");
        let p = d.0.join("token");
        let mut w = Watched::new(&p);
        assert!(!w.changed());

        std::fs::write(&p, "one").unwrap();
        assert!(w.changed(), "appeared");
        assert!(!w.changed(), "stable");

        // Same size, so only mtime/ctime (or nothing at coarse timestamp granularity)
        // would differ; a different size always shows.
        std::fs::write(&p, "three").unwrap();
        assert!(w.changed(), "rewritten");

        let tmp = d.0.join("token.new");
        std::fs::write(&tmp, "three").unwrap();
        std::fs::rename(&tmp, &p).unwrap();
        assert!(w.changed(), "renamed over (new inode)");

        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o640)).unwrap();
        assert!(w.changed(), "mode changed");

        std::fs::remove_file(&p).unwrap();
        assert!(w.changed(), "removed");
        assert!(!w.changed());
        assert_eq!(w.path(), p.as_path());
    }
}
