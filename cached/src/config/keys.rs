//! Every configuration key, its default, the kind of value it takes and a one-line
//! description: the single source of truth for parsing, `check-config` and the man page.

/// Upper bound for every duration key: one year. Larger values are almost certainly a
/// typo (milliseconds, a pasted timestamp) and would overflow nothing useful.
pub const MAX_SECONDS: u64 = 31_536_000;

/// Largest value accepted for an id key: `(uid_t)-1` is never a valid id.
pub const MAX_ID: u32 = u32::MAX - 1;

/// What a key's value must look like. [`ValueKind::expected`] is the phrase used in
/// error messages and documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    /// `https://host[:port][/path]`, `http://…` (loopback unless `allow-insecure-http=1`)
    /// or `unix:/absolute/path`.
    ServerAddress,
    /// An absolute path.
    AbsolutePath,
    /// An absolute path, or empty for "not set".
    OptionalAbsolutePath,
    /// An absolute path that ends up in a passwd field, so it also may not contain `:`.
    PasswdPath,
    /// Whole seconds within `min..=max`.
    Seconds { min: u64, max: u64 },
    /// A whole number within `min..=max`.
    Count { min: u32, max: u32 },
    /// A size in bytes within `min..=max`, digits with an optional `K`, `M` or `G`
    /// suffix (powers of 1024).
    Bytes { min: u64, max: u64 },
    /// A uid or gid; at least 1 (0 is root and never comes from the directory).
    MinimumId,
    /// `0`/`1`, also `true`/`false`, `yes`/`no`, `on`/`off` (any case).
    Bool,
    /// The name of a group in `/etc/group`.
    GroupName,
    /// `error`, `warn`, `info` or `debug`.
    LogLevel,
    /// Comma-separated names (letters, digits, `.`, `_`, `-`; see `validate::name_problem`); empty for none.
    NameList,
    /// Comma-separated normalised absolute paths (no `.`, `..`, `//`, `:`; a trailing `/`
    /// is dropped); empty for none.
    PathList,
    /// Comma-separated ids (1..=4294967294); empty for none.
    IdList,
}

impl ValueKind {
    /// "what is expected", as used in `…: expected <this>, got '…'`.
    pub fn expected(self) -> String {
        match self {
            ValueKind::ServerAddress => {
                "an address of the form https://host[:port][/path], http://loopback-host[:port][/path] or unix:/absolute/path".to_string()
            }
            ValueKind::AbsolutePath => "an absolute path".to_string(),
            ValueKind::OptionalAbsolutePath => "an absolute path (or nothing)".to_string(),
            ValueKind::PasswdPath => "an absolute path without ':'".to_string(),
            ValueKind::Seconds { min, max } => {
                format!("a whole number of seconds ({min}..={max})")
            }
            ValueKind::Count { min, max } => format!("a whole number ({min}..={max})"),
            ValueKind::Bytes { min, max } => format!(
                "a size in bytes, optionally with a K, M or G suffix (powers of 1024) ({}..={})",
                size_text(min),
                size_text(max)
            ),
            ValueKind::MinimumId => format!("a whole number (1..={MAX_ID}); 0 is refused: must be at least 1"),
            ValueKind::Bool => "0 or 1 (also true/false, yes/no, on/off)".to_string(),
            ValueKind::GroupName => "a group name (no ':', whitespace or control characters)".to_string(),
            ValueKind::LogLevel => "one of error, warn, info, debug".to_string(),
            ValueKind::NameList => "comma-separated names (letters, digits, '.', '_', '-'; at most 64 bytes), or nothing".to_string(),
            ValueKind::PathList => "comma-separated absolute paths without '.', '..' or empty components or ':', or nothing".to_string(),
            ValueKind::IdList => format!("comma-separated ids (1..={MAX_ID}), or nothing"),
        }
    }
}

/// `n` as the largest exact `K`/`M`/`G` unit, as a user would write it.
fn size_text(n: u64) -> String {
    for (unit, factor) in [("G", 1u64 << 30), ("M", 1 << 20), ("K", 1 << 10)] {
        if n >= factor && n.is_multiple_of(factor) {
            return format!("{}{unit}", n / factor);
        }
    }
    n.to_string()
}

