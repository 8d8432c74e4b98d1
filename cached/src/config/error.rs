//! Why a configuration was refused. Every message names the file and line (and the key)
//! so an administrator can fix it without reading source code.

use super::address::NotLoopback;
use std::fmt;
use std::path::PathBuf;

use crate::text::one_line::one_line;

/// A configuration the daemon refuses to start with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    /// A file could not be read (other than "not found" for the default pair).
    Io { path: PathBuf, reason: String },
    /// A line that is not `key=value` (or not UTF-8).
    Syntax {
        path: PathBuf,
        line: usize,
        reason: String,
    },
    /// A value of the wrong kind or out of range.
    BadValue {
        path: PathBuf,
        line: usize,
        key: String,
        expected: String,
        got: String,
    },
    /// `server-address` is `http://` to a non-loopback host without `allow-insecure-http=1`.
    InsecureHttp {
        path: PathBuf,
        line: usize,
        problem: NotLoopback,
    },
    /// A configuration file not owned by root, or writable by group or others: whoever
    /// can write it chooses where the tokens go. `message` names the owner, mode and fix.
    InsecurePermissions { path: PathBuf, message: String },
    /// A required key is set in none of the files.
    MissingKey {
        key: String,
        read: Vec<PathBuf>,
        not_found: Vec<PathBuf>,
    },
    /// The key table and the code building [`super::Config`] disagree (a bug; the unit
    /// tests load every default so this cannot ship).
    Internal(String),
}

/// Longest excerpt of an offending value quoted back in a message.
pub(crate) const MAX_QUOTED: usize = 120;

fn list(paths: &[PathBuf]) -> String {
    if paths.is_empty() {
        return "none".to_string();
    }
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Io { path, reason } => {
                write!(f, "{}: cannot read configuration: {reason}", path.display())
            }
            ConfigError::Syntax { path, line, reason } => {
                write!(f, "{}:{line}: {reason}", path.display())
            }
            ConfigError::BadValue {
                path,
                line,
                key,
                expected,
                got,
            } => write!(
                f,
                "{}:{line}: key '{key}': expected {expected}, got '{}'",
                path.display(),
                one_line(got, MAX_QUOTED)
            ),
            ConfigError::InsecureHttp {
                path,
                line,
                problem,
            } => write!(
                f,
                "{}:{line}: key 'server-address': http:// is allowed only to a loopback host \
                 (127.0.0.0/8, ::1, or a name that resolves only to them), and {}: the \
                 tokens would cross the network in clear; use https://, or set \
                 allow-insecure-http=1 if you really mean it",
                path.display(),
                one_line(&problem.to_string(), MAX_QUOTED)
            ),
            ConfigError::InsecurePermissions { message, .. } => {
                write!(f, "configuration refused: {message}")
            }
            ConfigError::MissingKey {
                key,
                read,
                not_found,
            } => {
                write!(
                    f,
                    "required key '{key}' is not set (files read: {}",
                    list(read)
                )?;
                if !not_found.is_empty() {
                    write!(f, "; not found: {}", list(not_found))?;
                }
                f.write_str(")")
            }
            ConfigError::Internal(what) => write!(f, "internal configuration error: {what}"),
        }
    }
}

impl std::error::Error for ConfigError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_value_message_matches_the_documented_shape() {
        let e = ConfigError::BadValue {
            path: "/etc/rstudio/workbench-nss.conf".into(),
            line: 7,
            key: "positive-ttl".into(),
            expected: "a whole number of seconds (0..=31536000)".into(),
            got: "abc".into(),
        };
        assert_eq!(
            e.to_string(),
            "/etc/rstudio/workbench-nss.conf:7: key 'positive-ttl': expected a whole number \
             of seconds (0..=31536000), got 'abc'"
        );
    }

    #[test]
    fn quoted_values_are_escaped_and_bounded() {
        assert_eq!(one_line("a\tb\u{1b}", MAX_QUOTED), "a\\tb\\u{1b}");
        let long = "x".repeat(10_000);
        assert!(one_line(&long, MAX_QUOTED).chars().count() <= MAX_QUOTED + 1);
    }

    #[test]
    fn missing_key_lists_files() {
        let e = ConfigError::MissingKey {
            key: "server-address".into(),
            read: vec!["/a".into()],
            not_found: vec!["/b".into()],
        };
        assert_eq!(
            e.to_string(),
            "required key 'server-address' is not set (files read: /a; not found: /b)"
        );
    }
}
