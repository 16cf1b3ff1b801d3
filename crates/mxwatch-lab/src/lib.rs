//! A small internet on loopback for mxwatch's tests and `mxwatch demo`.
//!
//! The lab's fixture zones (`zones/*.zone`) are the same files the real-peer
//! tests serve with Knot and Unbound (`tests/peers/`), so the in-process lab
//! and the real peers answer the same questions the same way.

pub mod dns;
pub mod expectations;
pub mod zones;

pub use dns::{Behaviour, LabDns};
pub use expectations::{Expectation, expectations};
pub use zones::{LabZones, ZoneError};
