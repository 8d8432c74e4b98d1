//! User and group names.

/// POSIX names: `^[a-z_][a-z0-9_.-]{0,31}$`.
pub const MAX_NAME: usize = 32;

/// Whether `name` matches `^[a-z_][a-z0-9_.-]{0,31}$`.
pub fn is_valid_posix_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    let Some((&first, rest)) = bytes.split_first() else {
        return false;
    };
    bytes.len() <= MAX_NAME
        && (first.is_ascii_lowercase() || first == b'_')
        && rest.iter().all(|&b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'.' | b'-')
        })
}
