//! Requests from the module (lookups) and from the CLI (operator commands).

use crate::codec::{DecodeError, Reader, Writer};
use crate::frame::{MAX_PRIVILEGED_REQUEST_LEN, MAX_REQUEST_LEN};

/// Largest number of records one enumeration page may ask for.
pub const MAX_LIST_PAGE: u32 = 1024;

/// One request. Names are raw bytes: the daemon validates them, the module never does
/// anything with them but copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// `getpwnam`.
    PasswdByName(Vec<u8>),
    /// `getpwuid`.
    PasswdByUid(u32),
    /// `getgrnam`.
    GroupByName(Vec<u8>),
    /// `getgrgid`.
    GroupByGid(u32),
    /// `initgroups_dyn`: GIDs of every directory group listing the user (the primary
    /// group included; the module skips it).
    InitGroups(Vec<u8>),
    /// `getspnam`. Answered only for privileged peers.
    ShadowByName(Vec<u8>),
    /// One page of `getpwent`: entries whose uid is greater than `after` (or all when
    /// `after` is `None`), ascending, at most `max`.
    PasswdList { after: Option<u32>, max: u32 },
    /// One page of `getgrent`, keyed by gid like [`Request::PasswdList`].
    GroupList { after: Option<u32>, max: u32 },
    /// One page of `getspent`, keyed by the owner's uid.
    ShadowList { after: Option<u32>, max: u32 },
    /// The fast-path image (`crate::map`): answered `Found` with a [`MapOffer`] payload
    /// and the image's sealed memfd attached (`SCM_RIGHTS`), or `Unavailable` when there
    /// is none right now. `refused` is why this process refused the last image it was
    /// handed (`crate::map::refusal`), so the daemon can count it in `status`.
    MapImage { refused: u8 },
    /// `workbench-cached status`: the answer is a JSON document.
    Status,
    /// `workbench-cached invalidate`: root only.
    Invalidate(InvalidateTarget),
    /// `workbench-cached sync`: root only; the answer is a JSON summary.
    Sync,
    /// `workbench-cached reload`: root only. The token files as root read them (the
    /// daemon runs unprivileged and cannot); the daemon replaces its tokens with these
    /// and re-reads its configuration. The answer is a JSON document of token states.
    Reload { user: TokenPush, admin: TokenPush },
}

/// One token file as `workbench-cached reload` found it: the token, or the state that
/// stands in for it (the text is the reader's message, which never quotes the file).
#[derive(Clone, PartialEq, Eq)]
pub enum TokenPush {
    /// The file's token (trimmed). Never printed: `Debug` is redacted.
    Token(Vec<u8>),
    /// The file does not exist.
    Missing,
    /// The file holds no usable token; why.
    Unreadable(Vec<u8>),
    /// The admin token file is not root's secret; the whole message with the fix.
    InsecurePermissions(Vec<u8>),
    /// The file is empty or only whitespace.
    Empty,
}

impl std::fmt::Debug for TokenPush {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TokenPush::Token(_) => f.write_str("Token(<redacted>)"),
            TokenPush::Missing => f.write_str("Missing"),
            TokenPush::Unreadable(m) => write!(f, "Unreadable({})", String::from_utf8_lossy(m)),
            TokenPush::InsecurePermissions(m) => {
                write!(f, "InsecurePermissions({})", String::from_utf8_lossy(m))
            }
            TokenPush::Empty => f.write_str("Empty"),
        }
    }
}

const PUSH_TOKEN: u8 = 1;
const PUSH_MISSING: u8 = 2;
const PUSH_UNREADABLE: u8 = 3;
const PUSH_INSECURE: u8 = 4;
const PUSH_EMPTY: u8 = 5;

impl TokenPush {
    fn encode(&self, w: &mut Writer) {
        let (kind, text): (u8, &[u8]) = match self {
            TokenPush::Token(t) => (PUSH_TOKEN, t),
            TokenPush::Missing => (PUSH_MISSING, b""),
            TokenPush::Unreadable(m) => (PUSH_UNREADABLE, m),
            TokenPush::InsecurePermissions(m) => (PUSH_INSECURE, m),
            TokenPush::Empty => (PUSH_EMPTY, b""),
        };
        w.u8(kind);
        w.string(text);
    }

