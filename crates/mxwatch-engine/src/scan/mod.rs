//! `scan`: a list of any length audited as a stream.
//!
//! - [`input`]: lines in, domains out — blank lines and comments skipped, URLs and e-mail
//!   addresses reduced to their domain, duplicates audited once, malformed lines reported
//!   with their number (never dropped silently);
//! - [`summary`]: what a finished scan says about the list as a whole — domains by status,
//!   findings by ID, and the shared infrastructure (the MX hosts most domains depend on, with
//!   the worst problem of each). It holds counters per finding ID and per MX host, never per
//!   finished domain.
//!
//! The audits themselves are [`crate::Auditor::audit_unordered`]: reports come as each
//! domain completes.

pub mod input;
mod seen;
pub mod summary;

pub use input::{InputReader, ScanItem};
pub use summary::{SharedHost, Summary};

use crate::audit::Auditor;
use futures_util::{Stream, StreamExt};
use mxwatch_core::Report;
use mxwatch_probe::Collector;

/// What became of one line of the list.
#[derive(Debug)]
pub enum Outcome {
    Audited {
        line: u64,
        report: Box<Report>,
    },
    /// A malformed or duplicate line, passed through to be reported.
    Skipped(ScanItem),
}

/// Audits the domains among `items`, `concurrency` at a time through one collector; every item
/// comes out as soon as it is done (a malformed or duplicate line at once). Nothing is held
/// for a finished domain.
pub fn audit_items<I>(
    auditor: &Auditor,
    items: I,
    concurrency: usize,
) -> (Collector, impl Stream<Item = Outcome> + use<I>)
where
    I: Stream<Item = ScanItem> + Send + 'static,
{
    let collector = auditor.collector();
    let shared = collector.clone();
    let auditor = auditor.clone();
    let outcomes = items
        .map(move |item| {
            let collector = shared.clone();
            // The clock is read per domain: a long scan judges expiry on the day it looks.
            let ctx = auditor.check_context();
            async move {
                match item {
                    ScanItem::Domain { line, input } => {
                        // Each audit is a task of its own, so it runs on the runtime's workers
                        // beside the DNS sockets' reader tasks: a reply wakes its question on the
                        // same thread instead of crossing to the thread that drives the stream
                        // (the profile showed those wake-ups as a fifth of the client's CPU).
                        let report = on_a_worker(async move {
                            Auditor::audit_with(&collector, &input.domain, &[], &ctx, input.notes)
                                .await
                        })
                        .await;
                        Outcome::Audited {
                            line,
                            report: Box::new(report),
                        }
                    }
                    other => Outcome::Skipped(other),
                }
            }
        })
        .buffer_unordered(concurrency.max(1));
    (collector, outcomes)
}

/// Runs `work` as a task and waits for it; dropping the wait aborts the task (a scan stopped
/// early leaves nothing running), and a panic in the task is a panic here, as if run inline.
async fn on_a_worker<T: Send + 'static>(
    work: impl std::future::Future<Output = T> + Send + 'static,
) -> T {
    struct AbortOnDrop(tokio::task::AbortHandle);
    impl Drop for AbortOnDrop {
        fn drop(&mut self) {
            self.0.abort();
        }
    }
    let task = tokio::spawn(work);
    let _abort = AbortOnDrop(task.abort_handle());
    match task.await {
        Ok(value) => value,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => panic!("an audit task was cancelled: {e}"),
    }
}
