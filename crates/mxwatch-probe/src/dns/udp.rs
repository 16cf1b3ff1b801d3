//! A small pool of UDP sockets shared by every question in flight.
//!
//! Opening, binding, connecting, registering and closing a socket for each question cost about
//! ten system calls and most of the client's CPU in a bulk scan. Here a question is one
//! `sendto` on a socket that already exists, and its reply is handed over by the socket's
//! reader task, matched by (server address, message ID); the caller still checks the question
//! section, as before.
//!
//! Why hand-written: hickory's client multiplexes over one socket per connection to one
//! server and hides the failures an audit must record; this is the part of it we need, and the
//! nameserver comparison asks many servers, which unconnected sockets serve without a pool per
//! server.
//!
//! Spoofing resistance stays reasonable: each socket has its own kernel-chosen ephemeral port
//! and is replaced after [`QUESTIONS_PER_SOCKET`] questions, so the ports move; IDs are random
//! per question (a clash with a question in flight to the same server is re-drawn); a reply from
//! another address than the one asked is ignored, and one with an unknown ID is shown to every
//! question waiting on that server (each records it as malformed only if its own never comes).

use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::net::UdpSocket;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// Sockets per address family.
pub const POOL_SOCKETS: usize = 8;
/// Questions sent on one socket before it is replaced by a fresh one (a new source port).
pub const QUESTIONS_PER_SOCKET: usize = 4_096;
/// The largest datagram a reply may be (EDNS allows up to 64 KiB).
const MAX_DATAGRAM: usize = 65_535;
/// Replies buffered for one waiting question (more would be a flood of forgeries).
const REPLIES_PER_QUESTION: usize = 4;

type Waiting = Arc<Mutex<HashMap<(SocketAddr, u16), Arc<Inbox>>>>;

/// Where the datagrams for one question wait to be read: a few at most, and a wake-up. (A tokio
/// channel per question allocated a block of 32 slots for the one reply that usually comes.)
#[derive(Default)]
pub struct Inbox {
    datagrams: Mutex<VecDeque<Vec<u8>>>,
    arrived: Notify,
}

impl Inbox {
    /// Keeps `datagram` unless [`REPLIES_PER_QUESTION`] already wait (a flood of forgeries).
    fn deliver(&self, datagram: &[u8]) {
        let mut datagrams = self.datagrams.lock().unwrap();
        if datagrams.len() < REPLIES_PER_QUESTION {
            datagrams.push_back(datagram.to_vec());
            drop(datagrams);
            // A wake-up given while nobody waits is kept for the next `recv`.
            self.arrived.notify_one();
        }
    }

    /// The next datagram for the question, when it comes.
    pub async fn recv(&self) -> Vec<u8> {
        loop {
            if let Some(datagram) = self.datagrams.lock().unwrap().pop_front() {
                return datagram;
            }
            self.arrived.notified().await;
        }
    }
}

/// One socket, its reader task and the questions waiting on it.
struct PooledSocket {
    socket: Arc<UdpSocket>,
    waiting: Waiting,
    sent: AtomicUsize,
    reader: JoinHandle<()>,
}

impl Drop for PooledSocket {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

impl PooledSocket {
    async fn open(ipv6: bool) -> io::Result<PooledSocket> {
        let bind: SocketAddr = if ipv6 {
            "[::]:0".parse().expect("address")
        } else {
            "0.0.0.0:0".parse().expect("address")
        };
        let socket = Arc::new(UdpSocket::bind(bind).await?);
        let waiting: Waiting = Arc::default();
        let reader = tokio::spawn(read_replies(socket.clone(), waiting.clone()));
        Ok(PooledSocket {
            socket,
            waiting,
            sent: AtomicUsize::new(0),
            reader,
        })
    }
}

/// Hands each datagram to the question waiting for its (sender, ID); drops the rest.
async fn read_replies(socket: Arc<UdpSocket>, waiting: Waiting) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        let (len, from) = match socket.recv_from(&mut buf).await {
            Ok(got) => got,
            // An ICMP error reported on the socket (Linux does for unconnected sockets only
            // when asked to): nothing to hand over; the question times out as it would.
            Err(_) => continue,
        };
        let datagram = &buf[..len];
        let waiting = waiting.lock().unwrap();
        let exact = (len >= 2)
            .then(|| waiting.get(&(from, u16::from_be_bytes([buf[0], buf[1]]))))
            .flatten();
        match exact {
            Some(inbox) => inbox.deliver(datagram),
            // No question has this ID: garbage, a wrong ID, an echo. Each question waiting on
            // that server sees it (as a connected socket would have shown it) and records it as
            // a malformed reply if its own never comes. Rare, so the walk does not matter.
            None => {
                for ((server, _), inbox) in waiting.iter() {
                    if *server == from {
                        inbox.deliver(datagram);
                    }
                }
            }
        }
    }
}

/// The pool: a few sockets per family, each question on the next in turn.
#[derive(Default)]
pub struct UdpPool {
    v4: Family,
    v6: Family,
}

