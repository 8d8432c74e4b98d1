//! What `status` reports about the server, the tokens and refused entries.

use std::collections::BTreeMap;
use std::time::SystemTime;

/// State of one token file, as `status` shows it (design.md §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TokenHealth {
    /// Read and, as far as we know, accepted.
    Ok,
    /// The file does not exist.
    #[default]
    Missing,
    /// The server answered 401/403 with it.
    Rejected,
    /// Admin token file not root-owned or readable by group/others: refused.
    InsecurePermissions,
    /// Exists but could not be read or is empty/garbled.
    Unreadable,
}

impl TokenHealth {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenHealth::Ok => "ok",
            TokenHealth::Missing => "missing",
            TokenHealth::Rejected => "rejected",
            TokenHealth::InsecurePermissions => "insecure-permissions",
            TokenHealth::Unreadable => "unreadable",
        }
    }
}

/// Server and sync state.
#[derive(Debug, Clone, Default)]
pub struct Health {
    pub reachable: Option<bool>,
    pub last_sync: Option<SystemTime>,
    pub last_attempt: Option<SystemTime>,
    pub last_error: Option<String>,
    pub user_token: TokenHealth,
    pub admin_token: TokenHealth,
    /// Refusals of the latest sync, by reason key.
    pub refused: BTreeMap<&'static str, u64>,
    /// Refusal details (kind, SCIM id, reason, detail) for root's `status`.
    pub refused_detail: Vec<(String, String, &'static str, String)>,
    /// A sync that would have emptied the cache is waiting for confirmation.
    pub empty_pending: bool,
    pub consecutive_failures: u32,
    /// The last sync that was applied: what it was and what it cost.
    pub last_sync_report: Option<SyncReport>,
    /// Whether the server answers incremental requests: `unknown`, `supported` or
    /// `unsupported (reason)` (design.md §8).
    pub incremental: Option<String>,
}

/// What one applied sync was and what it fetched (`status`, the sync log and report).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncReport {
    /// `full` or `incremental`.
    pub kind: &'static str,
    /// Why a complete copy (none for an incremental sync).
    pub full_reason: Option<String>,
    /// Response body bytes read.
    pub bytes: u64,
    /// Resources received (ids of a listing included).
    pub resources: u64,
}
