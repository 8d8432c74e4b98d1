//! User and group names (design.md §6).

/// Longest user or group name, in bytes. Workbench keeps the IdP's `userName` (minus its
/// domain), which is often longer than the 32 bytes `useradd` allows; glibc, `id`, `ls`,
/// PAM and sshd take any length. 64 covers real e-mail local parts while `utmp`'s
/// 32-byte `ut_user` only truncates what `last`/`who` show (documented in the README).
pub const MAX_NAME: usize = 64;

/// Whether `name` is an acceptable user or group name (design.md §6): see
/// [`name_problem`].
pub fn is_valid_posix_name(name: &str) -> bool {
    name_problem(name).is_none()
}

/// Why `name` is not an acceptable user or group name, or `None` when it is.
///
/// Names are kept as the server gives them (Workbench keeps the IdP's case): ASCII
/// letters of either case, digits, `.`, `_` and `-`, at most [`MAX_NAME`] bytes. Refused
/// is only what breaks tools or security: empty, `.` and `..` (path components of a
/// home), a leading `-` (read as an option), all digits (read as an id by `chown`, `id`,
/// `find -user`), and any other character: `:` and `,` (field and member separators),
/// `/` (paths), whitespace, control characters, and non-ASCII (tools disagree on it).
pub fn name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("is empty".into());
    }
    if name.len() > MAX_NAME {
        return Some(format!("is {} bytes (limit {MAX_NAME})", name.len()));
    }
    if name == "." || name == ".." {
        return Some("is '.' or '..'".into());
    }
    if name.starts_with('-') {
        return Some("starts with '-' (read as an option)".into());
    }
    if name.bytes().all(|b| b.is_ascii_digit()) {
        return Some("is all digits (read as a numeric id)".into());
    }
    let bad = name
        .chars()
        .find(|&c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))?;
    let what = match bad {
        ',' => "',' (the member separator)".to_string(),
        '/' => "'/' (a path separator)".to_string(),
        c if c.is_whitespace() => "whitespace".to_string(),
        c if c.is_control() => "a control character".to_string(),
        c => format!("'{}'", c.escape_default()),
    };
    Some(format!(
        "contains {what}; allowed are letters, digits, '.', '_' and '-'"
    ))
}
