//! The daemon's token file reader (`tokens::file::parse_token`: the part that interprets
//! the bytes `read_token` read). A token it accepts must be fit for an HTTP header, and
//! a refusal must never quote the file's content.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

use cached::tokens::file::parse_token;
use cached::tokens::{TokenKind, TokenState};

/// Runs at least this long are secret-looking enough that a message must not hold them.
const SECRET_RUN: usize = 16;

fuzz_target!(|data: &[u8]| {
    let state = parse_token(data);
    match &state {
        TokenState::Ok(token) => {
            let t = token.expose();
            assert!(!t.is_empty());
            assert!(
                t.bytes().all(|b| b.is_ascii_graphic()),
                "unfit for a header"
            );
            assert!(
                data.windows(t.len()).any(|w| w == t.as_bytes()),
                "token not taken from the file"
            );
        }
        _ => {
            let path = Path::new("/etc/rstudio/workbench-user-token");
            for kind in [TokenKind::User, TokenKind::Admin] {
                let message = state.message(kind, path);
                for run in data.split(|b| !b.is_ascii_alphanumeric()) {
                    if run.len() >= SECRET_RUN {
                        let run = std::str::from_utf8(run).unwrap_or_default();
                        assert!(!message.contains(run), "message quotes the file: {message}");
                    }
                }
            }
        }
    }
});
