//! Sends one question to the resolver and brings back its reply, or why not.
//!
//! Hand-written on hickory-proto's message codec instead of hickory's client
//! because an audit needs what a client library hides on purpose: the RCODE of
//! every answer, whether it was truncated, how long it took, and failures as
//! data rather than retried-away errors. It is small: UDP with EDNS, retry on
//! timeout, TCP when truncated, and a global cap on queries in flight.
//!
//! With several resolvers (`more_resolvers`), questions are spread over them in turn, and
//! one that times out or answers SERVFAIL or REFUSED is asked of the next before it becomes
//! "could not determine"; `qps_per_resolver` paces each resolver (governor's GCRA limiter).

use super::rtt::RoundTrips;
use super::udp::UdpPool;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use hickory_proto::op::{Edns, Message, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};
use mxwatch_core::Failure;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio::time::timeout;

/// How to reach the resolver and how hard to try.
#[derive(Clone, Debug)]
pub struct DnsOptions {
    pub resolver: SocketAddr,
    /// Time limit for one try over UDP, and for the whole TCP exchange.
    pub timeout: Duration,
    /// Tries over UDP before giving up. To a recursive resolver, the next try goes out as soon
    /// as the last is overdue by the resolver's recent reply times ([`RoundTrips`]); the
    /// question gives up `attempts × timeout` after its first try either way.
    pub attempts: u32,
    /// Questions in flight at once, across every domain of the run.
    pub max_in_flight: usize,
    /// More recursive resolvers: questions are spread over all of them in turn, and a failure
    /// (timeout, SERVFAIL, network) on one is asked of the next.
    pub more_resolvers: Vec<SocketAddr>,
    /// At most this many questions a second to each resolver. Default: no limit.
    pub qps_per_resolver: Option<NonZeroU32>,
    /// Answers the run-wide cache keeps at most.
    pub cache_entries: usize,
}

impl DnsOptions {
    pub fn new(resolver: SocketAddr) -> Self {
        DnsOptions {
            resolver,
            timeout: Duration::from_secs(3),
            attempts: 2,
            max_in_flight: 256,
            more_resolvers: vec![],
            qps_per_resolver: None,
            cache_entries: super::cache::DEFAULT_CAPACITY as usize,
        }
    }
}

/// The EDNS payload size we offer: the DNS flag day 2020 value, safe from fragmentation.
const EDNS_PAYLOAD: u16 = 1232;

/// A reply that matched the question, or a failure.
#[derive(Debug)]
pub enum Reply {
    Message {
        message: Box<Message>,
        via_tcp: bool,
    },
    Failed {
        failure: Failure,
        detail: String,
    },
}

pub struct Transport {
    options: DnsOptions,
    in_flight: Semaphore,
    sent: AtomicU64,
    /// Every recursive resolver: `resolver` first, then `more_resolvers`.
    resolvers: Vec<SocketAddr>,
    /// One limiter per resolver, in the same order (with `qps_per_resolver`).
    pacers: Vec<DefaultDirectRateLimiter>,
    /// Which resolver the next question starts with.
    turn: AtomicUsize,
    /// Each resolver's reply times, in the same order: when a try to it is overdue.
    round_trips: Vec<RoundTrips>,
    /// The UDP sockets every question shares.
    udp: UdpPool,
}

impl Transport {
    pub fn new(options: DnsOptions) -> Self {
        let permits = options.max_in_flight.max(1);
        let mut resolvers = vec![options.resolver];
        for more in &options.more_resolvers {
            if !resolvers.contains(more) {
                resolvers.push(*more);
            }
        }
        let pacers = match options.qps_per_resolver {
            Some(qps) => resolvers
                .iter()
                .map(|_| RateLimiter::direct(Quota::per_second(qps)))
                .collect(),
            None => vec![],
        };
        let round_trips = resolvers.iter().map(|_| RoundTrips::default()).collect();
        Transport {
            options,
            in_flight: Semaphore::new(permits),
            sent: AtomicU64::new(0),
            resolvers,
            pacers,
            turn: AtomicUsize::new(0),
            round_trips,
            udp: UdpPool::default(),
        }
    }

    /// The recursive resolvers, in the order questions rotate over them.
    pub fn resolvers(&self) -> &[SocketAddr] {
        &self.resolvers
    }

