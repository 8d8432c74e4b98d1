//! Client for the Workbench SCIM API (design.md §2).
pub mod attributes;
pub mod budget;
pub mod client;
pub mod delta;
pub mod error;
pub mod lookup;
pub mod nesting;
pub mod paging;
pub mod transport;
mod unix_transport;

pub use client::ScimClient;
pub use error::ScimError;
pub use lookup::{GroupFilter, UserFilter};

#[cfg(test)]
mod test_server;
#[cfg(test)]
mod tests;
