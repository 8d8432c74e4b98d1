//! Per-entry records: the answer to one keyed lookup.
//!
//! Each record is a self-contained byte string with no pointers or offsets into anything
//! else, so the same bytes can live in a read-only shared memory-mapped cache later and be
//! decoded in place with the same functions. Strings are `u32` length + bytes (no NUL
//! terminator, and a NUL inside is a decode error); integers are little-endian.
//!
//! ```text
//! passwd: u32 uid, u32 gid, str name, str passwd, str gecos, str dir, str shell
//! group:  u32 gid, str name, str passwd, u32 n, n × str member
//! shadow: str name, str pwdp, i64 lstchg, i64 min, i64 max, i64 warn, i64 inact,
//!         i64 expire, u64 flag
//! ```
//!
//! Decoding borrows from the input, so the module copies each field exactly once: from
//! the socket buffer into the caller's buffer.

use crate::codec::{contains_nul, DecodeError, Reader, Writer};

/// A `struct passwd` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswdRecord<'a> {
    /// `pw_name`.
    pub name: &'a [u8],
    /// `pw_passwd`: always `x` for directory users; the hash lives in shadow.
    pub passwd: &'a [u8],
    /// `pw_uid`.
    pub uid: u32,
    /// `pw_gid`.
    pub gid: u32,
    /// `pw_gecos`.
    pub gecos: &'a [u8],
    /// `pw_dir`.
    pub dir: &'a [u8],
    /// `pw_shell`.
    pub shell: &'a [u8],
}

/// A `struct group` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRecord<'a> {
    /// `gr_name`.
    pub name: &'a [u8],
    /// `gr_passwd`: always `x`.
    pub passwd: &'a [u8],
    /// `gr_gid`.
    pub gid: u32,
    /// `gr_mem`, in the daemon's order.
    pub members: Vec<&'a [u8]>,
}

/// A `struct spwd` entry. `-1` means "empty field" as in `/etc/shadow`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShadowRecord<'a> {
    /// `sp_namp`.
    pub name: &'a [u8],
    /// `sp_pwdp`: crypt hash, `*` when none, `!`-prefixed when locked.
    pub pwdp: &'a [u8],
    /// `sp_lstchg`; never 0 (pam_unix reads 0 as "must change password").
    pub lstchg: i64,
    /// `sp_min`.
    pub min: i64,
    /// `sp_max`.
    pub max: i64,
    /// `sp_warn`.
    pub warn: i64,
    /// `sp_inact`.
    pub inact: i64,
    /// `sp_expire`.
    pub expire: i64,
    /// `sp_flag`.
    pub flag: u64,
}

impl<'a> PasswdRecord<'a> {
    pub fn encode(&self, w: &mut Writer) {
        w.u32(self.uid);
        w.u32(self.gid);
        w.string(self.name);
        w.string(self.passwd);
        w.string(self.gecos);
        w.string(self.dir);
        w.string(self.shell);
    }

    pub fn decode(buf: &'a [u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(buf);
        let uid = r.u32()?;
        let gid = r.u32()?;
        let rec = PasswdRecord {
            uid,
            gid,
            name: r.string()?,
            passwd: r.string()?,
            gecos: r.string()?,
            dir: r.string()?,
            shell: r.string()?,
        };
        r.finish()?;
        Ok(rec)
    }

    /// Bytes of string data including one NUL per field: what the caller's buffer must
    /// hold.
    pub fn string_bytes(&self) -> usize {
        [self.name, self.passwd, self.gecos, self.dir, self.shell]
            .iter()
            .map(|s| s.len() + 1)
            .sum()
    }
}

impl<'a> GroupRecord<'a> {
    pub fn encode(&self, w: &mut Writer) {
        w.u32(self.gid);
        w.string(self.name);
        w.string(self.passwd);
        w.u32(self.members.len().min(u32::MAX as usize) as u32);
        for m in &self.members {
            w.string(m);
        }
    }

