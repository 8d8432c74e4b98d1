//! Which groups list which member names: `(member, gid)` pairs for `initgroups` and for
//! renaming or removing a user's name in the groups that list it.
//!
//! Members are names, as in the group records, so the index agrees with the member lists
//! whatever happens to the users (a user renumbered keeps its name and so its groups).
//! Each distinct name is stored once in the record heap and given a small id; the pairs
//! are `(name id, gid)` in an ordered set, so one name's groups are a range.

use std::collections::BTreeSet;
use std::ops::Bound::Included;

use super::heap::{Heap, Span};
use super::key_index::KeyIndex;

#[derive(Debug, Clone, Copy)]
struct NameSlot {
    span: Span,
    /// Pairs that use this name; the slot is reused at 0.
    refs: u32,
}

/// Member name → gids.
#[derive(Debug, Default)]
pub struct MemberIndex {
    names: Vec<NameSlot>,
    free: Vec<u32>,
    by_name: KeyIndex,
    pairs: BTreeSet<(u32, u32)>,
}

impl MemberIndex {
    fn name_is(&self, heap: &Heap, id: u32, name: &str) -> bool {
        self.names
            .get(id as usize)
            .is_some_and(|s| s.refs > 0 && heap.get(s.span) == name.as_bytes())
    }

    fn id_of(&self, heap: &Heap, name: &str) -> Option<u32> {
        self.by_name.get(name, |id| self.name_is(heap, id, name))
    }

    /// `gid` lists `name`.
    pub fn add(&mut self, heap: &mut Heap, name: &str, gid: u32) {
        let id = match self.id_of(heap, name) {
            Some(id) => id,
            None => {
                let Some(span) = heap.push(name.as_bytes()) else {
                    return;
                };
                let slot = NameSlot { span, refs: 0 };
                let id = match self.free.pop() {
                    Some(id) => {
                        if let Some(s) = self.names.get_mut(id as usize) {
                            *s = slot;
                        }
                        id
                    }
                    None => {
                        let Ok(id) = u32::try_from(self.names.len()) else {
                            return;
                        };
                        self.names.push(slot);
                        id
                    }
                };
                let taken = self
                    .by_name
                    .slot_holder(name)
                    .is_some_and(|h| h != id && !self.name_is(heap, h, name));
                self.by_name.insert(name, id, taken);
                id
            }
        };
        if self.pairs.insert((id, gid)) {
            if let Some(s) = self.names.get_mut(id as usize) {
                s.refs += 1;
            }
        }
    }

    /// `gid` no longer lists `name`.
    pub fn remove(&mut self, heap: &mut Heap, name: &str, gid: u32) {
        let Some(id) = self.id_of(heap, name) else {
            return;
        };
        if !self.pairs.remove(&(id, gid)) {
            return;
        }
        let Some(slot) = self.names.get_mut(id as usize) else {
            return;
        };
        slot.refs = slot.refs.saturating_sub(1);
        if slot.refs == 0 {
            let span = slot.span;
            self.by_name.remove(name, id);
            heap.free(span);
            self.free.push(id);
        }
    }

    /// The gids of the groups listing `name`, ascending.
    pub fn gids_of(&self, heap: &Heap, name: &str) -> Vec<u32> {
        let Some(id) = self.id_of(heap, name) else {
            return Vec::new();
        };
        self.pairs
            .range((Included((id, 0)), Included((id, u32::MAX))))
            .map(|(_, gid)| *gid)
            .collect()
    }

    /// Moves every stored name with `relocate` (heap compaction).
    pub fn relocate(&mut self, mut relocate: impl FnMut(Span) -> Span) {
        for slot in self.names.iter_mut().filter(|s| s.refs > 0) {
            slot.span = relocate(slot.span);
        }
    }

    /// Makes room for about `n` distinct member names.
    pub fn reserve(&mut self, n: usize) {
        self.names.reserve(n);
        self.by_name.reserve(n);
    }

    /// Gives back spare capacity.
    pub fn shrink(&mut self) {
        self.names.shrink_to_fit();
        self.by_name.shrink();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_to_their_groups_and_are_freed_with_their_last_pair() {
        let mut heap = Heap::default();
        let mut ix = MemberIndex::default();
        ix.add(&mut heap, "alice", 20);
        ix.add(&mut heap, "alice", 10);
        ix.add(&mut heap, "bob", 10);
        ix.add(&mut heap, "alice", 10); // again: no second pair
        assert_eq!(ix.gids_of(&heap, "alice"), [10, 20]);
        assert_eq!(ix.gids_of(&heap, "bob"), [10]);
        ix.remove(&mut heap, "alice", 10);
        assert_eq!(ix.gids_of(&heap, "alice"), [20]);
        ix.remove(&mut heap, "alice", 20);
        assert!(ix.gids_of(&heap, "alice").is_empty());
        // The slot is reused for the next new name.
        ix.add(&mut heap, "carol", 30);
        assert_eq!(ix.names.len(), 2);
        assert_eq!(ix.gids_of(&heap, "carol"), [30]);
        assert_eq!(ix.gids_of(&heap, "bob"), [10]);
    }
}
