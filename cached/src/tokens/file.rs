//! Reading a token file (design.md §3, §7) into a [`TokenState`].
//!
//! The file is opened once (`O_CLOEXEC | O_NONBLOCK`, plus `O_NOFOLLOW` for the admin
//! token) and every check runs on the open descriptor (`fstat`), so the file that was
//! checked is the file that was read. Surrounding whitespace (a trailing newline from
//! `echo`, CRLF from an editor, a UTF-8 byte-order mark) is trimmed. Nothing read from the
//! file is ever quoted in a message.
//!
//! An empty file (or one holding only whitespace) is [`TokenState::Empty`], reported in
//! `status` as `unreadable`: there is no usable token in it, and the status contract has
//! no separate word for it; the log message says "empty" so the fix is obvious.

use super::secret::BearerToken;
use crate::config::trusted_file::{check_trusted_file, TrustRule};
use std::fmt;
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Token files larger than this are refused (a token is a few hundred bytes).
pub const MAX_TOKEN_BYTES: u64 = 64 * 1024;

/// Which token a file holds; the admin token has ownership and mode rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenKind {
    /// READ/USER token: passwd and group data.
    User,
    /// READ/ADMIN token: shadow data only. Must be a regular file owned by root, not
    /// readable or writable by group or others.
    Admin,
}

impl TokenKind {
    /// `user` or `admin`, as in `status` (`tokens.user`, `tokens.admin`).
    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::User => "user",
            TokenKind::Admin => "admin",
        }
    }
}

impl fmt::Display for TokenKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A token's state in `status` (design.md §4). `Rejected` is not a file state: the SCIM
/// client sets it after a 401/403.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenStatus {
    Ok,
    Missing,
    Rejected,
    InsecurePermissions,
    Unreadable,
}

impl TokenStatus {
    /// `ok`, `missing`, `rejected`, `insecure-permissions` or `unreadable`.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenStatus::Ok => "ok",
            TokenStatus::Missing => "missing",
            TokenStatus::Rejected => "rejected",
            TokenStatus::InsecurePermissions => "insecure-permissions",
            TokenStatus::Unreadable => "unreadable",
        }
    }
}

/// The outcome of reading one token file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenState {
    /// A usable token (trimmed, printable ASCII, no inner whitespace).
    Ok(BearerToken),
    /// The file does not exist.
    Missing,
    /// The file exists but holds no usable token; the reason never quotes the content.
    Unreadable(String),
    /// Admin token not owned by root or accessible to group/others: the whole message,
    /// with the file, its owner and mode, and the fix.
    InsecurePermissions(String),
    /// The file is empty or only whitespace (status `unreadable`).
    Empty,
}

impl TokenState {
    /// The status word of design.md §4.
    pub fn status(&self) -> TokenStatus {
        match self {
            TokenState::Ok(_) => TokenStatus::Ok,
            TokenState::Missing => TokenStatus::Missing,
            TokenState::Unreadable(_) | TokenState::Empty => TokenStatus::Unreadable,
            TokenState::InsecurePermissions(_) => TokenStatus::InsecurePermissions,
        }
    }

    /// `self.status().as_str()`.
    pub fn status_str(&self) -> &'static str {
        self.status().as_str()
    }

    /// The token, when there is one.
    pub fn token(&self) -> Option<&BearerToken> {
        match self {
            TokenState::Ok(t) => Some(t),
            _ => None,
        }
    }

    /// A complete log line describing this state (never containing the token).
    pub fn message(&self, kind: TokenKind, path: &Path) -> String {
        let p = path.display();
        match self {
            TokenState::Ok(_) => format!("{kind} token read from {p}"),
            TokenState::Missing => format!("{kind} token file {p} does not exist"),
            TokenState::Unreadable(reason) => {
                format!("{kind} token file {p} is unusable: {reason}")
            }
            TokenState::InsecurePermissions(msg) => format!("{kind} token refused: {msg}"),
            TokenState::Empty => format!("{kind} token file {p} is empty"),
        }
    }
}

