//! mxwatch-engine: everything a front end drives.
//!
//! - [`settings`]: how an audit is done (one definition, shared by the `check` flags and the
//!   watch configuration's `[defaults]`);
//! - [`audit`]: the pipeline — settings and a [`audit::Target`] in, collectors built, reports
//!   out as a stream;
//! - [`config`]: the monitor's TOML configuration, parsed and validated at load;
//! - [`monitor`]: the watch cycle (observe, compare with the baseline, confirm, record), the
//!   schedule and the alert queue;
//! - [`alert`]: the alert sinks, one file each, behind one tagged configuration enum;
//! - [`inventory`]: the configuration's domains merged with the store-held inventory;
//! - [`scan`]: a list of any length as a stream: its input lines, its summary;
//! - [`worker`]: `mxwatch worker`, auditing lines of queued scan jobs from the shared queue;
//! - [`smtp_budget`]: a worker's SMTP politeness, its own limits and those its database shares.
//!
//! `mxwatch check`, `watch`, `scan`, `worker`, and the coming `serve` are front ends on
//! this crate: they parse their input, call it, and format what it returns.

pub mod alert;
pub mod audit;
pub mod config;
pub mod error;
pub mod inventory;
pub mod monitor;
pub mod preflight;
pub mod propagation;
pub mod resolver;
pub mod scan;
pub mod settings;
pub mod smtp_budget;
pub mod worker;

pub use audit::{Auditor, LabOverrides, Target, now_unix};
pub use error::EngineError;
pub use settings::AuditSettings;
