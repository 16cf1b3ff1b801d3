//! mxwatch-core: what mxwatch knows about mail routing, with no I/O.
//!
//! The collectors (`mxwatch-probe`) fill an [`Observation`]; the checks in
//! [`checks::CHECKS`] turn it into [`Finding`]s. Nothing here opens a socket,
//! reads a clock or draws a random number, so every check can be tested from a
//! hand-built or recorded observation.

pub mod checks;
pub mod expect;
pub mod finding;
pub mod headers;
pub mod ip;
pub mod monitor;
pub mod name;
pub mod observation;
pub mod records;
pub mod report;
pub mod sanitize;
pub mod utc;

pub use checks::{CHECKS, Check, CheckContext, Hit};
pub use finding::{Finding, FindingId, Severity};
pub use name::{DomainName, NameError, ParsedInput, parse_domain_input};
pub use observation::lookup::{Absence, Failure, Lookup};
pub use observation::{
    AddressObservation, ExchangeObservation, MxRecord, Observation, Registration, Soa,
};
pub use report::{Report, Status};