#[derive(Default)]
struct Family {
    slots: [Mutex<Option<Arc<PooledSocket>>>; POOL_SOCKETS],
    turn: AtomicUsize,
}

/// A question on the wire: its replies arrive here until it is dropped.
pub struct Sent {
    pub replies: Arc<Inbox>,
    /// The ID actually used (re-drawn when it clashed with one in flight).
    pub id: u16,
    key: (SocketAddr, u16),
    socket: Arc<PooledSocket>,
}

impl Sent {
    /// Sends the question again, with the ID it was given, from the same socket.
    pub async fn send_again(&self, bytes: &[u8]) -> io::Result<()> {
        debug_assert_eq!(bytes[..2], self.id.to_be_bytes());
        self.socket.socket.send_to(bytes, self.key.0).await?;
        Ok(())
    }
}

impl Drop for Sent {
    fn drop(&mut self) {
        self.socket.waiting.lock().unwrap().remove(&self.key);
    }
}

impl UdpPool {
    /// Sends `bytes` (a DNS message whose first two octets are its ID) to `server`. The ID is
    /// changed in `bytes` when the one given is already waiting for a reply from that server.
    pub async fn send(&self, server: SocketAddr, bytes: &mut [u8]) -> io::Result<Sent> {
        let socket = self.socket(server.is_ipv6()).await?;
        let replies = Arc::new(Inbox::default());
        let mut id = u16::from_be_bytes([bytes[0], bytes[1]]);
        {
            let mut waiting = socket.waiting.lock().unwrap();
            // Odd steps visit every ID once before coming back.
            while waiting.contains_key(&(server, id)) {
                id = id.wrapping_add(0x9E37);
            }
            waiting.insert((server, id), replies.clone());
        }
        bytes[..2].copy_from_slice(&id.to_be_bytes());
        let sent = Sent {
            replies,
            id,
            key: (server, id),
            socket,
        };
        sent.socket.socket.send_to(bytes, server).await?;
        Ok(sent)
    }

    /// The next socket of the family, opened (or replaced once worn) as needed.
    async fn socket(&self, ipv6: bool) -> io::Result<Arc<PooledSocket>> {
        let family = if ipv6 { &self.v6 } else { &self.v4 };
        let index = family.turn.fetch_add(1, Ordering::Relaxed) % POOL_SOCKETS;
        let slot = &family.slots[index];
        if let Some(socket) = slot.lock().unwrap().as_ref()
            && socket.sent.fetch_add(1, Ordering::Relaxed) < QUESTIONS_PER_SOCKET
        {
            return Ok(socket.clone());
        }
        // Opened outside the lock (binding awaits); a racing opener's socket simply wins
        // the slot last, and the other serves the question it was opened for.
        let fresh = Arc::new(PooledSocket::open(ipv6).await?);
        fresh.sent.store(1, Ordering::Relaxed);
        *slot.lock().unwrap() = Some(fresh.clone());
        Ok(fresh)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn replies_go_to_their_question_and_ids_never_clash() {
        let server = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = server.local_addr().unwrap();
        let pool = UdpPool::default();
        // One more question than sockets, all with the same ID: the last shares a socket (and
        // a source port) with the first, so its ID is re-drawn.
        let mut questions = Vec::new();
        for n in 0..=POOL_SOCKETS {
            let mut bytes = [0x12, 0x34, n as u8];
            questions.push(pool.send(addr, &mut bytes).await.unwrap());
        }
        assert_eq!(questions[0].id, 0x1234);
        assert_ne!(questions[POOL_SOCKETS].id, 0x1234);
        let mut buf = [0u8; 16];
        for _ in 0..questions.len() {
            let (len, from) = server.recv_from(&mut buf).await.unwrap();
            // Echo each datagram back: its source port and ID are what route it.
            server.send_to(&buf[..len], from).await.unwrap();
        }
        for (n, question) in questions.iter_mut().enumerate() {
            assert_eq!(question.replies.recv().await[2], n as u8);
        }
        // A question that is gone no longer holds its ID: the next on that socket may have it.
        drop(questions.remove(0));
        for _ in 0..POOL_SOCKETS - 1 {
            let mut bytes = [0, 0, 0];
            drop(pool.send(addr, &mut bytes).await.unwrap());
        }
        let mut again = [0x12, 0x34, 0];
        let sent = pool.send(addr, &mut again).await.unwrap();
        assert_eq!(sent.id, 0x1234);
    }

    #[tokio::test]
    async fn worn_sockets_are_replaced() {
        let server = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = server.local_addr().unwrap();
        let pool = UdpPool::default();
        let mut ports = std::collections::HashSet::new();
        let mut buf = [0u8; 16];
        for i in 0..(POOL_SOCKETS * QUESTIONS_PER_SOCKET + POOL_SOCKETS) {
            let mut question = [(i >> 8) as u8, i as u8, 0];
            let sent = pool.send(addr, &mut question).await.unwrap();
            let (_, from) = server.recv_from(&mut buf).await.unwrap();
            ports.insert(from.port());
            drop(sent);
        }
        assert!(ports.len() > POOL_SOCKETS, "{} source ports", ports.len());
    }
}
