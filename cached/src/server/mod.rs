//! The Unix socket the module and the CLI talk to (design.md §5, §7).
//!
//! | file | job |
//! | --- | --- |
//! | [`activation`] | taking the socket systemd bound (`workbench-cached.socket`) instead |
//! | [`listener`] | binding the socket (0666 in a 0755 directory), accepting, the connection limit |
//! | [`connection`] | one client: framed reads with deadlines, answers, closing on garbage |
//! | [`burst`] | polling briefly for the next request of a burst instead of sleeping |
//! | [`connection_table`] | live connections by peer uid: per-uid budget, root's reserve, idle ones closed first |
//! | [`peer`] | who is on the other end (`SO_PEERCRED`) and what it may see |
//! | [`map_offer`] | handing the fast-path image (a sealed memfd) to a module |
//! | [`handler`] | turning a request into a response (lookups through the on-demand policy) |
//! | [`status_report`] | the `status` document |
//! | [`reload`] | root's `workbench-cached reload`: tokens handed to the sync thread |
pub mod activation;
pub mod burst;
pub mod connection;
pub mod connection_table;
pub mod handler;
pub mod listener;
pub mod map_offer;
pub mod peer;
pub mod reload;
pub mod status_report;
