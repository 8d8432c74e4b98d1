//! What an on-demand lookup is for.

/// One entry as the module asks for it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LookupKey {
    UserName(String),
    Uid(u32),
    GroupName(String),
    Gid(u32),
    /// The shadow entry of a user, fetched with the admin token.
    Shadow(String),
}

impl std::fmt::Display for LookupKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LookupKey::UserName(n) => write!(f, "user {n}"),
            LookupKey::Uid(u) => write!(f, "uid {u}"),
            LookupKey::GroupName(n) => write!(f, "group {n}"),
            LookupKey::Gid(g) => write!(f, "gid {g}"),
            LookupKey::Shadow(n) => write!(f, "shadow of {n}"),
        }
    }
}
