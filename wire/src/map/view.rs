//! Reading an image in place. Every offset and length read from the image is checked
//! against the bytes actually there; a hostile image yields "not found" (the module
//! then asks the socket), never a panic, an out-of-bounds read or an unbounded loop.

use super::hash;
use super::layout::{Header, MapError, Section, ENTRY_LEN, MAX_PROBE};

/// The data area of one image, with its header.
#[derive(Debug, Clone, Copy)]
pub struct MapView<'a> {
    header: Header,
    data: &'a [u8],
}

/// A user found in the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserHit<'a> {
    /// Position in the expiry table.
    pub slot: u32,
    /// The passwd record, as the socket would send it.
    pub record: &'a [u8],
    /// The user's gids for `initgroups` (u32 little-endian each).
    pub gids: &'a [u8],
}

/// A group found in the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupHit<'a> {
    /// Position in the expiry table.
    pub slot: u32,
    /// The group record, as the socket would send it.
    pub record: &'a [u8],
    /// A lower bound of the caller buffer its `struct group` needs.
    pub need: u32,
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    let end = at.checked_add(4)?;
    let bytes = b.get(at..end)?;
    let mut a = [0u8; 4];
    a.copy_from_slice(bytes);
    Some(u32::from_le_bytes(a))
}

/// Name bytes of a passwd record: `u32 uid, u32 gid, u32 len, name`.
pub fn passwd_name(record: &[u8]) -> Option<&[u8]> {
    let len = u32_at(record, 8)? as usize;
    record.get(12..12usize.checked_add(len)?)
}

/// Uid of a passwd record.
pub fn passwd_uid(record: &[u8]) -> Option<u32> {
    u32_at(record, 0)
}

/// Name bytes of a group record: `u32 gid, u32 len, name`.
pub fn group_name(record: &[u8]) -> Option<&[u8]> {
    let len = u32_at(record, 4)? as usize;
    record.get(8..8usize.checked_add(len)?)
}

/// Gid of a group record.
pub fn group_gid(record: &[u8]) -> Option<u32> {
    u32_at(record, 0)
}

impl<'a> MapView<'a> {
    /// A view of `data`, the data area of an image whose checked header is `header`.
    pub fn new(header: Header, data: &'a [u8]) -> Result<MapView<'a>, MapError> {
        if data.len() as u64 != u64::from(header.data_len) {
            return Err(MapError::Truncated);
        }
        Ok(MapView { header, data })
    }

    /// Checks a whole image (header and data in one slice) and views its data area.
    pub fn parse(image: &'a [u8]) -> Result<MapView<'a>, MapError> {
        let header = Header::parse(image, image.len() as u64)?;
        let data = image
            .get(header.data_off as usize..)
            .ok_or(MapError::Truncated)?;
        MapView::new(header, data)
    }

    pub fn header(&self) -> &Header {
        &self.header
    }

    fn section(&self, s: Section) -> &'a [u8] {
        let start = s.off as usize;
        let end = start.saturating_add(s.len as usize);
        self.data.get(start..end).unwrap_or(&[])
    }

    /// (record offset, record length, third word, fourth word) of entry `i` of `table`.
    fn entry(&self, table: Section, i: u32) -> Option<(&'a [u8], u32, u32)> {
        let t = self.section(table);
        let at = (i as usize).checked_mul(ENTRY_LEN)?;
        let off = u32_at(t, at)? as usize;
        let len = u32_at(t, at + 4)? as usize;
        let records = self.section(self.header.records);
        let record = records.get(off..off.checked_add(len)?)?;
        Some((record, u32_at(t, at + 8)?, u32_at(t, at + 12)?))
    }

    /// User entry `i` (in uid order).
    pub fn user_at(&self, i: u32) -> Option<UserHit<'a>> {
        if i >= self.header.user_count {
            return None;
        }
        let (record, pool_at, count) = self.entry(self.header.user_entries, i)?;
        let pool = self.section(self.header.gids);
        let start = (pool_at as usize).checked_mul(4)?;
        let end = start.checked_add((count as usize).checked_mul(4)?)?;
        Some(UserHit {
            slot: i,
            record,
            gids: pool.get(start..end)?,
        })
    }

