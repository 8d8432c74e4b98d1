//! Copying one wire record into the caller's `struct passwd`/`group`/`spwd` and buffer.
//!
//! The struct is written only once every field has been placed in the buffer, so an
//! `ERANGE` leaves the caller's struct untouched.

mod group;
mod passwd;
mod shadow;

pub use group::Group;
pub use passwd::Passwd;
pub use shadow::Shadow;

use workbench_wire::{DecodeError, Request};

use crate::arena::{Arena, BufferTooSmall};
use crate::error::ClientError;
use crate::status::Failure;

/// The key a keyed lookup asked for; the record must carry it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key<'a> {
    Name(&'a [u8]),
    Id(u32),
    /// Enumeration: any entry is acceptable.
    Any,
}

impl Key<'_> {
    fn accepts(&self, name: &[u8], id: Option<u32>) -> bool {
        match *self {
            Key::Name(n) => n == name,
            Key::Id(want) => id == Some(want),
            Key::Any => true,
        }
    }
}

/// Why a record could not be copied out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FillError {
    BufferTooSmall,
    Malformed(DecodeError),
    WrongEntry,
}

impl From<BufferTooSmall> for FillError {
    fn from(_: BufferTooSmall) -> Self {
        FillError::BufferTooSmall
    }
}

impl From<DecodeError> for FillError {
    fn from(e: DecodeError) -> Self {
        FillError::Malformed(e)
    }
}

impl From<FillError> for Failure {
    fn from(e: FillError) -> Self {
        match e {
            FillError::BufferTooSmall => Failure::BUFFER_TOO_SMALL,
            FillError::Malformed(d) => Failure::from_client(&ClientError::Protocol(d)),
            FillError::WrongEntry => Failure::from_client(&ClientError::Inconsistent),
        }
    }
}

/// The table of the in-process map image that holds a database's entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapTable {
    Users,
    Groups,
}

/// One NSS database as seen by the generic lookup and enumeration code.
pub trait Database {
    /// The C struct glibc passes (`struct passwd`, …).
    type Entry;
    /// Where the map holds this database; `None`: never answered from the map (shadow:
    /// hashes are never in it).
    const MAP_TABLE: Option<MapTable>;
    /// The enumeration page request after key `after`.
    fn list_request(after: Option<u32>, max: u32) -> Request;
    /// Checks that `record` decodes (used when a page arrives, so a bad page is refused
    /// as a whole instead of ending the enumeration halfway).
    fn validate(record: &[u8]) -> Result<(), DecodeError>;
    /// Decodes `record`, checks it against `key` and copies it out.
    fn fill(
        record: &[u8],
        key: Key<'_>,
        entry: &mut Self::Entry,
        arena: &mut Arena,
    ) -> Result<(), FillError>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;
    use std::mem::{align_of, size_of};
    use workbench_wire::codec::Writer;
    use workbench_wire::{GroupRecord, PasswdRecord, ShadowRecord};

    fn passwd_bytes() -> Vec<u8> {
        let mut w = Writer::new();
        PasswdRecord {
            name: b"alice",
            passwd: b"x",
            uid: 1001,
            gid: 1002,
            gecos: b"Alice A",
            dir: b"/home/alice",
            shell: b"/bin/bash",
        }
        .encode(&mut w);
        w.buf
    }

    fn group_bytes(members: &[&[u8]]) -> Vec<u8> {
        let mut w = Writer::new();
        GroupRecord {
            name: b"devs",
            passwd: b"x",
            gid: 2001,
            members: members.to_vec(),
        }
        .encode(&mut w);
        w.buf
    }

    fn shadow_bytes() -> Vec<u8> {
        let mut w = Writer::new();
        ShadowRecord {
            name: b"alice",
            pwdp: b"$6$salt$hash",
            lstchg: -1,
            min: -1,
            max: 99999,
            warn: 7,
            inact: -1,
            expire: -1,
            flag: u64::MAX,
        }
        .encode(&mut w);
        w.buf
    }

