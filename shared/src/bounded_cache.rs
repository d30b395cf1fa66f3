//! What a warm function keeps in memory between invocations, bounded: an entry lives at most
//! `max_age` from when it was put, at most `max_entries` are kept (the oldest goes first). The
//! vault's unwrapped data keys and the publisher's known connections are kept this way.
//! A removed entry is dropped at once (a `SecretBox` in it is zeroized).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct BoundedCache<K, V> {
    entries: Mutex<HashMap<K, (Instant, V)>>,
    max_age: Duration,
    max_entries: usize,
}

impl<K: Eq + Hash + Clone, V> BoundedCache<K, V> {
    pub fn new(max_age: Duration, max_entries: usize) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            max_age,
            max_entries,
        }
    }

    /// What `read` makes of the entry for `key`, if it is younger than the age limit at `now`.
    /// An entry too old, or one `read` turns down (answering `None`), is dropped.
    pub fn get<R>(
        &self,
        key: &K,
        now: Instant,
        read: impl FnOnce(&mut V) -> Option<R>,
    ) -> Option<R> {
        let mut entries = self.entries.lock().expect("not poisoned");
        let (put_at, value) = entries.get_mut(key)?;
        let young = now.saturating_duration_since(*put_at) < self.max_age;
        let read = if young { read(value) } else { None };
        if read.is_none() {
            entries.remove(key);
        }
        read
    }

    /// Keeps `value` for `key` from `now`: entries past the age limit go, and if the cache is
    /// full, the oldest makes room.
    pub fn insert(&self, key: K, value: V, now: Instant) {
        let mut entries = self.entries.lock().expect("not poisoned");
        entries.retain(|_, (put_at, _)| now.saturating_duration_since(*put_at) < self.max_age);
        if !entries.contains_key(&key) && entries.len() >= self.max_entries {
            let oldest = entries
                .iter()
                .min_by_key(|(_, (put_at, _))| *put_at)
                .map(|(key, _)| key.clone());
            if let Some(oldest) = oldest {
                entries.remove(&oldest);
            }
        }
        entries.insert(key, (now, value));
    }

    pub fn remove(&self, key: &K) {
        self.entries.lock().expect("not poisoned").remove(key);
    }

    pub fn len(&self) -> usize {
        self.entries.lock().expect("not poisoned").len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_age_out_are_turned_down_and_the_oldest_makes_room() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let cache = BoundedCache::new(Duration::from_millis(100), 2);
        cache.insert("a", 1, at(0));
        cache.insert("b", 2, at(10));
        let rows = [
            // (key, at, read accepts, found)
            ("a", 50, true, Some(1)),
            ("a", 99, true, Some(1)),
            ("b", 60, false, None),
            // Turned down: gone.
            ("b", 60, true, None),
            ("a", 100, true, None),
            // Aged out: gone.
            ("a", 0, true, None),
        ];
        for (i, (key, ms, accepts, found)) in rows.into_iter().enumerate() {
            let got = cache.get(&key, at(ms), |v| accepts.then_some(*v));
            assert_eq!(got, found, "row {i}");
        }
        assert!(cache.is_empty());

        cache.insert("a", 1, at(0));
        cache.insert("b", 2, at(1));
        cache.insert("a", 3, at(2));
        assert_eq!(cache.len(), 2, "a key put again is replaced, not added");
        cache.insert("c", 4, at(3));
        assert_eq!(
            cache.get(&"b", at(3), |v| Some(*v)),
            None,
            "the oldest went"
        );
        assert_eq!(cache.get(&"a", at(3), |v| Some(*v)), Some(3));
        assert_eq!(cache.get(&"c", at(3), |v| Some(*v)), Some(4));
        cache.remove(&"c");
        assert_eq!(cache.len(), 1);
    }
}