    pub fn decode(buf: &'a [u8]) -> Result<Self, DecodeError> {
        let head = GroupHead::decode(buf)?;
        let mut members = Vec::with_capacity(head.members.len());
        head.members.try_for_each(|m| {
            members.push(m);
            Ok::<(), DecodeError>(())
        })?;
        Ok(GroupRecord {
            name: head.name,
            passwd: head.passwd,
            gid: head.gid,
            members,
        })
    }
}

/// A group record decoded up to its members, which are decoded one at a time by
/// [`Members::try_for_each`]: the module copies a 20,000-member group into the caller's buffer without
/// allocating a list of them first. [`GroupRecord::decode`] is built on it.
#[derive(Debug, Clone)]
pub struct GroupHead<'a> {
    /// `gr_name`.
    pub name: &'a [u8],
    /// `gr_passwd`.
    pub passwd: &'a [u8],
    /// `gr_gid`.
    pub gid: u32,
    /// The members, still encoded.
    pub members: Members<'a>,
}

impl<'a> GroupHead<'a> {
    /// Decodes the fixed fields and the member count (checked against the bytes left,
    /// each member taking at least its 4-byte length).
    pub fn decode(buf: &'a [u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(buf);
        let gid = r.u32()?;
        let name = r.string()?;
        let passwd = r.string()?;
        let count = r.count(4)?;
        Ok(GroupHead {
            name,
            passwd,
            gid,
            members: Members {
                bytes: r.unread(),
                count,
            },
        })
    }
}

/// The encoded members of a group record.
#[derive(Debug, Clone)]
pub struct Members<'a> {
    bytes: &'a [u8],
    count: usize,
}

impl<'a> Members<'a> {
    /// How many members the record says it holds (already checked against its length).
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether the group has no members.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Checks every member (length, no NUL) and the record's end: what `try_for_each`
    /// would refuse, found without copying anything.
    pub fn validate(&self) -> Result<(), DecodeError> {
        self.clone().try_for_each(|_| Ok::<(), DecodeError>(()))
    }

    /// Calls `f` with each member in turn, then checks the record ends there (trailing
    /// bytes are an error, as for every record). Inlined into the caller's loop: the
    /// module copies a 5,000-member group in a few microseconds.
    #[inline(always)]
    pub fn try_for_each<E: From<DecodeError>>(
        self,
        mut f: impl FnMut(&'a [u8]) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut buf = self.bytes;
        for _ in 0..self.count {
            let (len, tail) = buf.split_first_chunk::<4>().ok_or(DecodeError::Truncated)?;
            let n = u32::from_le_bytes(*len) as usize;
            let (s, tail) = tail.split_at_checked(n).ok_or(DecodeError::TooLong)?;
            if contains_nul(s) {
                return Err(DecodeError::NulInString.into());
            }
            f(s)?;
            buf = tail;
        }
        if buf.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::TrailingBytes.into())
        }
    }
}

impl<'a> ShadowRecord<'a> {
    pub fn encode(&self, w: &mut Writer) {
        w.string(self.name);
        w.string(self.pwdp);
        for v in [
            self.lstchg,
            self.min,
            self.max,
            self.warn,
            self.inact,
            self.expire,
        ] {
            w.i64(v);
        }
        w.u64(self.flag);
    }

    pub fn decode(buf: &'a [u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(buf);
        let rec = ShadowRecord {
            name: r.string()?,
            pwdp: r.string()?,
            lstchg: r.i64()?,
            min: r.i64()?,
            max: r.i64()?,
            warn: r.i64()?,
            inact: r.i64()?,
            expire: r.i64()?,
            flag: r.u64()?,
        };
        r.finish()?;
        Ok(rec)
    }
}

/// Encodes `initgroups` answers: `u32 n, n × u32 gid`.
pub fn encode_gid_list(gids: &[u32], w: &mut Writer) {
    w.u32(gids.len().min(u32::MAX as usize) as u32);
    for g in gids {
        w.u32(*g);
    }
}

