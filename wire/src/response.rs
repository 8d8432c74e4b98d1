//! Responses. The frame tag is a [`Status`]; the payload depends on the request:
//!
//! | request | payload when `Found` |
//! | --- | --- |
//! | keyed passwd/group/shadow lookup | one record ([`crate::record`]) |
//! | `InitGroups` | [`crate::record::encode_gid_list`] |
//! | `*List` | a [`ListPage`] |
//! | `MapImage` | a [`MapOffer`], with the image's memfd attached |
//! | `Status`, `Sync`, `Invalidate` | UTF-8 JSON |
//!
//! For any other status the payload is an optional UTF-8 message for operators (the
//! module ignores it).

use crate::codec::{DecodeError, Reader, Writer};

/// Outcome of a request. Each maps to exactly one NSS status/errno pair in the module.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// The entry exists; payload follows.
    Found = 0,
    /// Authoritative "no such entry" (`NSS_STATUS_NOTFOUND`/`ENOENT`).
    NotFound = 1,
    /// Transient: server unreachable and nothing cached (`TRYAGAIN`/`EAGAIN`). Never
    /// turned into `NotFound`.
    TryAgain = 2,
    /// The peer may not see this data (shadow) or run this command (`UNAVAIL`/`EACCES`).
    Denied = 3,
    /// The daemon cannot serve this database at all, e.g. no admin token for shadow
    /// (`UNAVAIL`/`ENOENT`).
    Unavailable = 4,
    /// The request could not be decoded or is not allowed in this form.
    BadRequest = 5,
}

impl Status {
    /// Decodes a frame tag.
    pub fn from_tag(tag: u8) -> Result<Status, DecodeError> {
        Ok(match tag {
            0 => Status::Found,
            1 => Status::NotFound,
            2 => Status::TryAgain,
            3 => Status::Denied,
            4 => Status::Unavailable,
            5 => Status::BadRequest,
            other => return Err(DecodeError::BadTag(other)),
        })
    }

    /// Builds a full response frame.
    pub fn frame(self, payload: &[u8]) -> Vec<u8> {
        crate::frame::encode_frame(self as u8, payload)
    }
}

/// Bytes of an encoded [`ListPage`] before its records: `done`, the key flag, the key
/// and the record count.
pub const LIST_PAGE_HEADER_LEN: usize = 1 + 1 + 4 + 4;

/// Bytes an encoded [`ListPage`] adds to each record: its length prefix.
pub const LIST_RECORD_OVERHEAD: usize = 4;

/// One page of an enumeration: records (each a nested blob) plus the cursor to continue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListPage<'a> {
    /// Encoded records in ascending key order.
    pub records: Vec<&'a [u8]>,
    /// Key of the last record; the next request asks for entries after it.
    pub last_key: Option<u32>,
    /// True when no entries follow this page.
    pub done: bool,
}

impl<'a> ListPage<'a> {
    /// Length of the encoding of a page holding records of these lengths.
    pub fn encoded_len(record_lens: impl IntoIterator<Item = usize>) -> usize {
        record_lens
            .into_iter()
            .fold(LIST_PAGE_HEADER_LEN, |n, len| {
                n.saturating_add(LIST_RECORD_OVERHEAD.saturating_add(len))
            })
    }

    pub fn encode(&self, w: &mut Writer) {
        w.u8(u8::from(self.done));
        match self.last_key {
            Some(k) => {
                w.u8(1);
                w.u32(k);
            }
            None => {
                w.u8(0);
                w.u32(0);
            }
        }
        w.u32(self.records.len().min(u32::MAX as usize) as u32);
        for r in &self.records {
            w.u32(r.len().min(u32::MAX as usize) as u32);
            w.bytes(r);
        }
    }

    pub fn decode(buf: &'a [u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(buf);
        let done = match r.u8()? {
            0 => false,
            1 => true,
            other => return Err(DecodeError::BadTag(other)),
        };
        let has_key = r.u8()?;
        let key = r.u32()?;
        let last_key = match has_key {
            0 => None,
            1 => Some(key),
            other => return Err(DecodeError::BadTag(other)),
        };
        let n = r.count(4)?;
        let mut records = Vec::with_capacity(n);
        for _ in 0..n {
            records.push(r.blob()?);
        }
        r.finish()?;
        Ok(ListPage {
            records,
            last_key,
            done,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_page_round_trip() {
        let a = [0u8, 1, 2];
        let b = [9u8];
        let page = ListPage {
            records: vec![&a, &b],
            last_key: Some(42),
            done: false,
        };
        let mut w = Writer::new();
        page.encode(&mut w);
        assert_eq!(ListPage::decode(&w.buf).unwrap(), page);
        assert_eq!(ListPage::encoded_len([a.len(), b.len()]), w.buf.len());
        let mut empty = Writer::new();
        ListPage {
            records: vec![],
            last_key: None,
            done: true,
        }
        .encode(&mut empty);
        assert_eq!(ListPage::encoded_len([]), empty.buf.len());
    }

    #[test]
    fn status_tags() {
        for s in [
            Status::Found,
            Status::NotFound,
            Status::TryAgain,
            Status::Denied,
            Status::Unavailable,
            Status::BadRequest,
        ] {
            assert_eq!(Status::from_tag(s as u8).unwrap(), s);
        }
        assert!(Status::from_tag(77).is_err());
    }
}

/// The answer to a `MapImage` request; the descriptor travels beside it (`SCM_RIGHTS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MapOffer {
    /// The image's generation (its header must say the same).
    pub generation: u64,
    /// The image's size (the memfd's size must be the same).
    pub len: u64,
}

impl MapOffer {
    /// Bytes of an encoded offer.
    pub const LEN: usize = 16;

    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.u64(self.generation);
        w.u64(self.len);
        w.buf
    }

    pub fn decode(buf: &[u8]) -> Result<MapOffer, DecodeError> {
        let mut r = Reader::new(buf);
        let offer = MapOffer {
            generation: r.u64()?,
            len: r.u64()?,
        };
        r.finish()?;
        Ok(offer)
    }
}
