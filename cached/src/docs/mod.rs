//! Documentation rendered from the definitions the code runs on, and the tests that fail
//! when the committed copies drift: the README's configuration reference
//! ([`reference`]) and the man pages ([`manpage`]). Compiled for tests only: the shipped
//! binary has no use for them.
pub mod manpage;
pub mod reference;