/// Decodes [`encode_gid_list`] output without allocating.
pub fn decode_gid_list(buf: &[u8]) -> Result<impl Iterator<Item = u32> + '_, DecodeError> {
    let mut r = Reader::new(buf);
    let n = r.count(4)?;
    let body = r.take(n * 4)?;
    r.finish()?;
    Ok(body.chunks_exact(4).map(|c| {
        let mut a = [0u8; 4];
        a.copy_from_slice(c);
        u32::from_le_bytes(a)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwd_round_trip_and_size() {
        let p = PasswdRecord {
            name: b"alice",
            passwd: b"x",
            uid: 1001,
            gid: 1001,
            gecos: b"Alice A",
            dir: b"/home/alice",
            shell: b"/bin/bash",
        };
        let mut w = Writer::new();
        p.encode(&mut w);
        assert_eq!(PasswdRecord::decode(&w.buf).unwrap(), p);
        assert_eq!(p.string_bytes(), 6 + 2 + 8 + 12 + 10);
    }

    #[test]
    fn group_round_trip() {
        let g = GroupRecord {
            name: b"devs",
            passwd: b"x",
            gid: 2001,
            members: vec![b"alice", b"bob"],
        };
        let mut w = Writer::new();
        g.encode(&mut w);
        assert_eq!(GroupRecord::decode(&w.buf).unwrap(), g);
    }

    /// The allocation-free member walk (the module's fill) and `decode` (everything
    /// else) accept and refuse exactly the same bytes.
    #[test]
    fn member_walk_agrees_with_decode_on_every_prefix_and_damage() {
        let g = GroupRecord {
            name: b"devs",
            passwd: b"x",
            gid: 2001,
            members: vec![b"alice", b"bob-with-a-longer-name", b"", b"c"],
        };
        let mut w = Writer::new();
        g.encode(&mut w);
        let walk = |buf: &[u8]| -> Result<Vec<Vec<u8>>, DecodeError> {
            let mut out = Vec::new();
            GroupHead::decode(buf)?
                .members
                .try_for_each(|m| {
                    out.push(m.to_vec());
                    Ok::<(), DecodeError>(())
                })
                .map(|()| out)
        };
        let owned = |r: GroupRecord<'_>| r.members.iter().map(|m| m.to_vec()).collect();
        let mut cases: Vec<Vec<u8>> = (0..=w.buf.len()).map(|n| w.buf[..n].to_vec()).collect();
        let mut trailing = w.buf.clone();
        trailing.push(7);
        cases.push(trailing);
        let mut nul = w.buf.clone();
        let at = nul.len() - 1; // inside the last member
        nul[at] = 0;
        cases.push(nul);
        for case in &cases {
            assert_eq!(walk(case), GroupRecord::decode(case).map(owned), "{case:?}");
        }
        assert_eq!(walk(&w.buf).unwrap().len(), 4);
    }

    #[test]
    fn shadow_round_trip() {
        let s = ShadowRecord {
            name: b"alice",
            pwdp: b"$6$salt$hash",
            lstchg: -1,
            min: -1,
            max: -1,
            warn: -1,
            inact: -1,
            expire: -1,
            flag: u64::MAX,
        };
        let mut w = Writer::new();
        s.encode(&mut w);
        assert_eq!(ShadowRecord::decode(&w.buf).unwrap(), s);
    }

    #[test]
    fn hostile_group_count_is_refused_without_allocating() {
        let mut w = Writer::new();
        w.u32(1);
        w.string(b"g");
        w.string(b"x");
        w.u32(u32::MAX);
        assert_eq!(GroupRecord::decode(&w.buf), Err(DecodeError::TooLong));
    }

    #[test]
    fn every_truncation_is_an_error() {
        let p = PasswdRecord {
            name: b"alice",
            passwd: b"x",
            uid: 1,
            gid: 2,
            gecos: b"",
            dir: b"/h",
            shell: b"/s",
        };
        let mut w = Writer::new();
        p.encode(&mut w);
        for n in 0..w.buf.len() {
            assert!(PasswdRecord::decode(&w.buf[..n]).is_err());
        }
    }

    #[test]
    fn gid_list_round_trip() {
        let mut w = Writer::new();
        encode_gid_list(&[1, 2, 3], &mut w);
        assert_eq!(
            decode_gid_list(&w.buf).unwrap().collect::<Vec<_>>(),
            vec![1, 2, 3]
        );
        assert!(decode_gid_list(&[9, 0, 0, 0]).is_err());
    }
}