/// A key's default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefaultValue {
    /// The key must be set in a configuration file.
    Required,
    /// The default, written as it would be in a file (parsed by the same code).
    Value(&'static str),
    /// Unset by default; the text says what that means (e.g. "system roots").
    Unset(&'static str),
}

/// One configuration key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeySpec {
    pub name: &'static str,
    pub default: DefaultValue,
    pub kind: ValueKind,
    /// One line for the man page and `check-config --help`.
    pub doc: &'static str,
}

impl KeySpec {
    /// The default as text: `None` when the key is required, `Some("")` when unset.
    pub fn default_text(&self) -> Option<&'static str> {
        match self.default {
            DefaultValue::Required => None,
            DefaultValue::Value(v) => Some(v),
            DefaultValue::Unset(_) => Some(""),
        }
    }

    /// How the default reads in documentation: `(required)`, the value, or the meaning
    /// of "unset".
    pub fn default_doc(&self) -> &'static str {
        match self.default {
            DefaultValue::Required => "(required)",
            DefaultValue::Value(v) => v,
            DefaultValue::Unset(meaning) => meaning,
        }
    }
}

pub const SERVER_ADDRESS: &str = "server-address";
pub const USER_TOKEN_PATH: &str = "user-token-path";
pub const ADMIN_TOKEN_PATH: &str = "admin-token-path";
pub const SOCKET_PATH: &str = "socket-path";
pub const CACHE_PATH: &str = "cache-path";
pub const CA_FILE: &str = "ca-file";
pub const POSITIVE_TTL: &str = "positive-ttl";
pub const NEGATIVE_TTL: &str = "negative-ttl";
pub const MAX_STALE: &str = "max-stale";
pub const SYNC_INTERVAL: &str = "sync-interval";
pub const FULL_SYNC_INTERVAL: &str = "full-sync-interval";
pub const REQUEST_TIMEOUT: &str = "request-timeout";
pub const PAGE_SIZE: &str = "page-size";
pub const MIN_UID: &str = "min-uid";
pub const MIN_GID: &str = "min-gid";
pub const DEFAULT_SHELL: &str = "default-shell";
pub const HOME_ROOT: &str = "home-root";
pub const HOME_MUST_BE_UNDER: &str = "home-must-be-under";
pub const RESERVED_NAMES: &str = "reserved-names";
pub const LOCAL_PRIMARY_GIDS: &str = "local-primary-gids";
pub const USER_PRIVATE_GROUPS: &str = "user-private-groups";
pub const ENUMERATE: &str = "enumerate";
pub const SHADOW_GROUP: &str = "shadow-group";
pub const ALLOW_INSECURE_HTTP: &str = "allow-insecure-http";
pub const LOG_LEVEL: &str = "log-level";
pub const SYNC_MAX_BYTES: &str = "sync-max-bytes";
pub const SYNC_DEADLINE: &str = "sync-deadline";

/// `reserved-names`' default: names that grant privilege on common distributions (root
/// and its aliases, sudo/admin groups, groups that can read disks, memory, logs or the
/// shadow file, container and VM managers). sudoers matches groups by name, so a
/// directory group or user private group with one of these names is a path to root even
/// where no local group has it (Ubuntu's sudoers grants `%admin` with no `admin` group).
pub const DEFAULT_RESERVED_NAMES: &str = "root,toor,wheel,sudo,admin,adm,shadow,staff,disk,kmem,mem,tty,docker,podman,lxd,incus-admin,libvirt,kvm,systemd-journal";

