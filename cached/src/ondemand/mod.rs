//! Lookups the full copy cannot answer well on its own (design.md §6): a name or id not
//! in the cache, an entry past its `positive-ttl`, an entry past half of it.
//!
//! | file | job |
//! | --- | --- |
//! | [`key`] | what is being looked up |
//! | [`negative`] | "the server said none", remembered for `negative-ttl` |
//! | [`single_flight`] | identical concurrent misses share one SCIM request |
//! | [`gate`] | after a failure, no request until a jittered, growing delay has passed |
//! | [`uid_budget`] | each peer uid's share of the requests (root's unlimited within the node rate) |
//! | [`freshness`] | when each entry was last confirmed by the server |
//! | [`fetch`] | one filtered SCIM request and merging its answer into the served copy |
//! | [`invalidate`] | `workbench-cached invalidate`: entries marked expired |
//! | [`state`] | the above, shared by connection threads, with the daemon's [`crate::state::Shared`] |
//! | [`query`] | what a lookup asks for and which record answers it |
//! | [`resolver`] | the policy: answer, refresh in the background, refetch, or fall back |
pub mod fetch;
pub mod freshness;
pub mod gate;
pub mod invalidate;
pub mod key;
pub mod negative;
pub mod query;
pub mod resolver;
pub mod single_flight;
pub mod state;
pub mod uid_budget;
