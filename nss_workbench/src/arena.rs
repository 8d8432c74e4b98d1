//! Carves strings and pointer arrays out of the caller's `char *buffer`.
//!
//! Every reservation is bounds-checked with checked arithmetic before a single byte is
//! written, and pointer arrays are aligned for the buffer's actual address (glibc gives
//! no alignment guarantee for `buffer`).

use std::mem::{align_of, size_of};

use libc::c_char;

/// The caller's buffer does not hold the record: `TRYAGAIN`/`ERANGE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BufferTooSmall;

/// A bump allocator over `[base, base + len)`.
#[derive(Debug)]
pub struct Arena {
    base: *mut u8,
    len: usize,
    used: usize,
}

impl Arena {
    /// # Safety
    ///
    /// `base` must be valid for writes of `len` bytes for as long as the arena and the
    /// pointers it hands out are used, and not be accessed otherwise meanwhile.
    pub unsafe fn new(base: *mut c_char, len: usize) -> Arena {
        Arena {
            base: base.cast::<u8>(),
            len,
            used: 0,
        }
    }

    /// Bytes not handed out yet.
    pub fn remaining(&self) -> usize {
        self.len.saturating_sub(self.used)
    }

    /// Forgets everything handed out: the next entry is copied from the start of the
    /// buffer again (after an answer from the map was abandoned halfway).
    pub fn clear(&mut self) {
        self.used = 0;
    }

    /// Bytes handed out so far, alignment padding included.
    pub fn used(&self) -> usize {
        self.used
    }

    /// Reserves `size` bytes aligned to `align` (a power of two) and returns their start.
    fn reserve(&mut self, align: usize, size: usize) -> Result<*mut u8, BufferTooSmall> {
        let addr = (self.base as usize)
            .checked_add(self.used)
            .ok_or(BufferTooSmall)?;
        let pad = addr.wrapping_neg() & (align - 1);
        let start = self.used.checked_add(pad).ok_or(BufferTooSmall)?;
        let end = start.checked_add(size).ok_or(BufferTooSmall)?;
        if end > self.len {
            return Err(BufferTooSmall);
        }
        self.used = end;
        // SAFETY: start <= end <= len, so the result stays inside the caller's buffer.
        Ok(unsafe { self.base.add(start) })
    }

    /// Copies `s` plus a terminating NUL.
    #[inline]
    pub fn string(&mut self, s: &[u8]) -> Result<*mut c_char, BufferTooSmall> {
        // No alignment for bytes: the bounds check alone (every member of a big group
        // passes here).
        let end = self
            .used
            .checked_add(s.len())
            .and_then(|e| e.checked_add(1))
            .ok_or(BufferTooSmall)?;
        if end > self.len {
            return Err(BufferTooSmall);
        }
        // SAFETY: used < end <= len: inside the caller's buffer.
        let dst = unsafe { self.base.add(self.used) };
        self.used = end;
        copy_short(s, dst);
        // SAFETY: `dst` has room for `s.len() + 1` bytes (just reserved).
        unsafe { dst.add(s.len()).write(0) };
        Ok(dst.cast::<c_char>())
    }

    /// Reserves a NULL-terminated array of `n` string pointers, all NULL for now.
    pub fn pointer_array(&mut self, n: usize) -> Result<PointerArray, BufferTooSmall> {
        let slots = n.checked_add(1).ok_or(BufferTooSmall)?;
        let bytes = slots
            .checked_mul(size_of::<*mut c_char>())
            .ok_or(BufferTooSmall)?;
        let start = self.reserve(align_of::<*mut c_char>(), bytes)?;
        let array = start.cast::<*mut c_char>();
        for i in 0..slots {
            // SAFETY: `array` is aligned (reserve) and has `slots` slots.
            unsafe { array.add(i).write(std::ptr::null_mut()) };
        }
        Ok(PointerArray { array, len: n })
    }
}

