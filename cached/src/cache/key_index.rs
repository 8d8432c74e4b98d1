//! An index from a text key (a name, a SCIM id) to a numeric id without storing the key
//! again: it maps a 32-bit keyed hash (SipHash with a random key per snapshot, so nobody
//! can aim collisions at it) to the id, and the caller checks the candidate against the
//! record that holds the real key. A key whose hash another key already holds (about one
//! in 40,000 at 100,000 keys) is kept whole in a small side table, so lookups are exact.
//! Eight bytes an entry, where a map from the key itself would take about forty.

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::BuildHasher;

/// Text key → id.
#[derive(Debug, Default)]
pub struct KeyIndex {
    hasher: RandomState,
    by_hash: HashMap<u32, u32>,
    /// Keys whose hash was taken by another key when they were inserted.
    collided: HashMap<Box<str>, u32>,
}

impl KeyIndex {
    fn hash(&self, key: &str) -> u32 {
        // The low half of the 64-bit hash: collisions are resolved exactly below.
        self.hasher.hash_one(key) as u32
    }

    /// The id whose record has `key`; `has_key(id)` says whether a candidate's record
    /// holds exactly `key`.
    pub fn get(&self, key: &str, has_key: impl Fn(u32) -> bool) -> Option<u32> {
        if let Some(id) = self.collided.get(key) {
            // Checked like the main path: an index never answers with a record that
            // does not hold the key, whatever happened to the invariants.
            return has_key(*id).then_some(*id);
        }
        let id = *self.by_hash.get(&self.hash(key))?;
        has_key(id).then_some(id)
    }

    /// The id currently under `key`'s hash slot, if any (to be checked by the caller
    /// before [`KeyIndex::insert`]).
    pub fn slot_holder(&self, key: &str) -> Option<u32> {
        self.by_hash.get(&self.hash(key)).copied()
    }

    /// Records `key` → `id`. `slot_taken_by_other_key` is whether the holder of the
    /// hash slot (from [`KeyIndex::slot_holder`]) is a different id with a different key.
    pub fn insert(&mut self, key: &str, id: u32, slot_taken_by_other_key: bool) {
        if slot_taken_by_other_key {
            self.collided.insert(key.into(), id);
        } else {
            let h = self.hash(key);
            self.by_hash.insert(h, id);
        }
    }

    /// Forgets `key` → `id` (nothing if `key` maps elsewhere).
    pub fn remove(&mut self, key: &str, id: u32) {
        if self.collided.get(key) == Some(&id) {
            self.collided.remove(key);
            return;
        }
        let h = self.hash(key);
        if self.by_hash.get(&h) == Some(&id) {
            self.by_hash.remove(&h);
        }
    }

    /// Makes room for `n` more keys at once (a full copy knows how many), instead of
    /// growing by doubling and leaving the smaller tables behind as holes.
    pub fn reserve(&mut self, n: usize) {
        self.by_hash.reserve(n);
    }

    /// Gives back spare capacity.
    pub fn shrink(&mut self) {
        self.by_hash.shrink_to_fit();
        self.collided.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// Keys held by ids, as records would hold them.
    fn check(ix: &KeyIndex, keys: &HashMap<u32, String>, key: &str) -> Option<u32> {
        ix.get(key, |id| keys.get(&id).is_some_and(|k| k == key))
    }

    #[test]
    fn exact_lookups_even_when_hashes_collide() {
        let mut ix = KeyIndex::default();
        let mut keys = HashMap::new();
        for (id, k) in [(1u32, "alice"), (2, "bob")] {
            let taken = ix
                .slot_holder(k)
                .is_some_and(|h| h != id && keys.get(&h).is_some_and(|hk: &String| hk != k));
            ix.insert(k, id, taken);
            keys.insert(id, k.to_string());
        }
        assert_eq!(check(&ix, &keys, "alice"), Some(1));
        assert_eq!(check(&ix, &keys, "bob"), Some(2));
        assert_eq!(check(&ix, &keys, "carol"), None);
        // Force a collision: "carol" inserted as if its slot were taken.
        ix.insert("carol", 3, true);
        keys.insert(3, "carol".into());
        assert_eq!(check(&ix, &keys, "carol"), Some(3));
        ix.remove("carol", 3);
        assert_eq!(check(&ix, &keys, "carol"), None);
        ix.remove("alice", 2); // not alice's id: nothing happens
        assert_eq!(check(&ix, &keys, "alice"), Some(1));
        ix.remove("alice", 1);
        assert_eq!(check(&ix, &keys, "alice"), None);
    }
}
