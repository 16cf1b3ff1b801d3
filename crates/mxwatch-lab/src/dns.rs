//! The lab's DNS server: UDP and TCP on one loopback port, answering from
//! [`LabZones`] like a recursive resolver, or misbehaving on purpose.
//!
//! Written on hickory-proto's wire format rather than hickory-server because the
//! lab plays a *recursive resolver* over many zones (following CNAMEs across
//! zones, SERVFAIL on lame delegations) and must be able to misbehave (stay
//! silent, send garbage, truncate forever), which an authoritative server
//! library is built not to do.

use crate::zones::LabZones;
use hickory_proto::op::{Edns, Message, MessageType, ResponseCode};
use hickory_proto::rr::RecordType;
use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, RwLock};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::JoinHandle;

/// How the server behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behaviour {
    /// Answer from the zones, as a resolver would.
    Resolver,
    /// Read queries and never answer.
    Silent,
    /// Answer every query with bytes that are not a DNS message.
    Garbage,
    /// Answer every query with SERVFAIL.
    ServFail,
    /// Answer every query with REFUSED.
    Refused,
    /// Answer like `Resolver`, but lose the first UDP datagram of each question (name, type):
    /// a lossy path, or a server whose socket overflowed.
    LosesFirst,
    /// Over UDP, always set TC with an empty answer; over TCP, close the connection.
    TruncatedOnly,
    /// Answer with a reply whose ID does not match the query (a spoofing attempt).
    WrongId,
    /// Answer as an authoritative server for the zones (AA set; REFUSED outside them).
    Authoritative,
    /// Answer like a non-recursive server: NOERROR, no answer, a referral to the root (RA clear).
    Referral,
    /// Send every query straight back (a reflector).
    Echo,
    /// Answer like `Resolver`, but as a validating resolver does: SERVFAIL for a question
    /// without the CD bit whose answer comes from a zone signed bogus on purpose
    /// (`; lab:bogus=…`); with CD (RFC 4035 §3.2.2), the data itself.
    Validating,
}

/// Counts of the questions the server was asked, for tests of caching.
#[derive(Debug, Default)]
pub struct QueryLog {
    counts: Mutex<HashMap<(String, RecordType), u64>>,
}

impl QueryLog {
    fn record(&self, name: String, rtype: RecordType) {
        *self
            .counts
            .lock()
            .unwrap()
            .entry((name, rtype))
            .or_default() += 1;
    }

    /// How many times `name` (lower case, trailing dot) was asked for `rtype`.
    pub fn count(&self, name: &str, rtype: RecordType) -> u64 {
        self.counts
            .lock()
            .unwrap()
            .get(&(name.to_ascii_lowercase(), rtype))
            .copied()
            .unwrap_or(0)
    }

    pub fn total(&self) -> u64 {
        self.counts.lock().unwrap().values().sum()
    }
}

