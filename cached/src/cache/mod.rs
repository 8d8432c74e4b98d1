//! The cache: SQLite on disk ([`store`]) and an immutable in-memory index ([`index`])
//! that every lookup is answered from.
pub mod index;
pub mod store;
