//! The image's fixed layout: constants shared by the daemon (writer) and the module
//! (reader), and the header with its checks. See the module documentation for the map.

use std::fmt;

/// First bytes of every image.
pub const MAGIC: [u8; 8] = *b"WBNSMAP\0";
/// Layout version; a reader refuses any other.
pub const VERSION: u32 = 1;
/// Bytes of the encoded header.
pub const HEADER_LEN: usize = 76 + 8 * SECTIONS;
/// Alignment of the control block, the expiry table and the data.
pub const PAGE: usize = 4096;
/// Offset of the control block.
pub const CONTROL_OFFSET: usize = PAGE;
/// Offset of the expiry table.
pub const EXPIRY_OFFSET: usize = 2 * PAGE;
/// Offset, in the control block, of the state word.
pub const CONTROL_STATE: usize = 0;
/// Offset, in the control block, of the heartbeat word.
pub const CONTROL_HEARTBEAT: usize = 8;
/// State word: the image may answer.
pub const STATE_LIVE: u64 = 1;
/// State word: the image must not answer any more (final).
pub const STATE_RETIRED: u64 = 2;
/// How often the daemon renews the heartbeat.
pub const HEARTBEAT_MS: u64 = 1000;
/// How long after the last heartbeat a reader still trusts the image.
pub const LEASE_MS: u64 = 5000;
/// Longest probe sequence a reader follows, whatever the header claims.
pub const MAX_PROBE: u32 = 32;
/// Largest image either side accepts.
pub const MAX_IMAGE_LEN: u64 = 1 << 31;
/// The seals every image must carry, as Linux numbers them (`F_SEAL_SEAL` 1,
/// `F_SEAL_SHRINK` 2, `F_SEAL_GROW` 4, `F_SEAL_FUTURE_WRITE` 0x10; these are kernel ABI).
pub const REQUIRED_SEALS: i32 = 0x01 | 0x02 | 0x04 | 0x10;
/// Header flag: the daemon lists entries (`enumerate=1`); without it a reader leaves
/// enumeration to the socket.
pub const FLAG_ENUMERATE: u32 = 1;
/// Bytes of one user or group entry.
pub const ENTRY_LEN: usize = 16;

const SECTIONS: usize = 8;

/// Why an image (or a part of it) was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapError {
    /// Shorter than its header or than the size it announces.
    Truncated,
    /// Not an image at all.
    BadMagic,
    /// An image of another layout version.
    BadVersion(u32),
    /// The header's sizes disagree with the image or with each other.
    BadLayout(&'static str),
}

impl fmt::Display for MapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MapError::Truncated => write!(f, "image truncated"),
            MapError::BadMagic => write!(f, "not a workbench map image"),
            MapError::BadVersion(v) => write!(f, "unsupported map version {v}"),
            MapError::BadLayout(what) => write!(f, "inconsistent map layout: {what}"),
        }
    }
}

impl std::error::Error for MapError {}

/// A byte range of the data area.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Section {
    /// Offset from the start of the data area.
    pub off: u32,
    /// Length in bytes.
    pub len: u32,
}

impl Section {
    fn end(self) -> u64 {
        u64::from(self.off) + u64::from(self.len)
    }
}

/// The decoded header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Header {
    /// Total bytes of the image (the memfd's size).
    pub image_len: u64,
    /// Increases with every image a daemon publishes.
    pub generation: u64,
    /// This generation's hash key.
    pub key: [u64; 2],
    /// Entries in the expiry table: users then groups.
    pub slot_count: u32,
    /// Offset of the data area.
    pub data_off: u32,
    /// Bytes of the data area.
    pub data_len: u32,
    pub user_count: u32,
    pub group_count: u32,
    /// Longest probe any key in the indexes needs.
    pub max_probe: u32,
    /// `FLAG_*` bits.
    pub flags: u32,
    pub user_entries: Section,
    pub group_entries: Section,
    pub user_names: Section,
    pub user_ids: Section,
    pub group_names: Section,
    pub group_ids: Section,
    pub gids: Section,
    pub records: Section,
}

fn u32_at(b: &[u8], at: usize) -> Result<u32, MapError> {
    let bytes = b.get(at..at + 4).ok_or(MapError::Truncated)?;
    let mut a = [0u8; 4];
    a.copy_from_slice(bytes);
    Ok(u32::from_le_bytes(a))
}

fn u64_at(b: &[u8], at: usize) -> Result<u64, MapError> {
    let bytes = b.get(at..at + 8).ok_or(MapError::Truncated)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(bytes);
    Ok(u64::from_le_bytes(a))
}

/// Bytes of the expiry table for `slots` entries, rounded up to whole pages.
pub fn expiry_table_len(slots: u32) -> u64 {
    let raw = u64::from(slots) * 4;
    raw.div_ceil(PAGE as u64) * PAGE as u64
}

