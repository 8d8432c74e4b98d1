use workbench_wire::{DecodeError, GroupHead, GroupRecord, Members, Request};

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
        let r = GroupHead::decode(record)?;
        if !key.accepts(r.name, Some(r.gid)) {
            return Err(FillError::WrongEntry);
        }
        let rest = r.members;
        // ERANGE makes glibc retry with a bigger buffer, so it must mean only that: a
        // record that stops copying for lack of room is first checked to the end.
        let copied = copy_members(rest.clone(), arena);
        let members = match copied {
            Err(FillError::BufferTooSmall) => {
                rest.validate()?;
                return Err(FillError::BufferTooSmall);
            }
            other => other?,
        };
        let name = arena.string(r.name)?;
        let passwd = arena.string(r.passwd)?;
        *entry = libc::group {
            gr_name: name,
            gr_passwd: passwd,
            gr_gid: r.gid,
            gr_mem: members,
        };
        Ok(())
    }
}

/// Copies the members into the arena: the pointer array first, so its alignment padding
/// is at most align - 1 bytes at the start of the buffer, then each name as it is
/// decoded (no list of 20,000 slices first).
#[inline(always)]
fn copy_members(rest: Members<'_>, arena: &mut Arena) -> Result<*mut *mut libc::c_char, FillError> {
    let mut members = arena.pointer_array(rest.len())?;
    let mut i = 0;
    rest.try_for_each(|m| {
        members.set(i, arena.string(m)?);
        i += 1;
        Ok::<(), FillError>(())
    })?;
    Ok(members.as_ptr())
}
