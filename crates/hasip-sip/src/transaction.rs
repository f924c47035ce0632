//! SIP transactions (RFC 3261 §17, with the RFC 6026 "Accepted" states): the four state
//! machines — client INVITE, client non-INVITE, server INVITE, server non-INVITE — with
//! timers A–K, L and M, retransmission over unreliable transports, absorption of
//! retransmitted requests, and the ACK for non-2xx final responses.
//!
//! The layer is sans-IO: requests and responses come in with `now`, datagrams go out
//! through [`Transactions::poll_transmit`], and [`Transactions::poll_timeout`] says when to
//! call [`Transactions::handle_timeout`] next. Timers keep their RFC names.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::message::build::Builder;
use crate::message::values::BRANCH_MAGIC_COOKIE;
use crate::message::{HeaderName, Message, Method};
use crate::transport::Peer;

/// Timer base values (RFC 3261 §17.1.1.1 and Table 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimerConfig {
    /// T1: the round-trip estimate, 500 ms.
    pub t1: Duration,
    /// T2: the longest retransmit interval for non-INVITE requests and INVITE responses, 4 s.
    pub t2: Duration,
    /// T4: the longest time a message stays in the network, 5 s.
    pub t4: Duration,
}

impl Default for TimerConfig {
    fn default() -> Self {
        Self {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
        }
    }
}

/// A transaction handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TransactionId(pub u64);

/// Bytes the layer wants sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Where to.
    pub to: Peer,
    /// What.
    pub payload: Bytes,
}

/// What the transaction user (dialogs, registration, the engine) must learn.
#[derive(Debug, Clone)]
pub enum TxEvent {
    /// A response for a client transaction: provisional, final, or (RFC 6026) a
    /// retransmitted 2xx to an INVITE, which the TU must ACK again.
    Response {
        /// The client transaction.
        tx: TransactionId,
        /// The response (boxed: a message is much larger than the other events).
        response: Box<Message>,
    },
    /// Timer B or F fired: the request got no final response (treat as 408).
    Timeout {
        /// The client transaction.
        tx: TransactionId,
    },
    /// Timer H fired: a final non-2xx response to an INVITE was never acknowledged.
    AckTimeout {
        /// The server transaction.
        tx: TransactionId,
    },
    /// The transport could not send for this transaction (treat as 503).
    TransportError {
        /// The transaction.
        tx: TransactionId,
    },
    /// The transaction ended and its id is no longer valid.
    Terminated {
        /// The transaction.
        tx: TransactionId,
    },
}

/// How an incoming request relates to the transactions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    /// A new request: a server transaction was created for it; respond with
    /// [`Transactions::respond`].
    New(TransactionId),
    /// A retransmission: absorbed (the last response, if any, was sent again).
    Retransmission,
    /// The ACK of a non-2xx final response: absorbed by its INVITE transaction.
    AckAbsorbed,
    /// An ACK that belongs to no transaction (the ACK of a 2xx): for the dialog.
    Ack,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(clippy::enum_variant_names)] // RFC 3261 §17's own names
enum Kind {
    ClientInvite,
    ClientNonInvite,
    ServerInvite,
    ServerNonInvite,
}

/// States in RFC order; `Accepted` is RFC 6026's. "Terminated" is the transaction's
/// removal from the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Calling,
    Trying,
    Proceeding,
    Accepted,
    Completed,
    Confirmed,
}

/// The named timers, each with its own deadline slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(usize)]
enum Timer {
    /// A (INVITE retransmit), E (non-INVITE retransmit), G (INVITE response retransmit).
    Retransmit = 0,
    /// B, F (client give-up), H (wait for ACK), J, K, D, I, L, M (linger, then terminate).
    End = 1,
    /// The 200 ms after which a server INVITE transaction sends 100 Trying itself.
    Trying = 2,
}

const TIMERS: usize = 3;

#[derive(Debug)]
struct Tx {
    kind: Kind,
    state: State,
    peer: Peer,
    request: Message,
    /// The request bytes (client) or the last response bytes (server), for retransmission.
    wire: Bytes,
    /// The ACK generated for a non-2xx final response (client INVITE).
    ack: Option<Bytes>,
    interval: Duration,
    deadlines: [Option<Instant>; TIMERS],
    server_key: Option<ServerKey>,
    client_key: Option<ClientKey>,
}

