//! Mapping SCIM resources to POSIX entries (design.md §2) and refusing hostile ones (§6).
pub mod model;