    /// Asks the recursive resolvers: the next one in turn, then (on a timeout, a network
    /// failure, a malformed reply, SERVFAIL or REFUSED) each other one once. With one resolver,
    /// its reply is the answer as before.
    async fn ask_recursive(&self, name: &Name, rtype: RecordType, dnssec: bool) -> Reply {
        let n = self.resolvers.len();
        let first = self.turn.fetch_add(1, Ordering::Relaxed) % n;
        let mut reply = None;
        for k in 0..n {
            let index = (first + k) % n;
            if let Some(pacer) = self.pacers.get(index) {
                pacer.until_ready().await;
            }
            let this = self
                .ask_flags(
                    self.resolvers[index],
                    name,
                    rtype,
                    true,
                    dnssec,
                    Some(&self.round_trips[index]),
                )
                .await;
            let retry = match &this {
                Reply::Failed { .. } => true,
                // REFUSED: this resolver will not answer us (an ACL, a rate limit); another may.
                Reply::Message { message, .. } => matches!(
                    message.metadata.response_code,
                    ResponseCode::ServFail | ResponseCode::Refused
                ),
            };
            reply = Some(this);
            if !retry {
                break;
            }
        }
        reply.expect("at least one resolver")
    }

    /// How long each resolver has to answer a try before the next goes out.
    pub fn overdue_after(&self) -> Vec<(SocketAddr, Duration)> {
        self.resolvers
            .iter()
            .zip(&self.round_trips)
            .map(|(resolver, rtt)| (*resolver, rtt.overdue_after(self.options.timeout)))
            .collect()
    }

    pub fn options(&self) -> &DnsOptions {
        &self.options
    }

    /// Questions put on the wire so far (UDP tries and TCP fallbacks).
    pub fn queries_sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// Asks `name rtype` with recursion desired; returns the reply and the time it took.
    pub async fn ask(&self, name: &Name, rtype: RecordType) -> (Reply, Duration) {
        self.timed_recursive(name, rtype, false).await
    }

    /// Asks the resolver with DO (RRSIGs and NSEC proofs wanted, RFC 3225) and CD (a validating
    /// resolver hands over data it finds bogus instead of SERVFAIL, so we can tell why).
    pub async fn ask_dnssec(&self, name: &Name, rtype: RecordType) -> (Reply, Duration) {
        self.timed_recursive(name, rtype, true).await
    }

    /// One recursive question under the in-flight cap, with the time it took.
    async fn timed_recursive(
        &self,
        name: &Name,
        rtype: RecordType,
        dnssec: bool,
    ) -> (Reply, Duration) {
        let _permit = self
            .in_flight
            .acquire()
            .await
            .expect("semaphore is never closed");
        let started = Instant::now();
        let reply = self.ask_recursive(name, rtype, dnssec).await;
        (reply, started.elapsed())
    }

    /// Asks `server` directly; `recursion_desired` is false for an authoritative server.
    pub async fn ask_at(
        &self,
        server: SocketAddr,
        name: &Name,
        rtype: RecordType,
        recursion_desired: bool,
    ) -> (Reply, Duration) {
        let _permit = self
            .in_flight
            .acquire()
            .await
            .expect("semaphore is never closed");
        let started = Instant::now();
        let reply = self.ask_inner(server, name, rtype, recursion_desired).await;
        (reply, started.elapsed())
    }

    async fn ask_inner(
        &self,
        server: SocketAddr,
        name: &Name,
        rtype: RecordType,
        recursion_desired: bool,
    ) -> Reply {
        // Authoritative servers are many and asked a few times each: no reply times are kept
        // for them, so a try is overdue only after the whole timeout.
        self.ask_flags(server, name, rtype, recursion_desired, false, None)
            .await
    }

