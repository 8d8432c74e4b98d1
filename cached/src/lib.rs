//! `workbench-cached`: the local daemon behind `libnss_workbench.so.2`.
//!
//! | module | job |
//! | --- | --- |
//! | [`config`] | design.md §3: keys, defaults, parsing, `check-config` |
//! | [`tokens`] | reading, checking and watching the user and admin token files |
//! | [`scim`] | HTTP(S)/unix-socket client for the Workbench SCIM API, paging, errors |
//! | [`directory`] | mapping SCIM resources to POSIX entries and refusing hostile ones |
//! | [`cache`] | SQLite store and in-memory index |
//! | [`server`] | the Unix socket the module and CLI talk to |
//! | [`cli`] | `status`, `invalidate`, `sync`, `check-config` |

pub mod config;
pub mod directory;
pub mod scim;
pub mod tokens;
