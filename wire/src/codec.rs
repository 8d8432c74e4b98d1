//! Little-endian primitive reader and writer used by every message and record.

use std::fmt;

/// Why a buffer could not be decoded. The module maps every variant to "daemon
/// misbehaved" (`TRYAGAIN`), never to "not found".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    /// The buffer ended before the field did.
    Truncated,
    /// Bytes were left over after the last field.
    TrailingBytes,
    /// A string field contained a NUL byte.
    NulInString,
    /// A length or count is larger than the frame could possibly hold.
    TooLong,
    /// Protocol version byte differs from [`crate::PROTOCOL_VERSION`].
    BadVersion(u8),
    /// Unknown message or status tag.
    BadTag(u8),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Truncated => write!(f, "message truncated"),
            DecodeError::TrailingBytes => write!(f, "trailing bytes after message"),
            DecodeError::NulInString => write!(f, "NUL byte inside a string field"),
            DecodeError::TooLong => write!(f, "length field exceeds the frame"),
            DecodeError::BadVersion(v) => write!(f, "unsupported protocol version {v}"),
            DecodeError::BadTag(t) => write!(f, "unknown tag {t}"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// Whether `s` contains a NUL byte, eight bytes at a time: every string of every record
/// is checked, and a 20,000-member group has 20,000 of them.
#[inline]
pub fn contains_nul(s: &[u8]) -> bool {
    const LOW: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let zero_in = |w: &[u8; 8]| {
        let w = u64::from_ne_bytes(*w);
        w.wrapping_sub(LOW) & !w & HIGH != 0
    };
    // Short strings byte by byte; longer ones as whole words, the tail as the last eight
    // bytes (overlapping the previous word: no copy, no partial load).
    let Some(last) = s.last_chunk::<8>() else {
        return s.contains(&0);
    };
    s.chunks_exact(8)
        .any(|w| <&[u8; 8]>::try_from(w).is_ok_and(zero_in))
        || zero_in(last)
}

/// Cursor over a borrowed buffer. Every read is bounds-checked.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    pub fn remaining(&self) -> usize {
        self.buf.len()
    }

    pub fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.buf.len() {
            return Err(DecodeError::Truncated);
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        let b = self.take(1)?;
        b.first().copied().ok_or(DecodeError::Truncated)
    }

    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        let b = self.take(4)?;
        let arr: [u8; 4] = b.try_into().map_err(|_| DecodeError::Truncated)?;
        Ok(u32::from_le_bytes(arr))
    }

    pub fn i64(&mut self) -> Result<i64, DecodeError> {
        let b = self.take(8)?;
        let arr: [u8; 8] = b.try_into().map_err(|_| DecodeError::Truncated)?;
        Ok(i64::from_le_bytes(arr))
    }

    pub fn u64(&mut self) -> Result<u64, DecodeError> {
        let b = self.take(8)?;
        let arr: [u8; 8] = b.try_into().map_err(|_| DecodeError::Truncated)?;
        Ok(u64::from_le_bytes(arr))
    }

    /// A `u32` count that must be satisfiable by the remaining bytes given that each item
    /// takes at least `min_item_len` bytes; refuses absurd counts before any allocation.
    pub fn count(&mut self, min_item_len: usize) -> Result<usize, DecodeError> {
        let n = self.u32()? as usize;
        if n.saturating_mul(min_item_len.max(1)) > self.buf.len() {
            return Err(DecodeError::TooLong);
        }
        Ok(n)
    }

    /// A length-prefixed byte string that contains no NUL byte.
    pub fn string(&mut self) -> Result<&'a [u8], DecodeError> {
        let n = self.u32()? as usize;
        if n > self.buf.len() {
            return Err(DecodeError::TooLong);
        }
        let s = self.take(n)?;
        if contains_nul(s) {
            return Err(DecodeError::NulInString);
        }
        Ok(s)
    }

    /// A length-prefixed byte string that may contain any byte (nested records).
    pub fn blob(&mut self) -> Result<&'a [u8], DecodeError> {
        let n = self.u32()? as usize;
        if n > self.buf.len() {
            return Err(DecodeError::TooLong);
        }
        self.take(n)
    }

    pub fn rest(&mut self) -> &'a [u8] {
        let r = self.buf;
        self.buf = &[];
        r
    }

    /// The bytes not read yet, without consuming them.
    pub fn unread(&self) -> &'a [u8] {
        self.buf
    }

    pub fn finish(&self) -> Result<(), DecodeError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::TrailingBytes)
        }
    }
}

/// Appending writer. Strings are written as `u32` length + bytes (no terminator).
#[derive(Debug, Default)]
pub struct Writer {
    pub buf: Vec<u8>,
}

impl Writer {
    pub fn new() -> Self {
        Writer { buf: Vec::new() }
    }
    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }
    pub fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub fn i64(&mut self, v: i64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    /// Strings longer than `u32::MAX` cannot occur: the daemon bounds every field long
    /// before encoding; they are truncated rather than panicking.
    pub fn string(&mut self, s: &[u8]) {
        let n = s.len().min(u32::MAX as usize);
        self.u32(n as u32);
        self.buf.extend_from_slice(s.get(..n).unwrap_or(s));
    }
    pub fn bytes(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contains_nul_finds_a_nul_at_every_position_of_every_length() {
        for n in 0..40 {
            let clean = vec![0x80u8; n];
            assert!(!contains_nul(&clean), "length {n}");
            for at in 0..n {
                let mut s = clean.clone();
                s[at] = 0;
                assert!(contains_nul(&s), "length {n}, NUL at {at}");
                // Bytes next to zero that the word trick must not mistake for it.
                s[at] = 1;
                assert!(!contains_nul(&s), "length {n}, 0x01 at {at}");
                s[at] = 0xff;
                assert!(!contains_nul(&s), "length {n}, 0xff at {at}");
            }
        }
    }
}
