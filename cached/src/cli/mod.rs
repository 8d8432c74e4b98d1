//! The operator commands (design.md §4) other than `serve`.
pub mod args;
pub mod client;
pub mod commands;