    fn decode(r: &mut Reader<'_>) -> Result<TokenPush, DecodeError> {
        let kind = r.u8()?;
        let text = r.string()?.to_vec();
        Ok(match kind {
            PUSH_TOKEN => TokenPush::Token(text),
            PUSH_MISSING => TokenPush::Missing,
            PUSH_UNREADABLE => TokenPush::Unreadable(text),
            PUSH_INSECURE => TokenPush::InsecurePermissions(text),
            PUSH_EMPTY => TokenPush::Empty,
            other => return Err(DecodeError::BadTag(other)),
        })
    }
}

/// The largest payload the daemon reads for a request with `tag` from a peer that is
/// (`root`) or is not uid 0: only root's `reload` may exceed [`MAX_REQUEST_LEN`].
pub fn max_request_len(tag: u8, root: bool) -> u32 {
    if root && tag == tag::RELOAD {
        MAX_PRIVILEGED_REQUEST_LEN
    } else {
        MAX_REQUEST_LEN
    }
}

/// What `invalidate` drops.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InvalidateTarget {
    User(Vec<u8>),
    Group(Vec<u8>),
    All,
}

/// Request tags on the wire.
mod tag {
    pub const PASSWD_BY_NAME: u8 = 1;
    pub const PASSWD_BY_UID: u8 = 2;
    pub const GROUP_BY_NAME: u8 = 3;
    pub const GROUP_BY_GID: u8 = 4;
    pub const INIT_GROUPS: u8 = 5;
    pub const SHADOW_BY_NAME: u8 = 6;
    pub const PASSWD_LIST: u8 = 7;
    pub const GROUP_LIST: u8 = 8;
    pub const SHADOW_LIST: u8 = 9;
    pub const MAP_IMAGE: u8 = 10;
    pub const STATUS: u8 = 16;
    pub const INVALIDATE: u8 = 17;
    pub const SYNC: u8 = 18;
    pub const RELOAD: u8 = 19;
}

const INVALIDATE_USER: u8 = 1;
const INVALIDATE_GROUP: u8 = 2;
const INVALIDATE_ALL: u8 = 3;

impl Request {
    /// Encodes as a full frame ready to write.
    pub fn to_frame(&self) -> Vec<u8> {
        let mut w = Writer::new();
        let t = match self {
            Request::PasswdByName(n) => {
                w.string(n);
                tag::PASSWD_BY_NAME
            }
            Request::PasswdByUid(id) => {
                w.u32(*id);
                tag::PASSWD_BY_UID
            }
            Request::GroupByName(n) => {
                w.string(n);
                tag::GROUP_BY_NAME
            }
            Request::GroupByGid(id) => {
                w.u32(*id);
                tag::GROUP_BY_GID
            }
            Request::InitGroups(n) => {
                w.string(n);
                tag::INIT_GROUPS
            }
            Request::ShadowByName(n) => {
                w.string(n);
                tag::SHADOW_BY_NAME
            }
            Request::PasswdList { after, max } => {
                encode_list(&mut w, *after, *max);
                tag::PASSWD_LIST
            }
            Request::GroupList { after, max } => {
                encode_list(&mut w, *after, *max);
                tag::GROUP_LIST
            }
            Request::ShadowList { after, max } => {
                encode_list(&mut w, *after, *max);
                tag::SHADOW_LIST
            }
            Request::MapImage { refused } => {
                w.u8(*refused);
                tag::MAP_IMAGE
            }
            Request::Status => tag::STATUS,
            Request::Invalidate(target) => {
                match target {
                    InvalidateTarget::User(n) => {
                        w.u8(INVALIDATE_USER);
                        w.string(n);
                    }
                    InvalidateTarget::Group(n) => {
                        w.u8(INVALIDATE_GROUP);
                        w.string(n);
                    }
                    InvalidateTarget::All => w.u8(INVALIDATE_ALL),
                }
                tag::INVALIDATE
            }
            Request::Sync => tag::SYNC,
            Request::Reload { user, admin } => {
                user.encode(&mut w);
                admin.encode(&mut w);
                tag::RELOAD
            }
        };
        crate::frame::encode_frame(t, &w.buf)
    }

