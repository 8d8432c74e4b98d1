//! `enum nss_status` and the single table (design.md §5) that turns every outcome of a
//! call into the status/`errno` pair glibc sees.

use libc::c_int;
use workbench_wire::Status;

use crate::error::ClientError;

/// glibc's `enum nss_status` (`<nss.h>`); a C enum is an `int`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NssStatus {
    TryAgain = -2,
    Unavail = -1,
    NotFound = 0,
    Success = 1,
    Return = 2,
}

/// A non-success outcome: the status to return and the `errno` to store in `*errnop`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failure {
    pub status: NssStatus,
    pub errno: c_int,
}

impl Failure {
    /// Authoritative "no such entry", or the end of an enumeration.
    pub const NOT_FOUND: Failure = Failure::new(NssStatus::NotFound, libc::ENOENT);
    /// The caller's buffer is too small; glibc retries with a larger one.
    pub const BUFFER_TOO_SMALL: Failure = Failure::new(NssStatus::TryAgain, libc::ERANGE);
    /// Transient: ask again later. Never cached negatively by nscd.
    pub const TRY_AGAIN: Failure = Failure::new(NssStatus::TryAgain, libc::EAGAIN);
    /// This backend cannot answer; the next one in nsswitch.conf should.
    pub const UNAVAILABLE: Failure = Failure::new(NssStatus::Unavail, libc::ENOENT);
    /// The caller may not read this database (shadow).
    pub const DENIED: Failure = Failure::new(NssStatus::Unavail, libc::EACCES);
    /// The caller passed a null pointer or an inconsistent array. Not a status glibc
    /// itself ever provokes; `UNAVAIL` lets the next backend answer instead of crashing.
    pub const INVALID_ARGUMENT: Failure = Failure::new(NssStatus::Unavail, libc::EINVAL);
    /// `realloc` failed while growing the `initgroups` array (as glibc's own modules).
    pub const NO_MEMORY: Failure = Failure::new(NssStatus::TryAgain, libc::ENOMEM);
    /// A panic was caught at the FFI boundary. `UNAVAIL` so the next backend answers;
    /// cannot happen by construction (panicking constructs are denied crate-wide).
    pub const PANICKED: Failure = Failure::new(NssStatus::Unavail, libc::ENOENT);

    pub const fn new(status: NssStatus, errno: c_int) -> Self {
        Failure { status, errno }
    }

    /// Transport and protocol failures. Only the daemon being absent, or the listener
    /// being someone the module does not trust (as good as absent: nothing was asked),
    /// is `UNAVAIL`; everything else is transient (`TRYAGAIN`/`EAGAIN`), never `NOTFOUND`.
    pub const fn from_client(e: &ClientError) -> Failure {
        match e {
            ClientError::NotRunning | ClientError::UntrustedPeer => Failure::UNAVAILABLE,
            ClientError::TimedOut
            | ClientError::Closed
            | ClientError::Io(_)
            | ClientError::Protocol(_)
            | ClientError::Inconsistent => Failure::TRY_AGAIN,
        }
    }

    /// The daemon's answer; `None` for [`Status::Found`].
    ///
    /// `BadRequest` means the daemon could not make sense of our request (e.g. a version
    /// skew during an upgrade): a protocol disagreement, hence transient like a
    /// malformed response rather than an authoritative "no".
    pub const fn from_wire(s: Status) -> Option<Failure> {
        match s {
            Status::Found => None,
            Status::NotFound => Some(Failure::NOT_FOUND),
            Status::TryAgain | Status::BadRequest => Some(Failure::TRY_AGAIN),
            Status::Denied => Some(Failure::DENIED),
            Status::Unavailable => Some(Failure::UNAVAILABLE),
        }
    }
}

impl From<ClientError> for Failure {
    fn from(e: ClientError) -> Self {
        Failure::from_client(&e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use workbench_wire::DecodeError;

    #[test]
    fn status_values_match_glibc() {
        assert_eq!(NssStatus::TryAgain as i32, -2);
        assert_eq!(NssStatus::Unavail as i32, -1);
        assert_eq!(NssStatus::NotFound as i32, 0);
        assert_eq!(NssStatus::Success as i32, 1);
        assert_eq!(NssStatus::Return as i32, 2);
        assert_eq!(
            std::mem::size_of::<NssStatus>(),
            std::mem::size_of::<c_int>()
        );
    }

    #[test]
    fn wire_statuses() {
        assert_eq!(Failure::from_wire(Status::Found), None);
        let cases = [
            (Status::NotFound, NssStatus::NotFound, libc::ENOENT),
            (Status::TryAgain, NssStatus::TryAgain, libc::EAGAIN),
            (Status::Denied, NssStatus::Unavail, libc::EACCES),
            (Status::Unavailable, NssStatus::Unavail, libc::ENOENT),
            (Status::BadRequest, NssStatus::TryAgain, libc::EAGAIN),
        ];
        for (wire, status, errno) in cases {
            assert_eq!(
                Failure::from_wire(wire),
                Some(Failure::new(status, errno)),
                "{wire:?}"
            );
        }
    }

    #[test]
    fn transport_failures_are_never_not_found() {
        for e in [ClientError::NotRunning, ClientError::UntrustedPeer] {
            assert_eq!(
                Failure::from(e),
                Failure::new(NssStatus::Unavail, libc::ENOENT),
                "{e:?}"
            );
        }
        for e in [
            ClientError::TimedOut,
            ClientError::Closed,
            ClientError::Io(libc::ECONNRESET),
            ClientError::Protocol(DecodeError::Truncated),
            ClientError::Protocol(DecodeError::BadTag(9)),
            ClientError::Inconsistent,
        ] {
            assert_eq!(
                Failure::from(e),
                Failure::new(NssStatus::TryAgain, libc::EAGAIN),
                "{e:?}"
            );
        }
    }

    #[test]
    fn buffer_too_small_is_erange() {
        assert_eq!(
            Failure::BUFFER_TOO_SMALL,
            Failure::new(NssStatus::TryAgain, libc::ERANGE)
        );
    }
}
