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

use mxwatch_core::observation::smtp::SmtpProbe;
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
            total_timeout: Duration::from_secs(20),
            helo: None,
            probe_relay: false,
            max_in_flight: 64,
        }
    }
}

/// One dialogue per address and exchange name (the name decides SNI and the certificate check).
type ProbeKey = (IpAddr, String);

/// Distinct exchange names given their own dialogue on one address; further
/// names reuse the first dialogue (with the name check redone), so 500 MX names
/// on one host cost a few connections, not 500.
pub const MAX_NAMES_PER_ADDRESS: usize = 4;
/// Dialogues with one address at a time: polite to the host, and to its rate limits.
pub const MAX_PER_ADDRESS: usize = 2;

/// Probes for a whole run: one dialogue per (address, exchange name), however
/// many domains share the exchange, a cap on dialogues in flight, and a cap per address.
pub struct SmtpProber {
    options: SmtpOptions,
    roots: TrustRoots,
    in_flight: Semaphore,
    state: Mutex<ProberState>,
}

#[derive(Default)]
struct ProberState {
    done: HashMap<ProbeKey, Arc<OnceCell<SmtpProbe>>>,
    names: HashMap<IpAddr, Vec<String>>,
    per_address: HashMap<IpAddr, Arc<Semaphore>>,
}

impl SmtpProber {
    pub fn new(options: SmtpOptions, roots: TrustRoots) -> Self {
        let permits = options.max_in_flight.max(1);
        SmtpProber {
            options,
            roots,
            in_flight: Semaphore::new(permits),
            state: Mutex::new(ProberState::default()),
        }
    }

    pub async fn probe(&self, ip: IpAddr, exchange: &str) -> SmtpProbe {
        let (cell, reuse, per_address) = {
            let mut state = self.state.lock().unwrap();
            let names = state.names.entry(ip).or_default();
            let reuse = match names.iter().position(|n| n == exchange) {
                Some(_) => None,
                None if names.len() < MAX_NAMES_PER_ADDRESS => {
                    names.push(exchange.to_string());
                    None
                }
                None => names.first().cloned(),
            };
            let key = (ip, reuse.clone().unwrap_or_else(|| exchange.to_string()));
            let cell = state.done.entry(key).or_default().clone();
            let per_address = state
                .per_address
                .entry(ip)
                .or_insert_with(|| Arc::new(Semaphore::new(MAX_PER_ADDRESS)))
                .clone();
            (cell, reuse, per_address)
        };
        let probe = cell
            .get_or_init(|| async {
                let _address = per_address.acquire().await.expect("never closed");
                let _permit = self.in_flight.acquire().await.expect("never closed");
                let name = reuse.as_deref().unwrap_or(exchange);
                dialogue::probe(ip, name, &self.options, &self.roots).await
            })
            .await
            .clone();
        match reuse {
            None => probe,
            Some(first) => reused(probe, &first, exchange),
        }
    }
}

/// The dialogue held for `first`, judged again for `exchange`.
fn reused(mut probe: SmtpProbe, first: &str, exchange: &str) -> SmtpProbe {
    if let (Some(verdict), Some(leaf)) = (probe.verdict.as_mut(), probe.certificates.first()) {
        verdict.name_matches = name_matches(&leaf.dns_names, exchange);
    }
    probe.shared_with = Some(first.to_string());
    probe
}
