//! Requests from the module (lookups) and from the CLI (operator commands).

use crate::codec::{DecodeError, Reader, Writer};

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
    /// `workbench-cached status`: the answer is a JSON document.
    Status,
    /// `workbench-cached invalidate`: root only.
    Invalidate(InvalidateTarget),
    /// `workbench-cached sync`: root only; the answer is a JSON summary.
    Sync,
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
    pub const STATUS: u8 = 16;
    pub const INVALIDATE: u8 = 17;
    pub const SYNC: u8 = 18;
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
    use crate::frame::{FrameHeader, FRAME_HEADER_LEN, MAX_REQUEST_LEN};

    fn round_trip(req: Request) {
        let frame = req.to_frame();
        let hdr: [u8; FRAME_HEADER_LEN] = frame[..FRAME_HEADER_LEN].try_into().unwrap();
        let h = FrameHeader::parse(&hdr, MAX_REQUEST_LEN).unwrap();
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
        round_trip(Request::Invalidate(InvalidateTarget::User(b"a".to_vec())));
        round_trip(Request::Invalidate(InvalidateTarget::Group(b"g".to_vec())));
        round_trip(Request::Invalidate(InvalidateTarget::All));
        round_trip(Request::Sync);
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
