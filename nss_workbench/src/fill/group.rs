use workbench_wire::{DecodeError, GroupHead, GroupRecord, Request};

use super::{Database, FillError, Key, MapTable};
use crate::arena::Arena;

/// The `group` database.
pub struct Group;

impl Database for Group {
    type Entry = libc::group;
    const MAP_TABLE: Option<MapTable> = Some(MapTable::Groups);

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
        // Members are copied as they are decoded: no list of 20,000 slices first.
        let r = GroupHead::decode(record)?;
        if !key.accepts(r.name, Some(r.gid)) {
            return Err(FillError::WrongEntry);
        }
        let rest = r.members;
        // The array first: its alignment padding is then at most align - 1 bytes at the
        // start of the buffer.
        let mut members = arena.pointer_array(rest.len())?;
        let mut i = 0;
        rest.try_for_each(|m| {
            members.set(i, arena.string(m)?);
            i += 1;
            Ok::<(), FillError>(())
        })?;
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
