//! The lab's RDAP server (RFC 9082/9083): HTTPS with the lab CA at `rdap.lab.test`
//! (127.45.0.1, a random port), answering `GET /domain/<name>` for the `reg-*.test` lab domains
//! and the healthy ones, each healthy or broken on purpose: expiring soon, unlocked, in
//! redemption or pending deletion, answering 503, 429, nothing at all, or garbage.
//!
//! Expiry dates are made from the clock when the server starts, so that "expires in 10 days"
//! stays true whenever the tests run. Requests are counted per domain, so a test can hold mxwatch
//! to one question per registrable domain per run. Hand-written on tokio-rustls, like the
//! MTA-STS hosts (`https.rs`), so that a case can misbehave.

use crate::https::{HttpsCert, read_request_head, respond, server_config};
use crate::pki::LabPki;
use std::collections::BTreeMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// The lab RDAP server's address (see the loopback plan in docs/architecture.md).
pub const RDAP_ADDRESS: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 45, 0, 1));
/// Its name in the lab zones (`lab.test.zone`), on its certificate.
pub const RDAP_HOST: &str = "rdap.lab.test";

/// The status values of a registration locked at its registrar.
pub const LOCKED: &[&str] = &[
    "client delete prohibited",
    "client transfer prohibited",
    "client update prohibited",
    "active",
];

/// What the server answers for one domain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RdapBehaviour {
    /// 200 with a domain object expiring this many days from now, with these status values.
    Registered {
        expires_in_days: i64,
        status: &'static [&'static str],
    },
    /// This status with an RFC 9083 §6 error object.
    Error(u16),
    /// Reads the request and never answers.
    Silent,
    /// 200 with a body that is not a domain object.
    Garbage(&'static str),
    /// 200, the start of a domain object followed by 1 MiB of padding, no Content-Length.
    Oversized,
}

/// The lab's registrations, by domain. Any other name is 404 (not registered).
pub fn rdap_behaviours() -> BTreeMap<&'static str, RdapBehaviour> {
    use RdapBehaviour::*;
    let registered = |expires_in_days, status| Registered {
        expires_in_days,
        status,
    };
    BTreeMap::from([
        ("healthy.test", registered(400, LOCKED)),
        ("provider.test", registered(700, LOCKED)),
        ("customer1.test", registered(365, LOCKED)),
        ("reg-expiring.test", registered(10, LOCKED)),
        // Its MX is in reg-expiring.test: the provider's domain expires soon.
        ("reg-mxlapsing.test", registered(365, LOCKED)),
        ("reg-nolock.test", registered(365, &["active"])),
        (
            "reg-redemption.test",
            registered(-12, &["redemption period", "client transfer prohibited"]),
        ),
        // EPP's spelling, as some servers send it.
        ("reg-pending.test", registered(-40, &["pendingDelete"])),
        ("reg-error.test", Error(503)),
        ("reg-ratelimit.test", Error(429)),
        ("reg-slow.test", Silent),
        (
            "reg-garbage.test",
            Garbage("<html><body>Registry maintenance</body></html>"),
        ),
    ])
}

/// The running server. Dropping it stops it.
pub struct LabRdap {
    pub port: u16,
    requests: Arc<Mutex<BTreeMap<String, usize>>>,
    /// What each domain answers: [`rdap_behaviours`] at start, changed by [`LabRdap::set`].
    plan: Arc<Mutex<BTreeMap<String, RdapBehaviour>>>,
    task: JoinHandle<()>,
}

impl Drop for LabRdap {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl LabRdap {
    /// Starts the server on 127.45.0.1, a random port.
    pub async fn start(pki: &LabPki) -> io::Result<LabRdap> {
        let config = server_config(RDAP_HOST, HttpsCert::Valid, pki).map_err(io::Error::other)?;
        let (port, mut listeners) = crate::smtp::bind_all(vec![RDAP_ADDRESS]).await?;
        let listener = listeners.pop().expect("one address, one listener");
        let requests = Arc::new(Mutex::new(BTreeMap::new()));
        let plan = Arc::new(Mutex::new(
            rdap_behaviours()
                .into_iter()
                .map(|(d, b)| (d.to_string(), b))
                .collect(),
        ));
        let now = time::OffsetDateTime::now_utc();
        let task = tokio::spawn(serve(
            listener,
            tokio_rustls::TlsAcceptor::from(config),
            Shared {
                requests: requests.clone(),
                plan: plan.clone(),
                now,
            },
        ));
        Ok(LabRdap {
            port,
            requests,
            plan,
            task,
        })
    }

    /// From now on, `domain` answers as `behaviour` (a registrar lock removed under `watch` …).
    pub fn set(&self, domain: &str, behaviour: RdapBehaviour) {
        self.plan
            .lock()
            .unwrap()
            .insert(domain.to_string(), behaviour);
    }

    /// The base URL to give mxwatch (`--rdap-server`).
    pub fn url(&self) -> String {
        format!("https://{RDAP_HOST}:{}/", self.port)
    }