impl Tx {
    fn reliable(&self) -> bool {
        self.peer.transport.is_reliable()
    }
}

/// RFC 3261 §17.2.3: branch, sent-by and method (ACK and CANCEL fold onto their INVITE via
/// the method stored here: INVITE for ACK, the request's own method otherwise).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct ServerKey {
    branch: String,
    sent_by: String,
    method: Method,
}

/// RFC 3261 §17.1.3: branch and CSeq method.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct ClientKey {
    branch: String,
    method: Method,
}

fn server_key(msg: &Message) -> Option<ServerKey> {
    let via = msg.top_via()?.ok()?;
    let method = match msg.method()? {
        Method::Ack => Method::Invite,
        m => m.clone(),
    };
    let sent_by = format!("{}:{}", via.host, via.port.unwrap_or(0));
    let branch = match via.branch() {
        Some(b) if b.starts_with(BRANCH_MAGIC_COOKIE) && b.len() > BRANCH_MAGIC_COOKIE.len() => {
            b.to_owned()
        }
        // RFC 2543 peers (no magic cookie, or the cookie alone as in RFC 4475 §3.2.1): the
        // request is identified by Call-ID, CSeq number, From tag and top Via instead.
        _ => {
            let cseq = msg.cseq()?.ok()?;
            let from_tag = msg.from()?.ok()?.tag().unwrap_or("").to_owned();
            format!(
                "2543:{}:{}:{}:{}",
                msg.call_id()?,
                cseq.seq,
                from_tag,
                via.branch().unwrap_or("")
            )
        }
    };
    Some(ServerKey {
        branch,
        sent_by,
        method,
    })
}

fn client_key(msg: &Message) -> Option<ClientKey> {
    let via = msg.top_via()?.ok()?;
    Some(ClientKey {
        branch: via.branch()?.to_owned(),
        method: msg.cseq()?.ok()?.method,
    })
}

/// Shrinks `map` when it holds less than a quarter of a capacity above 256 entries (a
/// table only grows by itself); true when it did.
pub(crate) fn shrink_if_sparse<K: Eq + std::hash::Hash, V>(map: &mut HashMap<K, V>) -> bool {
    if map.capacity() > 256 && map.len() * 4 < map.capacity() {
        map.shrink_to_fit();
        true
    } else {
        false
    }
}

/// All transactions of one endpoint.
#[derive(Debug)]
pub struct Transactions {
    timers: TimerConfig,
    next_id: u64,
    txs: HashMap<TransactionId, Tx>,
    by_server_key: HashMap<ServerKey, TransactionId>,
    by_client_key: HashMap<ClientKey, TransactionId>,
    /// Deadlines with lazy deletion: an entry is stale when the transaction's slot no
    /// longer holds the same instant.
    heap: BinaryHeap<Reverse<(Instant, TransactionId, usize)>>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<TxEvent>,
}