    /// Every question (recursive or authoritative) passes here: counted for `serve`'s
    /// `/metrics` through the `metrics` facade (free when no recorder is installed).
    async fn ask_flags(
        &self,
        server: SocketAddr,
        name: &Name,
        rtype: RecordType,
        recursion_desired: bool,
        dnssec: bool,
        round_trips: Option<&RoundTrips>,
    ) -> Reply {
        let reply = self
            .ask_flags_uncounted(server, name, rtype, recursion_desired, dnssec, round_trips)
            .await;
        metrics::counter!("mxwatch_dns_questions_total").increment(1);
        let failure = match &reply {
            Reply::Failed { failure, .. } => Some(format!("{failure:?}").to_lowercase()),
            Reply::Message { message, .. } => match message.metadata.response_code {
                ResponseCode::ServFail => Some("servfail".to_string()),
                ResponseCode::Refused => Some("refused".to_string()),
                _ => None,
            },
        };
        if let Some(failure) = failure {
            metrics::counter!("mxwatch_dns_failures_total", "failure" => failure).increment(1);
        }
        reply
    }

    async fn ask_flags_uncounted(
        &self,
        server: SocketAddr,
        name: &Name,
        rtype: RecordType,
        recursion_desired: bool,
        dnssec: bool,
        round_trips: Option<&RoundTrips>,
    ) -> Reply {
        let mut query = Message::query();
        query.metadata.recursion_desired = recursion_desired;
        query.metadata.checking_disabled = dnssec;
        query.add_query(Query::query(name.clone(), rtype));
        let mut edns = Edns::new();
        edns.set_max_payload(EDNS_PAYLOAD);
        edns.set_dnssec_ok(dnssec);
        query.set_edns(edns);
        let bytes = match query.to_vec() {
            Ok(b) => b,
            Err(e) => {
                return Reply::Failed {
                    failure: Failure::Malformed,
                    detail: format!("cannot encode the question: {e}"),
                };
            }
        };
        let mut last = Reply::Failed {
            failure: Failure::Timeout,
            detail: "no try was made".into(),
        };
        // A failure to send is tried again, as a lost datagram would be.
        for _ in 0..self.options.attempts.max(1) {
            last = self.try_udp(server, &query, &bytes, round_trips).await;
            match &last {
                Reply::Message { message, .. } if message.metadata.truncation => {
                    return self.try_tcp(server, &query, &bytes).await;
                }
                Reply::Failed {
                    failure: Failure::Network,
                    ..
                } => continue,
                _ => return last,
            }
        }
        last
    }

    /// Every try of the question over UDP: the same datagram (same ID, same socket) sent again
    /// when the last try is overdue, so a late reply to any of them answers it. A reply that
    /// does not match is kept as the result only if the real one never comes (RFC 5452 §9.1).
    async fn try_udp(
        &self,
        resolver: SocketAddr,
        query: &Message,
        bytes: &[u8],
        round_trips: Option<&RoundTrips>,
    ) -> Reply {
        let timeout = self.options.timeout;
        let tries = self.options.attempts.max(1);
        let mut bytes = bytes.to_vec();
        self.sent.fetch_add(1, Ordering::Relaxed);
        let sent = match self.udp.send(resolver, &mut bytes).await {
            Ok(sent) => sent,
            Err(e) => return network_failure("cannot send the question", e),
        };
        // tokio's clock, which tests may pause.
        let started = tokio::time::Instant::now();
        let give_up = started + timeout * tries;
        let mut tried = 1;
        let mut next_try = started + round_trips.map_or(timeout, |rtt| rtt.overdue_after(timeout));
        let mut mismatched = None;
        loop {
            let wake = if tried < tries { next_try } else { give_up };
            match tokio::time::timeout_at(wake, sent.replies.recv()).await {
                Err(_) if tried < tries => {
                    self.sent.fetch_add(1, Ordering::Relaxed);
                    if let Err(e) = sent.send_again(&bytes).await {
                        return network_failure("cannot send the question again", e);
                    }
                    tried += 1;
                    next_try = tokio::time::Instant::now() + timeout;
                }
                Err(_) => {
                    return mismatched.unwrap_or(Reply::Failed {
                        failure: Failure::Timeout,
                        detail: format!(
                            "no reply from {resolver} to {tried} tries within {:?}",
                            started.elapsed()
                        ),
                    });
                }
                // The pool may have re-drawn the ID (one in flight to the same server had it).
                Ok(datagram) => match check_reply(query, sent.id, &datagram) {
                    Ok(message) => {
                        if let (Some(rtt), 1) = (round_trips, tried) {
                            rtt.sample(started.elapsed());
                        }
                        return Reply::Message {
                            message: Box::new(message),
                            via_tcp: false,
                        };
                    }
                    Err(failed) => mismatched = Some(failed),
                },
            }
        }
    }

