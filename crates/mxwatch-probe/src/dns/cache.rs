//! The run-wide answer cache: every distinct (name, type) is asked once while
//! its TTL lasts, however many domains need it, and concurrent askers wait for
//! the one question in flight instead of sending their own.
//!
//! Failures are cached too, briefly (`FAILURE_TTL`), so a dead nameserver costs one
//! timeout per name every 30 seconds rather than one per domain that points at it.

use hickory_proto::rr::{RData, RecordType};
use mxwatch_core::Lookup;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::OnceCell;

pub type Key = (String, RecordType);
pub type Entry = (Lookup<Vec<RData>>, Instant);

/// How long a failure is remembered.
pub const FAILURE_TTL: Duration = Duration::from_secs(30);
/// How long an absence is remembered when the reply carried no SOA.
pub const DEFAULT_NEGATIVE_TTL: Duration = Duration::from_secs(60);
/// Sweep expired entries every this many insertions.
const SWEEP_EVERY: u64 = 10_000;

#[derive(Default)]
pub struct Cache {
    cells: Mutex<HashMap<Key, Arc<OnceCell<Entry>>>>,
    inserts: Mutex<u64>,
}

impl Cache {
    /// The cell for `key`: a live one if cached or in flight, a fresh one if expired or new.
    pub fn cell(&self, key: Key) -> Arc<OnceCell<Entry>> {
        let now = Instant::now();
        let mut cells = self.cells.lock().unwrap();
        if let Some(cell) = cells.get(&key) {
            match cell.get() {
                Some((_, expires)) if *expires <= now => {}
                _ => return cell.clone(),
            }
        }
        let cell = Arc::new(OnceCell::new());
        cells.insert(key, cell.clone());
        let mut inserts = self.inserts.lock().unwrap();
        *inserts += 1;
        if (*inserts).is_multiple_of(SWEEP_EVERY) {
            cells.retain(|_, c| c.get().is_none_or(|(_, expires)| *expires > now));
        }
        cell
    }

    pub fn len(&self) -> usize {
        self.cells.lock().unwrap().len()
    }
}

/// When a lookup result stops being fresh.
pub fn expiry(lookup: &Lookup<Vec<RData>>, now: Instant) -> Instant {
    let ttl = match lookup {
        Lookup::Observed { ttl, .. } => Duration::from_secs(u64::from(*ttl)),
        Lookup::Absent { negative_ttl, .. } => negative_ttl
            .map(|t| Duration::from_secs(u64::from(t)))
            .unwrap_or(DEFAULT_NEGATIVE_TTL),
        Lookup::Failed { .. } => FAILURE_TTL,
    };
    now + ttl
}
