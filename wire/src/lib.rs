//! The wire format between `libnss_workbench.so.2` and `workbench-cached`.
//!
//! Pure encode/decode, no I/O and no dependencies, so the NSS module can link it without
//! pulling anything heavy into every process on the node. Every decoder treats its input
//! as hostile: lengths are checked against the buffer before use, nothing panics, and a
//! string containing a NUL byte is refused because it could never be handed to C.
//!
//! A conversation is one request frame and one response frame (see [`frame`]). Records
//! ([`record`]) are self-contained, position-independent byte strings so that a later
//! shared memory-mapped cache can store exactly the same bytes the socket carries.
#![forbid(unsafe_code)]
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

pub mod codec;
pub mod frame;
pub mod map;
pub mod record;
pub mod request;
pub mod response;

pub use codec::DecodeError;
pub use frame::{
    FrameHeader, FRAME_HEADER_LEN, MAX_PRIVILEGED_REQUEST_LEN, MAX_REQUEST_LEN, MAX_RESPONSE_LEN,
    PROTOCOL_VERSION,
};
pub use record::{GroupHead, GroupRecord, Members, PasswdRecord, ShadowRecord};
pub use request::{max_request_len, Request, TokenPush};
pub use response::{ListPage, MapOffer, Status};

/// Compiled-in socket path of the daemon (design.md §5). One definition for both sides.
pub const DEFAULT_SOCKET_PATH: &str = "/run/workbench-nss/socket";

/// Environment variable that overrides [`DEFAULT_SOCKET_PATH`] for ordinary processes.
/// The module reads it with `secure_getenv`, so setuid/setgid programs ignore it.
pub const SOCKET_ENV: &str = "WORKBENCH_NSS_SOCKET";
