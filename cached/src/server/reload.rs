//! Root's `workbench-cached reload` (the unit's `ExecReload=`): the token files as root
//! read them, for a daemon that runs unprivileged and gets the files only as systemd's
//! credential copies, made at start. The sync thread applies them with a configuration
//! reload (what `SIGHUP` does); this waits until it has, so that the answer is the new
//! token states. Lookups are served throughout: nothing restarts.

use std::time::{Duration, Instant};

use workbench_wire::{Status, TokenPush};

use crate::state::{PushedTokens, Shared};
use crate::tokens::file::{parse_token, TokenState};

/// Longest the CLI waits for the sync thread to apply a push (it may be in the middle
/// of a sync, which is bounded by the SCIM timeouts); below systemd's reload timeout.
const RELOAD_WAIT: Duration = Duration::from_secs(60);

/// Hands `user` and `admin` to the sync thread and answers with the token states.
pub fn apply(user: &TokenPush, admin: &TokenPush, shared: &Shared) -> Vec<u8> {
    let mut ticket = 0;
    shared.request(|r| {
        r.reloads_issued += 1;
        ticket = r.reloads_issued;
        r.pushed = Some(PushedTokens {
            user: state_of(user),
            admin: state_of(admin),
        });
        r.reload = true;
    });
    let mut guard = shared.sync_requests();
    let deadline = Instant::now() + RELOAD_WAIT;
    while guard.reloads_done < ticket {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || shared.is_shutting_down() {
            return Status::TryAgain.frame(
                b"the tokens are queued but not applied yet (a sync is running); \
                  they are applied when it ends",
            );
        }
        guard = match shared.sync_wake.wait_timeout(guard, left) {
            Ok((g, _)) => g,
            Err(p) => p.into_inner().0,
        };
    }
    drop(guard);
    let health = shared.health();
    let doc = serde_json::json!({
        "tokens": {
            "user": health.user_token.as_str(),
            "admin": health.admin_token.as_str(),
        }
    });
    Status::Found.frame(doc.to_string().as_bytes())
}

/// The daemon's view of a pushed file: a token is checked as if read from the file.
fn state_of(push: &TokenPush) -> TokenState {
    let text = |m: &[u8]| String::from_utf8_lossy(m).into_owned();
    match push {
        TokenPush::Token(t) => parse_token(t),
        TokenPush::Missing => TokenState::Missing,
        TokenPush::Unreadable(m) => TokenState::Unreadable(text(m)),
        TokenPush::InsecurePermissions(m) => TokenState::InsecurePermissions(text(m)),
        TokenPush::Empty => TokenState::Empty,
    }
}

/// What `workbench-cached reload` sends for a file read with the daemon's reader.
pub fn push_of(state: &TokenState) -> TokenPush {
    match state {
        TokenState::Ok(t) => TokenPush::Token(t.expose().as_bytes().to_vec()),
        TokenState::Missing => TokenPush::Missing,
        TokenState::Unreadable(m) => TokenPush::Unreadable(m.as_bytes().to_vec()),
        TokenState::InsecurePermissions(m) => TokenPush::InsecurePermissions(m.as_bytes().to_vec()),
        TokenState::Empty => TokenPush::Empty,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokens::secret::BearerToken;

    #[test]
    fn push_and_state_agree() {
        for state in [
            TokenState::Ok(BearerToken::new("tok-B".into())),
            TokenState::Missing,
            TokenState::Unreadable("not a regular file".into()),
            TokenState::InsecurePermissions("owned by uid 1".into()),
            TokenState::Empty,
        ] {
            assert_eq!(state_of(&push_of(&state)), state);
        }
    }

    #[test]
    fn a_pushed_token_is_checked_as_a_file_would_be() {
        assert_eq!(
            state_of(&TokenPush::Token(b"  \n".to_vec())),
            TokenState::Empty
        );
        assert!(matches!(
            state_of(&TokenPush::Token(b"a b".to_vec())),
            TokenState::Unreadable(_)
        ));
        assert!(matches!(
            state_of(&TokenPush::Token(b"tok\n".to_vec())),
            TokenState::Ok(t) if t.expose() == "tok"
        ));
    }
}
