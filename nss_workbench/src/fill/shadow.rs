use libc::{c_long, c_ulong};
use workbench_wire::{DecodeError, Request, ShadowRecord};

use super::{Database, FillError, Key, MapTable};
use crate::arena::Arena;

/// The `shadow` database.
pub struct Shadow;

/// `-1` ("empty field") when a value does not fit a C `long` (32-bit targets).
fn long(v: i64) -> c_long {
    c_long::try_from(v).unwrap_or(-1)
}

impl Database for Shadow {
    type Entry = libc::spwd;
    const MAP_TABLE: Option<MapTable> = None;

    fn list_request(after: Option<u32>, max: u32) -> Request {
        Request::ShadowList { after, max }
    }

    fn validate(record: &[u8]) -> Result<(), DecodeError> {
        ShadowRecord::decode(record).map(drop)
    }

    fn fill(
        record: &[u8],
        key: Key<'_>,
        entry: &mut libc::spwd,
        arena: &mut Arena,
    ) -> Result<(), FillError> {
        let r = ShadowRecord::decode(record)?;
        if !key.accepts(r.name, None) {
            return Err(FillError::WrongEntry);
        }
        let name = arena.string(r.name)?;
        let pwdp = arena.string(r.pwdp)?;
        *entry = libc::spwd {
            sp_namp: name,
            sp_pwdp: pwdp,
            sp_lstchg: long(r.lstchg),
            sp_min: long(r.min),
            sp_max: long(r.max),
            sp_warn: long(r.warn),
            sp_inact: long(r.inact),
            sp_expire: long(r.expire),
            sp_flag: c_ulong::try_from(r.flag).unwrap_or(c_ulong::MAX),
        };
        Ok(())
    }
}
