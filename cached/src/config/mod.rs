//! Configuration (design.md §3): `key=value` files, every key defined once in
//! [`keys`], parsed and checked in [`parse`], errors in [`error`].
//!
//! `Config::load` and `Config::from_pairs` live in [`parse`]; `check-config`'s text in
//! [`check`].

pub mod address;
pub mod check;
pub mod error;
pub mod keys;
pub mod nsswitch;
pub mod parse;
pub mod trusted_file;
pub mod value;

pub use address::SCIM_BASE_SUFFIX;
pub use error::ConfigError;
pub use parse::{Loaded, Origin, Setting};

use std::path::PathBuf;
use std::time::Duration;

/// Where the SCIM API lives, parsed once ([`address::parse_server_address`]): the
/// configuration check and the transport use this value, never the text again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerAddress {
    /// `https://host[:port][/path]`: `origin` is `https://host[:port]` (lower case),
    /// `base_path` the path ending in `/scim/v2`.
    Https { origin: String, base_path: String },
    /// `http://…`; allowed for loopback hosts, or anywhere with `allow-insecure-http=1`.
    /// `host` is what the loopback rule looks at (classified once, at parse time).
    Http {
        origin: String,
        base_path: String,
        host: address::HttpHost,
    },
    /// `unix:/path/to/socket`: HTTP over a Unix socket; requests go to `/scim/v2/...`.
    Unix { socket: PathBuf, base_path: String },
}

/// The daemon's whole configuration after parsing and cross-key checks.
#[derive(Debug, Clone)]
pub struct Config {
    pub server_address: ServerAddress,
    /// The raw `server-address` value, for `status` (never contains a token).
    pub server_address_text: String,
    pub user_token_path: PathBuf,
    pub admin_token_path: PathBuf,
    pub socket_path: PathBuf,
    pub cache_path: PathBuf,
    pub ca_file: Option<PathBuf>,
    pub positive_ttl: Duration,
    pub negative_ttl: Duration,
    pub max_stale: Duration,
    pub sync_interval: Duration,
    /// `full-sync-interval`: the longest time between complete copies.
    pub full_sync_interval: Duration,
    pub request_timeout: Duration,
    pub page_size: u32,
    pub min_uid: u32,
    pub min_gid: u32,
    pub default_shell: String,
    pub home_root: String,
    /// `home-must-be-under`: normalised absolute roots; empty means any absolute home.
    pub home_must_be_under: Vec<String>,
    /// `reserved-names`: names never accepted from the directory.
    pub reserved_names: std::collections::BTreeSet<String>,
    /// `local-primary-gids`: local gids directory users may have as their primary gid.
    pub local_primary_gids: std::collections::BTreeSet<u32>,
    pub user_private_groups: bool,
    pub enumerate: bool,
    /// Group *name*; the daemon resolves it from `/etc/group` itself (never through NSS).
    pub shadow_group: String,
    pub allow_insecure_http: bool,
    pub log_level: log::LevelFilter,
    /// Most response-body bytes one sync may read (`sync-max-bytes`).
    pub sync_max_bytes: u64,
    /// Longest one sync may take (`sync-deadline`).
    pub sync_deadline: Duration,
}
