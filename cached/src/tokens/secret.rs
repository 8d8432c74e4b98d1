//! A bearer token that cannot be printed by accident.

use std::fmt;

/// Bearer token read from a token file. `Debug` and `Display` are redacted so that a
/// stray `{:?}` in a log line or error can never leak it; the only way out is
/// [`BearerToken::expose`], used when building the `Authorization` header.
#[derive(Clone, PartialEq, Eq)]
pub struct BearerToken(String);

impl BearerToken {
    /// Wraps an already-trimmed, non-empty token.
    pub fn new(token: String) -> Self {
        BearerToken(token)
    }

    /// The secret itself. Call only to build the `Authorization` header.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BearerToken(<redacted>)")
    }
}

impl fmt::Display for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Drop for BearerToken {
    fn drop(&mut self) {
        // Best effort: overwrite the bytes so a freed token is not left in the heap.
        // SAFETY-free: replacing every byte with 0 keeps the String valid UTF-8.
        let len = self.0.len();
        self.0.clear();
        self.0.extend(std::iter::repeat_n('\0', len));
    }
}
