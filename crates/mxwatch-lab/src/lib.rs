//! A small internet on loopback for mxwatch's tests and `mxwatch demo`.
//!
//! The lab's fixture zones (`zones/*.zone`) are the same files the real-peer
//! tests serve with Knot and Unbound (`tests/peers/`), so the in-process lab
//! and the real peers answer the same questions the same way.

pub mod dane;
pub mod dns;
pub mod expectations;
pub mod https;
pub mod nsec3;
pub mod pki;
pub mod rdap;
pub mod receivers;
pub mod signing;
pub mod smtp;
pub mod zones;

pub use dns::{Behaviour, LabDns};
pub use expectations::{
    Expectation, expectations, expectations_rdap, expectations_smtp, lab_domains,
};
pub use https::{HttpsBehaviour, HttpsCert, LabHttps};
pub use pki::LabPki;
pub use rdap::{LabRdap, RdapBehaviour};
pub use receivers::{HttpReceiver, HttpRequest, Replies, SubmissionReceiver};
pub use smtp::{AddressLog, ConnectionLog, LabSmtp, SmtpBehaviour};
pub use zones::{LabZones, ZoneError};

/// The stale copy of nsdiff.test that ns2.lab.test serves.
pub static SECONDARY_NSDIFF: &str = include_str!("../zones/secondary/nsdiff.test.zone");

/// The whole lab: a resolver, the authoritative nameservers, a CA, and SMTP hosts on every lab address.
pub struct Lab {
    pub dns: LabDns,
    pub pki: LabPki,
    pub smtp: LabSmtp,
    /// ns1 (127.53.0.1), ns2 (127.53.0.3, a stale nsdiff.test), ns3 (127.53.0.4, lame), all on `ns_port`.
    pub nameservers: Vec<LabDns>,
    pub ns_port: u16,
    /// The MTA-STS policy hosts (127.44.x.x), all on `https.port`.
    pub https: LabHttps,
    /// The RDAP server (127.45.0.1, `rdap.lab.test`).
    pub rdap: LabRdap,
}

impl Lab {
    /// Starts the built-in lab on loopback (DNS on 127.0.0.1, SMTP hosts on their 127.0.x.x addresses).
    pub async fn start() -> std::io::Result<Lab> {
        let mut zones = LabZones::builtin_unsigned()
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        let pki = LabPki::new().map_err(std::io::Error::other)?;
        let smtp = LabSmtp::start(&zones, &pki).await?;
        // The DANE records match certificates made just now; then the zones are signed.
        dane::add_dynamic_tlsa(&mut zones, &smtp).map_err(std::io::Error::other)?;
        zones
            .sign()
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        let https = LabHttps::start(&zones, &pki).await?;
        let rdap = LabRdap::start(&pki).await?;
        let mut stale = zones.clone();
        stale
            .set_zone("nsdiff.test.zone", SECONDARY_NSDIFF)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        let ip = |s: &str| s.parse::<std::net::IpAddr>().expect("literal address");
        let (ns_port, nameservers) = LabDns::start_on_one_port(vec![
            (zones.clone(), Behaviour::Authoritative, ip("127.53.0.1")),
            (stale, Behaviour::Authoritative, ip("127.53.0.3")),
            (LabZones::default(), Behaviour::Refused, ip("127.53.0.4")),
        ])
        .await?;
        let dns = LabDns::start(zones, Behaviour::Resolver, ip("127.0.0.1")).await?;
        Ok(Lab {
            dns,
            pki,
            smtp,
            nameservers,
            ns_port,
            https,
            rdap,
        })
    }
}
