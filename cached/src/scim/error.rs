//! Errors of the SCIM client layer.
//!
//! Every variant names the request it concerns by its path and query (for example
//! `/scim/v2/Users?startIndex=1&count=500`), never by anything that could hold a token:
//! the token only ever travels in the `Authorization` header, which no error records.
//! Text that comes from the server (a SCIM `detail`, a `Location`) is untrusted: it is
//! cut to a bounded length and stripped of control characters before it is kept, so a
//! hostile server cannot forge log lines.

use std::fmt;
use std::time::Duration;

use crate::text::one_line::one_line;

/// Longest server-provided text kept in an error (SCIM `detail`, `Location`).
pub(crate) const MAX_SERVER_TEXT: usize = 300;

/// What went wrong talking to the SCIM API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScimError {
    /// The client could not be built from the configuration (bad `ca-file`, `http://` to
    /// a non-loopback host without `allow-insecure-http`, unusable server address).
    Config(String),
    /// The token cannot be sent: it holds characters not allowed in an HTTP header.
    /// Treated like a rejected token.
    InvalidToken { path: String },
    /// 401 or 403: the token was refused. The caller marks it `rejected`.
    Unauthorized { path: String, status: u16 },
    /// A filtered request was answered 400, or the filter was evidently ignored (more
    /// results than an exact match can give), or the value cannot be put in a filter.
    /// The caller falls back to its full copy.
    BadFilter { path: String, reason: String },
    /// Any other status than 200, with the RFC 7644 §3.12 `detail` when the body had one.
    Http {
        path: String,
        status: u16,
        scim_detail: Option<String>,
    },
    /// `request-timeout` elapsed before the whole response (headers and body) arrived.
    Timeout { path: String },
    /// No connection could be made (refused, unknown host, missing Unix socket …).
    Connect { path: String, reason: String },
    /// `http://` without `allow-insecure-http`: the host resolved to an address that is
    /// not loopback, so nothing was sent (design.md §3).
    NotLoopback { path: String, reason: String },
    /// `unix:`: the process listening on the socket, or the directory holding it, is not
    /// one the token may be given to; nothing was sent (design.md §7).
    UntrustedSocket { path: String, reason: String },
    /// TLS failed: certificate not trusted, wrong host name, handshake error.
    Tls { path: String, reason: String },
    /// The connection broke or the HTTP framing was wrong after it was established
    /// (reset, body shorter than its `Content-Length`, bad chunked encoding).
    Transport { path: String, reason: String },
    /// The body is not JSON, or not the ListResponse that was asked for.
    Malformed { path: String, reason: String },
    /// The response exceeded a size limit (body bytes, or an absurd `totalResults`).
    TooLarge { path: String, reason: String },
    /// A paged copy is not complete or not consistent: a page was missing or empty
    /// before `totalResults`, `totalResults` changed between pages, the server answered
    /// another `startIndex` than asked. The whole copy must be dropped.
    Incomplete { path: String, reason: String },
    /// The sync's byte budget (`sync-max-bytes`) ran out during this response: the
    /// server sent more than a whole copy may take. The whole sync must be dropped.
    OverBudget { path: String, max_bytes: u64 },
    /// The sync's deadline (`sync-deadline`) passed before this request could finish.
    /// The whole sync must be dropped.
    PastDeadline { path: String, deadline: Duration },
    /// A 3xx answer. Redirects are never followed: the token must not go elsewhere.
    Redirect {
        path: String,
        status: u16,
        location: Option<String>,
    },
}

impl ScimError {
    /// The token was refused (or cannot be sent): mark it `rejected`, do not retry with
    /// it until it changes.
    pub fn is_auth(&self) -> bool {
        matches!(
            self,
            ScimError::Unauthorized { .. } | ScimError::InvalidToken { .. }
        )
    }

    /// Worth retrying later with backoff: the server is unreachable, slow, overloaded or
    /// answered something broken this time. Not transient: auth errors, a refused filter,
    /// configuration errors, redirects and other 4xx answers, which will not change by
    /// themselves.
    pub fn is_transient(&self) -> bool {
        match self {
            ScimError::Timeout { .. }
            | ScimError::Connect { .. }
            | ScimError::NotLoopback { .. }
            | ScimError::UntrustedSocket { .. }
            | ScimError::Tls { .. }
            | ScimError::Transport { .. }
            | ScimError::Malformed { .. }
            | ScimError::TooLarge { .. }
            | ScimError::Incomplete { .. }
            | ScimError::OverBudget { .. }
            | ScimError::PastDeadline { .. } => true,
            ScimError::Http { status, .. } => *status >= 500 || *status == 429,
            ScimError::Config(_)
            | ScimError::InvalidToken { .. }
            | ScimError::Unauthorized { .. }
            | ScimError::BadFilter { .. }
            | ScimError::Redirect { .. } => false,
        }
    }

    /// The filter cannot be used: fall back to the full copy.
    pub fn is_bad_filter(&self) -> bool {
        matches!(self, ScimError::BadFilter { .. })
    }