    async fn try_tcp(&self, resolver: SocketAddr, query: &Message, bytes: &[u8]) -> Reply {
        self.sent.fetch_add(1, Ordering::Relaxed);
        let exchange = async {
            let mut stream = TcpStream::connect(resolver).await?;
            let len = u16::try_from(bytes.len()).map_err(std::io::Error::other)?;
            stream.write_u16(len).await?;
            stream.write_all(bytes).await?;
            let reply_len = stream.read_u16().await?;
            let mut reply = vec![0u8; usize::from(reply_len)];
            stream.read_exact(&mut reply).await?;
            Ok::<_, std::io::Error>(reply)
        };
        match timeout(self.options.timeout, exchange).await {
            Err(_) => Reply::Failed {
                failure: Failure::Timeout,
                detail: format!("the reply was truncated over UDP and TCP to {resolver} timed out"),
            },
            Ok(Err(e)) => network_failure(
                "the reply was truncated over UDP and the TCP retry failed",
                e,
            ),
            Ok(Ok(reply)) => match check_reply(query, query.metadata.id, &reply) {
                Ok(message) if message.metadata.truncation => Reply::Failed {
                    failure: Failure::Malformed,
                    detail: "the reply was truncated even over TCP".into(),
                },
                Ok(message) => Reply::Message {
                    message: Box::new(message),
                    via_tcp: true,
                },
                Err(failed) => failed,
            },
        }
    }
}

fn network_failure(what: &str, e: std::io::Error) -> Reply {
    Reply::Failed {
        failure: Failure::Network,
        detail: format!("{what}: {e}"),
    }
}

/// Parses a reply and checks it answers our question (ID `id` and the question section).
fn check_reply(query: &Message, id: u16, bytes: &[u8]) -> Result<Message, Reply> {
    let message = Message::from_vec(bytes).map_err(|e| Reply::Failed {
        failure: Failure::Malformed,
        detail: format!(
            "the reply is not a DNS message ({} bytes): {e}",
            bytes.len()
        ),
    })?;
    // A reflector sending our query back, or another opcode, is not an answer.
    if message.metadata.message_type != hickory_proto::op::MessageType::Response
        || message.metadata.op_code != hickory_proto::op::OpCode::Query
    {
        return Err(Reply::Failed {
            failure: Failure::Malformed,
            detail: "the reply is not a response to a query (QR or OPCODE)".into(),
        });
    }
    let same_question = message.queries.first().is_some_and(|q| {
        let asked = &query.queries[0];
        q.query_type() == asked.query_type() && same_name(q.name(), asked.name())
    });
    if message.metadata.id != id || (!same_question && !message.metadata.truncation) {
        return Err(Reply::Failed {
            failure: Failure::Malformed,
            detail: "the reply does not match the question (ID or question section differ)".into(),
        });
    }
    Ok(message)
}

/// Names compare without regard to case (resolvers may echo 0x20-randomised case) or the root
/// dot: label by label, without formatting either as text (this runs for every reply).
fn same_name(a: &Name, b: &Name) -> bool {
    let (mut a, mut b) = (a.iter(), b.iter());
    loop {
        match (a.next(), b.next()) {
            (None, None) => return true,
            (Some(x), Some(y)) if x.eq_ignore_ascii_case(y) => {}
            _ => return false,
        }
    }
}

#[cfg(test)]
mod same_name_tests {
    use super::same_name;
    use hickory_proto::rr::Name;

    fn name(text: &str) -> Name {
        Name::from_ascii(text).unwrap()
    }

    #[test]
    fn names_match_whatever_the_case_and_the_root_dot() {
        assert!(same_name(
            &name("Mail.Example.TEST."),
            &name("mail.example.test")
        ));
        assert!(same_name(
            &name("*.example.test."),
            &name("*.EXAMPLE.test.")
        ));
        assert!(same_name(&Name::root(), &Name::root()));
        assert!(!same_name(
            &name("mail.example.test."),
            &name("example.test.")
        ));
        assert!(!same_name(
            &name("example.test."),
            &name("mail.example.test.")
        ));
        assert!(!same_name(
            &name("a.example.test."),
            &name("b.example.test.")
        ));
        assert!(!same_name(&name("ab.test."), &name("a.btest.")));
    }
}
