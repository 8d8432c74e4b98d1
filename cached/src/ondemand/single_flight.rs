//! Identical concurrent misses make one SCIM request: the first caller does the work,
//! later ones wait for its result (bounded by their own deadline).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

struct Slot<V> {
    result: Mutex<Option<V>>,
    done: Condvar,
    followers: std::sync::atomic::AtomicUsize,
}

/// Calls in flight, by key.
pub struct SingleFlight<K, V> {
    inflight: Mutex<HashMap<K, Arc<Slot<V>>>>,
}

impl<K, V> Default for SingleFlight<K, V> {
    fn default() -> Self {
        SingleFlight {
            inflight: Mutex::new(HashMap::new()),
        }
    }
}

/// How a caller took part.
pub enum Joined<V> {
    /// This caller ran `work`.
    Led(V),
    /// Another caller ran it; this is its result.
    Followed(V),
    /// The leader did not finish before `deadline`.
    TimedOut,
}

impl<K: Eq + Hash + Clone, V: Clone> SingleFlight<K, V> {
    /// Runs `work` for `key` unless a call for the same key is in flight, in which case
    /// waits for that call's result until `deadline`.
    pub fn run(&self, key: &K, deadline: Instant, work: impl FnOnce() -> V) -> Joined<V> {
        let (slot, leader) = {
            let mut map = self.inflight.lock().unwrap_or_else(|p| p.into_inner());
            match map.get(key) {
                Some(s) => (Arc::clone(s), false),
                None => {
                    let s = Arc::new(Slot {
                        result: Mutex::new(None),
                        done: Condvar::new(),
                        followers: std::sync::atomic::AtomicUsize::new(0),
                    });
                    map.insert(key.clone(), Arc::clone(&s));
                    (s, true)
                }
            }
        };
        if leader {
            let v = work();
            *slot.result.lock().unwrap_or_else(|p| p.into_inner()) = Some(v.clone());
            self.inflight
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(key);
            slot.done.notify_all();
            return Joined::Led(v);
        }
        slot.followers
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let mut guard = slot.result.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(v) = guard.as_ref() {
                return Joined::Followed(v.clone());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Joined::TimedOut;
            }
            guard = match slot.done.wait_timeout(guard, left) {
                Ok((g, _)) => g,
                Err(p) => p.into_inner().0,
            };
        }
    }

    /// Callers waiting on the call for `key` (0 when none is running).
    pub fn followers(&self, key: &K) -> usize {
        self.inflight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            .map_or(0, |s| s.followers.load(std::sync::atomic::Ordering::SeqCst))
    }

    /// True if a call for `key` is running (used to avoid piling up background
    /// refreshes).
    pub fn in_flight(&self, key: &K) -> bool {
        self.inflight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[test]
    fn concurrent_callers_share_one_call() {
        let sf: Arc<SingleFlight<String, u32>> = Arc::new(SingleFlight::default());
        let calls = Arc::new(AtomicUsize::new(0));
        let key = "k".to_string();
        let deadline = Instant::now() + Duration::from_secs(20);
        let leader = {
            let (sf, calls, key) = (sf.clone(), calls.clone(), key.clone());
            std::thread::spawn(move || {
                let sf2 = sf.clone();
                sf.run(&key, deadline, || {
                    calls.fetch_add(1, Ordering::SeqCst);
                    // Finish only once all seven followers are waiting on this call.
                    while sf2.followers(&key) < 7 && Instant::now() < deadline {
                        std::thread::yield_now();
                    }
                    7
                })
            })
        };
        while !sf.in_flight(&key) {
            std::thread::yield_now();
        }
        let followers: Vec<_> = (0..7)
            .map(|_| {
                let (sf, calls, key) = (sf.clone(), calls.clone(), key.clone());
                std::thread::spawn(move || {
                    sf.run(&key, deadline, || {
                        calls.fetch_add(1, Ordering::SeqCst);
                        0
                    })
                })
            })
            .collect();
        assert!(matches!(leader.join().unwrap(), Joined::Led(7)));
        for f in followers {
            assert!(matches!(f.join().unwrap(), Joined::Followed(7)));
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}
