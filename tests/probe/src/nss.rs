//! Calls into glibc's NSS entry points with a caller-owned buffer, as real programs do.
//!
//! What a caller of `getpwnam_r` & co. sees for each NSS status (glibc's
//! nss/getXXbyYY_r.c), which `lookup` reports as `status`:
//!
//! | module returns                | return value | `*result` | errno after   | status     |
//! |-------------------------------|--------------|-----------|---------------|------------|
//! | SUCCESS                       | 0            | the entry | unchanged     | `found`    |
//! | NOTFOUND (any errno)          | 0            | NULL      | 0             | `notfound` |
//! | TRYAGAIN + ERANGE             | ERANGE       | NULL      | ERANGE        | `error`    |
//! | TRYAGAIN + EAGAIN             | EAGAIN       | NULL      | EAGAIN        | `error`    |
//! | UNAVAIL + errno e (ENOENT, EACCES) | e       | NULL      | e             | `error`    |
//!
//! With `files workbench` the status of the last module consulted wins, so a missing
//! daemon (UNAVAIL/ENOENT) surfaces as return value ENOENT, not as "not found".
//! `getgrouplist` has no error channel: glibc drops groups from failing modules.

use std::ffi::{CStr, CString};
use std::os::raw::{c_char, c_int};

use crate::entry::{Entry, Group, Passwd, Region, Shadow};
use crate::errno;

const CANARY: u8 = 0xa5;
const CANARY_LEN: usize = 64;
/// Largest buffer the grow-on-ERANGE loops will try.
pub const MAX_BUFFER: usize = 64 << 20;

/// A caller buffer with guard bytes after its end, to catch writes past `buflen`, and an
/// optional offset from the allocation so that misaligned buffers can be tried.
pub struct Buffer {
    data: Vec<u8>,
    offset: usize,
    len: usize,
}

impl Buffer {
    pub fn new(len: usize) -> Buffer {
        Buffer::with_offset(len, 0)
    }

    pub fn with_offset(len: usize, offset: usize) -> Buffer {
        let mut b = Buffer {
            data: Vec::new(),
            offset,
            len: 0,
        };
        b.resize(len);
        b
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn resize(&mut self, len: usize) {
        // Re-filled on every call: the canary is checked against a known state.
        self.data.clear();
        self.data.resize(self.offset + len, 0);
        self.data.resize(self.offset + len + CANARY_LEN, CANARY);
        self.len = len;
    }

    /// Doubles the buffer; false when it would exceed MAX_BUFFER.
    pub fn grow(&mut self) -> bool {
        let next = (self.len.max(64)) * 2;
        if next > MAX_BUFFER {
            return false;
        }
        self.resize(next);
        true
    }

    fn prepare(&mut self) -> *mut c_char {
        let end = self.offset + self.len;
        if let Some(guard) = self.data.get_mut(end..) {
            guard.fill(CANARY);
        }
        self.data[self.offset..].as_mut_ptr().cast()
    }

    fn canary_ok(&self) -> bool {
        let end = self.offset + self.len;
        self.data
            .get(end..)
            .is_some_and(|g| g.iter().all(|b| *b == CANARY))
    }

    fn region(&self) -> Region<'_> {
        let bytes = &self.data[self.offset..self.offset + self.len];
        Region::Buffer {
            bytes,
            base: bytes.as_ptr() as usize,
        }
    }
}

/// The caller-visible result of one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer<T> {
    Found(T),
    /// Return value 0 and a NULL result.
    NotFound,
    /// A non-zero return value (an errno value).
    Failed(i32),
    /// The module broke the contract: pointer outside the buffer, overwritten guard, ...
    Corrupt(String),
}

impl<T> Answer<T> {
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Answer<U> {
        match self {
            Answer::Found(t) => Answer::Found(f(t)),
            Answer::NotFound => Answer::NotFound,
            Answer::Failed(e) => Answer::Failed(e),
            Answer::Corrupt(s) => Answer::Corrupt(s),
        }
    }