    /// How many questions were asked about `domain` so far.
    pub fn requests(&self, domain: &str) -> usize {
        self.requests
            .lock()
            .unwrap()
            .get(domain)
            .copied()
            .unwrap_or(0)
    }
}

/// What every connection reads and counts.
#[derive(Clone)]
struct Shared {
    requests: Arc<Mutex<BTreeMap<String, usize>>>,
    plan: Arc<Mutex<BTreeMap<String, RdapBehaviour>>>,
    /// When the server started: expiry dates are counted from it.
    now: time::OffsetDateTime,
}

async fn serve(listener: TcpListener, acceptor: tokio_rustls::TlsAcceptor, shared: Shared) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let acceptor = acceptor.clone();
        let shared = shared.clone();
        tokio::spawn(async move {
            let _ = session(stream, acceptor, &shared).await;
        });
    }
}

async fn session(
    stream: tokio::net::TcpStream,
    acceptor: tokio_rustls::TlsAcceptor,
    shared: &Shared,
) -> io::Result<()> {
    let now = shared.now;
    let mut tls = acceptor.accept(stream).await?;
    let head = read_request_head(&mut tls).await?;
    let head = String::from_utf8_lossy(&head);
    let path = head.split_whitespace().nth(1).unwrap_or("/");
    let domain = path
        .strip_prefix("/domain/")
        .map(|d| d.trim_end_matches('.').to_ascii_lowercase());
    let Some(domain) = domain else {
        let body = error_object(400, "Bad Request", "only /domain/<name> is served");
        tls.write_all(respond(400, RDAP_JSON, &body, &[]).as_bytes())
            .await?;
        return tls.shutdown().await;
    };
    *shared
        .requests
        .lock()
        .unwrap()
        .entry(domain.clone())
        .or_default() += 1;
    let behaviour = shared.plan.lock().unwrap().get(&domain).copied();
    let response = match behaviour {
        None => respond(
            404,
            RDAP_JSON,
            &error_object(404, "Not Found", "no such domain"),
            &[],
        ),
        Some(RdapBehaviour::Registered {
            expires_in_days,
            status,
        }) => {
            let expires = now + time::Duration::days(expires_in_days);
            respond(
                200,
                RDAP_JSON,
                &domain_object(&domain, expires, status),
                &[],
            )
        }
        Some(RdapBehaviour::Error(code)) => {
            let extra: &[(&str, &str)] = if code == 429 {
                &[("Retry-After", "3600")]
            } else {
                &[]
            };
            respond(
                code,
                RDAP_JSON,
                &error_object(code, "Unavailable", "try again later"),
                extra,
            )
        }
        Some(RdapBehaviour::Silent) => {
            // Hold the connection well past any client's time limit; the client gives up first.
            tokio::time::sleep(Duration::from_secs(120)).await;
            return Ok(());
        }
        Some(RdapBehaviour::Garbage(body)) => respond(200, "text/html", body, &[]),
        Some(RdapBehaviour::Oversized) => {
            tls.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/rdap+json\r\nConnection: close\r\n\r\n\
                  {\"objectClassName\": \"domain\", \"remarks\": [",
            )
            .await?;
            let block = b"\"padding padding padding padding\", ".repeat(64);
            for _ in 0..(1024 * 1024 / block.len()) {
                tls.write_all(&block).await?;
            }
            return tls.shutdown().await;
        }
    };
    tls.write_all(response.as_bytes()).await?;
    tls.shutdown().await
}

const RDAP_JSON: &str = "application/rdap+json";

/// A domain object in the shape of RFC 9083 §5.3's example.
fn domain_object(domain: &str, expires: time::OffsetDateTime, status: &[&str]) -> String {
    let rfc3339 = |t: time::OffsetDateTime| {
        t.replace_nanosecond(0)
            .unwrap_or(t)
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default()
    };
    let registered = expires - time::Duration::days(3 * 365);
    serde_json::json!({
        "rdapConformance": ["rdap_level_0"],
        "objectClassName": "domain",
        "handle": format!("LAB-{}", domain.to_ascii_uppercase()),
        "ldhName": domain,
        "status": status,
        "events": [
            { "eventAction": "registration", "eventDate": rfc3339(registered) },
            { "eventAction": "expiration", "eventDate": rfc3339(expires) },
            { "eventAction": "last update of RDAP database", "eventDate": rfc3339(time::OffsetDateTime::now_utc()) }
        ],
        "entities": [{
            "objectClassName": "entity",
            "handle": "9999",
            "roles": ["registrar"],
            "vcardArray": ["vcard", [["version", {}, "text", "4.0"], ["fn", {}, "text", "Lab Registrar"]]]
        }],
        "nameservers": [{ "objectClassName": "nameserver", "ldhName": "ns1.lab.test" }]
    })
    .to_string()
}

/// An error response body (RFC 9083 §6).
fn error_object(code: u16, title: &str, description: &str) -> String {
    serde_json::json!({
        "rdapConformance": ["rdap_level_0"],
        "errorCode": code,
        "title": title,
        "description": [description]
    })
    .to_string()
}
