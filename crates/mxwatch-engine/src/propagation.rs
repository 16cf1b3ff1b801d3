//! Who still serves the old MX set: the same question to several resolvers, each with a
//! cache of its own, and whether their answers agree.

use mxwatch_core::Lookup;
use mxwatch_probe::{Dns, DnsOptions};
use std::net::SocketAddr;
use std::time::Duration;

/// One resolver's answer.
#[derive(Clone, Debug, PartialEq)]
pub struct ResolverAnswer {
    pub resolver: SocketAddr,
    /// `10 mx1.example.net, 20 mx2.example.net` (sorted), or `(outcome)` when there was none.
    pub mx: String,
    /// Seconds the resolver will still serve its cached copy.
    pub ttl_left: Option<u32>,
    /// The question could not be answered (a timeout, SERVFAIL …): not counted as a version.
    pub failed: bool,
}

/// The answers, and how many different MX sets they hold (failures not counted).
#[derive(Clone, Debug, PartialEq)]
pub struct Propagation {
    pub answers: Vec<ResolverAnswer>,
    pub versions: usize,
}

impl Propagation {
    pub fn agree(&self) -> bool {
        self.versions <= 1
    }

    pub fn any_failed(&self) -> bool {
        self.answers.iter().any(|a| a.failed)
    }
}

/// Asks every resolver for `domain`'s MX at once.
pub async fn ask(domain: &str, resolvers: &[SocketAddr], timeout: Duration) -> Propagation {
    let answers = futures_util::future::join_all(resolvers.iter().map(|addr| async move {
        let mut options = DnsOptions::new(*addr);
        options.timeout = timeout;
        answer(*addr, &Dns::new(options).mx(domain).await)
    }))
    .await;
    let mut versions: Vec<&str> = answers
        .iter()
        .filter(|a| !a.failed)
        .map(|a| a.mx.as_str())
        .collect();
    versions.sort_unstable();
    versions.dedup();
    let versions = versions.len();
    Propagation { answers, versions }
}

fn answer(resolver: SocketAddr, lookup: &Lookup<Vec<mxwatch_core::MxRecord>>) -> ResolverAnswer {
    match lookup {
        Lookup::Observed { value, ttl, .. } => {
            let mut set: Vec<String> = value
                .iter()
                .map(|r| format!("{} {}", r.preference, r.exchange))
                .collect();
            set.sort();
            ResolverAnswer {
                resolver,
                mx: set.join(", "),
                ttl_left: Some(*ttl),
                failed: false,
            }
        }
        other => ResolverAnswer {
            resolver,
            mx: format!("({})", other.outcome_label()),
            ttl_left: None,
            failed: other.is_failed(),
        },
    }
}