    pub fn is_erange(&self) -> bool {
        matches!(self, Answer::Failed(e) if *e == libc::ERANGE)
    }
}

/// One call's answer and the errno seen right after it.
#[derive(Debug, Clone)]
pub struct Outcome<T> {
    pub answer: Answer<T>,
    pub errno: i32,
}

pub(crate) fn call<S, T>(
    buf: &mut Buffer,
    f: impl FnOnce(*mut S, *mut c_char, usize, *mut *mut S) -> c_int,
    convert: fn(&S, &Region) -> Result<T, String>,
) -> Outcome<T> {
    // SAFETY: S is one of glibc's plain C structs (integers and pointers), for which all
    // zero bytes is a valid value.
    let mut out: S = unsafe { std::mem::zeroed() };
    let mut result: *mut S = std::ptr::null_mut();
    let len = buf.len();
    let ptr = buf.prepare();
    errno::clear();
    let ret = f(&mut out, ptr, len, &mut result);
    let err = errno::get();
    let answer = if !buf.canary_ok() {
        Answer::Corrupt(format!("wrote past the end of a {len}-byte buffer"))
    } else if ret != 0 {
        Answer::Failed(ret)
    } else if result.is_null() {
        Answer::NotFound
    } else if !std::ptr::eq(result, &out) {
        Answer::Corrupt("result does not point at the caller's struct".to_owned())
    } else {
        match convert(&out, &buf.region()) {
            Ok(t) => Answer::Found(t),
            Err(e) => Answer::Corrupt(e),
        }
    };
    Outcome { answer, errno: err }
}

pub fn getpwnam(name: &CStr, buf: &mut Buffer) -> Outcome<Passwd> {
    let name = name.as_ptr();
    call(
        buf,
        // SAFETY: name is a live C string; the buffer, struct and result pointers are
        // valid for the duration of the call (see `call`).
        move |s, b, l, r| unsafe { libc::getpwnam_r(name, s, b, l, r) },
        Passwd::from_c,
    )
}

pub fn getpwuid(uid: u32, buf: &mut Buffer) -> Outcome<Passwd> {
    call(
        buf,
        // SAFETY: as in getpwnam.
        move |s, b, l, r| unsafe { libc::getpwuid_r(uid, s, b, l, r) },
        Passwd::from_c,
    )
}

pub fn getgrnam(name: &CStr, buf: &mut Buffer) -> Outcome<Group> {
    let name = name.as_ptr();
    call(
        buf,
        // SAFETY: as in getpwnam.
        move |s, b, l, r| unsafe { libc::getgrnam_r(name, s, b, l, r) },
        Group::from_c,
    )
}

pub fn getgrgid(gid: u32, buf: &mut Buffer) -> Outcome<Group> {
    call(
        buf,
        // SAFETY: as in getpwnam.
        move |s, b, l, r| unsafe { libc::getgrgid_r(gid, s, b, l, r) },
        Group::from_c,
    )
}

pub fn getspnam(name: &CStr, buf: &mut Buffer) -> Outcome<Shadow> {
    let name = name.as_ptr();
    call(
        buf,
        // SAFETY: as in getpwnam.
        move |s, b, l, r| unsafe { libc::getspnam_r(name, s, b, l, r) },
        Shadow::from_c,
    )
}

pub fn getpwent(buf: &mut Buffer) -> Outcome<Passwd> {
    call(
        buf,
        // SAFETY: as in getpwnam.
        |s, b, l, r| unsafe { libc::getpwent_r(s, b, l, r) },
        Passwd::from_c,
    )
}

pub fn getgrent(buf: &mut Buffer) -> Outcome<Group> {
    call(
        buf,
        // SAFETY: as in getpwnam.
        |s, b, l, r| unsafe { libc::getgrent_r(s, b, l, r) },
        Group::from_c,
    )
}

