//! Building an image from the records the daemon serves (the daemon's side).

use std::fmt;

use super::hash;
use super::layout::{expiry_table_len, Header, Section, EXPIRY_OFFSET, MAX_IMAGE_LEN, MAX_PROBE};
use crate::codec::DecodeError;
use crate::record::{GroupRecord, PasswdRecord};

/// Why no image could be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildError {
    /// A record the daemon serves does not decode (a bug upstream).
    BadRecord(DecodeError),
    /// Two entries share a name or an id (a bug upstream: the snapshot never has).
    Duplicate(&'static str),
    /// The image would exceed `MAX_IMAGE_LEN`.
    TooLarge,
    /// No index size kept every probe within `MAX_PROBE` (cannot happen with a keyed
    /// hash and a half-empty table unless the key is broken).
    ProbesTooLong,
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::BadRecord(e) => write!(f, "a served record does not decode: {e}"),
            BuildError::Duplicate(what) => write!(f, "two entries with the same {what}"),
            BuildError::TooLarge => write!(f, "image larger than the limit"),
            BuildError::ProbesTooLong => write!(f, "hash probes longer than the limit"),
        }
    }
}

impl std::error::Error for BuildError {}

struct UserIn {
    uid: u32,
    name: (usize, usize),
    record: (usize, usize),
    gids: (usize, usize),
    expiry: u32,
}

struct GroupIn {
    gid: u32,
    name: (usize, usize),
    record: (usize, usize),
    need: u32,
    expiry: u32,
}

/// Collects users and groups, then lays out one image.
#[derive(Default)]
pub struct Builder {
    users: Vec<UserIn>,
    groups: Vec<GroupIn>,
    records: Vec<u8>,
    gids: Vec<u32>,
}

/// Bytes of a `struct group`'s strings and member array in the caller's buffer, before
/// alignment padding: what the module's fill needs at least.
fn group_need(r: &GroupRecord<'_>) -> u32 {
    let ptr = std::mem::size_of::<usize>();
    let strings: usize = r.members.iter().map(|m| m.len() + 1).sum::<usize>()
        + r.name.len()
        + 1
        + r.passwd.len()
        + 1;
    let need = (r.members.len() + 1)
        .saturating_mul(ptr)
        .saturating_add(strings);
    u32::try_from(need).unwrap_or(u32::MAX)
}

impl Builder {
    pub fn new() -> Builder {
        Builder::default()
    }

    fn push_record(&mut self, record: &[u8]) -> (usize, usize) {
        let at = self.records.len();
        self.records.extend_from_slice(record);
        (at, record.len())
    }

    /// Adds a user: its passwd record, its `initgroups` gids (sorted, primary included)
    /// and the CLOCK_MONOTONIC second its entry stops being fresh.
    pub fn add_user(&mut self, record: &[u8], gids: &[u32], expiry: u32) -> Result<(), BuildError> {
        let r = PasswdRecord::decode(record).map_err(BuildError::BadRecord)?;
        let (uid, name_len) = (r.uid, r.name.len());
        let rec = self.push_record(record);
        let at = self.gids.len();
        self.gids.extend_from_slice(gids);
        self.users.push(UserIn {
            uid,
            // passwd: u32 uid, u32 gid, u32 len, name
            name: (rec.0 + 12, name_len),
            record: rec,
            gids: (at, gids.len()),
            expiry,
        });
        Ok(())
    }

    /// Adds a group: its record and the second its entry stops being fresh.
    pub fn add_group(&mut self, record: &[u8], expiry: u32) -> Result<(), BuildError> {
        let r = GroupRecord::decode(record).map_err(BuildError::BadRecord)?;
        let (gid, name_len, need) = (r.gid, r.name.len(), group_need(&r));
        let rec = self.push_record(record);
        self.groups.push(GroupIn {
            gid,
            // group: u32 gid, u32 len, name
            name: (rec.0 + 8, name_len),
            record: rec,
            need,
            expiry,
        });
        Ok(())
    }

    /// Lays out the image of `generation` with hash `key`. The control block is left
    /// zero (state "not yet published"): the daemon marks it live once it is sealed.
    pub fn finish(
        mut self,
        generation: u64,
        key: [u64; 2],
        flags: u32,
    ) -> Result<Vec<u8>, BuildError> {
        self.users.sort_by_key(|u| u.uid);
        self.groups.sort_by_key(|g| g.gid);
        let nu = self.users.len();
        let ng = self.groups.len();
        let slot_count = u32::try_from(nu + ng).map_err(|_| BuildError::TooLarge)?;

        let name_of =
            |r: &Vec<u8>, (at, len): (usize, usize)| r.get(at..at + len).map(<[u8]>::to_vec);
        let user_names: Vec<Vec<u8>> = self
            .users
            .iter()
            .map(|u| name_of(&self.records, u.name).unwrap_or_default())
            .collect();
        let group_names: Vec<Vec<u8>> = self
            .groups
            .iter()
            .map(|g| name_of(&self.records, g.name).unwrap_or_default())
            .collect();
        let uids: Vec<u32> = self.users.iter().map(|u| u.uid).collect();
        let gids_of_groups: Vec<u32> = self.groups.iter().map(|g| g.gid).collect();

        let mut max_probe = 1u32;
        let mut index_of =
            |keys: Vec<Vec<u8>>, what: &'static str| -> Result<Vec<u32>, BuildError> {
                let (table, probe) = index(&keys, key, what)?;
                max_probe = max_probe.max(probe);
                Ok(table)
            };
        let user_name_idx = index_of(user_names, "user name")?;
        let user_id_idx = index_of(
            uids.iter().map(|u| u.to_le_bytes().to_vec()).collect(),
            "uid",
        )?;
        let group_name_idx = index_of(group_names, "group name")?;
        let group_id_idx = index_of(
            gids_of_groups
                .iter()
                .map(|g| g.to_le_bytes().to_vec())
                .collect(),
            "gid",
        )?;

