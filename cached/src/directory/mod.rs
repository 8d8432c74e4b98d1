//! Mapping SCIM resources to POSIX entries (design.md §2) and refusing hostile ones (§6).
//!
//! | module | job |
//! | --- | --- |
//! | [`model`] | the POSIX view: users, groups, shadow entries, refusals |
//! | [`mapping`] | SCIM Users/Groups → [`model::Directory`] |
//! | [`validate`] | per-field checks (names, ids, homes, hashes, control characters) |
//! | [`group_name`] | Workbench's display-name → group-name coercion |
//! | [`local_accounts`] | `/etc/passwd` and `/etc/group`, read directly (never via NSS) |
//! | [`rules`] | identity rules every path applies: local accounts, reserved names, primary gid, home roots, user private groups |
//! | [`view`] | a directory copy read by key (what the merge rules ask) |
//! | [`change`] | the edits one merge makes ([`change::Change`]) |
//! | [`overlay`] | pending edits over a view, read as the copy they make |
//! | [`merge`] | one entry fetched on its own: the change it makes, with the same rules as a full copy |
//! | [`delta`] | an incremental sync: changed entries and deletions merged by the same rules, or why a full copy is needed |
pub mod change;
pub mod delta;
pub mod group_name;
pub mod local_accounts;
pub mod mapping;
pub mod merge;
pub mod model;
pub mod overlay;
pub mod rules;
pub mod validate;
pub mod view;

pub use local_accounts::LocalAccounts;
pub use mapping::build_directory;