/// Every key, in the order `check-config` and the man page list them (design.md §3).
pub static KEYS: &[KeySpec] = &[
    KeySpec {
        name: SERVER_ADDRESS,
        default: DefaultValue::Required,
        kind: ValueKind::ServerAddress,
        doc: "Workbench address: https://host[:port][/path], http:// (loopback only unless allow-insecure-http=1), or unix:/path/to/socket; /scim/v2 is appended",
    },
    KeySpec {
        name: USER_TOKEN_PATH,
        default: DefaultValue::Value("/etc/rstudio/nss-user-token"),
        kind: ValueKind::AbsolutePath,
        doc: "file holding the user token (READ, USER level), used for passwd and group data",
    },
    KeySpec {
        name: ADMIN_TOKEN_PATH,
        default: DefaultValue::Value("/etc/rstudio/nss-admin-token"),
        kind: ValueKind::AbsolutePath,
        doc: "file holding the admin token (READ, ADMIN level), used only for shadow data; must be owned by root and not readable by group or others",
    },
    KeySpec {
        name: SOCKET_PATH,
        // The path compiled into the module: one definition for both.
        default: DefaultValue::Value(workbench_wire::DEFAULT_SOCKET_PATH),
        kind: ValueKind::AbsolutePath,
        doc: "Unix socket the daemon listens on; under systemd workbench-cached.socket binds it, and its ListenStream= must be the same path",
    },
    KeySpec {
        name: CACHE_PATH,
        default: DefaultValue::Value("/var/cache/workbench-nss/cache.db"),
        kind: ValueKind::AbsolutePath,
        doc: "SQLite cache file (mode 0600)",
    },
    KeySpec {
        name: CA_FILE,
        default: DefaultValue::Unset("system roots"),
        kind: ValueKind::OptionalAbsolutePath,
        doc: "PEM bundle of a private CA to verify the server with, instead of the system roots",
    },
    KeySpec {
        name: POSITIVE_TTL,
        default: DefaultValue::Value("300"),
        kind: ValueKind::Seconds { min: 0, max: MAX_SECONDS },
        doc: "seconds a cached entry is fresh",
    },
    KeySpec {
        name: NEGATIVE_TTL,
        default: DefaultValue::Value("30"),
        kind: ValueKind::Seconds { min: 0, max: MAX_SECONDS },
        doc: "seconds a confirmed \"no such entry\" is remembered",
    },
    KeySpec {
        name: MAX_STALE,
        default: DefaultValue::Value("604800"),
        kind: ValueKind::Seconds { min: 0, max: MAX_SECONDS },
        doc: "seconds a stale entry may still be served while the server is unreachable",
    },
    KeySpec {
        name: SYNC_INTERVAL,
        default: DefaultValue::Value("600"),
        kind: ValueKind::Seconds { min: 1, max: MAX_SECONDS },
        doc: "seconds between syncs of Users and Groups (with +/-10% jitter): complete copies, or incremental ones where the server supports them (see full-sync-interval); a daemon restarted with a usable cache makes its first sync after a random delay of up to this, and one holding a copy retries a failed sync at this pace after a few quick retries",
    },
    KeySpec {
        name: FULL_SYNC_INTERVAL,
        default: DefaultValue::Value("86400"),
        kind: ValueKind::Seconds { min: 1, max: MAX_SECONDS },
        doc: "seconds between complete copies once incremental syncs work: the syncs in \
              between ask only for what changed (meta.lastModified, 5 minutes of margin) \
              and list ids to find deletions; any sign the server cannot do that means a \
              complete copy",
    },
    KeySpec {
        name: REQUEST_TIMEOUT,
        default: DefaultValue::Value("5"),
        kind: ValueKind::Seconds { min: 1, max: 600 },
        doc: "seconds allowed for one HTTP request",
    },
    KeySpec {
        name: PAGE_SIZE,
        default: DefaultValue::Value("500"),
        kind: ValueKind::Count { min: 1, max: 10_000 },
        doc: "SCIM page size (the count parameter)",
    },
    // Sized for design.md §8 (100,000 users, 10,000 groups, groups of 20,000 members):
    // about 1 KB of JSON per user, fetched twice (user and admin token), and about
    // 2,000,000 memberships at ~100 bytes each make a full copy of ~400 MB; 2G leaves a
    // fivefold margin. 400 pages of 500 at up to 2 s each take ~15 minutes: 30 minutes.
    KeySpec {
        name: SYNC_MAX_BYTES,
        default: DefaultValue::Value("2G"),
        kind: ValueKind::Bytes {
            min: 1 << 20,
            max: 1 << 40,
        },
        doc: "most bytes of response bodies one sync may read (Users, Groups and the admin copy together); past it the sync is dropped and the cache kept",
    },
    KeySpec {
        name: SYNC_DEADLINE,
        default: DefaultValue::Value("1800"),
        kind: ValueKind::Seconds { min: 2, max: 86_400 },
        doc: "seconds one sync may take; past it the sync is dropped and the cache kept",
    },
    KeySpec {
        name: MIN_UID,
        default: DefaultValue::Value("1000"),
        kind: ValueKind::MinimumId,
        doc: "users with a lower UID are refused (never 0)",
    },
    KeySpec {
        name: MIN_GID,
        default: DefaultValue::Value("1000"),
        kind: ValueKind::MinimumId,
        doc: "groups (and primary GIDs) lower than this are refused (never 0)",
    },
    KeySpec {
        name: DEFAULT_SHELL,
        default: DefaultValue::Value("/bin/bash"),
        kind: ValueKind::PasswdPath,
        doc: "login shell of every directory user",
    },
    KeySpec {
        name: HOME_ROOT,
        default: DefaultValue::Value("/home"),
        kind: ValueKind::PasswdPath,
        doc: "home directory parent for users without homeDirectory: <home-root>/<name>",
    },
    KeySpec {
        name: HOME_MUST_BE_UNDER,
        default: DefaultValue::Unset("any absolute path"),
        kind: ValueKind::PathList,
        doc: "roots a home must be strictly below (component-wise: /homeX/a is not under /home); a user whose home (given or derived from home-root) is elsewhere is refused (home_outside_roots)",
    },
    KeySpec {
        name: RESERVED_NAMES,
        default: DefaultValue::Value(DEFAULT_RESERVED_NAMES),
        kind: ValueKind::NameList,
        doc: "user and group names never accepted from the directory, even when no local account has them, compared ignoring ASCII case (reserved_name); a value replaces the whole default list, so to add a name repeat the default and append it",
    },
    KeySpec {
        name: LOCAL_PRIMARY_GIDS,
        default: DefaultValue::Unset("none"),
        kind: ValueKind::IdList,
        doc: "local group gids directory users may have as their primary gid, even below min-gid (a site that puts every directory user in one local group, such as users); any other local group's gid as a primary gid refuses the user (primary_gid_is_local)",
    },
    KeySpec {
        name: USER_PRIVATE_GROUPS,
        default: DefaultValue::Value("1"),
        kind: ValueKind::Bool,
        doc: "answer a group named after the user for a primary GID no SCIM group has",
    },
    KeySpec {
        name: ENUMERATE,
        default: DefaultValue::Value("1"),
        kind: ValueKind::Bool,
        doc: "whether getent passwd/group without a key lists directory entries",
    },
    KeySpec {
        name: SHADOW_GROUP,
        default: DefaultValue::Value("shadow"),
        kind: ValueKind::GroupName,
        doc: "peers with this effective group (from /etc/group) may read shadow data",
    },
    KeySpec {
        name: ALLOW_INSECURE_HTTP,
        default: DefaultValue::Value("0"),
        kind: ValueKind::Bool,
        doc: "allow http:// to a non-loopback host (tokens would cross the network in clear)",
    },
    KeySpec {
        name: LOG_LEVEL,
        default: DefaultValue::Value("info"),
        kind: ValueKind::LogLevel,
        doc: "error, warn, info or debug",
    },
];