/// Copies `s` to `dst`, which has room for `s.len()` bytes and does not overlap it.
/// Names of 4 to 16 bytes (most of them) are copied as two overlapping words instead of
/// through a `memcpy` call: a 20,000-member group is 20,000 such copies.
#[inline(always)]
fn copy_short(s: &[u8], dst: *mut u8) {
    let n = s.len();
    if let (8..=16, Some(head), Some(tail)) = (n, s.first_chunk::<8>(), s.last_chunk::<8>()) {
        // SAFETY: both 8-byte writes lie inside [dst, dst + n) because 8 <= n; unaligned
        // writes are explicitly allowed.
        unsafe {
            dst.cast::<[u8; 8]>().write_unaligned(*head);
            dst.add(n - 8).cast::<[u8; 8]>().write_unaligned(*tail);
        }
    } else if let (4..=7, Some(head), Some(tail)) = (n, s.first_chunk::<4>(), s.last_chunk::<4>()) {
        // SAFETY: as above with 4-byte words and 4 <= n.
        unsafe {
            dst.cast::<[u8; 4]>().write_unaligned(*head);
            dst.add(n - 4).cast::<[u8; 4]>().write_unaligned(*tail);
        }
    } else {
        // SAFETY: `dst` has room for `n` bytes, and `s` is a Rust slice that cannot
        // overlap the caller's buffer we exclusively write.
        unsafe { std::ptr::copy_nonoverlapping(s.as_ptr(), dst, n) };
    }
}

/// A pointer array inside the caller's buffer; the slot after the last stays NULL.
#[derive(Debug)]
pub struct PointerArray {
    array: *mut *mut c_char,
    len: usize,
}

impl PointerArray {
    pub fn as_ptr(&self) -> *mut *mut c_char {
        self.array
    }

    /// Stores `p` in slot `i`; out-of-range indices (including the terminator) are
    /// ignored.
    // `p` is only stored, never dereferenced.
    #[allow(clippy::not_unsafe_ptr_arg_deref)]
    pub fn set(&mut self, i: usize, p: *mut c_char) {
        if i < self.len {
            // SAFETY: i < len and the array has len + 1 aligned slots.
            unsafe { self.array.add(i).write(p) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    #[test]
    fn strings_are_nul_terminated_and_bounded() {
        let mut buf = [0x55u8; 8];
        let mut a = unsafe { Arena::new(buf.as_mut_ptr().cast(), buf.len()) };
        let p = a.string(b"abc").unwrap();
        assert_eq!(unsafe { CStr::from_ptr(p) }.to_bytes(), b"abc");
        assert_eq!(a.string(b"defg"), Err(BufferTooSmall));
        assert_eq!(a.string(b"def").map(|_| ()), Ok(()));
        assert_eq!(a.used(), 8);
        assert_eq!(a.string(b""), Err(BufferTooSmall));
    }

    #[test]
    fn strings_of_every_short_length_are_copied_exactly() {
        // copy_short's word paths (4-7 and 8-16 bytes) and memcpy on either side.
        let src: Vec<u8> = (1..=40).collect();
        for n in 0..=40 {
            let mut buf = vec![0xeeu8; n + 3];
            let mut a = unsafe { Arena::new(buf.as_mut_ptr().cast(), n + 1) };
            let p = a.string(&src[..n]).unwrap();
            assert_eq!(
                unsafe { CStr::from_ptr(p) }.to_bytes(),
                &src[..n],
                "length {n}"
            );
            assert_eq!(
                &buf[n + 1..],
                &[0xee, 0xee],
                "wrote past the string, length {n}"
            );
        }
    }

    #[test]
    fn pointer_arrays_are_aligned_for_every_offset() {
        let mut buf = vec![0u8; 256];
        let align = align_of::<*mut c_char>();
        for offset in 0..(2 * align) {
            let base = unsafe { buf.as_mut_ptr().add(offset) };
            let mut a = unsafe { Arena::new(base.cast(), 256 - offset) };
            a.string(b"x").unwrap();
            let arr = a.pointer_array(3).unwrap();
            assert_eq!(arr.as_ptr() as usize % align, 0, "offset {offset}");
            assert!(unsafe { (*arr.as_ptr().add(3)).is_null() });
        }
    }

    #[test]
    fn pointer_array_padding_counts_against_the_buffer() {
        let mut buf = vec![0u8; 64];
        let align = align_of::<*mut c_char>();
        // Misalign the start by one byte: padding is align - 1.
        let base = unsafe { buf.as_mut_ptr().add(1) };
        let pad = (align - (base as usize % align)) % align;
        let need = pad + 2 * size_of::<*mut c_char>();
        let mut small = unsafe { Arena::new(base.cast(), need - 1) };
        assert!(small.pointer_array(1).is_err());
        let mut exact = unsafe { Arena::new(base.cast(), need) };
        assert!(exact.pointer_array(1).is_ok());
    }
}