impl Transactions {
    /// An empty layer with the given timer values.
    pub fn new(timers: TimerConfig) -> Self {
        Self {
            timers,
            next_id: 0,
            txs: HashMap::new(),
            by_server_key: HashMap::new(),
            by_client_key: HashMap::new(),
            heap: BinaryHeap::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// Number of live transactions.
    pub fn len(&self) -> usize {
        self.txs.len()
    }

    /// True when no transaction is live.
    pub fn is_empty(&self) -> bool {
        self.txs.is_empty()
    }

    fn alloc(&mut self) -> TransactionId {
        self.next_id += 1;
        TransactionId(self.next_id)
    }

    fn arm(&mut self, id: TransactionId, timer: Timer, at: Instant) {
        if let Some(tx) = self.txs.get_mut(&id) {
            tx.deadlines[timer as usize] = Some(at);
            self.heap.push(Reverse((at, id, timer as usize)));
        }
    }

    fn disarm(&mut self, id: TransactionId, timer: Timer) {
        if let Some(tx) = self.txs.get_mut(&id) {
            tx.deadlines[timer as usize] = None;
        }
    }

    fn send(&mut self, to: Peer, payload: Bytes) {
        self.transmits.push_back(Transmit { to, payload });
    }

    /// Starts a client transaction for `request` (already built, top Via with a fresh
    /// magic-cookie branch) and sends it to `to`.
    ///
    /// Returns `None` when the request has no readable Via branch or CSeq.
    pub fn send_request(
        &mut self,
        now: Instant,
        to: Peer,
        request: Message,
        wire: Bytes,
    ) -> Option<TransactionId> {
        let key = client_key(&request)?;
        let invite = request.method() == Some(&Method::Invite);
        let id = self.alloc();
        let t1 = self.timers.t1;
        let tx = Tx {
            kind: if invite {
                Kind::ClientInvite
            } else {
                Kind::ClientNonInvite
            },
            state: if invite {
                State::Calling
            } else {
                State::Trying
            },
            peer: to,
            request,
            wire: wire.clone(),
            ack: None,
            interval: t1,
            deadlines: [None; TIMERS],
            server_key: None,
            client_key: Some(key.clone()),
        };
        let reliable = to.transport.is_reliable();
        self.txs.insert(id, tx);
        self.by_client_key.insert(key, id);
        self.send(to, wire);
        if !reliable {
            // Timer A / Timer E.
            self.arm(id, Timer::Retransmit, now + t1);
        }
        // Timer B / Timer F.
        self.arm(id, Timer::End, now + 64 * t1);
        Some(id)
    }

    /// Sends an ACK (or any request that needs no transaction) statelessly.
    pub fn send_stateless(&mut self, to: Peer, payload: Bytes) {
        self.send(to, payload);
    }

    /// Handles a response from the network. Matching responses go to the TU as
    /// [`TxEvent::Response`]; retransmitted final responses are answered (ACK) and absorbed;
    /// responses that match nothing are returned for the TU to judge (a stray 2xx to an
    /// INVITE whose transaction is gone still needs its ACK from the dialog).
    pub fn handle_response(&mut self, now: Instant, response: Message) -> Option<Message> {
        let Some(key) = client_key(&response) else {
            return Some(response);
        };
        let Some(&id) = self.by_client_key.get(&key) else {
            return Some(response);
        };
        let code = response.status()?;
        let Some(tx) = self.txs.get_mut(&id) else {
            return Some(response);
        };
        let t = self.timers;
        match (tx.kind, tx.state) {
            (Kind::ClientInvite, State::Calling | State::Proceeding) => {
                if code < 200 {
                    tx.state = State::Proceeding;
                    self.disarm(id, Timer::Retransmit);
                    self.events.push_back(TxEvent::Response {
                        tx: id,
                        response: Box::new(response),
                    });
                } else if code < 300 {
                    // RFC 6026 §7.2: Accepted; Timer M absorbs and forwards 2xx retransmissions.
                    tx.state = State::Accepted;
                    self.disarm(id, Timer::Retransmit);
                    self.arm(id, Timer::End, now + 64 * t.t1);
                    self.events.push_back(TxEvent::Response {
                        tx: id,
                        response: Box::new(response),
                    });
                } else {
                    let ack = build_ack(&tx.request, &response);
                    tx.ack = Some(ack.clone());
                    tx.state = State::Completed;
                    let peer = tx.peer;
                    let reliable = tx.reliable();
                    self.send(peer, ack);
                    self.disarm(id, Timer::Retransmit);
                    // Timer D: 32 s on UDP (at least), 0 on reliable transports.
                    let d = if reliable {
                        Duration::ZERO
                    } else {
                        Duration::from_secs(32).max(64 * t.t1 / 2)
                    };
                    self.arm(id, Timer::End, now + d);
                    self.events.push_back(TxEvent::Response {
                        tx: id,
                        response: Box::new(response),
                    });
                }
            }
            (Kind::ClientInvite, State::Accepted) if (200..300).contains(&code) => {
                self.events.push_back(TxEvent::Response {
                    tx: id,
                    response: Box::new(response),
                });
            }
            (Kind::ClientInvite, State::Completed) => {
                if code >= 300
                    && let Some(ack) = tx.ack.clone()
                {
                    let peer = tx.peer;
                    self.send(peer, ack);
                }
            }
            (Kind::ClientNonInvite, State::Trying | State::Proceeding) => {
                if code < 200 {
                    tx.state = State::Proceeding;
                    self.events.push_back(TxEvent::Response {
                        tx: id,
                        response: Box::new(response),
                    });
                } else {
                    tx.state = State::Completed;
                    let reliable = tx.reliable();
                    self.disarm(id, Timer::Retransmit);
                    // Timer K: T4 on UDP, 0 on reliable transports.
                    let k = if reliable { Duration::ZERO } else { t.t4 };
                    self.arm(id, Timer::End, now + k);
                    self.events.push_back(TxEvent::Response {
                        tx: id,
                        response: Box::new(response),
                    });
                }
            }
            _ => {}
        }
        None
    }

    /// True when a transaction sends over stream connection `id`.
    pub fn uses_connection(&self, id: crate::transport::ConnectionId) -> bool {
        self.txs.values().any(|t| t.peer.connection == Some(id))
    }

    /// True when `request` belongs to a server transaction we have (a retransmission).
    pub fn knows_request(&self, request: &Message) -> bool {
        server_key(request).is_some_and(|key| self.by_server_key.contains_key(&key))
    }

    /// Handles a request from the network, creating a server transaction for a new one.
    pub fn handle_request(&mut self, now: Instant, from: Peer, request: &Message) -> Incoming {
        let Some(key) = server_key(request) else {
            return Incoming::Retransmission;
        };
        let is_ack = request.method() == Some(&Method::Ack);
        if let Some(&id) = self.by_server_key.get(&key) {
            let Some(tx) = self.txs.get_mut(&id) else {
                return Incoming::Retransmission;
            };
            if is_ack {
                if tx.kind == Kind::ServerInvite && tx.state == State::Completed {
                    tx.state = State::Confirmed;
                    let reliable = tx.reliable();
                    self.disarm(id, Timer::Retransmit);
                    // Timer I: T4 on UDP, 0 on reliable transports.
                    let i = if reliable {
                        Duration::ZERO
                    } else {
                        self.timers.t4
                    };
                    self.arm(id, Timer::End, now + i);
                    return Incoming::AckAbsorbed;
                }
                if tx.kind == Kind::ServerInvite && tx.state == State::Confirmed {
                    return Incoming::AckAbsorbed;
                }
                // The ACK of a 2xx carries a new branch and never lands here; an ACK that
                // reuses the INVITE's branch after a 2xx is still the dialog's.
                return Incoming::Ack;
            }
            // A retransmitted request: send the last response again, if there is one.
            if matches!(
                tx.state,
                State::Proceeding | State::Completed | State::Accepted
            ) && !tx.wire.is_empty()
                && !(tx.kind == Kind::ServerInvite && tx.state == State::Accepted)
            {
                let (peer, wire) = (tx.peer, tx.wire.clone());
                self.send(peer, wire);
            }
            return Incoming::Retransmission;
        }
        if is_ack {
            return Incoming::Ack;
        }
        let invite = request.method() == Some(&Method::Invite);
        let id = self.alloc();
        self.txs.insert(
            id,
            Tx {
                kind: if invite {
                    Kind::ServerInvite
                } else {
                    Kind::ServerNonInvite
                },
                state: if invite {
                    State::Proceeding
                } else {
                    State::Trying
                },
                peer: from,
                request: request.clone(),
                wire: Bytes::new(),
                ack: None,
                interval: self.timers.t1,
                deadlines: [None; TIMERS],
                server_key: Some(key.clone()),
                client_key: None,
            },
        );
        self.by_server_key.insert(key, id);
        if invite {
            // RFC 3261 §17.2.1: 100 Trying unless the TU answers within 200 ms.
            self.arm(id, Timer::Trying, now + Duration::from_millis(200));
        }
        Incoming::New(id)
    }

    /// The request that created a server transaction.
    pub fn request(&self, tx: TransactionId) -> Option<&Message> {
        self.txs.get(&tx).map(|t| &t.request)
    }

    /// The peer of a transaction (where responses go, or where the request went).
    pub fn peer(&self, tx: TransactionId) -> Option<Peer> {
        self.txs.get(&tx).map(|t| t.peer)
    }

    /// The INVITE server transaction a CANCEL refers to (same branch and sent-by).
    pub fn invite_for_cancel(&self, cancel: &Message) -> Option<TransactionId> {
        let mut key = server_key(cancel)?;
        key.method = Method::Invite;
        self.by_server_key.get(&key).copied()
    }

    /// True while a server INVITE transaction has not sent a final response.
    pub fn is_pending_invite(&self, tx: TransactionId) -> bool {
        self.txs
            .get(&tx)
            .is_some_and(|t| t.kind == Kind::ServerInvite && t.state == State::Proceeding)
    }

    /// Sends a response on a server transaction. `code` is the response's status.
    pub fn respond(&mut self, now: Instant, tx: TransactionId, code: u16, wire: Bytes) {
        let t = self.timers;
        let Some(t_) = self.txs.get_mut(&tx) else {
            return;
        };
        let peer = t_.peer;
        let reliable = t_.reliable();
        match (t_.kind, t_.state) {
            (Kind::ServerInvite, State::Proceeding) => {
                t_.wire = wire.clone();
                self.disarm(tx, Timer::Trying);
                if (200..300).contains(&code) {
                    // RFC 6026 §7.1: Accepted; the dialog retransmits the 2xx until its ACK.
                    if let Some(t_) = self.txs.get_mut(&tx) {
                        t_.state = State::Accepted;
                    }
                    self.arm(tx, Timer::End, now + 64 * t.t1);
                } else if code >= 300 {
                    if let Some(t_) = self.txs.get_mut(&tx) {
                        t_.state = State::Completed;
                        t_.interval = t.t1;
                    }
                    if !reliable {
                        // Timer G.
                        self.arm(tx, Timer::Retransmit, now + t.t1);
                    }
                    // Timer H.
                    self.arm(tx, Timer::End, now + 64 * t.t1);
                }
                self.send(peer, wire);
            }
            (Kind::ServerInvite, State::Accepted) if (200..300).contains(&code) => {
                // A retransmission of the 2xx by the dialog layer.
                self.send(peer, wire);
            }
            (Kind::ServerNonInvite, State::Trying | State::Proceeding) => {
                t_.wire = wire.clone();
                if code < 200 {
                    t_.state = State::Proceeding;
                } else {
                    t_.state = State::Completed;
                    // Timer J: 64*T1 on UDP, 0 on reliable transports.
                    let j = if reliable { Duration::ZERO } else { 64 * t.t1 };
                    self.arm(tx, Timer::End, now + j);
                }
                self.send(peer, wire);
            }
            _ => {}
        }
    }

    /// A stream connection to `transport`/`addr` could not be made (connect or TLS
    /// handshake failed): every client transaction that was sent there fails at once with
    /// a transport error (RFC 3261 §8.1.3.1) instead of waiting for Timer B or F.
    pub fn handle_connection_failed(
        &mut self,
        transport: crate::transport::Transport,
        addr: std::net::SocketAddr,
    ) {
        let mut failed: Vec<TransactionId> = self
            .txs
            .iter()
            .filter(|(_, t)| {
                t.client_key.is_some() && t.peer.transport == transport && t.peer.addr == addr
            })
            .map(|(id, _)| *id)
            .collect();
        failed.sort_by_key(|id| id.0);
        for id in failed {
            self.handle_transport_error(id);
        }
    }

    /// The transport failed to send for `tx`.
    pub fn handle_transport_error(&mut self, tx: TransactionId) {
        if self.txs.contains_key(&tx) {
            self.events.push_back(TxEvent::TransportError { tx });
            self.terminate(tx);
        }
    }

    fn terminate(&mut self, id: TransactionId) {
        if let Some(tx) = self.txs.remove(&id) {
            if let Some(k) = tx.server_key {
                self.by_server_key.remove(&k);
            }
            if let Some(k) = tx.client_key {
                self.by_client_key.remove(&k);
            }
            self.events.push_back(TxEvent::Terminated { tx: id });
            // After a burst (a flood of OPTIONS keeps thousands for Timer J), give the
            // tables' memory back once they are mostly empty.
            if shrink_if_sparse(&mut self.txs) {
                self.by_server_key.shrink_to_fit();
                self.by_client_key.shrink_to_fit();
                self.heap.shrink_to_fit();
            }
        }
    }

    /// The next instant at which [`Transactions::handle_timeout`] has work.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        while let Some(Reverse((at, id, slot))) = self.heap.peek().copied() {
            let live = self.txs.get(&id).and_then(|t| t.deadlines[slot]) == Some(at);
            if live {
                return Some(at);
            }
            self.heap.pop();
        }
        None
    }

