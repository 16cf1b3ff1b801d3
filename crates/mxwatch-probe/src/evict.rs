//! The one eviction rule of the run-wide tables (DNS answers, SMTP results): when full, drop
//! the least recently used half of what is finished; never a question or probe in flight (its
//! askers are waiting on its cell).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Arc;
use tokio::sync::OnceCell;

/// An entry: its shared cell and the use counter of its last use.
pub(crate) type Used<T> = (Arc<OnceCell<T>>, u64);

/// Drops the least recently used half of the finished entries of `table`.
pub(crate) fn forget_least_used_half<K: Eq + Hash, T>(table: &mut HashMap<K, Used<T>>) {
    let mut last_uses: Vec<u64> = table
        .values()
        .filter(|(cell, _)| cell.initialized())
        .map(|(_, last)| *last)
        .collect();
    if last_uses.is_empty() {
        return;
    }
    let middle = last_uses.len() / 2;
    let (_, cut, _) = last_uses.select_nth_unstable(middle);
    let cut = *cut;
    table.retain(|_, (cell, last)| !cell.initialized() || *last > cut);
}