impl Header {
    fn sections(&self) -> [Section; SECTIONS] {
        [
            self.user_entries,
            self.group_entries,
            self.user_names,
            self.user_ids,
            self.group_names,
            self.group_ids,
            self.gids,
            self.records,
        ]
    }

    fn sections_mut(&mut self) -> [&mut Section; SECTIONS] {
        [
            &mut self.user_entries,
            &mut self.group_entries,
            &mut self.user_names,
            &mut self.user_ids,
            &mut self.group_names,
            &mut self.group_ids,
            &mut self.gids,
            &mut self.records,
        ]
    }

    /// Encodes the header (`HEADER_LEN` bytes).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN);
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&(HEADER_LEN as u32).to_le_bytes());
        out.extend_from_slice(&self.image_len.to_le_bytes());
        out.extend_from_slice(&self.generation.to_le_bytes());
        out.extend_from_slice(&self.key[0].to_le_bytes());
        out.extend_from_slice(&self.key[1].to_le_bytes());
        for v in [
            self.slot_count,
            self.data_off,
            self.data_len,
            self.user_count,
            self.group_count,
            self.max_probe,
            self.flags,
        ] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        for s in self.sections() {
            out.extend_from_slice(&s.off.to_le_bytes());
            out.extend_from_slice(&s.len.to_le_bytes());
        }
        out
    }

    /// Decodes and checks the header of an image that is `image_len` bytes long.
    /// Everything a reader later relies on is checked here: every section lies inside
    /// the data area, tables have the sizes their counts imply, indexes have a
    /// power-of-two capacity larger than their entry count (so a probe meets an empty
    /// position), and the control block and expiry table fit before the data.
    pub fn parse(bytes: &[u8], image_len: u64) -> Result<Header, MapError> {
        if bytes.get(..8) != Some(&MAGIC[..]) {
            return Err(if bytes.len() < 8 {
                MapError::Truncated
            } else {
                MapError::BadMagic
            });
        }
        let version = u32_at(bytes, 8)?;
        if version != VERSION {
            return Err(MapError::BadVersion(version));
        }
        if u32_at(bytes, 12)? as usize != HEADER_LEN {
            return Err(MapError::BadLayout("header length"));
        }
        let mut h = Header {
            image_len: u64_at(bytes, 16)?,
            generation: u64_at(bytes, 24)?,
            key: [u64_at(bytes, 32)?, u64_at(bytes, 40)?],
            slot_count: u32_at(bytes, 48)?,
            data_off: u32_at(bytes, 52)?,
            data_len: u32_at(bytes, 56)?,
            user_count: u32_at(bytes, 60)?,
            group_count: u32_at(bytes, 64)?,
            max_probe: u32_at(bytes, 68)?,
            flags: u32_at(bytes, 72)?,
            ..Header::default()
        };
        for (i, s) in h.sections_mut().into_iter().enumerate() {
            s.off = u32_at(bytes, 76 + 8 * i)?;
            s.len = u32_at(bytes, 80 + 8 * i)?;
        }
        h.check(image_len)?;
        Ok(h)
    }

    fn check(&self, image_len: u64) -> Result<(), MapError> {
        let bad = |what| Err(MapError::BadLayout(what));
        if self.image_len != image_len || image_len > MAX_IMAGE_LEN {
            return bad("image size");
        }
        if u64::from(self.user_count) + u64::from(self.group_count) != u64::from(self.slot_count) {
            return bad("slot count");
        }
        let data_off = u64::from(self.data_off);
        if data_off % PAGE as u64 != 0
            || data_off < EXPIRY_OFFSET as u64 + expiry_table_len(self.slot_count)
            || data_off + u64::from(self.data_len) != image_len
        {
            return bad("data area");
        }
        if self
            .sections()
            .iter()
            .any(|s| s.end() > u64::from(self.data_len))
        {
            return bad("section outside the data area");
        }
        let entries = |s: Section, n: u32| u64::from(s.len) == u64::from(n) * ENTRY_LEN as u64;
        if !entries(self.user_entries, self.user_count)
            || !entries(self.group_entries, self.group_count)
        {
            return bad("entry table size");
        }
        let index = |s: Section, n: u32| {
            let cap = u64::from(s.len) / 4;
            s.len.is_multiple_of(4) && cap.is_power_of_two() && cap > u64::from(n)
        };
        if !index(self.user_names, self.user_count)
            || !index(self.user_ids, self.user_count)
            || !index(self.group_names, self.group_count)
            || !index(self.group_ids, self.group_count)
        {
            return bad("index size");
        }
        if !self.gids.len.is_multiple_of(4) {
            return bad("gid pool size");
        }
        if self.max_probe == 0 || self.max_probe > MAX_PROBE {
            return bad("probe length");
        }
        Ok(())
    }
}
