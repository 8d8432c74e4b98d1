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
//! | [`merge`] | one entry fetched on its own merged into a [`model::Directory`] with the same rules |
pub mod group_name;
pub mod local_accounts;
pub mod mapping;
pub mod merge;
pub mod model;
pub mod rules;
pub mod validate;

pub use local_accounts::LocalAccounts;
pub use mapping::build_directory;
