//! A small internet on loopback for mxwatch's tests and `mxwatch demo`.
//!
//! The lab's fixture zones (`zones/*.zone`) are the same files the real-peer
//! tests serve with Knot and Unbound (`tests/peers/`), so the in-process lab
//! and the real peers answer the same questions the same way.

pub mod dns;
pub mod expectations;
pub mod pki;
pub mod smtp;
pub mod zones;

pub use dns::{Behaviour, LabDns};
pub use expectations::{Expectation, expectations, expectations_smtp};
pub use pki::LabPki;
pub use smtp::{LabSmtp, SmtpBehaviour};
pub use zones::{LabZones, ZoneError};

/// The whole lab: DNS, a CA, and SMTP hosts on every lab address.
pub struct Lab {
    pub dns: LabDns,
    pub pki: LabPki,
    pub smtp: LabSmtp,
}

impl Lab {
    /// Starts the built-in lab on loopback (DNS on 127.0.0.1, SMTP hosts on their 127.0.x.x addresses).
    pub async fn start() -> std::io::Result<Lab> {
        let zones = LabZones::builtin()
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        let pki = LabPki::new().map_err(std::io::Error::other)?;
        let smtp = LabSmtp::start(&zones, &pki).await?;
        let dns = LabDns::start(zones, Behaviour::Resolver, "127.0.0.1".parse().unwrap()).await?;
        Ok(Lab { dns, pki, smtp })
    }
}
