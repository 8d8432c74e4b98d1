//! Tokens handed over by systemd (`LoadCredential=`, design.md §7), for a daemon that
//! runs as an unprivileged user and cannot open the root-only token files itself.
//!
//! systemd copies each source file at service start into `$CREDENTIALS_DIRECTORY/<name>`
//! (`user-token`, `admin-token`), owned by the service user, mode 0400, in a directory
//! only that user can read. The copy is what is read; the configured path
//! (`user-token-path`, `admin-token-path`) stays the *source*, and the source's rules
//! still apply, through `stat` (which needs no read permission): a missing source is
//! `missing` (the unit's `SetCredential=` default makes the copy empty instead of
//! failing the start), an admin token source that is not root's secret is
//! `insecure-permissions`, exactly as when the daemon reads the file itself.
//!
//! Without `$CREDENTIALS_DIRECTORY` (not started by systemd: the e2e tests, the demo, a
//! supervisor) the configured paths are read directly, as before.

use super::file::{read_token, TokenKind, TokenState};
use crate::config::trusted_file::{check_trusted_file, TrustRule};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The environment variable systemd sets for a unit with credentials.
pub const CREDENTIALS_ENV: &str = "CREDENTIALS_DIRECTORY";

/// The credential name the units use for `kind` (`LoadCredential=<name>:<path>`).
pub fn credential_name(kind: TokenKind) -> &'static str {
    match kind {
        TokenKind::User => "user-token",
        TokenKind::Admin => "admin-token",
    }
}

/// `$CREDENTIALS_DIRECTORY/<name>` when the daemon was given credentials and this one
/// is among them; `None` means "read the configured path".
pub fn credential_path(kind: TokenKind) -> Option<PathBuf> {
    let dir = std::env::var_os(CREDENTIALS_ENV)?;
    let dir = Path::new(&dir);
    if !dir.is_absolute() {
        return None;
    }
    let path = dir.join(credential_name(kind));
    std::fs::symlink_metadata(&path).ok().map(|_| path)
}

/// Checks `source` (the configured path) as far as `stat` allows, then reads the token
/// from `credential` (systemd's copy of it).
pub fn read_credential(source: &Path, credential: &Path, kind: TokenKind) -> TokenState {
    match std::fs::symlink_metadata(source) {
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::ENOTDIR)) => {
            return TokenState::Missing
        }
        // A directory the service user cannot search: the rule cannot be checked here;
        // systemd (root) read the file, and the copy is still checked below.
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {}
        Err(e) => return TokenState::Unreadable(format!("cannot stat: {e}")),
        Ok(meta) if kind == TokenKind::Admin => {
            if meta.file_type().is_symlink() {
                return TokenState::Unreadable(
                    "is a symbolic link; the admin token must be a regular file owned by root"
                        .to_string(),
                );
            }
            if let Err(message) = check_trusted_file(source, &meta, TrustRule::SecretOfRoot) {
                return TokenState::InsecurePermissions(message);
            }
        }
        Ok(_) => {}
    }
    // The copy: systemd makes it read-only for the service (systemd 257: root:<service
    // group> 0440; older versions: <service user> 0400), in a directory only the service
    // can enter. Anything others could read or anyone could write is not such a copy.
    if kind == TokenKind::Admin {
        if let Ok(meta) = std::fs::metadata(credential) {
            if let Err(why) = check_credential_copy(&meta) {
                return TokenState::InsecurePermissions(format!(
                    "credential {} is owned by uid {} gid {} with mode {:04o}; {why}",
                    credential.display(),
                    meta.uid(),
                    meta.gid(),
                    meta.mode() & 0o7777
                ));
            }
        }
    }
    match read_token(credential, TokenKind::User) {
        TokenState::Unreadable(_) if is_placeholder(credential) => TokenState::Unreadable(format!(
            "systemd could not load {} into the service's credentials (the unit's \
                 SetCredential= default is in its place); see journalctl -u workbench-cached",
            source.display()
        )),
        state => state,
    }
}

/// The unit's `SetCredential=<name>:not loaded` default: systemd refuses an empty value,
/// and these words can never pass as a token (a token has no inner whitespace).
pub const PLACEHOLDER: &str = "not loaded";

fn is_placeholder(credential: &Path) -> bool {
    std::fs::read(credential).is_ok_and(|b| b.trim_ascii() == PLACEHOLDER.as_bytes())
}

