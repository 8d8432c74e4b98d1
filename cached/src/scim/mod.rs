//! Client for the Workbench SCIM API (design.md §2).
pub mod attributes;
