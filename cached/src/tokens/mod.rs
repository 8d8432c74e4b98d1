//! Token files (design.md §3, §7): [`mod@file`] reads and checks one, [`watch`] notices
//! when one changed, [`secret`] keeps the token out of logs, [`credentials`] reads the
//! copies systemd hands an unprivileged daemon.
pub mod credentials;
pub mod file;
pub mod secret;
pub mod watch;

pub use file::{read_token, TokenKind, TokenState, TokenStatus};
pub use secret::BearerToken;
