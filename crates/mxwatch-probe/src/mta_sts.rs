//! The MTA-STS policy fetch (RFC 8461 §3.3): `https://mta-sts.<domain>/.well-known/mta-sts.txt`
//! with reqwest over rustls (aws-lc-rs), WebPKI roots plus `--ca-file`, no redirects, a time
//! limit and a 64 KiB body cap read chunk by chunk.
//!
//! DNS goes through our own [`Dns`] (never the system resolver): the policy host is resolved
//! first (so a DNS failure is recorded as could-not-determine, apart from "no address"), and
//! reqwest's resolver is ours too, returning only routable addresses, so a hostile zone cannot
//! point the fetch at a private range.

use crate::dns::Dns;
use crate::smtp::TrustRoots;
use mxwatch_core::ip;
use mxwatch_core::observation::mta_sts::{FetchFailure, FetchOutcome, PolicyFetch};
use mxwatch_core::records::mta_sts::{MAX_POLICY_BYTES, is_text_plain};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How the fetch is made.
#[derive(Clone)]
pub struct MtaStsOptions {
    /// The HTTPS port (443; the lab serves its policy hosts on a port of its own).
    pub port: u16,
    pub connect_timeout: Duration,
    /// Limit for the whole fetch: connection, handshake, headers and body.
    pub total_timeout: Duration,
    /// Web PKI roots plus each `--ca-file`.
    pub roots: TrustRoots,
}

impl MtaStsOptions {
    pub fn new(roots: TrustRoots) -> Self {
        MtaStsOptions {
            port: 443,
            connect_timeout: Duration::from_secs(10),
            total_timeout: Duration::from_secs(10),
            roots,
        }
    }
}

/// Fetches policies for a whole run: one HTTP client, one resolver (ours).
pub struct PolicyFetcher {
    client: reqwest::Client,
    dns: Arc<Dns>,
    lab: bool,
    port: u16,
}

impl PolicyFetcher {
    pub fn new(dns: Arc<Dns>, lab: bool, options: &MtaStsOptions) -> Result<Self, String> {
        let client = https_client(
            dns.clone(),
            lab,
            &options.roots,
            options.connect_timeout,
            options.total_timeout,
            // RFC 8461 §3.3: redirects are not followed.
            reqwest::redirect::Policy::none(),
        )?;
        Ok(PolicyFetcher {
            client,
            dns,
            lab,
            port: options.port,
        })
    }

    /// The policy URL of a domain (the port only when it is not 443).
    pub fn url(&self, domain: &str) -> String {
        if self.port == 443 {
            format!("https://mta-sts.{domain}/.well-known/mta-sts.txt")
        } else {
            format!(
                "https://mta-sts.{domain}:{}/.well-known/mta-sts.txt",
                self.port
            )
        }
    }

    pub async fn fetch(&self, domain: &str) -> PolicyFetch {
        let started = Instant::now();
        let url = self.url(domain);
        let host = format!("mta-sts.{domain}");
        let (addresses, outcome) = match routable_addresses(&self.dns, &host, self.lab).await {
            Err((failure, detail)) => (vec![], FetchOutcome::Failed { failure, detail }),
            Ok(addresses) => {
                let outcome = self.get(&url).await;
                (addresses, outcome)
            }
        };
        PolicyFetch {
            url,
            addresses,
            outcome,
            elapsed_ms: started.elapsed().as_millis() as u64,
        }
    }

    async fn get(&self, url: &str) -> FetchOutcome {
        let failed = |failure, detail: String| FetchOutcome::Failed { failure, detail };
        let mut response = match self.client.get(url).send().await {
            Ok(r) => r,
            Err(e) => {
                let (failure, detail) = classify(&e);
                return failed(failure, detail);
            }
        };
        let status = response.status();
        if status.is_redirection() {
            let location = response
                .headers()
                .get(reqwest::header::LOCATION)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .unwrap_or_default();
            return failed(
                FetchFailure::Redirect,
                format!("HTTP {status} to {location:?}"),
            );
        }
        if status != reqwest::StatusCode::OK {
            return failed(FetchFailure::HttpStatus, format!("HTTP {status}"));
        }
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        match &content_type {
            Some(ct) if is_text_plain(ct) => {}
            Some(ct) => {
                return failed(FetchFailure::ContentType, format!("Content-Type: {ct}"));
            }
            None => {
                return failed(FetchFailure::ContentType, "no Content-Type header".into());
            }
        }
        let body = match read_body(&mut response, MAX_POLICY_BYTES).await {
            Ok(body) => body,
            Err(BodyError::TooLarge(detail)) => return failed(FetchFailure::TooLarge, detail),
            Err(BodyError::Transport(e)) => {
                let (failure, detail) = classify(&e);
                return failed(failure, format!("while reading the body: {detail}"));
            }
        };
        let not_utf8 = std::str::from_utf8(&body).is_err();
        FetchOutcome::Fetched {
            content_type: content_type.unwrap_or_default(),
            body: String::from_utf8_lossy(&body).into_owned(),
            not_utf8,
        }
    }
}

/// Why a response body could not be read whole.
pub(crate) enum BodyError {
    /// Past the cap (announced by Content-Length, or reached while reading).
    TooLarge(String),
    Transport(reqwest::Error),
}