/// Reads and checks the token file at `path`.
pub fn read_token(path: &Path, kind: TokenKind) -> TokenState {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    // O_NONBLOCK: a FIFO planted at the path must not hang the daemon in open().
    let mut flags = libc::O_CLOEXEC | libc::O_NONBLOCK;
    if kind == TokenKind::Admin {
        flags |= libc::O_NOFOLLOW;
    }
    options.custom_flags(flags);
    let file = match options.open(path) {
        Ok(f) => f,
        Err(e) => return open_error(&e, kind),
    };
    let meta = match file.metadata() {
        Ok(m) => m,
        Err(e) => return TokenState::Unreadable(format!("cannot stat: {e}")),
    };
    if !meta.file_type().is_file() {
        return TokenState::Unreadable("not a regular file".to_string());
    }
    if kind == TokenKind::Admin {
        if let Err(message) = check_trusted_file(path, &meta, TrustRule::SecretOfRoot) {
            return TokenState::InsecurePermissions(message);
        }
    }
    if meta.len() > MAX_TOKEN_BYTES {
        return too_large();
    }
    let mut bytes = Vec::new();
    let read = (&file).take(MAX_TOKEN_BYTES + 1).read_to_end(&mut bytes);
    let state = match read {
        Err(e) => TokenState::Unreadable(format!("read failed: {e}")),
        Ok(_) if bytes.len() as u64 > MAX_TOKEN_BYTES => too_large(),
        Ok(_) => parse_token(&bytes),
    };
    // Best effort: do not leave a copy of the secret in freed heap memory.
    bytes.iter_mut().for_each(|b| *b = 0);
    state
}

fn too_large() -> TokenState {
    TokenState::Unreadable(format!(
        "larger than {} KiB; a token file holds one token",
        MAX_TOKEN_BYTES / 1024
    ))
}

fn open_error(e: &io::Error, kind: TokenKind) -> TokenState {
    match e.raw_os_error() {
        Some(libc::ENOENT) | Some(libc::ENOTDIR) => TokenState::Missing,
        Some(libc::ELOOP) if kind == TokenKind::Admin => TokenState::Unreadable(
            "is a symbolic link; the admin token must be a regular file owned by root".to_string(),
        ),
        Some(libc::EACCES) | Some(libc::EPERM) => {
            TokenState::Unreadable("permission denied".to_string())
        }
        _ => TokenState::Unreadable(format!("cannot open: {e}")),
    }
}

