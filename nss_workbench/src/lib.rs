//! `libnss_workbench.so.2`: the glibc NSS module for Posit Workbench users and groups.
//!
//! Every lookup becomes one request frame to `workbench-cached` over a Unix socket and
//! one response frame back (see `workbench_wire`). The module keeps no threads and no
//! state beyond one connection per thread (never reused across a change of pid, euid or
//! egid, never used for shadow data), one replay slot per thread (so a retry after
//! `ERANGE` needs no second round trip) and one enumeration cursor per database.
//!
//! Layout:
//! - [`exports`]: the `extern "C"` entry points glibc calls, nothing else is exported;
//! - [`ffi`]: `catch_unwind`, `*errnop` and [`cancel`]lation handling shared by every
//!   entry point;
//! - [`status`]: the one mapping from outcomes to `nss_status`/`errno`;
//! - [`client`], [`connection`], [`deadline`], [`socket_path`], [`module_fd`]: the
//!   transport;
//! - [`credentials`], [`trust`]: whose request this is, and which daemon may hear it;
//! - [`lookup`], [`enumeration`], [`initgroups`]: the three kinds of NSS call;
//! - [`arena`], [`fill`]: copying records into the caller's buffer;
//! - [`replay`]: the per-thread answer kept for the retry after `ERANGE`;
//! - [`guard`]: the recursion guard (the module is inert inside the daemon);
//! - [`map`]: the in-process fast path: warm passwd/group/initgroups answers read from
//!   the daemon's sealed map image without a system call.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
#![deny(unsafe_op_in_unsafe_fn)]

pub mod arena;
pub mod cancel;
pub mod client;
pub mod connection;
pub mod credentials;
pub mod deadline;
pub mod enumeration;
pub mod error;
pub mod exports;
pub mod ffi;
pub mod fill;
pub mod guard;
pub mod initgroups;
pub mod lookup;
pub mod map;
pub mod module_fd;
pub mod replay;
pub mod socket_path;
pub mod status;
pub mod trust;

pub use deadline::LOOKUP_TIMEOUT;
pub use status::NssStatus;
