//! The SMTP probe: connect, greeting, EHLO (HELO fallback), STARTTLS, EHLO
//! again, optional relay test, QUIT. Never DATA, never a message.
//!
//! A bounded state machine: every read has a time limit and a size limit, and
//! the whole dialogue has a deadline, so a silent, slow-drip or flooding peer
//! costs at most `--smtp-timeout` and a few kilobytes.

mod certs;
mod dialogue;
mod lines;
mod verify;

pub use certs::parse_certificate;
pub use dialogue::probe;
pub use verify::{TrustRoots, name_matches};

use mxwatch_core::smtp::SmtpProbe;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{OnceCell, Semaphore};

#[derive(Clone, Debug)]
pub struct SmtpOptions {
    pub port: u16,
    /// Limit for the TCP connection.
    pub connect_timeout: Duration,
    /// Limit for each reply after the greeting.
    pub reply_timeout: Duration,
    /// Limit for the whole dialogue with one address, greeting included.
    pub total_timeout: Duration,
    /// The EHLO name; `None` uses our address literal (`[192.0.2.1]`), which is always truthful.
    pub helo: Option<String>,
    /// Test for an open relay (MAIL FROM / RCPT TO foreign addresses, then RSET).
    pub probe_relay: bool,
    /// SMTP dialogues in flight at once.
    pub max_in_flight: usize,
}

impl Default for SmtpOptions {
    fn default() -> Self {
        SmtpOptions {
            port: 25,
            connect_timeout: Duration::from_secs(10),
            reply_timeout: Duration::from_secs(15),
            total_timeout: Duration::from_secs(30),
            helo: None,
            probe_relay: false,
            max_in_flight: 64,
        }
    }
}

/// One dialogue per address and exchange name (the name decides SNI and the certificate check).
type ProbeKey = (IpAddr, String);

/// Probes for a whole run: one dialogue per (address, exchange name), however
/// many domains share the exchange, and a cap on dialogues in flight.
pub struct SmtpProber {
    options: SmtpOptions,
    roots: TrustRoots,
    in_flight: Semaphore,
    done: Mutex<HashMap<ProbeKey, Arc<OnceCell<SmtpProbe>>>>,
}

impl SmtpProber {
    pub fn new(options: SmtpOptions, roots: TrustRoots) -> Self {
        let permits = options.max_in_flight.max(1);
        SmtpProber {
            options,
            roots,
            in_flight: Semaphore::new(permits),
            done: Mutex::new(HashMap::new()),
        }
    }

    pub async fn probe(&self, ip: IpAddr, exchange: &str) -> SmtpProbe {
        let cell = self
            .done
            .lock()
            .unwrap()
            .entry((ip, exchange.to_string()))
            .or_default()
            .clone();
        cell.get_or_init(|| async {
            let _permit = self.in_flight.acquire().await.expect("never closed");
            dialogue::probe(ip, exchange, &self.options, &self.roots).await
        })
        .await
        .clone()
    }
}
