//! Text for people: timestamps in `status`, untrusted text made safe for one log line.
pub mod one_line;
pub mod rfc3339;
