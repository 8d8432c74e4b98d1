//! The cache: SQLite on disk ([`store`]) and the in-memory [`snapshot`] every lookup is
//! answered from (entries encoded once by [`records`], listed by [`page`]).
pub mod page;
pub mod records;
pub mod snapshot;
pub mod store;
