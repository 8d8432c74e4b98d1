//! The fast-path image: one generation of the public directory data (passwd, group,
//! memberships; never shadow, never tokens) that `workbench-cached` publishes and every
//! process using the module maps read-only and reads in place (design.md §5a).
//!
//! # Delivery
//!
//! The daemon writes each generation into a `memfd`, seals it (`F_SEAL_SHRINK`,
//! `F_SEAL_GROW`, `F_SEAL_FUTURE_WRITE`, then `F_SEAL_SEAL`) and hands the descriptor to
//! the module over the socket (`SCM_RIGHTS`) in answer to a `MapImage` request. The
//! module checks the peer is uid 0, the seals, the size and the header, maps it
//! `PROT_READ`/`MAP_SHARED` and closes the descriptor at once. Sealed against growing
//! and shrinking, the mapping can never take a SIGBUS; sealed against new writable
//! mappings and `write(2)`, nobody but the daemon (whose own writable mapping predates
//! the seal) can change a byte another process reads. A root-owned file under `/run`
//! would need the same guarantees from permissions alone and could still be truncated
//! under a reader by root's mistakes; a sealed memfd cannot.
//!
//! # Layout (all integers little-endian, offsets in bytes)
//!
//! ```text
//! page 0   header (immutable, HEADER_LEN bytes, then zeros)
//!            0 magic "WBNSMAP\0"     8 version u32        12 header_len u32
//!           16 image_len u64        24 generation u64     32 hash key u64 × 2
//!           48 slot_count u32       52 data_off u32       56 data_len u32
//!           60 user_count u32       64 group_count u32    68 max_probe u32
//!           72 flags u32 (1: the daemon enumerates; else enumeration uses the socket)
//!           76 eight sections (off u32, len u32), offsets relative to data_off:
//!              user entries, group entries, user-name index, uid index,
//!              group-name index, gid index, gid pool, records
//! page 1   control block (written by the daemon for the image's whole life)
//!            0 state u64: 0 not yet published, 1 live, 2 retired (superseded,
//!              invalidated or daemon stopped: never live again)
//!            8 heartbeat u64: the daemon's CLOCK_MONOTONIC in ms, renewed every
//!              HEARTBEAT_MS; a reader trusts the image only while it is younger than
//!              LEASE_MS (so a daemon killed with -9 stops being trusted within 5 s)
//! page 2.. expiry table (written by the daemon): one u32 per slot, CLOCK_MONOTONIC
//!          seconds until which the entry is fresh (0: revoked, go to the socket);
//!          slot i is user entry i, slot user_count + j is group entry j
//! data     immutable, from data_off (page aligned) to image_len:
//!          user entry (16 bytes): record off, record len, gid-pool index, gid count
//!          group entry (16 bytes): record off, record len, buffer need, 0
//!          indexes: u32 × capacity (a power of two), entry index + 1 or 0 for empty,
//!            position SipHash-2-4(key, name bytes or id as u32 LE) mod capacity,
//!            linear probing, never more than max_probe (≤ MAX_PROBE) positions
//!          gid pool: u32 gids; each user's list sorted, the primary gid included
//!            (exactly what a `InitGroups` request answers)
//!          records: `crate::record` encodings, the bytes the socket would send
//! ```
//!
//! User entries are in ascending uid order and group entries in ascending gid order:
//! enumeration walks them, and can continue on the socket from the last key. A group's
//! "buffer need" is a lower bound of the caller buffer its `struct group` needs, so a
//! retry after `ERANGE` through glibc's growing buffer costs O(1), not a decode of every
//! member. Every offset and length is bounds-checked by the reader ([`view`]); a probe
//! never runs longer than [`MAX_PROBE`] whatever the header says.

/// Why a module refused an image it was handed. The module sends the code of its last
/// refusal with its next `MapImage` request; the daemon counts them by name in `status`.
pub mod refusal {
    pub const NONE: u8 = 0;
    /// The answer carried no descriptor (a confined program may not receive one).
    pub const NO_DESCRIPTOR: u8 = 1;
    /// Not a memfd with every required seal.
    pub const NOT_SEALED: u8 = 2;
    /// Its size differs from the offer's, or is beyond the limit.
    pub const WRONG_SIZE: u8 = 3;
    /// Its header does not parse or disagrees with the offer.
    pub const BAD_HEADER: u8 = 4;
    /// Offered by a daemon whose socket is not root's.
    pub const UNTRUSTED_PEER: u8 = 5;
    /// Names by code, for `status`.
    pub const NAMES: [&str; 6] = [
        "none",
        "no_descriptor",
        "not_sealed",
        "wrong_size",
        "bad_header",
        "untrusted_peer",
    ];
}

pub mod build;
pub mod hash;
pub mod layout;
pub mod view;

pub use build::{BuildError, Builder};
pub use layout::{
    Header, MapError, CONTROL_HEARTBEAT, CONTROL_OFFSET, CONTROL_STATE, EXPIRY_OFFSET,
    FLAG_ENUMERATE, HEADER_LEN, HEARTBEAT_MS, LEASE_MS, MAGIC, MAX_IMAGE_LEN, MAX_PROBE, PAGE,
    REQUIRED_SEALS, STATE_LIVE, STATE_RETIRED, VERSION,
};
pub use view::{GroupHit, MapView, UserHit};

#[cfg(test)]
mod tests;
