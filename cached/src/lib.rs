//! `workbench-cached`: the local daemon behind `libnss_workbench.so.2`.
//!
//! | module | job |
//! | --- | --- |
//! | [`config`] | design.md §3: keys, defaults, parsing, `check-config` |
//! | [`tokens`] | reading and checking the user and admin token files |
//! | [`scim`] | HTTP(S)/unix-socket client for the Workbench SCIM API, paging, errors |
//! | [`directory`] | mapping SCIM resources to POSIX entries and refusing hostile ones |
//! | [`cache`] | SQLite store and in-memory index |
//! | [`ondemand`] | misses, refreshes, single flight, negative cache, backoff |
//! | [`server`] | the Unix socket the module and CLI talk to |
//! | [`daemon`] | start-up, the sync loop, signals, status, logging |
//! | [`cli`] | argument parsing and the commands that talk to the daemon |
//! | `docs` | (tests only) the README's configuration table and the man pages, rendered and checked |

pub mod cache;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod directory;
#[cfg(test)]
mod docs;
pub mod ondemand;
pub mod scim;
pub mod server;
pub mod tokens;