/// Non-reentrant `getgrnam`: glibc sizes its own static buffer (1024 bytes, doubling).
/// Only for single-threaded use.
pub fn getgrnam_static(name: &CStr) -> Outcome<Group> {
    errno::clear();
    // SAFETY: name is a live C string.
    let g = unsafe { libc::getgrnam(name.as_ptr()) };
    let err = errno::get();
    let answer = if g.is_null() {
        if err == 0 {
            Answer::NotFound
        } else {
            Answer::Failed(err)
        }
    } else {
        // SAFETY: glibc returned a valid pointer to its static group struct.
        match Group::from_c(unsafe { &*g }, &Region::Static) {
            Ok(gr) => Answer::Found(gr),
            Err(e) => Answer::Corrupt(e),
        }
    };
    Outcome { answer, errno: err }
}

/// `getgrouplist`, growing the array until everything fits.
pub fn grouplist(user: &CStr, gid: u32) -> Vec<u32> {
    let mut cap: usize = 16;
    loop {
        let mut groups: Vec<libc::gid_t> = vec![0; cap];
        let mut n = c_int::try_from(cap).unwrap_or(c_int::MAX);
        // SAFETY: groups has room for n entries; user is a live C string.
        let ret = unsafe { libc::getgrouplist(user.as_ptr(), gid, groups.as_mut_ptr(), &mut n) };
        let n = usize::try_from(n).unwrap_or(0);
        if ret >= 0 {
            groups.truncate(n.min(cap));
            return groups;
        }
        cap = if n > cap { n } else { cap * 2 };
    }
}

/// Repeats a call, doubling the buffer while the answer is ERANGE.
/// Returns the outcome and how many ERANGE answers came first.
pub fn growing<T>(
    buf: &mut Buffer,
    mut f: impl FnMut(&mut Buffer) -> Outcome<T>,
) -> (Outcome<T>, u32) {
    let mut retries = 0;
    loop {
        let o = f(buf);
        if o.answer.is_erange() && buf.grow() {
            retries += 1;
            continue;
        }
        return (o, retries);
    }
}

/// A keyed lookup in one database.
#[derive(Debug, Clone)]
pub enum Query {
    PwNam(CString),
    PwUid(u32),
    GrNam(CString),
    GrGid(u32),
    SpNam(CString),
}

impl Query {
    /// `db` is passwd, group or shadow; an all-digit key means a uid/gid.
    pub fn parse(db: &str, key: &str) -> Result<Query, String> {
        let numeric = !key.is_empty() && key.bytes().all(|b| b.is_ascii_digit());
        let id = || {
            key.parse::<u32>()
                .map_err(|e| format!("bad id {key:?}: {e}"))
        };
        let name = || CString::new(key).map_err(|_| format!("NUL byte in key {key:?}"));
        match db {
            "passwd" if numeric => Ok(Query::PwUid(id()?)),
            "passwd" => Ok(Query::PwNam(name()?)),
            "group" if numeric => Ok(Query::GrGid(id()?)),
            "group" => Ok(Query::GrNam(name()?)),
            "shadow" => Ok(Query::SpNam(name()?)),
            other => Err(format!("unknown database {other:?}")),
        }
    }

    pub fn function(&self) -> &'static str {
        match self {
            Query::PwNam(_) => "getpwnam_r",
            Query::PwUid(_) => "getpwuid_r",
            Query::GrNam(_) => "getgrnam_r",
            Query::GrGid(_) => "getgrgid_r",
            Query::SpNam(_) => "getspnam_r",
        }
    }

    pub fn run(&self, buf: &mut Buffer) -> Outcome<Entry> {
        fn lift<T>(o: Outcome<T>, f: fn(T) -> Entry) -> Outcome<Entry> {
            Outcome {
                answer: o.answer.map(f),
                errno: o.errno,
            }
        }
        match self {
            Query::PwNam(n) => lift(getpwnam(n, buf), Entry::Passwd),
            Query::PwUid(u) => lift(getpwuid(*u, buf), Entry::Passwd),
            Query::GrNam(n) => lift(getgrnam(n, buf), Entry::Group),
            Query::GrGid(g) => lift(getgrgid(*g, buf), Entry::Group),
            Query::SpNam(n) => lift(getspnam(n, buf), Entry::Shadow),
        }
    }
}
