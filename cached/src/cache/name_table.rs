//! Name → bytes, both kept in the record heap: the shadow hashes, which belong to a
//! user name (as in `/etc/shadow`), not to a uid, so a user renumbered under the same
//! name keeps its hash, and a renamed one does not.

use super::heap::{Heap, Span};
use super::key_index::KeyIndex;

#[derive(Debug, Clone, Copy)]
struct Slot {
    name: Span,
    value: Span,
}

/// Name → value.
#[derive(Debug, Default)]
pub struct NameTable {
    slots: Vec<Option<Slot>>,
    free: Vec<u32>,
    by_name: KeyIndex,
    len: usize,
}

impl NameTable {
    fn name_is(&self, heap: &Heap, id: u32, name: &str) -> bool {
        self.slots
            .get(id as usize)
            .and_then(|s| *s)
            .is_some_and(|s| heap.get(s.name) == name.as_bytes())
    }

    fn id_of(&self, heap: &Heap, name: &str) -> Option<u32> {
        self.by_name.get(name, |id| self.name_is(heap, id, name))
    }

    /// The value stored for `name`.
    pub fn get<'h>(&self, heap: &'h Heap, name: &str) -> Option<&'h [u8]> {
        let id = self.id_of(heap, name)?;
        let slot = self.slots.get(id as usize).and_then(|s| *s)?;
        Some(heap.get(slot.value))
    }

    /// Stores `value` for `name`, replacing what was there.
    pub fn put(&mut self, heap: &mut Heap, name: &str, value: &[u8]) {
        self.remove(heap, name);
        let (Some(name_span), Some(value_span)) = (heap.push(name.as_bytes()), heap.push(value))
        else {
            return;
        };
        self.insert_spans(heap, name, name_span, value_span);
    }

    /// Records `name` → `value_span` for a name and value already in `heap` (a full copy
    /// writes its records first and indexes them after). `name` must not be present.
    pub fn insert_spans(&mut self, heap: &Heap, name: &str, name_span: Span, value_span: Span) {
        let slot = Some(Slot {
            name: name_span,
            value: value_span,
        });
        let id = match self.free.pop() {
            Some(id) => {
                if let Some(s) = self.slots.get_mut(id as usize) {
                    *s = slot;
                }
                id
            }
            None => {
                let Ok(id) = u32::try_from(self.slots.len()) else {
                    return;
                };
                self.slots.push(slot);
                id
            }
        };
        let taken = self
            .by_name
            .slot_holder(name)
            .is_some_and(|h| h != id && !self.name_is(heap, h, name));
        self.by_name.insert(name, id, taken);
        self.len += 1;
    }

    /// Forgets `name`.
    pub fn remove(&mut self, heap: &mut Heap, name: &str) {
        let Some(id) = self.id_of(heap, name) else {
            return;
        };
        if let Some(slot) = self.slots.get_mut(id as usize).and_then(Option::take) {
            heap.free(slot.name);
            heap.free(slot.value);
            self.by_name.remove(name, id);
            self.free.push(id);
            self.len = self.len.saturating_sub(1);
        }
    }

    /// How many names have a value.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when no name has a value.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Moves every stored span with `relocate` (heap compaction).
    pub fn relocate(&mut self, mut relocate: impl FnMut(Span) -> Span) {
        for slot in self.slots.iter_mut().flatten() {
            slot.name = relocate(slot.name);
            slot.value = relocate(slot.value);
        }
    }

    /// Makes room for `n` names.
    pub fn reserve(&mut self, n: usize) {
        self.slots.reserve(n);
        self.by_name.reserve(n);
    }

    /// Gives back spare capacity.
    pub fn shrink(&mut self) {
        self.slots.shrink_to_fit();
        self.by_name.shrink();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_by_name_replaced_and_removed() {
        let mut heap = Heap::default();
        let mut t = NameTable::default();
        t.put(&mut heap, "alice", b"$6$a");
        t.put(&mut heap, "bob", b"$6$b");
        t.put(&mut heap, "alice", b"$6$c");
        assert_eq!(t.get(&heap, "alice"), Some(b"$6$c".as_slice()));
        assert_eq!(t.len(), 2);
        t.remove(&mut heap, "alice");
        assert_eq!(t.get(&heap, "alice"), None);
        assert_eq!(t.get(&heap, "bob"), Some(b"$6$b".as_slice()));
        assert_eq!(t.len(), 1);
    }
}
