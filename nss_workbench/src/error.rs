//! Why a conversation with the daemon failed. Mapped to an NSS status in exactly one
//! place: [`crate::status::Failure::from_client`].

use std::fmt;

use libc::c_int;
use workbench_wire::DecodeError;

/// Transport or protocol failure talking to `workbench-cached`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientError {
    /// Nobody listens at the socket path (missing, refused, not a socket, path unusable).
    NotRunning,
    /// Something listens at the socket path, but not as a user the module trusts
    /// ([`crate::trust`]): nothing was sent to it.
    UntrustedPeer,
    /// The daemon accepted but did not answer within the lookup deadline.
    TimedOut,
    /// The daemon closed the connection without sending a response.
    Closed,
    /// Any other system call failure (`errno`), e.g. `EMFILE` or `ECONNRESET`.
    Io(c_int),
    /// The daemon answered something that is not a valid response to the request.
    Protocol(DecodeError),
    /// A well-formed answer that does not fit the request: an entry for another key, or
    /// an enumeration page that does not move the cursor forward.
    Inconsistent,
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::NotRunning => write!(f, "workbench-cached is not running"),
            ClientError::UntrustedPeer => {
                write!(f, "the socket's listener is not a trusted workbench-cached")
            }
            ClientError::TimedOut => write!(f, "workbench-cached did not answer in time"),
            ClientError::Closed => write!(f, "workbench-cached closed the connection"),
            ClientError::Io(e) => write!(f, "socket error (errno {e})"),
            ClientError::Protocol(e) => write!(f, "malformed response: {e}"),
            ClientError::Inconsistent => write!(f, "response does not match the request"),
        }
    }
}

impl std::error::Error for ClientError {}

impl From<DecodeError> for ClientError {
    fn from(e: DecodeError) -> Self {
        ClientError::Protocol(e)
    }
}

/// The last `errno` of the calling thread.
pub fn last_errno() -> c_int {
    std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}
