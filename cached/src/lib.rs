//! `workbench-cached`: the local daemon behind `libnss_workbench.so.2`.
//!
//! The modules form layers; each uses only the ones below it (`tests/layers.rs` fails
//! on a dependency that goes up, sideways or round in a cycle):
//!
//! | layer | module | job |
//! | --- | --- | --- |
//! | 0 | [`posix`], [`text`], [`schedule`] | leaves: what a name or path may be; timestamps and log-safe text; jittered intervals and backoff |
//! | 1 | [`config`] | design.md §3: keys, defaults, parsing, the server address, `check-config` |
//! | 2 | [`tokens`] | reading and checking the user and admin token files |
//! | 3 | [`scim`] | HTTP(S)/unix-socket client for the Workbench SCIM API, paging, errors |
//! | 4 | [`directory`] | pure data: mapping SCIM resources to POSIX entries, refusing hostile ones, merge rules (uses `scim`'s attribute names) |
//! | 5 | [`cache`] | the served snapshot (in memory) and the SQLite store |
//! | 6 | [`fastpath`] | the in-process map: the snapshot as a sealed memfd image, its generations, lease and expiries |
//! | 7 | [`state`] | what the threads share: configuration, the snapshot, the map publisher, health, counters |
//! | 8 | [`ondemand`] | freshness policy: misses, refreshes, single flight, negative cache, backoff |
//! | 9 | [`server`] | the Unix socket the module and CLI talk to |
//! | 10 | [`daemon`] | orchestration: start-up, the sync loop, the map thread, signals, logging |
//! | 10 | [`cli`] | argument parsing and the commands that talk to the daemon (the wire's peer and reload push from `server`) |
//! | 11 | `docs` | (tests only) the README's configuration table and the man pages, rendered and checked |

pub mod cache;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod directory;
#[cfg(test)]
mod docs;
pub mod fastpath;
pub mod ondemand;
pub mod posix;
pub mod schedule;
pub mod scim;
pub mod server;
pub mod state;
pub mod text;
pub mod tokens;
