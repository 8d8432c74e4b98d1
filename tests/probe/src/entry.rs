//! Copies glibc's passwd/group/spwd structs into owned values, checking on the way that
//! every pointer the NSS module handed back lies inside the caller's buffer, is
//! NUL-terminated there, and (for arrays) is aligned.

use std::ffi::CStr;
use std::mem::{align_of, size_of};
use std::os::raw::c_char;

use crate::json::Json;

/// Where the strings of a result may live.
pub enum Region<'a> {
    /// Inside this buffer, which starts at `base` (the `*_r` functions).
    Buffer { bytes: &'a [u8], base: usize },
    /// Anywhere: glibc's own static storage (non-reentrant `getgrnam`).
    Static,
}

impl Region<'_> {
    fn cstr(&self, p: *const c_char, field: &str) -> Result<Vec<u8>, String> {
        if p.is_null() {
            return Err(format!("{field} is a null pointer"));
        }
        match self {
            Region::Static => {
                // SAFETY: glibc returned this non-null pointer as a NUL-terminated string
                // in its static result, valid until the next non-reentrant call.
                Ok(unsafe { CStr::from_ptr(p) }.to_bytes().to_vec())
            }
            Region::Buffer { bytes, base } => {
                let off = (p as usize)
                    .checked_sub(*base)
                    .filter(|off| *off < bytes.len())
                    .ok_or_else(|| format!("{field} points outside the caller's buffer"))?;
                let tail = bytes.get(off..).unwrap_or_default();
                let end = tail
                    .iter()
                    .position(|b| *b == 0)
                    .ok_or_else(|| format!("{field} is not NUL-terminated inside the buffer"))?;
                Ok(tail.get(..end).unwrap_or_default().to_vec())
            }
        }
    }

    fn str_array(&self, p: *const *mut c_char, field: &str) -> Result<Vec<Vec<u8>>, String> {
        if p.is_null() {
            return Err(format!("{field} is a null pointer"));
        }
        let mut out = Vec::new();
        match self {
            Region::Static => {
                let mut i = 0;
                loop {
                    // SAFETY: glibc's static group result: a NULL-terminated array of
                    // NUL-terminated strings.
                    let item = unsafe { *p.add(i) };
                    if item.is_null() {
                        return Ok(out);
                    }
                    out.push(self.cstr(item, field)?);
                    i += 1;
                }
            }
            Region::Buffer { bytes, base } => {
                let word = size_of::<*mut c_char>();
                if (p as usize) & (align_of::<*mut c_char>() - 1) != 0 {
                    return Err(format!("{field} is misaligned ({:#x})", p as usize));
                }
                let mut off = (p as usize)
                    .checked_sub(*base)
                    .ok_or_else(|| format!("{field} points before the caller's buffer"))?;
                loop {
                    let raw = bytes
                        .get(off..off + word)
                        .ok_or_else(|| format!("{field} runs past the caller's buffer"))?;
                    let mut w = [0u8; size_of::<usize>()];
                    w.copy_from_slice(raw);
                    let item = usize::from_ne_bytes(w);
                    if item == 0 {
                        return Ok(out);
                    }
                    out.push(self.cstr(item as *const c_char, field)?);
                    off += word;
                }
            }
        }
    }
}

/// A passwd entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Passwd {
    pub name: Vec<u8>,
    pub passwd: Vec<u8>,
    pub uid: u32,
    pub gid: u32,
    pub gecos: Vec<u8>,
    pub dir: Vec<u8>,
    pub shell: Vec<u8>,
}

impl Passwd {
    pub fn from_c(p: &libc::passwd, r: &Region) -> Result<Passwd, String> {
        Ok(Passwd {
            name: r.cstr(p.pw_name, "pw_name")?,
            passwd: r.cstr(p.pw_passwd, "pw_passwd")?,
            uid: p.pw_uid,
            gid: p.pw_gid,
            gecos: r.cstr(p.pw_gecos, "pw_gecos")?,
            dir: r.cstr(p.pw_dir, "pw_dir")?,
            shell: r.cstr(p.pw_shell, "pw_shell")?,
        })
    }

    pub fn to_json(&self) -> Json {
        Json::obj(vec![
            ("name", Json::bytes(&self.name)),
            ("passwd", Json::bytes(&self.passwd)),
            ("uid", self.uid.into()),
            ("gid", self.gid.into()),
            ("gecos", Json::bytes(&self.gecos)),
            ("dir", Json::bytes(&self.dir)),
            ("shell", Json::bytes(&self.shell)),
        ])
    }
}

/// A group entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub name: Vec<u8>,
    pub passwd: Vec<u8>,
    pub gid: u32,
    pub members: Vec<Vec<u8>>,
}

impl Group {
    pub fn from_c(g: &libc::group, r: &Region) -> Result<Group, String> {
        Ok(Group {
            name: r.cstr(g.gr_name, "gr_name")?,
            passwd: r.cstr(g.gr_passwd, "gr_passwd")?,
            gid: g.gr_gid,
            members: r.str_array(g.gr_mem, "gr_mem")?,
        })
    }

    pub fn to_json(&self) -> Json {
        Json::obj(vec![
            ("name", Json::bytes(&self.name)),
            ("passwd", Json::bytes(&self.passwd)),
            ("gid", self.gid.into()),
            (
                "members",
                Json::Arr(self.members.iter().map(|m| Json::bytes(m)).collect()),
            ),
        ])
    }
}

/// A shadow entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shadow {
    pub name: Vec<u8>,
    pub pwdp: Vec<u8>,
    pub lstchg: i64,
    pub min: i64,
    pub max: i64,
    pub warn: i64,
    pub inact: i64,
    pub expire: i64,
    pub flag: u64,
}

impl Shadow {
    pub fn from_c(s: &libc::spwd, r: &Region) -> Result<Shadow, String> {
        Ok(Shadow {
            name: r.cstr(s.sp_namp, "sp_namp")?,
            pwdp: r.cstr(s.sp_pwdp, "sp_pwdp")?,
            lstchg: s.sp_lstchg,
            min: s.sp_min,
            max: s.sp_max,
            warn: s.sp_warn,
            inact: s.sp_inact,
            expire: s.sp_expire,
            flag: s.sp_flag,
        })
    }

    pub fn to_json(&self) -> Json {
        Json::obj(vec![
            ("name", Json::bytes(&self.name)),
            ("pwdp", Json::bytes(&self.pwdp)),
            ("lstchg", self.lstchg.into()),
            ("min", self.min.into()),
            ("max", self.max.into()),
            ("warn", self.warn.into()),
            ("inact", self.inact.into()),
            ("expire", self.expire.into()),
            ("flag", self.flag.into()),
        ])
    }
}

/// Any one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    Passwd(Passwd),
    Group(Group),
    Shadow(Shadow),
}

impl Entry {
    pub fn to_json(&self) -> Json {
        match self {
            Entry::Passwd(p) => p.to_json(),
            Entry::Group(g) => g.to_json(),
            Entry::Shadow(s) => s.to_json(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffer_region_rejects_outside_and_unterminated() {
        let buf = b"abc\0def".to_vec();
        let base = buf.as_ptr() as usize;
        let r = Region::Buffer { bytes: &buf, base };
        assert_eq!(r.cstr(buf.as_ptr().cast(), "f").unwrap(), b"abc");
        assert!(r.cstr(buf[4..].as_ptr().cast(), "f").is_err());
        let other = b"x\0".to_vec();
        assert!(r.cstr(other.as_ptr().cast(), "f").is_err());
        assert!(r.cstr(std::ptr::null(), "f").is_err());
    }
}