/// Checks the content of a token file (the bytes [`read_token`] read, or a token
/// `workbench-cached reload` sent). Never quotes it. Also the fuzz target `token_file`.
pub fn parse_token(bytes: &[u8]) -> TokenState {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return TokenState::Unreadable("not valid UTF-8 text".to_string());
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let token = text.trim();
    if token.is_empty() {
        return TokenState::Empty;
    }
    if token.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return TokenState::Unreadable(
            "whitespace or control characters inside the token (a file holds one token \
             on one line)"
                .to_string(),
        );
    }
    // It goes into an HTTP header: visible ASCII only.
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return TokenState::Unreadable(
            "characters outside printable ASCII in the token".to_string(),
        );
    }
    TokenState::Ok(BearerToken::new(token.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse::tests::TempDir;
    use std::os::unix::fs::PermissionsExt;
    use std::path::PathBuf;

    fn file(d: &TempDir, name: &str, content: &[u8], mode: u32, uid: u32) -> PathBuf {
        let p = d.0.join(name);
        std::fs::write(&p, content).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        std::os::unix::fs::chown(&p, Some(uid), Some(uid)).unwrap();
        p
    }

    fn is_root() -> bool {
        // SAFETY: geteuid has no preconditions and cannot fail.
        unsafe { libc::geteuid() == 0 }
    }

    #[test]
    fn good_tokens_are_trimmed() {
        let d = TempDir::new("tok");
        let uid = nix::unistd::geteuid().as_raw();
        for (content, kind) in [
            (&b"abc.DEF-123_~+/="[..], TokenKind::User),
            (b"  abc.DEF-123_~+/=\n\n", TokenKind::User),
            (b"abc.DEF-123_~+/=\r\n", TokenKind::Admin),
            (b"\xef\xbb\xbfabc.DEF-123_~+/=\n", TokenKind::Admin),
        ] {
            let p = file(&d, "t", content, 0o600, uid);
            if kind == TokenKind::Admin && uid != 0 {
                continue;
            }
            let s = read_token(&p, kind);
            assert_eq!(
                s.token().map(|t| t.expose()),
                Some("abc.DEF-123_~+/="),
                "{content:?}"
            );
            assert_eq!(s.status_str(), "ok");
        }
    }

    #[test]
    fn missing_file() {
        let d = TempDir::new("tok");
        for kind in [TokenKind::User, TokenKind::Admin] {
            let s = read_token(&d.0.join("nope"), kind);
            assert_eq!(s, TokenState::Missing);
            assert_eq!(s.status_str(), "missing");
            let s = read_token(&d.0.join("nope/deeper"), kind);
            assert_eq!(s, TokenState::Missing);
        }
    }

    #[test]
    fn empty_and_blank_files_are_empty() {
        let d = TempDir::new("tok");
        for content in [&b""[..], b"\n", b"  \t\r\n  "] {
            let p = file(&d, "e", content, 0o644, 0);
            let s = read_token(&p, TokenKind::User);
            assert_eq!(s, TokenState::Empty);
            assert_eq!(s.status_str(), "unreadable");
            assert!(s.message(TokenKind::User, &p).contains("is empty"));
        }
    }

    #[test]
    fn bad_content_is_unreadable_and_never_quoted() {
        let d = TempDir::new("tok");
        for content in [
            &b"secret part\n"[..],
            b"secret\tpart",
            b"secret\x00part",
            b"secret\x1bpart",
            b"secret\xffpart",
            "secr\u{e9}tpart".as_bytes(),
            b"line1\nline2\n",
        ] {
            let p = file(&d, "b", content, 0o644, 0);
            let s = read_token(&p, TokenKind::User);
            assert!(matches!(s, TokenState::Unreadable(_)), "{content:?}: {s:?}");
            assert_eq!(s.status_str(), "unreadable");
            let msg = s.message(TokenKind::User, &p);
            assert!(!msg.contains("secr") && !msg.contains("line1"), "{msg}");
        }
    }

    #[test]
    fn huge_file_is_unreadable() {
        let d = TempDir::new("tok");
        let p = file(&d, "h", &vec![b'a'; 64 * 1024 + 1], 0o644, 0);
        let s = read_token(&p, TokenKind::User);
        assert!(
            matches!(&s, TokenState::Unreadable(r) if r.contains("64 KiB")),
            "{s:?}"
        );
        let p = file(&d, "h2", &vec![b'a'; 64 * 1024], 0o644, 0);
        assert_eq!(read_token(&p, TokenKind::User).status_str(), "ok");
    }

    #[test]
    fn directory_and_fifo_are_not_tokens() {
        let d = TempDir::new("tok");
        let s = read_token(&d.0, TokenKind::User);
        assert_eq!(s.status_str(), "unreadable");
        let fifo = d.0.join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        // Must return at once rather than block waiting for a writer.
        let s = read_token(&fifo, TokenKind::User);
        assert!(
            matches!(&s, TokenState::Unreadable(r) if r.contains("regular")),
            "{s:?}"
        );
    }

    #[test]
    fn admin_token_must_be_root_only() {
        if !is_root() {
            eprintln!("skipped: needs root to chown");
            return;
        }
        let d = TempDir::new("tok");
        let ok = file(&d, "a", b"tok\n", 0o600, 0);
        assert_eq!(read_token(&ok, TokenKind::Admin).status_str(), "ok");
        let ok = file(&d, "a0", b"tok\n", 0o400, 0);
        assert_eq!(read_token(&ok, TokenKind::Admin).status_str(), "ok");

        for (name, mode, uid) in [
            ("g", 0o640, 0),
            ("o", 0o604, 0),
            ("gw", 0o620, 0),
            ("n", 0o600, 65534),
        ] {
            let p = file(&d, name, b"tok\n", mode, uid);
            let s = read_token(&p, TokenKind::Admin);
            assert_eq!(s.status_str(), "insecure-permissions", "{name}");
            let TokenState::InsecurePermissions(msg) = &s else {
                panic!("{s:?}")
            };
            let pd = p.display();
            assert!(msg.contains(&format!("uid {uid}")), "{msg}");
            assert!(msg.contains(&format!("mode {mode:04o}")), "{msg}");
            assert!(
                msg.contains(&format!("chown root:root {pd} && chmod 600 {pd}")),
                "{msg}"
            );
            assert!(!msg.contains("tok\n"));
            // The user token has no such rule.
            assert_eq!(read_token(&p, TokenKind::User).status_str(), "ok");
        }
    }

    #[test]
    fn admin_token_symlink_is_refused_user_token_symlink_followed() {
        let d = TempDir::new("tok");
        let uid = nix::unistd::geteuid().as_raw();
        let target = file(&d, "target", b"tok\n", 0o600, uid);
        let link = d.0.join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let s = read_token(&link, TokenKind::Admin);
        assert!(
            matches!(&s, TokenState::Unreadable(r) if r.contains("symbolic link")),
            "{s:?}"
        );
        assert_eq!(read_token(&link, TokenKind::User).status_str(), "ok");
    }

    #[test]
    fn statuses() {
        assert_eq!(TokenStatus::Rejected.as_str(), "rejected");
        assert_eq!(
            TokenState::InsecurePermissions(String::new()).status_str(),
            "insecure-permissions"
        );
        assert_eq!(TokenKind::Admin.to_string(), "admin");
    }
}