    /// Decodes a request payload (the bytes after the frame header).
    pub fn decode(tag: u8, payload: &[u8]) -> Result<Request, DecodeError> {
        let mut r = Reader::new(payload);
        let req = match tag {
            tag::PASSWD_BY_NAME => Request::PasswdByName(r.string()?.to_vec()),
            tag::PASSWD_BY_UID => Request::PasswdByUid(r.u32()?),
            tag::GROUP_BY_NAME => Request::GroupByName(r.string()?.to_vec()),
            tag::GROUP_BY_GID => Request::GroupByGid(r.u32()?),
            tag::INIT_GROUPS => Request::InitGroups(r.string()?.to_vec()),
            tag::SHADOW_BY_NAME => Request::ShadowByName(r.string()?.to_vec()),
            tag::PASSWD_LIST => {
                let (after, max) = decode_list(&mut r)?;
                Request::PasswdList { after, max }
            }
            tag::GROUP_LIST => {
                let (after, max) = decode_list(&mut r)?;
                Request::GroupList { after, max }
            }
            tag::SHADOW_LIST => {
                let (after, max) = decode_list(&mut r)?;
                Request::ShadowList { after, max }
            }
            tag::MAP_IMAGE => Request::MapImage { refused: r.u8()? },
            tag::STATUS => Request::Status,
            tag::INVALIDATE => match r.u8()? {
                INVALIDATE_USER => {
                    Request::Invalidate(InvalidateTarget::User(r.string()?.to_vec()))
                }
                INVALIDATE_GROUP => {
                    Request::Invalidate(InvalidateTarget::Group(r.string()?.to_vec()))
                }
                INVALIDATE_ALL => Request::Invalidate(InvalidateTarget::All),
                other => return Err(DecodeError::BadTag(other)),
            },
            tag::SYNC => Request::Sync,
            tag::RELOAD => Request::Reload {
                user: TokenPush::decode(&mut r)?,
                admin: TokenPush::decode(&mut r)?,
            },
            other => return Err(DecodeError::BadTag(other)),
        };
        r.finish()?;
        Ok(req)
    }

    /// Whether answering needs the shadow privilege check.
    pub fn wants_shadow(&self) -> bool {
        matches!(self, Request::ShadowByName(_) | Request::ShadowList { .. })
    }
}

fn encode_list(w: &mut Writer, after: Option<u32>, max: u32) {
    match after {
        Some(id) => {
            w.u8(1);
            w.u32(id);
        }
        None => {
            w.u8(0);
            w.u32(0);
        }
    }
    w.u32(max);
}

