//! The two token files as the daemon holds them: read at start, on `SIGHUP`, and
//! whenever a file's fingerprint changes. A 401/403 marks a token rejected: lookups stop
//! using it (no stream of refused requests), but every sync, scheduled or asked for with
//! `workbench-cached sync`, tries it again, so a refusal that ends on the server's side
//! (a proxy answering 401 during a Workbench upgrade, a re-enabled account) heals by
//! itself. The file changing, or `SIGHUP`, clears the mark at once.

use std::path::PathBuf;

use crate::daemon::health::TokenHealth;
use crate::tokens::file::{read_token, TokenKind, TokenState};
use crate::tokens::secret::BearerToken;
use crate::tokens::watch::{fingerprint, Fingerprint};

/// One token file.
#[derive(Debug)]
pub struct TokenSlot {
    kind: TokenKind,
    path: PathBuf,
    seen: Option<Fingerprint>,
    state: TokenState,
    rejected: bool,
}

impl TokenSlot {
    pub fn new(kind: TokenKind, path: PathBuf) -> TokenSlot {
        let mut slot = TokenSlot {
            kind,
            path,
            seen: None,
            state: TokenState::Missing,
            rejected: false,
        };
        slot.reload();
        slot
    }

    /// Re-reads the file unconditionally (start, `SIGHUP`, path change).
    pub fn reload(&mut self) {
        self.seen = fingerprint(&self.path);
        self.state = read_token(&self.path, self.kind);
        self.rejected = false;
        match &self.state {
            TokenState::Ok(_) => log::info!("{}", self.state.message(self.kind, &self.path)),
            other => log::warn!("{}", other.message(self.kind, &self.path)),
        }
    }

    /// Re-reads the file if it changed since the last read; true if it did.
    pub fn reload_if_changed(&mut self) -> bool {
        let now = fingerprint(&self.path);
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
