//! The cache: SQLite on disk ([`store`]) and the in-memory [`snapshot`] every lookup is
//! answered from (entries encoded once by [`records`], listed by [`page`]).
pub mod heap;
pub mod key_index;
pub mod member_index;
pub mod name_table;
pub mod page;
pub mod records;
pub mod snapshot;
pub mod store;
