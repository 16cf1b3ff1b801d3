//! mxwatch-core: what mxwatch knows about mail routing, with no I/O.
//!
//! The collectors (`mxwatch-probe`) fill an [`Observation`]; the checks in
//! [`checks::CHECKS`] turn it into [`Finding`]s. Nothing here opens a socket,
//! reads a clock or draws a random number, so every check can be tested from a
//! hand-built or recorded observation.

pub mod checks;
pub mod diff;
pub mod dnssec;
pub mod expect;
pub mod finding;
pub mod headers;
pub mod ip;
pub mod lookup;
pub mod mailauth;
pub mod mta_sts;
pub mod name;
pub mod observation;
pub mod records;
pub mod reference;
pub mod report;
pub mod sanitize;
pub mod smtp;
pub mod spf_eval;
pub mod tlsa;

pub use checks::{CHECKS, Check, CheckContext, Hit};
pub use finding::{Finding, Severity};
pub use lookup::{Absence, Failure, Lookup};
pub use name::{DomainName, NameError, ParsedInput, parse_domain_input};
pub use observation::{
    AddressObservation, ExchangeObservation, MxRecord, Observation, Registration, Soa,
};
pub use report::{Report, Status};