    /// Group entry `j` (in gid order).
    pub fn group_at(&self, j: u32) -> Option<GroupHit<'a>> {
        if j >= self.header.group_count {
            return None;
        }
        let (record, need, _) = self.entry(self.header.group_entries, j)?;
        Some(GroupHit {
            slot: self.header.user_count.checked_add(j)?,
            record,
            need,
        })
    }

    /// Follows `index` from `hash` until `matches` accepts an entry, an empty position
    /// ends the chain, or the probe limit is reached.
    fn probe(&self, index: Section, hash: u64, matches: impl Fn(u32) -> bool) -> Option<u32> {
        let table = self.section(index);
        let cap = table.len() / 4;
        if cap == 0 || !cap.is_power_of_two() {
            return None;
        }
        let mask = cap - 1;
        let mut pos = (hash as usize) & mask;
        for _ in 0..self.header.max_probe.min(MAX_PROBE) {
            let v = u32_at(table, pos * 4)?;
            if v == 0 {
                return None;
            }
            if matches(v - 1) {
                return Some(v - 1);
            }
            pos = (pos + 1) & mask;
        }
        None
    }

    pub fn user_by_name(&self, name: &[u8]) -> Option<UserHit<'a>> {
        let h = hash::keyed(self.header.key, name);
        let i = self.probe(self.header.user_names, h, |i| {
            self.user_at(i)
                .and_then(|u| passwd_name(u.record))
                .is_some_and(|n| n == name)
        })?;
        self.user_at(i)
    }

    pub fn user_by_uid(&self, uid: u32) -> Option<UserHit<'a>> {
        let h = hash::keyed_id(self.header.key, uid);
        let i = self.probe(self.header.user_ids, h, |i| {
            self.user_at(i).and_then(|u| passwd_uid(u.record)) == Some(uid)
        })?;
        self.user_at(i)
    }

    pub fn group_by_name(&self, name: &[u8]) -> Option<GroupHit<'a>> {
        let h = hash::keyed(self.header.key, name);
        let j = self.probe(self.header.group_names, h, |j| {
            self.group_at(j)
                .and_then(|g| group_name(g.record))
                .is_some_and(|n| n == name)
        })?;
        self.group_at(j)
    }

    pub fn group_by_gid(&self, gid: u32) -> Option<GroupHit<'a>> {
        let h = hash::keyed_id(self.header.key, gid);
        let j = self.probe(self.header.group_ids, h, |j| {
            self.group_at(j).and_then(|g| group_gid(g.record)) == Some(gid)
        })?;
        self.group_at(j)
    }

    /// Index of the first user entry whose uid is above `after` (all when `None`), for
    /// enumeration pages; entries are in ascending uid order.
    pub fn first_user_after(&self, after: Option<u32>) -> u32 {
        let Some(after) = after else { return 0 };
        self.partition(
            self.header.user_count,
            |i| self.user_at(i).and_then(|u| passwd_uid(u.record)),
            after,
        )
    }

    /// As [`MapView::first_user_after`] for groups.
    pub fn first_group_after(&self, after: Option<u32>) -> u32 {
        let Some(after) = after else { return 0 };
        self.partition(
            self.header.group_count,
            |j| self.group_at(j).and_then(|g| group_gid(g.record)),
            after,
        )
    }

    /// Binary search for the first position whose key exceeds `after`. A hostile image
    /// whose entries are not sorted gets some position, never a loop: the search halves
    /// its range every step, and an unreadable entry counts as "beyond".
    fn partition(&self, count: u32, key: impl Fn(u32) -> Option<u32>, after: u32) -> u32 {
        let (mut lo, mut hi) = (0u32, count);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match key(mid) {
                Some(k) if k <= after => lo = mid + 1,
                _ => hi = mid,
            }
        }
        lo
    }
}

/// The gids of a [`UserHit`], decoded.
pub fn gids(raw: &[u8]) -> impl Iterator<Item = u32> + '_ {
    raw.chunks_exact(4).map(|c| {
        let mut a = [0u8; 4];
        a.copy_from_slice(c);
        u32::from_le_bytes(a)
    })
}