    /// The HTTP status, when the server answered one.
    pub fn status(&self) -> Option<u16> {
        match self {
            ScimError::Unauthorized { status, .. }
            | ScimError::Http { status, .. }
            | ScimError::Redirect { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The request path and query the error concerns (empty for [`ScimError::Config`]).
    pub fn path(&self) -> &str {
        match self {
            ScimError::Config(_) => "",
            ScimError::InvalidToken { path }
            | ScimError::Unauthorized { path, .. }
            | ScimError::BadFilter { path, .. }
            | ScimError::Http { path, .. }
            | ScimError::Timeout { path }
            | ScimError::Connect { path, .. }
            | ScimError::NotLoopback { path, .. }
            | ScimError::UntrustedSocket { path, .. }
            | ScimError::Tls { path, .. }
            | ScimError::Transport { path, .. }
            | ScimError::Malformed { path, .. }
            | ScimError::TooLarge { path, .. }
            | ScimError::Incomplete { path, .. }
            | ScimError::OverBudget { path, .. }
            | ScimError::PastDeadline { path, .. }
            | ScimError::Redirect { path, .. } => path,
        }
    }
}

impl fmt::Display for ScimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScimError::Config(reason) => write!(f, "SCIM client configuration: {reason}"),
            ScimError::InvalidToken { path } => write!(
                f,
                "GET {path}: token contains characters not allowed in an HTTP header"
            ),
            ScimError::Unauthorized { path, status } => {
                write!(f, "GET {path}: token refused (HTTP {status})")
            }
            ScimError::BadFilter { path, reason } => {
                write!(f, "GET {path}: filter not usable: {reason}")
            }
            ScimError::Http {
                path,
                status,
                scim_detail,
            } => match scim_detail {
                Some(detail) => write!(f, "GET {path}: HTTP {status}: {detail}"),
                None => write!(f, "GET {path}: HTTP {status}"),
            },
            ScimError::Timeout { path } => write!(f, "GET {path}: timed out"),
            ScimError::Connect { path, reason } => {
                write!(f, "GET {path}: cannot connect: {reason}")
            }
            ScimError::NotLoopback { path, reason } => write!(
                f,
                "GET {path}: not sent: {reason}; http:// without allow-insecure-http=1 \
                 connects only to loopback addresses"
            ),
            ScimError::UntrustedSocket { path, reason } => {
                write!(f, "GET {path}: not sent: untrusted server socket: {reason}")
            }
            ScimError::Tls { path, reason } => write!(f, "GET {path}: TLS error: {reason}"),
            ScimError::Transport { path, reason } => {
                write!(f, "GET {path}: connection failed: {reason}")
            }
            ScimError::Malformed { path, reason } => {
                write!(f, "GET {path}: malformed response: {reason}")
            }
            ScimError::TooLarge { path, reason } => {
                write!(f, "GET {path}: response too large: {reason}")
            }
            ScimError::Incomplete { path, reason } => {
                write!(f, "GET {path}: incomplete copy: {reason}")
            }
            ScimError::OverBudget { path, max_bytes } => write!(
                f,
                "GET {path}: the sync has read sync-max-bytes ({max_bytes} bytes) of responses \
                 and is dropped"
            ),
            ScimError::PastDeadline { path, deadline } => write!(
                f,
                "GET {path}: the sync reached its deadline after {} s (sync-deadline) and is dropped",
                deadline.as_secs()
            ),
            ScimError::Redirect {
                path,
                status,
                location,
            } => match location {
                Some(loc) => write!(
                    f,
                    "GET {path}: redirect (HTTP {status}) to {loc} not followed"
                ),
                None => write!(f, "GET {path}: redirect (HTTP {status}) not followed"),
            },
        }
    }
}

impl std::error::Error for ScimError {}

/// The `detail` of an RFC 7644 §3.12 error body, if the body is one. Public for the
/// fuzz target `scim_list_response`.
pub fn scim_error_detail(body: &[u8]) -> Option<String> {
    use super::attributes::{ERROR_DETAIL, ERROR_SCIM_TYPE};
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let obj = value.as_object()?;
    let detail = obj.get(ERROR_DETAIL).and_then(|d| d.as_str());
    let scim_type = obj.get(ERROR_SCIM_TYPE).and_then(|t| t.as_str());
    let text = match (scim_type, detail) {
        (Some(t), Some(d)) => format!("{t}: {d}"),
        (None, Some(d)) => d.to_string(),
        (Some(t), None) => t.to_string(),
        (None, None) => return None,
    };
    let text = one_line(&text, MAX_SERVER_TEXT);
    (!text.is_empty()).then_some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detail_is_parsed_and_sanitized() {
        let body = br#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],
            "status":"500","scimType":"internal","detail":"db\ndown\u0007"}"#;
        assert_eq!(
            scim_error_detail(body).as_deref(),
            // Escaped, not blanked: one helper for all untrusted text (text::one_line).
            Some("internal: db\\ndown\\u{7}")
        );
        assert_eq!(scim_error_detail(b"<html>oops</html>"), None);
        assert_eq!(scim_error_detail(br#"{"status":"500"}"#), None);
        let long = format!(r#"{{"detail":"{}"}}"#, "x".repeat(5000));
        assert!(scim_error_detail(long.as_bytes()).unwrap().chars().count() <= 301);
    }

    #[test]
    fn classes() {
        let p = String::from("/scim/v2/Users");
        assert!(ScimError::Unauthorized {
            path: p.clone(),
            status: 401
        }
        .is_auth());
        assert!(ScimError::Timeout { path: p.clone() }.is_transient());
        assert!(!ScimError::Timeout { path: p.clone() }.is_auth());
        assert!(ScimError::Http {
            path: p.clone(),
            status: 503,
            scim_detail: None
        }
        .is_transient());
        assert!(!ScimError::Http {
            path: p.clone(),
            status: 404,
            scim_detail: None
        }
        .is_transient());
        assert!(!ScimError::BadFilter {
            path: p,
            reason: String::new()
        }
        .is_transient());
    }
}
