//! The owner and mode rule for files that steer trust: the configuration files (read by
//! the daemon at start) and the admin token (read by [`crate::tokens`]). One rule, here,
//! below both.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// The rule a file that steers trust must follow (design.md §3, §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrustRule {
    /// A secret of root's (the admin token): owned by root, no access for group or others.
    SecretOfRoot,
    /// Readable by all but changed only by root (the configuration files): owned by root,
    /// not writable by group or others.
    WrittenByRoot,
}

impl TrustRule {
    fn forbidden_bits(self) -> u32 {
        match self {
            TrustRule::SecretOfRoot => 0o066,
            TrustRule::WrittenByRoot => 0o022,
        }
    }
}

/// Checks the owner and mode of a file that steers trust (`meta` from the open
/// descriptor, so the file checked is the file read). The error is the whole message:
/// the file, its owner and mode, what the rule is, and the command that fixes it.
pub fn check_trusted_file(
    path: &Path,
    meta: &std::fs::Metadata,
    rule: TrustRule,
) -> Result<(), String> {
    let mode = meta.mode() & 0o7777;
    if meta.uid() == 0 && mode & rule.forbidden_bits() == 0 {
        return Ok(());
    }
    let p = path.display();
    let (what, fix) = match rule {
        TrustRule::SecretOfRoot => (
            "the admin token must be owned by root and readable only by root",
            format!("chown root:root {p} && chmod 600 {p}"),
        ),
        TrustRule::WrittenByRoot => (
            "a configuration file must be owned by root and writable only by root",
            format!("chown root:root {p} && chmod go-w {p}"),
        ),
    };
    Err(format!(
        "{p} is owned by uid {} gid {} with mode {mode:04o}; {what} (fix: {fix})",
        meta.uid(),
        meta.gid()
    ))
}
