use workbench_wire::{DecodeError, GroupRecord, Request};

use super::{Database, FillError, Key};
use crate::arena::Arena;

/// The `group` database.
pub struct Group;

impl Database for Group {
    type Entry = libc::group;

    fn list_request(after: Option<u32>, max: u32) -> Request {
        Request::GroupList { after, max }
    }

    fn validate(record: &[u8]) -> Result<(), DecodeError> {
        GroupRecord::decode(record).map(drop)
    }

    fn fill(
        record: &[u8],
        key: Key<'_>,
        entry: &mut libc::group,
        arena: &mut Arena,
    ) -> Result<(), FillError> {
        let r = GroupRecord::decode(record)?;
        if !key.accepts(r.name, Some(r.gid)) {
            return Err(FillError::WrongEntry);
        }
        // The array first: its alignment padding is then at most align - 1 bytes at the
        // start of the buffer.
        let mut members = arena.pointer_array(r.members.len())?;
        for (i, m) in r.members.iter().enumerate() {
            let p = arena.string(m)?;
            members.set(i, p);
        }
        let name = arena.string(r.name)?;
        let passwd = arena.string(r.passwd)?;
        *entry = libc::group {
            gr_name: name,
            gr_passwd: passwd,
            gr_gid: r.gid,
            gr_mem: members.as_ptr(),
        };
        Ok(())
    }
}