    /// Fires every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(Reverse((at, id, slot))) = self.heap.peek().copied() {
            if at > now {
                break;
            }
            self.heap.pop();
            let live = self.txs.get(&id).and_then(|t| t.deadlines[slot]) == Some(at);
            if !live {
                continue;
            }
            if let Some(t) = self.txs.get_mut(&id) {
                t.deadlines[slot] = None;
            }
            match slot {
                0 => self.on_retransmit(now, id),
                1 => self.on_end(id),
                _ => self.on_trying(id),
            }
        }
    }

    fn on_retransmit(&mut self, now: Instant, id: TransactionId) {
        let t = self.timers;
        let Some(tx) = self.txs.get_mut(&id) else {
            return;
        };
        let next = match (tx.kind, tx.state) {
            // Timer A: doubles without a cap.
            (Kind::ClientInvite, State::Calling) => tx.interval * 2,
            // Timer E: doubles up to T2; in Proceeding it stays at T2.
            (Kind::ClientNonInvite, State::Trying) => (tx.interval * 2).min(t.t2),
            (Kind::ClientNonInvite, State::Proceeding) => t.t2,
            // Timer G: doubles up to T2.
            (Kind::ServerInvite, State::Completed) => (tx.interval * 2).min(t.t2),
            _ => return,
        };
        tx.interval = next;
        let (peer, wire) = (tx.peer, tx.wire.clone());
        self.send(peer, wire);
        self.arm(id, Timer::Retransmit, now + next);
    }

    fn on_end(&mut self, id: TransactionId) {
        let Some(tx) = self.txs.get(&id) else {
            return;
        };
        match (tx.kind, tx.state) {
            // Timer B / Timer F.
            (Kind::ClientInvite, State::Calling | State::Proceeding)
            | (Kind::ClientNonInvite, State::Trying | State::Proceeding) => {
                self.events.push_back(TxEvent::Timeout { tx: id });
            }
            // Timer H.
            (Kind::ServerInvite, State::Completed) => {
                self.events.push_back(TxEvent::AckTimeout { tx: id });
            }
            // Timers D, I, J, K, L, M: the linger is over.
            _ => {}
        }
        self.terminate(id);
    }

    fn on_trying(&mut self, id: TransactionId) {
        let Some(tx) = self.txs.get_mut(&id) else {
            return;
        };
        if tx.kind != Kind::ServerInvite || tx.state != State::Proceeding || !tx.wire.is_empty() {
            return;
        }
        let trying = crate::message::build::response_to(&tx.request, 100, "Trying", None).finish();
        tx.wire = trying.clone();
        let peer = tx.peer;
        self.send(peer, trying);
    }

    /// Takes the next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// Takes the next event for the TU.
    pub fn poll_event(&mut self) -> Option<TxEvent> {
        self.events.pop_front()
    }
}