/// A credential copy holding the admin token: owned by root or the daemon's user, no
/// write or execute bits, nothing for others, and group read only for root's group or
/// the daemon's own.
fn check_credential_copy(meta: &std::fs::Metadata) -> Result<(), String> {
    // SAFETY: geteuid and getegid have no preconditions and cannot fail.
    let (euid, egid) = unsafe { (libc::geteuid(), libc::getegid()) };
    let mode = meta.mode() & 0o7777;
    let owner_ok = meta.uid() == 0 || meta.uid() == euid;
    let group_ok = mode & 0o070 == 0 || (mode & 0o070 == 0o040 && [0, egid].contains(&meta.gid()));
    if owner_ok && group_ok && mode & 0o7337 == 0 {
        Ok(())
    } else {
        Err(format!(
            "a credential must be read-only and readable only by the daemon (uid {euid} gid \
             {egid}), as systemd's LoadCredential= makes it"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse::tests::TempDir;
    use std::os::unix::fs::PermissionsExt;

    fn file(d: &TempDir, name: &str, content: &[u8], mode: u32) -> PathBuf {
        let p = d.0.join(name);
        std::fs::write(&p, content).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        p
    }

    #[test]
    fn the_copy_is_read_and_the_source_is_only_stat_ed() {
        let d = TempDir::new("cred");
        let source = file(&d, "source", b"old-token\n", 0o600);
        let copy = file(&d, "copy", b"copied-token\n", 0o400);
        for kind in [TokenKind::User, TokenKind::Admin] {
            if kind == TokenKind::Admin && !nix::unistd::geteuid().is_root() {
                continue;
            }
            let s = read_credential(&source, &copy, kind);
            assert_eq!(
                s.token().map(|t| t.expose()),
                Some("copied-token"),
                "{kind}"
            );
        }
    }

    #[test]
    fn a_missing_source_is_missing_even_with_a_default_copy() {
        let d = TempDir::new("cred");
        let copy = file(&d, "copy", b"", 0o400);
        for kind in [TokenKind::User, TokenKind::Admin] {
            let s = read_credential(&d.0.join("absent"), &copy, kind);
            assert_eq!(s, TokenState::Missing);
        }
        // The source exists but the copy is empty: an empty token file.
        let source = file(&d, "source", b"", 0o600);
        assert_eq!(
            read_credential(&source, &copy, TokenKind::User),
            TokenState::Empty
        );
    }

    #[test]
    fn admin_source_rule_still_applies() {
        let d = TempDir::new("cred");
        let source = file(&d, "source", b"tok\n", 0o644);
        let copy = file(&d, "copy", b"tok\n", 0o400);
        let s = read_credential(&source, &copy, TokenKind::Admin);
        let TokenState::InsecurePermissions(msg) = &s else {
            panic!("{s:?}")
        };
        assert!(msg.contains("chmod 600"), "{msg}");
        // The user token has no such rule.
        assert_eq!(
            read_credential(&source, &copy, TokenKind::User).status_str(),
            "ok"
        );
        // A copy readable by others (or writable) is not systemd's; 0440 root:root (root's
        // group, as systemd 257 makes it for a service run as root) is.
        std::fs::set_permissions(&source, std::fs::Permissions::from_mode(0o600)).unwrap();
        if nix::unistd::geteuid().is_root() {
            for (mode, want) in [
                (0o444, "insecure-permissions"),
                (0o600, "insecure-permissions"),
                (0o460, "insecure-permissions"),
                (0o440, "ok"),
                (0o400, "ok"),
            ] {
                std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(mode)).unwrap();
                let s = read_credential(&source, &copy, TokenKind::Admin);
                assert_eq!(s.status_str(), want, "{mode:o}: {s:?}");
            }
        }
    }

    #[test]
    fn the_units_default_says_systemd_could_not_load_the_source() {
        let d = TempDir::new("cred");
        let source = file(&d, "source", b"tok\n", 0o600);
        let copy = file(&d, "copy", PLACEHOLDER.as_bytes(), 0o400);
        let s = read_credential(&source, &copy, TokenKind::User);
        let TokenState::Unreadable(why) = &s else {
            panic!("{s:?}")
        };
        assert!(why.contains("systemd could not load"), "{why}");
        // The unit file carries the same words.
        let unit = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../packaging/workbench-cached.service"
        ))
        .unwrap();
        for kind in [TokenKind::User, TokenKind::Admin] {
            let line = format!("SetCredential={}:{PLACEHOLDER}\n", credential_name(kind));
            assert!(unit.contains(&line), "{line}");
        }
    }

    #[test]
    fn names() {
        assert_eq!(credential_name(TokenKind::User), "user-token");
        assert_eq!(credential_name(TokenKind::Admin), "admin-token");
    }
}