/// A running lab DNS server. Dropping it stops the server.
pub struct LabDns {
    pub addr: SocketAddr,
    pub zones: Arc<RwLock<LabZones>>,
    pub log: Arc<QueryLog>,
    behaviour: Arc<RwLock<Behaviour>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for LabDns {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl LabDns {
    /// The root trust anchor of the zones served (DS and DNSKEY lines), when they are signed.
    pub fn trust_anchor(&self) -> Option<String> {
        self.zones
            .read()
            .unwrap()
            .trust_anchor()
            .map(str::to_string)
    }

    /// Changes how the running server behaves (a resolver outage in the middle of a test).
    pub fn set_behaviour(&self, behaviour: Behaviour) {
        *self.behaviour.write().unwrap() = behaviour;
    }

    /// Starts the built-in lab zones on 127.0.0.1, a random port.
    pub async fn start_builtin() -> io::Result<LabDns> {
        let zones =
            LabZones::builtin().map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        Self::start(zones, Behaviour::Resolver, "127.0.0.1".parse().unwrap()).await
    }

    /// Starts a server on `ip` (a loopback address), a random port, UDP and TCP.
    pub async fn start(zones: LabZones, behaviour: Behaviour, ip: IpAddr) -> io::Result<LabDns> {
        let (udp, tcp) = bind_pair(ip).await?;
        Ok(Self::serve(udp, tcp, zones, behaviour))
    }

    /// Starts several servers on one port (the lab's nameservers, reached with `--ns-port`).
    pub async fn start_on_one_port(
        servers: Vec<(LabZones, Behaviour, IpAddr)>,
    ) -> io::Result<(u16, Vec<LabDns>)> {
        let mut last = None;
        'port: for _ in 0..50 {
            let probe = UdpSocket::bind(("127.0.0.1", 0)).await?;
            let port = probe.local_addr()?.port();
            drop(probe);
            let mut sockets = Vec::new();
            for (_, _, ip) in &servers {
                let bound = async {
                    Ok::<_, io::Error>((
                        UdpSocket::bind((*ip, port)).await?,
                        TcpListener::bind((*ip, port)).await?,
                    ))
                }
                .await;
                match bound {
                    Ok(pair) => sockets.push(pair),
                    Err(e) => {
                        last = Some(e);
                        continue 'port;
                    }
                }
            }
            let started = servers
                .into_iter()
                .zip(sockets)
                .map(|((zones, behaviour, _), (udp, tcp))| Self::serve(udp, tcp, zones, behaviour))
                .collect();
            return Ok((port, started));
        }
        Err(last.unwrap_or_else(|| io::Error::other("no common free port")))
    }

    fn serve(udp: UdpSocket, tcp: TcpListener, zones: LabZones, behaviour: Behaviour) -> LabDns {
        let addr = udp.local_addr().expect("a bound socket has an address");
        let zones = Arc::new(RwLock::new(zones));
        let log = Arc::new(QueryLog::default());
        let behaviour = Arc::new(RwLock::new(behaviour));
        let server = Arc::new(Server {
            zones: zones.clone(),
            log: log.clone(),
            behaviour: behaviour.clone(),
            lost: Mutex::default(),
        });
        let udp_task = tokio::spawn(serve_udp(udp, server.clone()));
        let tcp_task = tokio::spawn(serve_tcp(tcp, server));
        LabDns {
            addr,
            zones,
            log,
            behaviour,
            tasks: vec![udp_task, tcp_task],
        }
    }
}

/// A UDP socket and a TCP listener on the same port.
async fn bind_pair(ip: IpAddr) -> io::Result<(UdpSocket, TcpListener)> {
    let mut last = None;
    for _ in 0..20 {
        let udp = UdpSocket::bind((ip, 0)).await?;
        let port = udp.local_addr()?.port();
        match TcpListener::bind((ip, port)).await {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("no free port")))
}

struct Server {
    zones: Arc<RwLock<LabZones>>,
    log: Arc<QueryLog>,
    behaviour: Arc<RwLock<Behaviour>>,
    /// The questions whose first datagram `LosesFirst` has lost.
    lost: Mutex<std::collections::HashSet<(String, RecordType)>>,
}

/// The classic UDP payload limit, for clients that send no EDNS.
const PLAIN_UDP_LIMIT: usize = 512;

impl Server {
    /// The reply to one query, as bytes; `None` means stay silent.
    fn reply(&self, request: &[u8], udp: bool) -> Option<Vec<u8>> {
        let behaviour = *self.behaviour.read().unwrap();
        if behaviour == Behaviour::Silent {
            return None;
        }
        if behaviour == Behaviour::Echo {
            return Some(request.to_vec());
        }
        if behaviour == Behaviour::Garbage {
            return Some(b"\xde\xad\xbe\xef not a DNS message".to_vec());
        }
        let query = Message::from_vec(request).ok()?;
        if query.metadata.message_type != MessageType::Query {
            return None;
        }
        let mut response = Message::response(query.metadata.id, query.metadata.op_code);
        response.metadata.recursion_desired = query.metadata.recursion_desired;
        response.metadata.recursion_available = true;
        response.add_queries(query.queries.clone());
        let Some(question) = query.queries.first() else {
            response.metadata.response_code = ResponseCode::FormErr;
            return response.to_vec().ok();
        };
        let asked = (
            question.name().to_ascii().to_ascii_lowercase(),
            question.query_type(),
        );
        self.log.record(asked.0.clone(), asked.1);
        if behaviour == Behaviour::LosesFirst && udp && self.lost.lock().unwrap().insert(asked) {
            return None;
        }
        if behaviour == Behaviour::Validating
            && !query.metadata.checking_disabled
            && self
                .zones
                .read()
                .unwrap()
                .is_bogus(question.name(), question.query_type())
        {
            response.metadata.response_code = ResponseCode::ServFail;
            return response.to_vec().ok();
        }
        match behaviour {
            Behaviour::ServFail => response.metadata.response_code = ResponseCode::ServFail,
            Behaviour::Refused => response.metadata.response_code = ResponseCode::Refused,
            Behaviour::TruncatedOnly => {
                if !udp {
                    return None;
                }
                response.metadata.truncation = true;
            }
            Behaviour::WrongId => response.metadata.id = query.metadata.id.wrapping_add(1),
            Behaviour::Referral => {
                response.metadata.recursion_available = false;
                let root = hickory_proto::rr::Name::root();
                let ns = hickory_proto::rr::Name::from_ascii("a.root-servers.invalid.")
                    .expect("literal name");
                response.insert_authorities(vec![hickory_proto::rr::Record::from_rdata(
                    root,
                    518_400,
                    hickory_proto::rr::RData::NS(hickory_proto::rr::rdata::NS(ns)),
                )]);
            }
            Behaviour::Authoritative => {
                response.metadata.recursion_available = false;
                let answer = self
                    .zones
                    .read()
                    .unwrap()
                    .authoritative(question.name(), question.query_type());
                match answer {
                    Some(answer) => {
                        response.metadata.authoritative = true;
                        response.metadata.response_code = answer.rcode;
                        response.insert_answers(answer.answers);
                        response.insert_authorities(answer.authorities);
                    }
                    None => response.metadata.response_code = ResponseCode::Refused,
                }
            }
            _ => {
                // The DO bit (RFC 3225): RRSIGs and NSEC proofs come with the answer.
                let dnssec_ok = query.edns.as_ref().is_some_and(|e| e.flags().dnssec_ok);
                let answer = self.zones.read().unwrap().resolve_dnssec(
                    question.name(),
                    question.query_type(),
                    dnssec_ok,
                );
                response.metadata.response_code = answer.rcode;
                response.insert_answers(answer.answers);
                response.insert_authorities(answer.authorities);
            }
        }
        let limit = query.edns.as_ref().map_or(PLAIN_UDP_LIMIT, |e| {
            usize::from(e.max_payload()).max(PLAIN_UDP_LIMIT)
        });
        if query.edns.is_some() {
            let mut edns = Edns::new();
            edns.set_max_payload(1232);
            response.set_edns(edns);
        }
        let bytes = response.to_vec().ok()?;
        if udp && bytes.len() > limit {
            return response.truncate().to_vec().ok();
        }
        Some(bytes)
    }
}

async fn serve_udp(socket: UdpSocket, server: Arc<Server>) {
    let mut buf = vec![0u8; 4096];
    loop {
        let Ok((len, peer)) = socket.recv_from(&mut buf).await else {
            continue;
        };
        if let Some(reply) = server.reply(&buf[..len], true) {
            let _ = socket.send_to(&reply, peer).await;
        }
    }
}

async fn serve_tcp(listener: TcpListener, server: Arc<Server>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(serve_tcp_connection(stream, server.clone()));
    }
}

async fn serve_tcp_connection(mut stream: TcpStream, server: Arc<Server>) {
    loop {
        let Ok(len) = stream.read_u16().await else {
            return;
        };
        let mut request = vec![0u8; usize::from(len)];
        if stream.read_exact(&mut request).await.is_err() {
            return;
        }
        let Some(reply) = server.reply(&request, false) else {
            return;
        };
        let Ok(len) = u16::try_from(reply.len()) else {
            return;
        };
        if stream.write_u16(len).await.is_err() || stream.write_all(&reply).await.is_err() {
            return;
        }
    }
}