/// The spec of `name`, if it is a key we know.
pub fn lookup(name: &str) -> Option<&'static KeySpec> {
    KEYS.iter().find(|k| k.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn names_are_unique_and_lowercase_kebab() {
        let mut seen = HashSet::new();
        for k in KEYS {
            assert!(seen.insert(k.name), "duplicate key {}", k.name);
            assert!(k.name.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'));
            assert!(!k.doc.is_empty());
        }
    }

    #[test]
    fn only_server_address_is_required() {
        let required: Vec<_> = KEYS
            .iter()
            .filter(|k| k.default == DefaultValue::Required)
            .map(|k| k.name)
            .collect();
        assert_eq!(required, vec![SERVER_ADDRESS]);
    }

    #[test]
    fn design_defaults() {
        let d = |n| lookup(n).unwrap().default_text().unwrap();
        assert_eq!(d(POSITIVE_TTL), "300");
        assert_eq!(d(NEGATIVE_TTL), "30");
        assert_eq!(d(MAX_STALE), "604800");
        assert_eq!(d(SYNC_INTERVAL), "600");
        assert_eq!(d(REQUEST_TIMEOUT), "5");
        assert_eq!(d(PAGE_SIZE), "500");
        assert_eq!(d(SYNC_MAX_BYTES), "2G");
        assert_eq!(d(SYNC_DEADLINE), "1800");
        assert_eq!(d(MIN_UID), "1000");
        assert_eq!(d(MIN_GID), "1000");
        assert_eq!(d(SHADOW_GROUP), "shadow");
        assert_eq!(d(CA_FILE), "");
        assert_eq!(lookup(CA_FILE).unwrap().default_doc(), "system roots");
        assert!(lookup("nope").is_none());
    }
}