        // The data area, section by section.
        let mut data: Vec<u8> = Vec::new();
        let mut header = Header {
            generation,
            key,
            slot_count,
            user_count: nu as u32,
            group_count: ng as u32,
            max_probe,
            flags,
            ..Header::default()
        };
        let section = |data: &mut Vec<u8>,
                       bytes: &mut dyn FnMut(&mut Vec<u8>)|
         -> Result<Section, BuildError> {
            let off = u32::try_from(data.len()).map_err(|_| BuildError::TooLarge)?;
            bytes(data);
            let len = u32::try_from(data.len() - off as usize).map_err(|_| BuildError::TooLarge)?;
            Ok(Section { off, len })
        };
        let entry = |d: &mut Vec<u8>, w: [usize; 4]| {
            for v in w {
                d.extend_from_slice(&(v as u32).to_le_bytes());
            }
        };
        header.user_entries = section(&mut data, &mut |d| {
            for u in &self.users {
                entry(d, [u.record.0, u.record.1, u.gids.0, u.gids.1]);
            }
        })?;
        header.group_entries = section(&mut data, &mut |d| {
            for g in &self.groups {
                entry(d, [g.record.0, g.record.1, g.need as usize, 0]);
            }
        })?;
        let words = |d: &mut Vec<u8>, t: &[u32]| {
            for v in t {
                d.extend_from_slice(&v.to_le_bytes());
            }
        };
        header.user_names = section(&mut data, &mut |d| words(d, &user_name_idx))?;
        header.user_ids = section(&mut data, &mut |d| words(d, &user_id_idx))?;
        header.group_names = section(&mut data, &mut |d| words(d, &group_name_idx))?;
        header.group_ids = section(&mut data, &mut |d| words(d, &group_id_idx))?;
        header.gids = section(&mut data, &mut |d| words(d, &self.gids))?;
        header.records = section(&mut data, &mut |d| d.extend_from_slice(&self.records))?;

        let data_off = EXPIRY_OFFSET as u64 + expiry_table_len(slot_count);
        let image_len = data_off + data.len() as u64;
        if image_len > MAX_IMAGE_LEN {
            return Err(BuildError::TooLarge);
        }
        header.data_off = data_off as u32;
        header.data_len = data.len() as u32;
        header.image_len = image_len;

        let mut image = vec![0u8; data_off as usize];
        let encoded = header.encode();
        image
            .get_mut(..encoded.len())
            .ok_or(BuildError::TooLarge)?
            .copy_from_slice(&encoded);
        let expiries = self
            .users
            .iter()
            .map(|u| u.expiry)
            .chain(self.groups.iter().map(|g| g.expiry));
        for (slot, e) in expiries.enumerate() {
            let at = EXPIRY_OFFSET + slot * 4;
            if let Some(dst) = image.get_mut(at..at + 4) {
                dst.copy_from_slice(&e.to_le_bytes());
            }
        }
        image.extend_from_slice(&data);
        Ok(image)
    }
}

/// An open-addressing index over `keys` (entry i has key `keys[i]`): capacity at least
/// twice the count, doubled until every key is found within `MAX_PROBE` positions.
/// Returns the table and the longest probe.
fn index(
    keys: &[Vec<u8>],
    key: [u64; 2],
    what: &'static str,
) -> Result<(Vec<u32>, u32), BuildError> {
    let mut cap = (keys.len() * 2).next_power_of_two().max(8);
    for _ in 0..4 {
        let mut table = vec![0u32; cap];
        let mask = cap - 1;
        let mut longest = 1u32;
        for (i, k) in keys.iter().enumerate() {
            let mut pos = (hash::keyed(key, k) as usize) & mask;
            let mut probe = 1u32;
            loop {
                let slot = table.get_mut(pos).ok_or(BuildError::TooLarge)?;
                if *slot == 0 {
                    *slot = i as u32 + 1;
                    break;
                }
                let other = (*slot - 1) as usize;
                if keys.get(other) == Some(k) {
                    return Err(BuildError::Duplicate(what));
                }
                pos = (pos + 1) & mask;
                probe += 1;
            }
            longest = longest.max(probe);
        }
        if longest <= MAX_PROBE {
            return Ok((table, longest));
        }
        cap *= 2;
    }
    Err(BuildError::ProbesTooLong)
}
