//! Token files (design.md §3, §7).
pub mod secret;
