//! The two token files as the daemon holds them: read at start, on `SIGHUP`, and
//! whenever a file's fingerprint changes. A 401/403 marks a token rejected: lookups stop
//! using it (no stream of refused requests), but every sync, scheduled or asked for with
//! `workbench-cached sync`, tries it again, so a refusal that ends on the server's side
//! (a proxy answering 401 during a Workbench upgrade, a re-enabled account) heals by
//! itself. The file changing, or `SIGHUP`, clears the mark at once.

use std::path::PathBuf;

use crate::state::health::TokenHealth;
use crate::tokens::credentials::{credential_path, read_credential};
use crate::tokens::file::{read_token, TokenKind, TokenState};
use crate::tokens::secret::BearerToken;
use crate::tokens::watch::{fingerprint, Fingerprint};

/// One token file.
#[derive(Debug)]
pub struct TokenSlot {
    kind: TokenKind,
    /// The configured path: read directly, or only `stat`ed when `credential` is set.
    path: PathBuf,
    /// systemd's copy (`$CREDENTIALS_DIRECTORY/<name>`), when the daemon was given one.
    credential: Option<PathBuf>,
    seen: (Option<Fingerprint>, Option<Fingerprint>),
    state: TokenState,
    rejected: bool,
    /// `state` came from root's `workbench-cached reload`, which read the source file
    /// after systemd made `credential`: the copy is older and must not replace it.
    pushed: bool,
}

impl TokenSlot {
    pub fn new(kind: TokenKind, path: PathBuf) -> TokenSlot {
        let mut slot = TokenSlot {
            kind,
            path,
            credential: credential_path(kind),
            seen: (None, None),
            state: TokenState::Missing,
            rejected: false,
            pushed: false,
        };
        slot.reload();
        slot
    }

    /// Re-reads the file unconditionally (start, `SIGHUP`, path change).
    pub fn reload(&mut self) {
        let previous = self.seen.0;
        self.seen = self.fingerprints();
        self.rejected = false;
        if self.pushed && self.credential.is_some() {
            log::info!(
                "{} token: keeping the one workbench-cached reload read from {} (systemd's \
                 credential copy is older)",
                self.kind,
                self.path.display()
            );
            return;
        }
        let Some(credential) = &self.credential else {
            self.state = read_token(&self.path, self.kind);
            match &self.state {
                TokenState::Ok(_) => log::info!("{}", self.state.message(self.kind, &self.path)),
                other => log::warn!("{}", other.message(self.kind, &self.path)),
            }
            return;
        };
        self.state = read_credential(&self.path, credential, self.kind);
        let c = credential.display();
        let p = self.path.display();
        match &self.state {
            TokenState::Ok(_) => log::info!(
                "{} token read from credential {c} (systemd's copy of {p}, made at service start)",
                self.kind
            ),
            other => log::warn!("{} (credential {c})", other.message(self.kind, &self.path)),
        }
        if previous.is_some() && previous != self.seen.0 {
            // The copy is made at start only; the packaged .path unit restarts the
            // service when the default files change. A path of one's own needs a drop-in.
            log::warn!(
                "{} token file {p} changed; the daemon keeps the copy systemd made at start \
                 until `workbench-cached reload` (systemctl reload workbench-cached) sends \
                 it the new one (workbench-cached-tokens.path does this for the paths it \
                 watches: see README, Rotating tokens)",
                self.kind
            );
        }
    }

    fn fingerprints(&self) -> (Option<Fingerprint>, Option<Fingerprint>) {
        (
            fingerprint(&self.path),
            self.credential.as_deref().and_then(fingerprint),
        )
    }

    /// Replaces the token with what root's `workbench-cached reload` read from the
    /// configured path (the same reader and rules as [`read_token`]).
    pub fn push(&mut self, state: TokenState) {
        if self.credential.is_some() {
            // Read by root after these fingerprints at the latest; without a credential
            // the poll may re-read the file itself, which is harmless.
            self.seen = self.fingerprints();
        }
        self.rejected = false;
        self.pushed = self.credential.is_some();
        self.state = state;
        match &self.state {
            TokenState::Ok(_) => log::info!(
                "{} token read from {} by workbench-cached reload (as root)",
                self.kind,
                self.path.display()
            ),
            other => log::warn!(
                "{} (read by workbench-cached reload)",
                other.message(self.kind, &self.path)
            ),
        }
    }

    /// Re-reads the file if it changed since the last read; true if it did. A token
    /// pushed by `reload` is replaced only by the next push (the credential copy is older).
    pub fn reload_if_changed(&mut self) -> bool {
        let now = self.fingerprints();
        if self.pushed && self.credential.is_some() {
            if now != self.seen {
                self.seen = now;
                log::warn!(
                    "{} token file {} changed; waiting for workbench-cached reload to send it",
                    self.kind,
                    self.path.display()
                );
            }
            return false;
        }
        if now != self.seen {
            self.reload();
            true
        } else {
            false
        }
    }

    pub fn set_path(&mut self, path: PathBuf) {
        if path != self.path {
            self.path = path;
            // A pushed token belongs to the old path.
            self.pushed = false;
            self.reload();
        }
    }

    /// The token, unless missing, unusable or rejected by the server.
    pub fn usable(&self) -> Option<&BearerToken> {
        match &self.state {
            TokenState::Ok(t) if !self.rejected => Some(t),
            _ => None,
        }
    }

    /// The token for a sync: as [`TokenSlot::usable`], but also while rejected, so that
    /// each sync asks the server again (one request per sync interval at most).
    pub fn for_sync(&self) -> Option<&BearerToken> {
        match &self.state {
            TokenState::Ok(t) => Some(t),
            _ => None,
        }
    }

    /// Called on 401/403.
    pub fn mark_rejected(&mut self) {
        if !self.rejected {
            log::error!(
                "{} token {}: rejected by the server (401/403); replace the file's contents \
                 with a valid token (it is re-read automatically); tried again at each sync",
                self.label(),
                self.path.display()
            );
        }
        self.rejected = true;
    }

    /// A request with the token succeeded.
    pub fn mark_accepted(&mut self) {
        self.rejected = false;
    }

    pub fn health(&self) -> TokenHealth {
        if self.rejected {
            return TokenHealth::Rejected;
        }
        match &self.state {
            TokenState::Ok(_) => TokenHealth::Ok,
            TokenState::Missing => TokenHealth::Missing,
            TokenState::InsecurePermissions(_) => TokenHealth::InsecurePermissions,
            _ => TokenHealth::Unreadable,
        }
    }

    fn label(&self) -> &'static str {
        match self.kind {
            TokenKind::User => "user",
            TokenKind::Admin => "admin",
        }
    }
}
