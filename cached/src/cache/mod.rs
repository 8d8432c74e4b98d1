//! The cache: SQLite on disk ([`store`]) and the in-memory [`snapshot`] every lookup is
//! answered from.
//!
//! | file | job |
//! | --- | --- |
//! | [`snapshot`] | the served copy: lookups, enumeration pages, the merge rules' view, applying a change |
//! | [`records`] | entries encoded once in the wire format |
//! | [`heap`] | the one buffer every record of a snapshot lives in |
//! | [`key_index`] | name or SCIM id → id, by keyed hash checked against the records |
//! | [`member_index`] | member name → gids of the groups listing it |
//! | [`name_table`] | user name → shadow hash |
//! | [`page`] | enumeration pages cut by count and bytes |
//! | [`store`] | the SQLite cache file a restarted daemon serves until its first sync |
pub mod heap;
pub mod key_index;
pub mod member_index;
pub mod name_table;
pub mod page;
pub mod records;
pub mod snapshot;
pub mod store;
