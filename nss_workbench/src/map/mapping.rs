//! One image mapped read-only into this process.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use workbench_wire::map::{
    Header, MapView, CONTROL_HEARTBEAT, CONTROL_OFFSET, CONTROL_STATE, EXPIRY_OFFSET, LEASE_MS,
    STATE_LIVE,
};

/// A read-only `MAP_SHARED` mapping of a sealed image whose header has been checked.
///
/// The header and the data area never change (sealed); the control block and the
/// expiry table are written by the daemon at any time and are only read here through
/// atomics. The header check guarantees both lie inside the mapping, before the data.
#[derive(Debug)]
pub struct Mapping {
    base: *const u8,
    len: usize,
    header: Header,
}

impl Mapping {
    /// # Safety
    ///
    /// `base` must be a mapping of `len` readable bytes that stays mapped until
    /// [`Mapping::unmap`], whose header is `header` (already checked against `len` by
    /// `Header::parse`), and whose header and data area no one can change.
    pub unsafe fn new(base: *const u8, len: usize, header: Header) -> Mapping {
        Mapping { base, len, header }
    }

    pub fn header(&self) -> &Header {
        &self.header
    }

    fn word64(&self, off: usize) -> &AtomicU64 {
        // SAFETY: CONTROL_OFFSET + 16 <= EXPIRY_OFFSET <= data_off <= len (header check);
        // `off` is one of the two 8-aligned word offsets; the page is aligned.
        unsafe {
            &*self
                .base
                .add(CONTROL_OFFSET + (off & 8))
                .cast::<AtomicU64>()
        }
    }

    /// Whether the daemon still vouches for this image at `now_ms`: marked live, and its
    /// heartbeat at most `LEASE_MS` old (and not from the future: another time namespace
    /// would make the lease meaningless).
    pub fn live(&self, now_ms: u64) -> bool {
        if self.word64(CONTROL_STATE).load(Ordering::Acquire) != STATE_LIVE {
            return false;
        }
        let beat = self.word64(CONTROL_HEARTBEAT).load(Ordering::Acquire);
        now_ms >= beat && now_ms - beat < LEASE_MS
    }

    /// Whether entry `slot` is fresh at `now_secs`.
    pub fn fresh(&self, slot: u32, now_secs: u64) -> bool {
        if slot >= self.header.slot_count {
            return false;
        }
        let at = EXPIRY_OFFSET + slot as usize * 4;
        // SAFETY: EXPIRY_OFFSET + 4 * slot_count <= data_off <= len (header check), the
        // table is page aligned, so this is an aligned u32 inside the mapping.
        let word = unsafe { &*self.base.add(at).cast::<AtomicU32>() };
        now_secs < u64::from(word.load(Ordering::Acquire))
    }

    /// The immutable data area.
    pub fn view(&self) -> Option<MapView<'_>> {
        let off = self.header.data_off as usize;
        let len = self.header.data_len as usize;
        if off.checked_add(len) != Some(self.len) {
            return None;
        }
        // SAFETY: [off, off + len) is inside the mapping (checked just above) and is
        // never written: sealed against writes by anyone but the daemon, which does not
        // write the data area.
        let data = unsafe { std::slice::from_raw_parts(self.base.add(off), len) };
        MapView::new(self.header, data).ok()
    }

    /// Unmaps the image.
    ///
    /// # Safety
    ///
    /// No reference obtained from this mapping may be used afterwards.
    pub unsafe fn unmap(self) {
        // SAFETY: unmapping exactly the range mapped; the caller guarantees no reader.
        unsafe {
            libc::munmap(self.base as *mut libc::c_void, self.len);
        }
    }
}
