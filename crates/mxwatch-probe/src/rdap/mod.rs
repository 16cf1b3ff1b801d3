//! Registration data over RDAP (RFC 9082 queries, RFC 9083 answers): `GET <base>domain/<name>`
//! for the domain's registrable domain and each exchange's, over the same HTTPS client as the
//! MTA-STS fetch (rustls with aws-lc-rs, our resolver, routable addresses only).
//!
//! One question per registrable domain per collector (a run of `check`, a `scan`, a batch of
//! `watch`), whatever number of audited domains share it: answers, failures included, are
//! cached, and concurrent askers wait for the one question in flight. Each RDAP server is paced
//! (`per_server_qps`, governor's GCRA limiter, shared by every domain of the run), since
//! registries rate-limit and answer 429. The body is capped at
//! [`MAX_RDAP_BYTES`](mxwatch_core::records::rdap::MAX_RDAP_BYTES) and the whole exchange at
//! `timeout`. A 404 is "not registered" (data); a 429, a 5xx, a timeout or a body that is not a
//! domain object is "could not determine".

pub mod bootstrap;

use crate::dns::Dns;
use crate::mta_sts::{BodyError, classify, https_client, read_body, routable_addresses};
use crate::smtp::TrustRoots;
use bootstrap::Bootstrap;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use mxwatch_core::observation::mta_sts::FetchFailure;
use mxwatch_core::observation::rdap::{RdapFailure, RdapOutcome};
use mxwatch_core::records::rdap::{MAX_RDAP_BYTES, RDAP_MEDIA_TYPE, parse_domain};
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::OnceCell;

/// How RDAP is asked.
#[derive(Clone)]
pub struct RdapOptions {
    /// Where each domain is asked (the built-in IANA copy, a file, or one server).
    pub bootstrap: Arc<Bootstrap>,
    pub connect_timeout: Duration,
    /// Limit for one whole question: connection, handshake, headers and body.
    pub timeout: Duration,
    /// Questions a second to each RDAP server.
    pub per_server_qps: NonZeroU32,
    /// Web PKI roots plus each `--ca-file` (the lab CA in the lab).
    pub roots: TrustRoots,
}

/// What one registrable domain's question gave: the URL asked (none without a service) and
/// the outcome.
pub type RdapAnswer = (Option<String>, RdapOutcome);

/// Asks RDAP for a whole run: one client, one cache, one pacer per server.
pub struct RdapClient {
    client: Result<reqwest::Client, String>,
    dns: Arc<Dns>,
    lab: bool,
    options: RdapOptions,
    answers: Mutex<HashMap<String, Arc<OnceCell<RdapAnswer>>>>,
    pacers: Mutex<HashMap<String, Arc<DefaultDirectRateLimiter>>>,
}

impl RdapClient {
    pub fn new(dns: Arc<Dns>, lab: bool, options: RdapOptions) -> RdapClient {
        let client = https_client(
            dns.clone(),
            lab,
            &options.roots,
            options.connect_timeout,
            options.timeout,
            // Thin registries refer to the registrar's server; a few hops, HTTPS only.
            reqwest::redirect::Policy::limited(3),
        );
        RdapClient {
            client,
            dns,
            lab,
            options,
            answers: Mutex::new(HashMap::new()),
            pacers: Mutex::new(HashMap::new()),
        }
    }

    /// The answer about `domain` (a registrable domain, lower-case A-label), asked at most once.
    pub async fn lookup(&self, domain: &str) -> RdapAnswer {
        let cell = self
            .answers
            .lock()
            .unwrap()
            .entry(domain.to_string())
            .or_default()
            .clone();
        cell.get_or_init(|| self.ask(domain)).await.clone()
    }

    async fn ask(&self, domain: &str) -> RdapAnswer {
        let Some(base) = self.options.bootstrap.base_url(domain) else {
            let tld = domain.rsplit('.').next().unwrap_or(domain);
            return (
                None,
                RdapOutcome::NoService {
                    detail: format!(
                        "{} names no RDAP server for .{tld}",
                        self.options.bootstrap.source
                    ),
                },
            );
        };
        let url = format!("{base}domain/{domain}");
        let outcome = self.get(&url, domain).await;
        (Some(url), outcome)
    }

    async fn get(&self, url: &str, domain: &str) -> RdapOutcome {
        let failed = |failure, detail: String| RdapOutcome::Failed { failure, detail };
        let client = match &self.client {
            Ok(client) => client,
            Err(e) => return failed(RdapFailure::Network, e.clone()),
        };
        let Some(host) = reqwest::Url::parse(url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_string))
        else {
            return failed(RdapFailure::Network, format!("{url:?} has no host"));
        };
        // Resolved first, so that a DNS failure is said as such (the client's resolver reuses
        // the cached answer).
        if host.parse::<std::net::IpAddr>().is_err()
            && let Err((_, detail)) = routable_addresses(&self.dns, &host, self.lab).await
        {
            return failed(RdapFailure::Dns, detail);
        }
        self.pacer(&host).until_ready().await;
        let request = client
            .get(url)
            .header(
                reqwest::header::ACCEPT,
                format!("{RDAP_MEDIA_TYPE}, application/json;q=0.9"),
            )
            .send();
        let mut response = match request.await {
            Ok(r) => r,
            Err(e) => return transport_failure(&e, ""),
        };
        let status = response.status();
        match status.as_u16() {
            200 => {}
            404 => return RdapOutcome::NotFound,
            429 => {
                let retry = response
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .map(|v| format!(" (Retry-After: {})", String::from_utf8_lossy(v.as_bytes())))
                    .unwrap_or_default();
                return failed(RdapFailure::RateLimited, format!("HTTP {status}{retry}"));
            }
            _ => return failed(RdapFailure::HttpStatus, format!("HTTP {status}")),
        }
        let body = match read_body(&mut response, MAX_RDAP_BYTES).await {
            Ok(body) => body,
            Err(BodyError::TooLarge(detail)) => return failed(RdapFailure::TooLarge, detail),
            Err(BodyError::Transport(e)) => {
                return transport_failure(&e, "while reading the body: ");
            }
        };
        match parse_domain(&body, domain) {
            Ok(record) => RdapOutcome::Registered { record },
            Err(e) => failed(RdapFailure::Garbage, e.reason),
        }
    }

    /// The pacer of one RDAP server, shared by every question to it.
    fn pacer(&self, host: &str) -> Arc<DefaultDirectRateLimiter> {
        self.pacers
            .lock()
            .unwrap()
            .entry(host.to_string())
            .or_insert_with(|| {
                Arc::new(RateLimiter::direct(Quota::per_second(
                    self.options.per_server_qps,
                )))
            })
            .clone()
    }
}

/// A transport error in RDAP's terms.
fn transport_failure(error: &reqwest::Error, context: &str) -> RdapOutcome {
    let (failure, detail) = classify(error);
    let failure = match failure {
        FetchFailure::Timeout => RdapFailure::Timeout,
        FetchFailure::Tls => RdapFailure::Tls,
        FetchFailure::Dns | FetchFailure::NoAddress | FetchFailure::NotRoutable => RdapFailure::Dns,
        _ => RdapFailure::Network,
    };
    RdapOutcome::Failed {
        failure,
        detail: format!("{context}{detail}"),
    }
}
