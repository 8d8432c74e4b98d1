//! Entries encoded once, when they enter the snapshot, in the wire record format
//! ([`workbench_wire::record`]): answering a lookup is then a copy of bytes.

use workbench_wire::codec::Writer;
use workbench_wire::record::{GroupRecord, PasswdRecord, ShadowRecord};

use crate::directory::model::{PosixGroup, PosixUser, ShadowEntry};

/// `pw_passwd` and `gr_passwd` for every directory entry: the hash lives in shadow.
pub const PASSWORD_PLACEHOLDER: &str = "x";

/// The passwd record of `u`.
pub fn encode_user(u: &PosixUser) -> Vec<u8> {
    let mut w = Writer::new();
    PasswdRecord {
        name: u.name.as_bytes(),
        passwd: PASSWORD_PLACEHOLDER.as_bytes(),
        uid: u.uid,
        gid: u.gid,
        gecos: u.gecos.as_bytes(),
        dir: u.home.as_bytes(),
        shell: u.shell.as_bytes(),
    }
    .encode(&mut w);
    w.buf
}

/// The group record of `g`.
pub fn encode_group(g: &PosixGroup) -> Vec<u8> {
    let mut w = Writer::new();
    GroupRecord {
        name: g.name.as_bytes(),
        passwd: PASSWORD_PLACEHOLDER.as_bytes(),
        gid: g.gid,
        members: g.members.iter().map(|m| m.as_bytes()).collect(),
    }
    .encode(&mut w);
    w.buf
}

/// Aging fields are empty (-1): Workbench does no password aging, and 0 in `sp_lstchg`
/// would make pam_unix demand a password change.
const NO_AGING: i64 = -1;

/// The shadow record of `s` (no aging).
pub fn encode_shadow(s: &ShadowEntry) -> Vec<u8> {
    let mut w = Writer::new();
    ShadowRecord {
        name: s.name.as_bytes(),
        pwdp: s.pwdp.as_bytes(),
        lstchg: NO_AGING,
        min: NO_AGING,
        max: NO_AGING,
        warn: NO_AGING,
        inact: NO_AGING,
        expire: NO_AGING,
        flag: u64::MAX,
    }
    .encode(&mut w);
    w.buf
}
