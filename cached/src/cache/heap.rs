//! One growable buffer holding the snapshot's records back to back: a 100,000-user
//! directory is a few large allocations, not hundreds of thousands of small ones (no
//! per-record allocator overhead, nothing for a sync's freed memory to fragment around).
//!
//! A record replaced by a merge leaves its old bytes behind as garbage; the snapshot
//! compacts when garbage passes half of the buffer, so the cost is amortised O(1) per
//! change and the buffer never grows past twice what is live.

/// Where one record lies in the [`Heap`]. Offsets are `u32`: a heap is refused past
/// 4 GiB (far beyond `sync-max-bytes`), which keeps every slot small.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    off: u32,
    len: u32,
}

impl Span {
    /// The length in bytes.
    pub fn len(self) -> usize {
        self.len as usize
    }

    /// True for an empty record.
    pub fn is_empty(self) -> bool {
        self.len == 0
    }
}

/// The record buffer.
#[derive(Debug, Default)]
pub struct Heap {
    bytes: Vec<u8>,
    /// Bytes no record refers to any more.
    garbage: usize,
}

impl Heap {
    /// An empty heap with room for `capacity` bytes (a full copy knows its size).
    pub fn with_capacity(capacity: usize) -> Heap {
        Heap {
            bytes: Vec::with_capacity(capacity),
            garbage: 0,
        }
    }

    /// Appends `record`; `None` when the heap would pass 4 GiB.
    pub fn push(&mut self, record: &[u8]) -> Option<Span> {
        let off = u32::try_from(self.bytes.len()).ok()?;
        let len = u32::try_from(record.len()).ok()?;
        off.checked_add(len)?;
        self.bytes.extend_from_slice(record);
        Some(Span { off, len })
    }

    /// The bytes of `span` (empty if it does not lie in the heap, which cannot happen
    /// for a span this heap handed out).
    pub fn get(&self, span: Span) -> &[u8] {
        let start = span.off as usize;
        self.bytes
            .get(start..start.saturating_add(span.len()))
            .unwrap_or(&[])
    }

    /// `span` is no longer referred to.
    pub fn free(&mut self, span: Span) {
        self.garbage = self.garbage.saturating_add(span.len());
    }

    /// Whether compacting would at least halve the buffer.
    pub fn wants_compaction(&self) -> bool {
        self.garbage > (1 << 20) && self.garbage * 2 > self.bytes.len()
    }

    /// Bytes in use (live and garbage) and garbage.
    pub fn sizes(&self) -> (usize, usize) {
        (self.bytes.len(), self.garbage)
    }

    /// Gives back spare capacity (after a full copy is built).
    pub fn shrink(&mut self) {
        self.bytes.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_stored_back_to_back_and_garbage_is_counted() {
        let mut h = Heap::with_capacity(16);
        let a = h.push(b"alice").unwrap();
        let b = h.push(b"bob").unwrap();
        assert_eq!(h.get(a), b"alice");
        assert_eq!(h.get(b), b"bob");
        h.free(a);
        assert_eq!(h.sizes(), (8, 5));
        assert!(
            !h.wants_compaction(),
            "small heaps are not worth compacting"
        );
        assert_eq!(h.get(Span { off: 100, len: 3 }), b"");
    }
}