fn decode_list(r: &mut Reader<'_>) -> Result<(Option<u32>, u32), DecodeError> {
    let has = r.u8()?;
    let id = r.u32()?;
    let max = r.u32()?.min(MAX_LIST_PAGE);
    let after = match has {
        0 => None,
        1 => Some(id),
        other => return Err(DecodeError::BadTag(other)),
    };
    Ok((after, max))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{FrameHeader, FRAME_HEADER_LEN};

    fn round_trip(req: Request) {
        let frame = req.to_frame();
        let hdr: [u8; FRAME_HEADER_LEN] = frame[..FRAME_HEADER_LEN].try_into().unwrap();
        let h = FrameHeader::parse(&hdr, max_request_len(hdr[5], true)).unwrap();
        assert_eq!(h.len as usize, frame.len() - FRAME_HEADER_LEN);
        assert_eq!(
            Request::decode(h.tag, &frame[FRAME_HEADER_LEN..]).unwrap(),
            req
        );
    }

    #[test]
    fn all_requests_round_trip() {
        round_trip(Request::PasswdByName(b"alice".to_vec()));
        round_trip(Request::PasswdByUid(1001));
        round_trip(Request::GroupByName(b"devs".to_vec()));
        round_trip(Request::GroupByGid(2001));
        round_trip(Request::InitGroups(b"alice".to_vec()));
        round_trip(Request::ShadowByName(b"alice".to_vec()));
        round_trip(Request::PasswdList {
            after: None,
            max: 10,
        });
        round_trip(Request::GroupList {
            after: Some(5),
            max: 1,
        });
        round_trip(Request::ShadowList {
            after: Some(0),
            max: 1024,
        });
        round_trip(Request::Status);
        round_trip(Request::MapImage { refused: 3 });
        round_trip(Request::Invalidate(InvalidateTarget::User(b"a".to_vec())));
        round_trip(Request::Invalidate(InvalidateTarget::Group(b"g".to_vec())));
        round_trip(Request::Invalidate(InvalidateTarget::All));
        round_trip(Request::Sync);
        round_trip(Request::Reload {
            user: TokenPush::Token(b"tok-A".to_vec()),
            admin: TokenPush::Missing,
        });
        round_trip(Request::Reload {
            user: TokenPush::Empty,
            admin: TokenPush::InsecurePermissions(b"/etc/x is owned by uid 1".to_vec()),
        });
        round_trip(Request::Reload {
            user: TokenPush::Unreadable(b"not a regular file".to_vec()),
            admin: TokenPush::Token(b"adm".to_vec()),
        });
    }

    fn reload_with(len: usize) -> Request {
        Request::Reload {
            user: TokenPush::Token(vec![b'u'; len]),
            admin: TokenPush::Token(vec![b'a'; len]),
        }
    }

    fn header(frame: &[u8]) -> [u8; FRAME_HEADER_LEN] {
        frame[..FRAME_HEADER_LEN].try_into().unwrap()
    }

    #[test]
    fn reload_of_two_largest_tokens_fits_roots_limit_only() {
        // 64 KiB: the daemon's token file limit (tokens/file.rs, MAX_TOKEN_BYTES).
        let frame = reload_with(64 * 1024).to_frame();
        let hdr = header(&frame);
        let tag = hdr[FRAME_HEADER_LEN - 1];
        let root = FrameHeader::parse(&hdr, max_request_len(tag, true)).unwrap();
        assert_eq!(
            Request::decode(root.tag, &frame[FRAME_HEADER_LEN..]).unwrap(),
            reload_with(64 * 1024)
        );
        assert_eq!(
            FrameHeader::parse(&hdr, max_request_len(tag, false)),
            Err(DecodeError::TooLong)
        );
    }

    #[test]
    fn only_roots_reload_gets_the_larger_limit() {
        assert_eq!(max_request_len(tag::RELOAD, false), MAX_REQUEST_LEN);
        assert_eq!(
            max_request_len(tag::RELOAD, true),
            MAX_PRIVILEGED_REQUEST_LEN
        );
        for t in [
            tag::PASSWD_BY_NAME,
            tag::STATUS,
            tag::SYNC,
            tag::INVALIDATE,
            0,
            255,
        ] {
            assert_eq!(max_request_len(t, true), MAX_REQUEST_LEN);
            assert_eq!(max_request_len(t, false), MAX_REQUEST_LEN);
        }
        assert_eq!(MAX_REQUEST_LEN, 4096);
        // A frame over the privileged limit is refused from root too.
        let frame = reload_with(100 * 1024).to_frame();
        assert_eq!(
            FrameHeader::parse(&header(&frame), max_request_len(tag::RELOAD, true)),
            Err(DecodeError::TooLong)
        );
    }

    #[test]
    fn truncated_or_bad_reload_is_refused() {
        let frame = reload_with(10).to_frame();
        let payload = &frame[FRAME_HEADER_LEN..];
        for cut in 0..payload.len() {
            assert!(
                Request::decode(tag::RELOAD, &payload[..cut]).is_err(),
                "cut at {cut}"
            );
        }
        let mut extra = payload.to_vec();
        extra.push(0);
        assert_eq!(
            Request::decode(tag::RELOAD, &extra),
            Err(DecodeError::TrailingBytes)
        );
        let mut bad_kind = payload.to_vec();
        bad_kind[0] = 99;
        assert_eq!(
            Request::decode(tag::RELOAD, &bad_kind),
            Err(DecodeError::BadTag(99))
        );
        // A NUL inside a token is refused like a NUL in a name.
        let nul = Request::Reload {
            user: TokenPush::Token(b"a\0b".to_vec()),
            admin: TokenPush::Missing,
        }
        .to_frame();
        assert_eq!(
            Request::decode(tag::RELOAD, &nul[FRAME_HEADER_LEN..]),
            Err(DecodeError::NulInString)
        );
    }

    #[test]
    fn debug_never_shows_a_token() {
        let text = format!("{:?}", reload_with(8));
        assert!(!text.contains("uuuu") && !text.contains("aaaa"), "{text}");
    }

    #[test]
    fn refuses_garbage() {
        assert_eq!(Request::decode(200, b""), Err(DecodeError::BadTag(200)));
        assert_eq!(
            Request::decode(1, &[5, 0, 0, 0, b'a']),
            Err(DecodeError::TooLong)
        );
        assert_eq!(
            Request::decode(1, &[1, 0, 0, 0, 0]),
            Err(DecodeError::NulInString)
        );
        assert_eq!(
            Request::decode(2, &[1, 0, 0, 0, 9]),
            Err(DecodeError::TrailingBytes)
        );
    }

    #[test]
    fn list_page_is_capped() {
        let frame = Request::PasswdList {
            after: None,
            max: u32::MAX,
        }
        .to_frame();
        let decoded = Request::decode(7, &frame[FRAME_HEADER_LEN..]).unwrap();
        assert_eq!(
            decoded,
            Request::PasswdList {
                after: None,
                max: MAX_LIST_PAGE
            }
        );
    }
}
