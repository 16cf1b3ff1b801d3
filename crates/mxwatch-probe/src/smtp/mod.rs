//! The SMTP probe: connect, greeting, EHLO (HELO fallback), STARTTLS, EHLO
//! again, optional relay test, QUIT. Never DATA, never a message.
//!
//! A bounded state machine: every read has a time limit and a size limit, and
//! the whole dialogue has a deadline, so a silent, slow-drip or flooding peer
//! costs at most `--smtp-timeout` and a few kilobytes.

mod certs;
mod dialogue;
mod lines;
pub mod politeness;
mod verify;

pub use certs::parse_certificate;
pub use dialogue::probe;
pub use politeness::{AddressBudget, Admission, LocalBudget, PolitenessLimits, Turn};
pub use verify::{TrustRoots, name_matches};

use mxwatch_core::observation::smtp::{Politeness, SmtpProbe};
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
    /// Per MX address: connections at once, per minute, and the longest wait for a turn.
    pub politeness: PolitenessLimits,
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
            politeness: PolitenessLimits::default(),
        }
    }
}

/// One dialogue per address and exchange name (the name decides SNI and the certificate check).
type ProbeKey = (IpAddr, String);

/// Distinct exchange names given their own dialogue on one address; further
/// names reuse the first dialogue (with the name check redone), so 500 MX names
/// on one host cost a few connections, not 500.
pub const MAX_NAMES_PER_ADDRESS: usize = 4;
/// How many (address, exchange name) results a run keeps by default: a few kilobytes each
/// (the certificate chain), so tens of megabytes at most, whatever the length of the list.
pub const DEFAULT_RESULTS_KEPT: usize = 10_000;

/// What the prober gives for one (address, exchange name): the probe, or why politeness
/// skipped it, and how long it waited for its turn.
#[derive(Clone, Debug)]
pub struct Probed {
    pub probe: Result<SmtpProbe, String>,
    pub waited: Duration,
}

impl Probed {
    /// What to record of politeness beside the probe (nothing when it neither waited nor skipped).
    pub fn politeness(&self) -> Option<Politeness> {
        match &self.probe {
            Err(reason) => Some(Politeness::Skipped {
                reason: reason.clone(),
            }),
            Ok(_) if self.waited >= Duration::from_millis(1) => Some(Politeness::Delayed {
                ms: self.waited.as_millis().try_into().unwrap_or(u64::MAX),
            }),
            Ok(_) => None,
        }
    }
}

/// Probes for a whole run: one dialogue per (address, exchange name), however
/// many domains share the exchange, a cap on dialogues in flight, and the per-address
/// politeness budget (connections at once and per minute).
pub struct SmtpProber {
    options: SmtpOptions,
    roots: TrustRoots,
    in_flight: Semaphore,
    budget: Arc<dyn AddressBudget>,
    state: Mutex<ProberState>,
}

struct ProberState {
    /// Results by key, with the use counter of their last use (to keep the busiest when full).
    done: HashMap<ProbeKey, crate::evict::Used<Probed>>,
    names: HashMap<IpAddr, Vec<String>>,
    uses: u64,
    capacity: usize,
}

impl SmtpProber {
    /// A prober with this process's own politeness budget.
    pub fn new(options: SmtpOptions, roots: TrustRoots) -> Self {
        let budget = Arc::new(LocalBudget::new(options.politeness.clone()));
        SmtpProber::with_budget(options, roots, budget, DEFAULT_RESULTS_KEPT)
    }

    /// A prober that asks `budget` for each connection's turn and keeps at most about
    /// `results_kept` results (the least recently used finished ones go first).
    pub fn with_budget(
        options: SmtpOptions,
        roots: TrustRoots,
        budget: Arc<dyn AddressBudget>,
        results_kept: usize,
    ) -> Self {
        let permits = options.max_in_flight.max(1);
        SmtpProber {
            options,
            roots,
            in_flight: Semaphore::new(permits),
            budget,
            state: Mutex::new(ProberState {
                done: HashMap::new(),
                names: HashMap::new(),
                uses: 0,
                capacity: results_kept.max(16),
            }),
        }
    }

    /// Results held now (bounded by the capacity, plus probes in flight).
    pub fn results_held(&self) -> usize {
        self.state.lock().unwrap().done.len()
    }

    pub async fn probe(&self, ip: IpAddr, exchange: &str) -> Probed {
        let (cell, reuse) = {
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
            (state.cell(key), reuse)
        };
        let probed = cell
            .get_or_init(|| async {
                let turn = match self.budget.admit(ip).await {
                    Admission::Go(turn) => turn,
                    Admission::Skip(reason) => {
                        return Probed {
                            probe: Err(reason),
                            waited: Duration::ZERO,
                        };
                    }
                };
                let _permit = self.in_flight.acquire().await.expect("never closed");
                let name = reuse.as_deref().unwrap_or(exchange);
                let probe = dialogue::probe(ip, name, &self.options, &self.roots).await;
                Probed {
                    probe: Ok(probe),
                    waited: turn.waited,
                }
            })
            .await
            .clone();
        match reuse {
            None => probed,
            Some(first) => Probed {
                probe: probed.probe.map(|p| reused(p, &first, exchange)),
                ..probed
            },
        }
    }
}

impl ProberState {
    /// The shared cell for `key`, marked as just used; makes room first when full.
    fn cell(&mut self, key: ProbeKey) -> Arc<OnceCell<Probed>> {
        self.uses += 1;
        let uses = self.uses;
        if let Some((cell, last)) = self.done.get_mut(&key) {
            *last = uses;
            return cell.clone();
        }
        if self.done.len() >= self.capacity {
            self.forget_least_used();
        }
        let cell = Arc::new(OnceCell::new());
        self.done.insert(key, (cell.clone(), uses));
        cell
    }

    /// Drops the least recently used half of the finished results (never one in flight: its
    /// askers wait on it), and the exchange names of addresses left with no result.
    fn forget_least_used(&mut self) {
        crate::evict::forget_least_used_half(&mut self.done);
        let kept: std::collections::HashSet<IpAddr> = self.done.keys().map(|(ip, _)| *ip).collect();
        self.names.retain(|ip, _| kept.contains(ip));
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
