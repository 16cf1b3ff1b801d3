//! mxwatch-probe: the collectors. All of mxwatch's network I/O lives here.
//!
//! Collect, then judge: this crate records what was seen (answers, absences,
//! failures and timings) into an [`mxwatch_core::Observation`] and decides
//! nothing about what is wrong.

pub mod collect;
mod collect_dnssec;
pub mod dns;
mod evict;
pub mod mail_auth;
pub mod mta_sts;
pub mod rdap;
pub mod smtp;
pub mod trace;
pub mod zone;

pub use collect::{Collector, CollectorOptions};
pub use dns::{DEFAULT_CACHE_ENTRIES, Dns, DnsOptions};
