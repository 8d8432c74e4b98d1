//! The module's copy of a daemon answer into glibc's caller buffer (`fill/`, `arena.rs`),
//! reached the way `getpwnam_r`/`getgrgid_r`/`getspnam_r` (one record) and
//! `getXXent_r` (a `ListPage`, validated as a whole first) reach it.
//!
//! Input: `[db, size_hi, size_lo, misalign, key, payload...]`. Checks: no panic, no byte
//! written outside a buffer of exactly the given size, the entry untouched unless the
//! fill succeeded, and on success every pointer inside the buffer, every string
//! NUL-terminated inside it and equal to the decoded record.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nss_workbench::arena::Arena;
use nss_workbench::fill::{Database, FillError, Group, Key, Passwd, Shadow};
use workbench_fuzz::{split_params, GuardedBuffer};
use workbench_wire::{GroupRecord, ListPage, PasswdRecord, ShadowRecord};

/// Largest caller buffer tried; glibc starts at 1024 and doubles on ERANGE.
const MAX_BUFFER: usize = 8192;

fuzz_target!(|data: &[u8]| {
    let Some(([db, hi, lo, misalign, key], payload)) = split_params::<5>(data) else {
        return;
    };
    let size = usize::from(u16::from_be_bytes([hi, lo])) % (MAX_BUFFER + 1);
    let misalign = usize::from(misalign % 16);
    let records: Vec<&[u8]> = if db & 4 == 0 {
        vec![payload]
    } else {
        // Enumeration: a page is refused as a whole unless every record validates.
        let Ok(page) = ListPage::decode(payload) else {
            return;
        };
        let valid = match db & 3 {
            0 => page.records.iter().all(|r| Passwd::validate(r).is_ok()),
            1 => page.records.iter().all(|r| Group::validate(r).is_ok()),
            _ => page.records.iter().all(|r| Shadow::validate(r).is_ok()),
        };
        if !valid {
            return;
        }
        page.records
    };
    for record in records {
        match db & 3 {
            0 => fill_passwd(record, key, size, misalign),
            1 => fill_group(record, key, size, misalign),
            _ => fill_shadow(record, key, size, misalign),
        }
    }
});

/// The lookup key: mostly the record's own (a matching answer), sometimes another.
fn key_for<'a>(selector: u8, name: Option<&'a [u8]>, id: Option<u32>) -> Key<'a> {
    match (selector % 4, name, id) {
        (1, Some(n), _) => Key::Name(n),
        (2, _, Some(i)) => Key::Id(i),
        (3, _, _) => Key::Name(b"nobody-else"),
        _ => Key::Any,
    }
}

fn fill<D: Database>(
    record: &[u8],
    key: Key<'_>,
    entry: &mut D::Entry,
    buf: &mut GuardedBuffer,
) -> Result<(), FillError> {
    // SAFETY: the buffer is valid for `len()` bytes and outlives the arena and the
    // pointers it hands out (they are only read back through `buf`).
    let mut arena = unsafe { Arena::new(buf.as_mut_ptr(), buf.len()) };
    let r = D::fill(record, key, entry, &mut arena);
    assert!(arena.used() <= buf.len(), "arena used more than the buffer");
    buf.assert_guards_intact();
    r
}

fn fill_passwd(record: &[u8], key: u8, size: usize, misalign: usize) {
    let decoded = PasswdRecord::decode(record).ok();
    let key = key_for(
        key,
        decoded.as_ref().map(|r| r.name),
        decoded.as_ref().map(|r| r.uid),
    );
    let mut buf = GuardedBuffer::new(size, misalign);
    // SAFETY: all-zero is a valid `struct passwd` (null pointers, zero ids).
    let mut e: libc::passwd = unsafe { std::mem::zeroed() };
    match fill::<Passwd>(record, key, &mut e, &mut buf) {
        Ok(()) => {
            let r = decoded.expect("a record that does not decode was filled");
            assert_eq!(buf.c_string(e.pw_name), r.name);
            assert_eq!(buf.c_string(e.pw_passwd), r.passwd);
            assert_eq!(buf.c_string(e.pw_gecos), r.gecos);
            assert_eq!(buf.c_string(e.pw_dir), r.dir);
            assert_eq!(buf.c_string(e.pw_shell), r.shell);
            assert_eq!((e.pw_uid, e.pw_gid), (r.uid, r.gid));
            assert!(r.string_bytes() <= size, "filled into a too small buffer");
        }
        Err(err) => {
            assert!(
                e.pw_name.is_null() && e.pw_uid == 0,
                "entry written on {err:?}"
            );
            if err == FillError::BufferTooSmall {
                let r = decoded.expect("ERANGE for a record that does not decode");
                assert!(r.string_bytes() > size, "ERANGE although the strings fit");
            }
        }
    }
}

fn fill_group(record: &[u8], key: u8, size: usize, misalign: usize) {
    let decoded = GroupRecord::decode(record).ok();
    let key = key_for(
        key,
        decoded.as_ref().map(|r| r.name),
        decoded.as_ref().map(|r| r.gid),
    );
    let mut buf = GuardedBuffer::new(size, misalign);
    // SAFETY: all-zero is a valid `struct group`.
    let mut e: libc::group = unsafe { std::mem::zeroed() };
    match fill::<Group>(record, key, &mut e, &mut buf) {
        Ok(()) => {
            let r = decoded.expect("a record that does not decode was filled");
            assert_eq!(buf.c_string(e.gr_name), r.name);
            assert_eq!(buf.c_string(e.gr_passwd), r.passwd);
            assert_eq!(e.gr_gid, r.gid);
            for (i, want) in r.members.iter().enumerate() {
                // The array lies inside the buffer (checked slot by slot), so `add`
                // stays inside one allocation.
                let member = buf.pointer_at(e.gr_mem.wrapping_add(i));
                assert_eq!(buf.c_string(member), *want, "member {i}");
            }
            let terminator = buf.pointer_at(e.gr_mem.wrapping_add(r.members.len()));
            assert!(terminator.is_null(), "member array not NULL-terminated");
        }
        Err(err) => {
            assert!(
                e.gr_name.is_null() && e.gr_mem.is_null(),
                "entry written on {err:?}"
            );
            if err == FillError::BufferTooSmall {
                assert!(
                    decoded.is_some(),
                    "ERANGE for a record that does not decode"
                );
            }
        }
    }
}

fn fill_shadow(record: &[u8], key: u8, size: usize, misalign: usize) {
    let decoded = ShadowRecord::decode(record).ok();
    let key = key_for(key, decoded.as_ref().map(|r| r.name), None);
    let mut buf = GuardedBuffer::new(size, misalign);
    // SAFETY: all-zero is a valid `struct spwd`.
    let mut e: libc::spwd = unsafe { std::mem::zeroed() };
    match fill::<Shadow>(record, key, &mut e, &mut buf) {
        Ok(()) => {
            let r = decoded.expect("a record that does not decode was filled");
            assert_eq!(buf.c_string(e.sp_namp), r.name);
            assert_eq!(buf.c_string(e.sp_pwdp), r.pwdp);
        }
        Err(err) => {
            assert!(
                e.sp_namp.is_null() && e.sp_pwdp.is_null(),
                "entry written on {err:?}"
            );
        }
    }
}
