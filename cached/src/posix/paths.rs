//! Absolute paths (homes, `home-root`, `home-must-be-under`).

/// Whether `path` is absolute and names its directory one way only: `/` itself, or
/// `/`-separated components none of which is empty (`//`, a trailing `/`), `.` or `..`.
/// A home such as `/home/../etc/x` would otherwise pass a prefix check on `/home` while
/// pointing elsewhere, and tools disagree on what a trailing `/` or `//` means.
pub fn is_normalised_absolute(path: &str) -> bool {
    if path == "/" {
        return true;
    }
    match path.strip_prefix('/') {
        Some(rest) => rest
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != ".."),
        None => false,
    }
}
