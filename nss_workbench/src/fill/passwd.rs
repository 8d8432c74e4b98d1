use workbench_wire::{DecodeError, PasswdRecord, Request};

use super::{Database, FillError, Key, MapTable};
use crate::arena::Arena;

/// The `passwd` database.
pub struct Passwd;

impl Database for Passwd {
    type Entry = libc::passwd;
    const MAP_TABLE: Option<MapTable> = Some(MapTable::Users);

    fn list_request(after: Option<u32>, max: u32) -> Request {
        Request::PasswdList { after, max }
    }

    fn validate(record: &[u8]) -> Result<(), DecodeError> {
        PasswdRecord::decode(record).map(drop)
    }

    fn fill(
        record: &[u8],
        key: Key<'_>,
        entry: &mut libc::passwd,
        arena: &mut Arena,
    ) -> Result<(), FillError> {
        let r = PasswdRecord::decode(record)?;
        if !key.accepts(r.name, Some(r.uid)) {
            return Err(FillError::WrongEntry);
        }
        let name = arena.string(r.name)?;
        let passwd = arena.string(r.passwd)?;
        let gecos = arena.string(r.gecos)?;
        let dir = arena.string(r.dir)?;
        let shell = arena.string(r.shell)?;
        *entry = libc::passwd {
            pw_name: name,
            pw_passwd: passwd,
            pw_uid: r.uid,
            pw_gid: r.gid,
            pw_gecos: gecos,
            pw_dir: dir,
            pw_shell: shell,
        };
        Ok(())
    }
}
