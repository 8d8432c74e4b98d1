//! Helpers shared by the fuzz targets in `fuzz_targets/`.

/// A caller buffer of exactly `len` bytes at a chosen misalignment, with guard bytes on
/// both sides: the fuzz build has no AddressSanitizer (stable Rust), so a write outside
/// the buffer is caught by the guards changing instead.
pub struct GuardedBuffer {
    bytes: Vec<u8>,
    start: usize,
    len: usize,
}

/// Bytes of guard on each side.
pub const GUARD: usize = 64;
const GUARD_BYTE: u8 = 0xA5;

impl GuardedBuffer {
    /// A buffer of `len` bytes starting `misalign` bytes past a guard.
    pub fn new(len: usize, misalign: usize) -> GuardedBuffer {
        let start = GUARD + misalign;
        GuardedBuffer {
            bytes: vec![GUARD_BYTE; start + len + GUARD],
            start,
            len,
        }
    }

    /// Start of the caller-visible buffer.
    pub fn as_mut_ptr(&mut self) -> *mut libc::c_char {
        self.bytes[self.start..].as_mut_ptr().cast()
    }

    /// Length of the caller-visible buffer.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the buffer is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Panics (a fuzzer crash) when a byte outside the buffer changed.
    pub fn assert_guards_intact(&self) {
        let (before, rest) = self.bytes.split_at(self.start);
        let after = &rest[self.len..];
        if let Some(i) = before.iter().position(|&b| b != GUARD_BYTE) {
            panic!("wrote {} bytes before the buffer", self.start - i);
        }
        if let Some(i) = after.iter().position(|&b| b != GUARD_BYTE) {
            panic!("wrote at byte {} past the end of the buffer", i);
        }
    }

    /// The C string at `p`, which must lie inside the buffer and end inside it.
    pub fn c_string(&self, p: *const libc::c_char) -> &[u8] {
        let inside = &self.bytes[self.start..self.start + self.len];
        let off = (p as usize)
            .checked_sub(inside.as_ptr() as usize)
            .filter(|&o| o < inside.len())
            .unwrap_or_else(|| panic!("string pointer {p:?} outside the buffer"));
        let tail = &inside[off..];
        let nul = tail
            .iter()
            .position(|&b| b == 0)
            .unwrap_or_else(|| panic!("string at offset {off} not NUL-terminated in the buffer"));
        &tail[..nul]
    }

    /// The pointer at `p` (a `char **` slot), which must be aligned and inside the buffer.
    pub fn pointer_at(&self, p: *const *mut libc::c_char) -> *mut libc::c_char {
        let inside = &self.bytes[self.start..self.start + self.len];
        let size = std::mem::size_of::<*mut libc::c_char>();
        let off = (p as usize)
            .checked_sub(inside.as_ptr() as usize)
            .filter(|&o| o.checked_add(size).is_some_and(|end| end <= inside.len()))
            .unwrap_or_else(|| panic!("pointer slot {p:?} outside the buffer"));
        assert_eq!(
            p as usize % std::mem::align_of::<*mut libc::c_char>(),
            0,
            "misaligned pointer array"
        );
        let mut a = [0u8; std::mem::size_of::<usize>()];
        a.copy_from_slice(&inside[off..off + size]);
        usize::from_ne_bytes(a) as *mut libc::c_char
    }
}

/// Splits a fixed-size prefix of fuzzer-chosen parameters off `data`.
pub fn split_params<const N: usize>(data: &[u8]) -> Option<([u8; N], &[u8])> {
    let (head, rest) = data.split_first_chunk::<N>()?;
    Some((*head, rest))
}