/// The ACK for a non-2xx final response (RFC 3261 §17.1.1.3): the INVITE's Request-URI,
/// top Via, From, Call-ID and Route; the response's To; CSeq with the INVITE's number.
pub fn build_ack(invite: &Message, response: &Message) -> Bytes {
    let uri = invite.request_uri_str().unwrap_or("");
    let mut b = Builder::request(&Method::Ack, uri);
    if let Some(v) = invite.header_all(HeaderName::Via).next() {
        // Only the top Via value (the first of a possible comma list).
        let top = crate::message::text::CommaSplit::new(v)
            .next()
            .and_then(Result::ok)
            .unwrap_or(v);
        b.header(HeaderName::Via, top);
    }
    b.header(HeaderName::MaxForwards, 70);
    for name in [HeaderName::From] {
        if let Some(v) = invite.header(name) {
            b.header(name, v);
        }
    }
    if let Some(to) = response.header(HeaderName::To) {
        b.header(HeaderName::To, to);
    }
    if let Some(c) = invite.call_id() {
        b.header(HeaderName::CallId, c);
    }
    let seq = invite.cseq().and_then(Result::ok).map_or(1, |c| c.seq);
    b.header(HeaderName::CSeq, format_args!("{seq} ACK"));
    for r in invite.header_all(HeaderName::Route) {
        b.header(HeaderName::Route, r);
    }
    b.finish()
}

#[cfg(test)]
mod tests;
