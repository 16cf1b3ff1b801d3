//! The run-wide answer cache: every distinct (name, type) is asked once while
//! its TTL lasts, however many domains need it, and concurrent askers wait for
//! the one question in flight instead of sending their own.
//!
//! Failures are cached too, briefly (`FAILURE_TTL`), so a dead nameserver costs one
//! timeout per name every 30 seconds rather than one per domain that points at it.
//!
//! The cache is bounded ([`Cache::with_capacity`]): a scan of a million domains must not keep
//! every answer it ever saw for its full TTL. When it is full, expired entries go first, then
//! the half of the finished entries used least recently; a question still in flight is never
//! dropped (its askers are waiting on it). Memory is then bounded by the capacity, not by
//! the length of the list. By last use, not by expiry: the answers many domains share (a
//! provider's MX hosts, its SPF include, its PTRs) were asked first and so expire first, but
//! they are the ones every next domain needs (evicting them by expiry cost 0.4 % of repeated
//! questions at 100,000 domains).

use hickory_proto::rr::{Name, RData, RecordType};
use mxwatch_core::Lookup;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::OnceCell;

/// A question: hickory's `Name` compares and hashes without regard to case, as DNS names do, so
/// the name is its own key (formatting it as text for every lookup was a few per cent of a scan).
pub type Key = (Name, RecordType);
/// The records of one answer, shared: every domain that needs a cached answer reads the same
/// records instead of a deep copy of them (a copy per hit was a large part of the allocations).
pub type Records = Arc<[RData]>;
pub type Entry = (Lookup<Records>, Instant);

/// How long a failure is remembered.
pub const FAILURE_TTL: Duration = Duration::from_secs(30);
/// How long an absence is remembered when the reply carried no SOA.
pub const DEFAULT_NEGATIVE_TTL: Duration = Duration::from_secs(60);
/// Sweep expired entries every this many insertions.
const SWEEP_EVERY: u64 = 10_000;
/// The default bound (`--dns-cache-entries`). An entry costs an estimated 500 bytes with its
/// key, records and cell (not measured apart), so this is some 25 MB. It is far more than a scan has in use at once
/// (256 domains in flight ask a few thousand questions) and holds the answers many domains
/// share (a provider's hosts, addresses, SPF include), which are used again and so stay.
pub const DEFAULT_CAPACITY: u32 = 50_000;

/// A cached question and when it was last asked for (a counter of `cell` calls).
type Slot = crate::evict::Used<Entry>;

pub struct Cache {
    cells: Mutex<HashMap<Key, Slot>>,
    inserts: Mutex<u64>,
    uses: std::sync::atomic::AtomicU64,
    capacity: usize,
}

impl Default for Cache {
    fn default() -> Self {
        Cache::with_capacity(DEFAULT_CAPACITY as usize)
    }
}

impl Cache {
    /// A cache of at most about `capacity` entries (questions in flight may exceed it briefly).
    pub fn with_capacity(capacity: usize) -> Cache {
        Cache {
            cells: Mutex::new(HashMap::new()),
            inserts: Mutex::new(0),
            uses: 0.into(),
            capacity: capacity.max(16),
        }
    }

    /// The cell for `key`: a live one if cached or in flight, a fresh one if expired or new.
    pub fn cell(&self, key: Key) -> Arc<OnceCell<Entry>> {
        let now = Instant::now();
        let used = self.uses.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut cells = self.cells.lock().unwrap();
        if let Some((cell, last)) = cells.get_mut(&key) {
            match cell.get() {
                Some((_, expires)) if *expires <= now => {}
                _ => {
                    *last = used;
                    return cell.clone();
                }
            }
        }
        let cell = Arc::new(OnceCell::new());
        if cells.len() >= self.capacity {
            shrink(&mut cells, now);
        }
        cells.insert(key, (cell.clone(), used));
        let mut inserts = self.inserts.lock().unwrap();
        *inserts += 1;
        if (*inserts).is_multiple_of(SWEEP_EVERY) {
            cells.retain(|_, (c, _)| c.get().is_none_or(|(_, expires)| *expires > now));
        }
        cell
    }

    pub fn len(&self) -> usize {
        self.cells.lock().unwrap().len()
    }
}

/// Makes room in a full cache: expired entries first; if that is not a quarter of it, the half
/// of the finished entries used least recently. Questions in flight stay.
fn shrink(cells: &mut HashMap<Key, Slot>, now: Instant) {
    let before = cells.len();
    cells.retain(|_, (c, _)| c.get().is_none_or(|(_, expires)| *expires > now));
    if cells.len() > before - before / 4 {
        crate::evict::forget_least_used_half(cells);
    }
}

/// When a lookup result stops being fresh.
pub fn expiry<T>(lookup: &Lookup<T>, now: Instant) -> Instant {
    let ttl = match lookup {
        Lookup::Observed { ttl, .. } => Duration::from_secs(u64::from(*ttl)),
        Lookup::Absent { negative_ttl, .. } => negative_ttl
            .map(|t| Duration::from_secs(u64::from(t)))
            .unwrap_or(DEFAULT_NEGATIVE_TTL),
        Lookup::Failed { .. } => FAILURE_TTL,
    };
    now + ttl
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> Name {
        Name::from_ascii(name).unwrap()
    }

    fn answered(cache: &Cache, name: &str, ttl: u64) -> Arc<OnceCell<Entry>> {
        let cell = cache.cell((key(name), RecordType::A));
        let lookup = Lookup::Observed {
            value: Records::from([]),
            ttl: ttl as u32,
            cname_chain: vec![],
            elapsed_ms: 0,
        };
        cell.set((lookup, Instant::now() + Duration::from_secs(ttl)))
            .unwrap();
        cell
    }

    #[test]
    fn a_name_in_another_case_is_the_same_question() {
        let cache = Cache::with_capacity(100);
        let first = answered(&cache, "Shared.Example.TEST", 60);
        let again = cache.cell((key("shared.example.test"), RecordType::A));
        assert!(Arc::ptr_eq(&first, &again));
        let other_type = cache.cell((key("shared.example.test"), RecordType::AAAA));
        assert!(!Arc::ptr_eq(&first, &other_type));
    }

    #[test]
    fn a_full_cache_stays_bounded_and_keeps_the_shared_and_the_in_flight() {
        let cache = Cache::with_capacity(100);
        let waiting = cache.cell((key("in-flight.test"), RecordType::A));
        // A provider's answer: asked first, expiring first, and needed by every domain.
        answered(&cache, "shared.test", 60);
        for i in 0..1_000 {
            answered(&cache, &format!("n{i}.test"), 3_600 + i);
            assert!(
                cache
                    .cell((key("shared.test"), RecordType::A))
                    .get()
                    .is_some(),
                "the shared answer was dropped after {i} others"
            );
        }
        assert!(cache.len() <= 101, "{} entries", cache.len());
        // The question in flight is the same cell for the next asker.
        assert!(Arc::ptr_eq(
            &waiting,
            &cache.cell((key("in-flight.test"), RecordType::A))
        ));
        // The most recent answers are there; the least recently used went.
        assert!(
            cache
                .cell((key("n999.test"), RecordType::A))
                .get()
                .is_some()
        );
        assert!(cache.cell((key("n0.test"), RecordType::A)).get().is_none());
    }
}