    fn s(p: *const libc::c_char) -> &'static [u8] {
        unsafe { CStr::from_ptr(p) }.to_bytes()
    }

    /// Fills into `buf[offset..offset + len]`.
    fn fill_at<D: Database>(
        record: &[u8],
        key: Key<'_>,
        entry: &mut D::Entry,
        buf: &mut [u8],
        offset: usize,
        len: usize,
    ) -> Result<(), FillError> {
        let base = buf[offset..offset + len].as_mut_ptr();
        let mut arena = unsafe { Arena::new(base.cast(), len) };
        D::fill(record, key, entry, &mut arena)
    }

    /// Every size below the minimum is ERANGE and leaves the entry alone; the minimum
    /// and everything above succeed. Returns the minimum.
    fn threshold<D: Database>(
        record: &[u8],
        buf: &mut [u8],
        offset: usize,
        blank: impl Fn() -> D::Entry,
        unchanged: impl Fn(&D::Entry) -> bool,
    ) -> usize {
        let mut first_ok = None;
        for len in 1..1024 {
            let mut e = blank();
            match fill_at::<D>(record, Key::Any, &mut e, buf, offset, len) {
                Ok(()) => {
                    first_ok.get_or_insert(len);
                }
                Err(FillError::BufferTooSmall) => {
                    assert!(first_ok.is_none(), "ERANGE at {len} after success");
                    assert!(unchanged(&e), "entry written on ERANGE");
                }
                Err(other) => panic!("{other:?}"),
            }
        }
        first_ok.expect("never fit")
    }

    fn blank_passwd() -> libc::passwd {
        unsafe { std::mem::zeroed() }
    }
    fn blank_group() -> libc::group {
        unsafe { std::mem::zeroed() }
    }
    fn blank_spwd() -> libc::spwd {
        unsafe { std::mem::zeroed() }
    }

    #[test]
    fn passwd_every_size_and_offset() {
        let rec = passwd_bytes();
        let strings = PasswdRecord::decode(&rec).unwrap().string_bytes();
        for offset in 0..16 {
            let mut buf = vec![0xAAu8; 2048];
            let min = threshold::<Passwd>(&rec, &mut buf, offset, blank_passwd, |e| {
                e.pw_name.is_null()
            });
            assert_eq!(min, strings);
        }
        let mut buf = vec![0u8; 64];
        let mut e = blank_passwd();
        fill_at::<Passwd>(&rec, Key::Name(b"alice"), &mut e, &mut buf, 3, 60).unwrap();
        assert_eq!(s(e.pw_name), b"alice");
        assert_eq!(s(e.pw_passwd), b"x");
        assert_eq!(s(e.pw_gecos), b"Alice A");
        assert_eq!(s(e.pw_dir), b"/home/alice");
        assert_eq!(s(e.pw_shell), b"/bin/bash");
        assert_eq!((e.pw_uid, e.pw_gid), (1001, 1002));
    }

    #[test]
    fn group_every_size_and_offset_with_aligned_members() {
        let members: [&[u8]; 3] = [b"alice", b"bob", b"carol"];
        let rec = group_bytes(&members);
        let ptr = size_of::<*mut libc::c_char>();
        let strings = 5 + 2 + 6 + 4 + 6;
        for offset in 0..(2 * align_of::<*mut libc::c_char>()) {
            let mut buf = vec![0xAAu8; 2048];
            let base = buf[offset..].as_ptr() as usize;
            let pad = base.wrapping_neg() & (align_of::<*mut libc::c_char>() - 1);
            let need = pad + 4 * ptr + strings;
            let min =
                threshold::<Group>(&rec, &mut buf, offset, blank_group, |e| e.gr_mem.is_null());
            assert_eq!(min, need, "offset {offset}");
            let mut e = blank_group();
            fill_at::<Group>(&rec, Key::Id(2001), &mut e, &mut buf, offset, need).unwrap();
            assert_eq!(e.gr_mem as usize % align_of::<*mut libc::c_char>(), 0);
            let got: Vec<&[u8]> = (0..3).map(|i| s(unsafe { *e.gr_mem.add(i) })).collect();
            assert_eq!(got, members);
            assert!(unsafe { *e.gr_mem.add(3) }.is_null());
            assert_eq!(s(e.gr_name), b"devs");
            assert_eq!(s(e.gr_passwd), b"x");
            assert_eq!(e.gr_gid, 2001);
        }
    }

    #[test]
    fn empty_group_has_null_terminated_member_list() {
        let rec = group_bytes(&[]);
        let mut buf = vec![0xFFu8; 64];
        let mut e = blank_group();
        fill_at::<Group>(&rec, Key::Name(b"devs"), &mut e, &mut buf, 1, 63).unwrap();
        assert!(unsafe { *e.gr_mem }.is_null());
    }

    #[test]
    fn shadow_every_size_and_offset() {
        let rec = shadow_bytes();
        for offset in 0..8 {
            let mut buf = vec![0xAAu8; 2048];
            let min =
                threshold::<Shadow>(&rec, &mut buf, offset, blank_spwd, |e| e.sp_namp.is_null());
            assert_eq!(min, 6 + 13);
        }
        let mut buf = vec![0u8; 64];
        let mut e = blank_spwd();
        fill_at::<Shadow>(&rec, Key::Name(b"alice"), &mut e, &mut buf, 0, 64).unwrap();
        assert_eq!(s(e.sp_namp), b"alice");
        assert_eq!(s(e.sp_pwdp), b"$6$salt$hash");
        assert_eq!(
            (
                e.sp_lstchg,
                e.sp_min,
                e.sp_max,
                e.sp_warn,
                e.sp_inact,
                e.sp_expire
            ),
            (-1, -1, 99999, 7, -1, -1)
        );
        assert_eq!(e.sp_flag, libc::c_ulong::MAX);
    }

    #[test]
    fn answers_for_another_key_are_refused() {
        let mut buf = vec![0u8; 256];
        let mut e = blank_passwd();
        let rec = passwd_bytes();
        for key in [Key::Name(b"bob"), Key::Name(b"Alice"), Key::Id(1002)] {
            assert_eq!(
                fill_at::<Passwd>(&rec, key, &mut e, &mut buf, 0, 256),
                Err(FillError::WrongEntry)
            );
        }
        let mut g = blank_group();
        assert_eq!(
            fill_at::<Group>(&group_bytes(&[]), Key::Id(1), &mut g, &mut buf, 0, 256),
            Err(FillError::WrongEntry)
        );
    }

    #[test]
    fn malformed_records_are_protocol_errors() {
        let mut buf = vec![0u8; 256];
        let mut e = blank_passwd();
        let rec = passwd_bytes();
        let r = fill_at::<Passwd>(&rec[..rec.len() - 1], Key::Any, &mut e, &mut buf, 0, 256);
        assert!(matches!(r, Err(FillError::Malformed(_))));
        assert_eq!(
            Failure::from(r.unwrap_err()),
            Failure::new(crate::status::NssStatus::TryAgain, libc::EAGAIN)
        );
    }

    /// ERANGE makes glibc retry with a doubled buffer, so it is only for records that
    /// would fit in a bigger one: a malformed group is refused as malformed at every
    /// size, even when the copy runs out of room before reaching the bad bytes
    /// (fuzz module_fill, crash-92312a110b655bbf633dc7f23a5bd38e8ee913b8).
    #[test]
    fn malformed_groups_are_not_erange_at_any_size() {
        let good = group_bytes(&[b"alice", b"bob"]);
        let mut trailing = good.clone();
        trailing.push(0);
        let mut nul_member = good.clone();
        let at = nul_member.len() - 1;
        nul_member[at] = 0;
        let short_member = good[..good.len() - 1].to_vec();
        // gid 0, empty name and passwd, no members, then 8 stray bytes: the fuzz input.
        let stray = [0u8; 20].to_vec();
        for rec in [trailing, nul_member, short_member, stray] {
            for len in 0..=256 {
                let mut buf = vec![0u8; 256];
                let mut g = blank_group();
                let r = fill_at::<Group>(&rec, Key::Any, &mut g, &mut buf, 0, len);
                assert!(matches!(r, Err(FillError::Malformed(_))), "{len}: {r:?}");
                assert!(g.gr_name.is_null() && g.gr_mem.is_null());
            }
        }
    }
}