/// The body, read chunk by chunk and abandoned at `cap` bytes: a hostile server cannot make us
/// buffer more, announced or not.
pub(crate) async fn read_body(
    response: &mut reqwest::Response,
    cap: usize,
) -> Result<Vec<u8>, BodyError> {
    if let Some(length) = response.content_length()
        && length > cap as u64
    {
        return Err(BodyError::TooLarge(format!(
            "Content-Length {length} exceeds {cap} bytes"
        )));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(BodyError::Transport)? {
        if body.len() + chunk.len() > cap {
            return Err(BodyError::TooLarge(format!("the body exceeds {cap} bytes")));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// An HTTPS client for a whole run (the MTA-STS fetch, RDAP): rustls with aws-lc-rs, `roots`,
/// our own resolver (routable addresses only), HTTPS only, no proxy, HTTP/1.1, bounded in time.
pub(crate) fn https_client(
    dns: Arc<Dns>,
    lab: bool,
    roots: &TrustRoots,
    connect_timeout: Duration,
    total_timeout: Duration,
    redirect: reqwest::redirect::Policy,
) -> Result<reqwest::Client, String> {
    let mut tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_root_certificates(roots.root_store())
    .with_no_client_auth();
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .dns_resolver(OurResolver { dns, lab })
        .redirect(redirect)
        .https_only(true)
        .no_proxy()
        .http1_only()
        .connect_timeout(connect_timeout)
        .timeout(total_timeout)
        .user_agent(concat!("mxwatch/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("the HTTPS client could not be built: {e}"))
}

/// The routable addresses of the policy host, or why there are none.
pub(crate) async fn routable_addresses(
    dns: &Dns,
    host: &str,
    lab: bool,
) -> Result<Vec<IpAddr>, (FetchFailure, String)> {
    let (a, aaaa) = tokio::join!(dns.addresses(host, false), dns.addresses(host, true));
    let mut all = Vec::new();
    let mut failures = Vec::new();
    for (family, lookup) in [("A", &a), ("AAAA", &aaaa)] {
        if let Some(ips) = lookup.value() {
            all.extend(ips.iter().copied());
        }
        if let Some((failure, detail)) = lookup.failure() {
            failures.push(format!("{family} {host}: {} {detail}", failure.describe()));
        }
    }
    if all.is_empty() {
        if !failures.is_empty() {
            return Err((FetchFailure::Dns, failures.join("; ")));
        }
        return Err((
            FetchFailure::NoAddress,
            format!("{host} has no A or AAAA record ({})", a.outcome_label()),
        ));
    }
    let routable: Vec<IpAddr> = all
        .iter()
        .copied()
        .filter(|ip| ip::is_routable(*ip, lab))
        .collect();
    if routable.is_empty() {
        let listed: Vec<String> = all.iter().map(IpAddr::to_string).collect();
        return Err((
            FetchFailure::NotRoutable,
            format!(
                "{host} has only non-routable addresses ({}); not contacted",
                listed.join(", ")
            ),
        ));
    }
    Ok(routable)
}

/// reqwest's resolver: our own DNS (cached, so the lookup made before the request is reused),
/// routable addresses only. Never the system resolver.
struct OurResolver {
    dns: Arc<Dns>,
    lab: bool,
}

impl Resolve for OurResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let dns = self.dns.clone();
        let lab = self.lab;
        let host = name.as_str().to_string();
        Box::pin(async move {
            match routable_addresses(&dns, &host, lab).await {
                Ok(ips) => {
                    let addrs: Addrs = Box::new(ips.into_iter().map(|ip| SocketAddr::new(ip, 0)));
                    Ok(addrs)
                }
                Err((_, detail)) => Err(detail.into()),
            }
        })
    }
}

/// The failure kind of a reqwest error, and its whole cause chain for a person.
pub(crate) fn classify(error: &reqwest::Error) -> (FetchFailure, String) {
    let mut causes = Vec::new();
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        causes.push(e.to_string());
        source = e.source();
    }
    // Each layer repeats the message of the one below; keep what each adds.
    causes.dedup();
    let detail = causes.join(": ");
    let failure = if error.is_timeout() {
        FetchFailure::Timeout
    } else if find_in_chain(error, &|e| e.is::<rustls::Error>()) {
        FetchFailure::Tls
    } else if find_in_chain(error, &|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::ConnectionRefused)
    }) {
        FetchFailure::ConnectRefused
    } else {
        FetchFailure::Network
    };
    (failure, detail)
}

/// Whether any error in the chain satisfies `test`. An `io::Error` hides what it wraps from
/// `source()` (it returns the wrapped error's source), so its payload is searched too, and
/// io errors nest (hyper wraps tokio-rustls' io error in another).
fn find_in_chain(
    error: &(dyn std::error::Error + 'static),
    test: &dyn Fn(&(dyn std::error::Error + 'static)) -> bool,
) -> bool {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    // Bounded: a chain is a handful of layers; a cycle must not hang us.
    for _ in 0..32 {
        let Some(e) = current else {
            return false;
        };
        if test(e) {
            return true;
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && let Some(inner) = io.get_ref()
            && find_in_chain(inner, test)
        {
            return true;
        }
        current = e.source();
    }
    false
}
