//! The SIP user agent, sans-IO: accounts with their registrations, calls in both
//! directions with their dialogs, and the in-dialog requests of a call (ACK, BYE, CANCEL,
//! INFO, re-INVITE, OPTIONS), on top of [`crate::transaction`].
//!
//! The agent never sees a socket or a clock. The caller pushes datagrams
//! ([`UserAgent::handle_datagram`]), deadlines ([`UserAgent::handle_timeout`]), host
//! resolutions ([`UserAgent::handle_resolved`]) and commands (`register`, `invite`,
//! `accept`, `hangup`, …), and drains [`UserAgent::poll_transmit`],
//! [`UserAgent::poll_event`] and [`UserAgent::poll_timeout`]. SDP is carried as opaque bytes:
//! the engine negotiates media with [`crate::sdp`].

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::admission::{self, Refusal};
use crate::dialog::Dialog;
use crate::digest::{Challenge, RequestParts, authorization};
use crate::message::build::{Builder, response_to};
use crate::message::validate::{Policy, validate_request, validate_response};
use crate::message::{Contact, HeaderName, Host, Message, Method, NameAddr, Uri};
use crate::rng::Rng;
use crate::transaction::{Incoming, TimerConfig, TransactionId, Transactions, TxEvent};
use crate::transport::{Peer, Transport, response_destination};

/// An account handle (0 for `sip`, 1 for `sip_2`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccountId(pub usize);

/// A call handle, unique for the agent's lifetime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallRef(pub u64);

impl fmt::Display for CallRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Credentials, never printed.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    /// Digest user.
    pub username: String,
    /// Digest password.
    pub password: String,
    /// Realm to answer (`*` or empty: any).
    pub realm: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("realm", &self.realm)
            .finish_non_exhaustive()
    }
}

/// One account.
#[derive(Debug, Clone)]
pub struct AccountConfig {
    /// Our identity (`sip:homeassistant@fritz.box`): From of our requests, To of REGISTER.
    pub id_uri: String,
    /// Where to REGISTER; `None` for an account that only makes and takes direct calls.
    pub registrar: Option<String>,
    /// Outbound proxy: every request of the account is routed through it.
    pub proxy: Option<String>,
    /// Digest credentials.
    pub credentials: Credentials,
    /// Requested registration lifetime in seconds.
    pub expires: u32,
    /// While registered, send a keep-alive to the registrar (or proxy) this often: a CRLF
    /// on UDP, a CRLF CRLF ping on TCP and TLS (RFC 5626 §4.4.1), so NAT bindings and
    /// stream connections stay open. `None`: none.
    pub keepalive: Option<Duration>,
    /// `--allow-calls-from`: networks this account takes INVITEs from. For an account that
    /// registers, in addition to its registrar's and proxy's addresses; for a direct-call
    /// account, instead of the default private and loopback networks (`None`).
    pub allow_calls_from: Option<Vec<ipnet::IpNet>>,
}

/// Static settings.
#[derive(Debug, Clone)]
pub struct UaConfig {
    /// `User-Agent` and `Server`.
    pub user_agent: String,
    /// The address we put in Via, Contact and SDP for each transport we listen on.
    pub local: Vec<(Transport, SocketAddr)>,
    /// Transaction timers.
    pub timers: TimerConfig,
    /// Accounts, in order.
    pub accounts: Vec<AccountConfig>,
    /// How many new calls one source address may start (a flood is answered 503).
    pub call_rate: admission::CallRate,
}

/// Methods the agent handles.
pub const ALLOWED: &[Method] = &[
    Method::Invite,
    Method::Ack,
    Method::Bye,
    Method::Cancel,
    Method::Options,
    Method::Info,
    Method::Notify,
    Method::Refer,
];

/// The Allow header value.
pub fn allow_header() -> String {
    ALLOWED
        .iter()
        .map(Method::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

const ACCEPTED_BODIES: &[&str] = &["application/sdp"];
/// The largest answer sent to a request whose top Via cannot be read.
const MAX_BLIND_RESPONSE: usize = 4096;

/// Why a call ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndReason {
    /// We hung up (BYE or CANCEL sent).
    Local,
    /// The peer sent BYE.
    RemoteBye,
    /// The caller cancelled before we answered.
    Cancelled,
    /// Our outgoing call was answered with this final error.
    Rejected {
        /// Status code.
        code: u16,
        /// Reason phrase.
        reason: String,
    },
    /// We rejected the incoming call with this code.
    Declined {
        /// Status code.
        code: u16,
    },
    /// No answer in time (Timer B/F, or no ACK for our 2xx).
    Timeout,
    /// The transport failed.
    TransportError,
    /// Authentication was refused.
    AuthFailed,
}

/// Registration state of an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistrationState {
    /// Registered for this many seconds.
    Registered {
        /// The lifetime the registrar granted.
        expires: u32,
    },
    /// Failed; the next attempt is scheduled.
    Failed {
        /// Status code (408 for a timeout, 503 for a transport error).
        code: u16,
        /// Reason phrase or cause.
        reason: String,
        /// Seconds until the next attempt.
        retry_in: u32,
    },
    /// Unregistered (after `unregister`).
    Unregistered,
}

/// What the agent reports.
#[derive(Debug, Clone)]
pub enum UaEvent {
    /// Registration state changed.
    Registration {
        /// The account.
        account: AccountId,
        /// The new state.
        state: RegistrationState,
    },
    /// A new incoming call. Answer with `ring`, `accept` or `reject`.
    IncomingCall {
        /// The call.
        call: CallRef,
        /// The account it is addressed to, if one matches.
        account: Option<AccountId>,
        /// The INVITE.
        invite: Message,
    },
    /// A provisional response to our INVITE (180, 183, …).
    Progress {
        /// The call.
        call: CallRef,
        /// Status code.
        code: u16,
        /// Body (early-media SDP), if any.
        body: Bytes,
    },
    /// Our INVITE was answered (ACK sent). `body` is the SDP answer.
    Answered {
        /// The call.
        call: CallRef,
        /// The 200 OK.
        response: Message,
    },
    /// The ACK for our 2xx arrived: the incoming call is established.
    Confirmed {
        /// The call.
        call: CallRef,
    },
    /// A re-INVITE with this offer: answer with `answer_reinvite`.
    ReInvite {
        /// The call.
        call: CallRef,
        /// The transaction to answer.
        tx: TransactionId,
        /// The offer (empty for an offerless re-INVITE).
        offer: Bytes,
    },
    /// An INFO request (already answered 200).
    Info {
        /// The call.
        call: CallRef,
        /// Its Content-Type.
        content_type: String,
        /// Its body.
        body: Bytes,
    },
    /// A NOTIFY for our REFER (already answered 200): the sipfrag status line.
    ReferProgress {
        /// The call.
        call: CallRef,
        /// The status code inside the sipfrag.
        code: u16,
        /// True when the subscription is terminated.
        done: bool,
    },
    /// The call is over.
    Ended {
        /// The call.
        call: CallRef,
        /// Why.
        reason: EndReason,
    },
    /// A request was answered with an error by validation (for the log).
    Rejected {
        /// Its source.
        from: Peer,
        /// The response sent.
        why: String,
    },
    /// An INVITE from outside a dialog was refused (403: the source may not call; 404: no
    /// such user): answered, statelessly. For the log, rate-limited by the caller.
    Refused {
        /// Its source.
        from: Peer,
        /// The answer and why.
        refusal: Refusal,
    },
    /// Input was dropped unanswered (for the log, rate-limited by the caller).
    Dropped {
        /// Its source.
        from: Peer,
        /// Why.
        why: String,
    },
    /// Resolve this host and call `handle_resolved`.
    ResolveHost {
        /// A host name.
        host: String,
        /// The DNS SRV service to try first (`_sip._udp`, `_sip._tcp`, `_sips._tcp`; RFC
        /// 3263 §4.2), when the URI named no port; the answer's port then applies.
        srv: Option<&'static str>,
    },
}

/// Bytes to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Where to.
    pub to: Peer,
    /// What.
    pub payload: Bytes,
}

/// Why a command could not be carried out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandError {
    /// No such call (or it ended).
    UnknownCall,
    /// The target is not a usable SIP URI.
    BadTarget(String),
    /// No account with that id.
    UnknownAccount,
    /// The call is not in a state where this is possible.
    WrongState(&'static str),
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownCall => f.write_str("no such call"),
            Self::BadTarget(t) => write!(f, "not a SIP URI: {t:?}"),
            Self::UnknownAccount => f.write_str("no such account"),
            Self::WrongState(s) => write!(f, "not possible while the call is {s}"),
        }
    }
}

impl std::error::Error for CommandError {}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Uac,
    Uas,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CallState {
    /// UAC: waiting for the host of the first hop to be resolved.
    Resolving,
    /// UAC: INVITE sent, nothing back yet. UAS: INVITE received, not answered.
    Initial,
    /// A provisional response was sent or received.
    Early,
    /// UAS: 2xx sent, waiting for ACK.
    Accepted,
    /// Established.
    Confirmed,
    /// BYE or CANCEL sent, or final error; waiting for the last transaction.
    Ending,
}

#[derive(Debug)]
struct Call {
    role: Role,
    account: Option<AccountId>,
    state: CallState,
    /// The INVITE we sent (UAC, latest with credentials) or received (UAS).
    invite: Message,
    invite_tx: Option<TransactionId>,
    /// UAC: where the INVITE went; UAS: where it came from.
    peer: Peer,
    local_tag: String,
    dialog: Option<Dialog>,
    /// UAC: a CANCEL is owed as soon as a provisional arrives.
    cancel_pending: bool,
    /// UAC: the ACK for the 2xx, to resend on 2xx retransmissions.
    ack: Option<(Peer, Bytes)>,
    /// UAS: the 2xx and its retransmission schedule (interval, next, give-up).
    ok_retx: Option<(Bytes, Duration, Instant, Instant)>,
    /// UAC: authentication attempts made for the INVITE.
    auth_tries: u8,
    /// UAC: offer and target kept for re-sending after DNS or a challenge.
    offer: Bytes,
    target: String,
    extra_headers: Vec<(String, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Owner {
    Register(AccountId),
    Invite(CallRef),
    Bye(CallRef),
    Cancel(CallRef),
    InDialog(CallRef),
}

#[derive(Debug)]
struct Account {
    cfg: AccountConfig,
    /// The user part of `id_uri`, if it has one.
    user: Option<String>,
    /// REGISTER keeps one Call-ID and From tag per binding (RFC 3261 §10.2.4).
    call_id: String,
    from_tag: String,
    cseq: u32,
    tx: Option<TransactionId>,
    /// The next REGISTER (refresh or retry).
    next_at: Option<Instant>,
    expires: u32,
    registered: bool,
    unregistering: bool,
    failures: u32,
    auth_tries: u8,
    last_challenge: Option<(Challenge, bool)>,
    nonce_count: u32,
    /// The Contact host:port learned from `received`/`rport` (NAT), if it differs.
    public: Option<SocketAddr>,
    waiting_dns: bool,
    /// The next keep-alive, while registered.
    keepalive_at: Option<Instant>,
}

/// Refresh registrations this long before they expire (at least).
const REFRESH_MARGIN: Duration = Duration::from_secs(5);
/// Cap on the wait between failed registration attempts.
const MAX_BACKOFF_SECS: u32 = 300;
/// Cap on a registrar's Retry-After.
const MAX_RETRY_AFTER_SECS: u32 = 1800;

/// The SIP user agent.
#[derive(Debug)]
pub struct UserAgent {
    cfg: UaConfig,
    rng: Rng,
    tx: Transactions,
    accounts: Vec<Account>,
    calls: HashMap<CallRef, Call>,
    next_call: u64,
    owners: HashMap<TransactionId, Owner>,
    /// (Call-ID, our tag) → call.
    by_dialog: HashMap<(String, String), CallRef>,
    /// Server INVITE transaction → incoming call (for CANCEL).
    by_invite_tx: HashMap<TransactionId, CallRef>,
    resolved: HashMap<String, (IpAddr, Option<u16>)>,
    /// New calls per source (the flood limit).
    call_buckets: admission::CallBuckets,
    /// The key of stateless answers' tags (OPTIONS).
    stateless_key: [u8; 32],
    resolving: Vec<String>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<UaEvent>,
    allow: String,
}

/// True for a request inside a dialog (its To carries a tag).
fn in_dialog(req: &Message) -> bool {
    req.to()
        .and_then(Result::ok)
        .is_some_and(|t| t.tag().is_some())
}

fn parse_uri_host(uri: &str) -> Option<(Transport, String, Option<u16>)> {
    // A bare `sip:host;transport=tls` is a URI with its parameters (as ha-sip's
    // `registrar_uri` and `--proxy` are written); read as a name-addr, `;transport=` would
    // be a header parameter and the transport lost.
    let uri = uri.trim();
    let parsed = if uri.contains('<') {
        NameAddr::parse(uri).ok().map(|n| n.uri)
    } else {
        Uri::parse(uri).ok()
    }
    .or_else(|| NameAddr::parse(uri).ok().map(|n| n.uri))?;
    let sip = parsed.as_sip()?;
    let transport = match sip.transport().map(str::to_ascii_lowercase).as_deref() {
        Some("tcp") => Transport::Tcp,
        Some("tls") => Transport::Tls,
        _ if sip.secure => Transport::Tls,
        _ => Transport::Udp,
    };
    let host = match sip.host {
        Host::Name(n) => n.to_owned(),
        Host::V4(a) => a.to_string(),
        Host::V6(a) => a.to_string(),
    };
    Some((transport, host, sip.port))
}

impl UserAgent {
    /// A new agent; `seed` drives every random identifier (tests: the same seed gives the
    /// same bytes). Production starts from the OS's randomness with [`UserAgent::with_rng`].
    pub fn new(cfg: UaConfig, seed: u64) -> Self {
        Self::with_rng(cfg, Rng::new(seed))
    }

    /// A new agent drawing every random identifier from `rng`.
    pub fn with_rng(cfg: UaConfig, mut rng: Rng) -> Self {
        let accounts = cfg
            .accounts
            .iter()
            .map(|a| Account {
                user: Uri::parse(&a.id_uri)
                    .ok()
                    .and_then(|u| u.user().map(|x| x.into_owned()))
                    .filter(|u| !u.is_empty()),
                cfg: a.clone(),
                call_id: format!("{}@hasip", rng.hex(16)),
                from_tag: rng.tag(),
                cseq: (rng.next_u64() % 1000) as u32 + 1,
                tx: None,
                next_at: None,
                expires: a.expires,
                registered: false,
                unregistering: false,
                failures: 0,
                auth_tries: 0,
                last_challenge: None,
                nonce_count: 0,
                public: None,
                waiting_dns: false,
                keepalive_at: None,
            })
            .collect();
        let stateless_key = rng.key();
        Self {
            tx: Transactions::new(cfg.timers),
            cfg,
            rng,
            accounts,
            calls: HashMap::new(),
            next_call: 0,
            owners: HashMap::new(),
            by_dialog: HashMap::new(),
            by_invite_tx: HashMap::new(),
            resolved: HashMap::new(),
            call_buckets: admission::CallBuckets::default(),
            stateless_key,
            resolving: Vec::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            allow: allow_header(),
        }
    }

    // ------------------------------------------------------------------ plumbing

    fn local_addr(&self, transport: Transport) -> SocketAddr {
        self.cfg
            .local
            .iter()
            .find(|(t, _)| *t == transport)
            .or_else(|| self.cfg.local.first())
            .map_or(SocketAddr::from(([127, 0, 0, 1], 5060)), |(_, a)| *a)
    }

    /// The address advertised for `transport` on behalf of `account` (the NAT-learned
    /// public address once the registrar told us one).
    fn contact_addr(&self, account: Option<AccountId>, transport: Transport) -> SocketAddr {
        account
            .and_then(|a| self.accounts.get(a.0))
            .and_then(|a| a.public)
            .unwrap_or_else(|| self.local_addr(transport))
    }

    fn contact(&self, account: Option<AccountId>, transport: Transport) -> String {
        let addr = self.contact_addr(account, transport);
        let user = account
            .and_then(|a| self.accounts.get(a.0))
            .and_then(|a| {
                Uri::parse(&a.cfg.id_uri)
                    .ok()
                    .and_then(|u| u.user().map(|u| u.into_owned()))
            })
            .unwrap_or_else(|| "hasip".to_owned());
        let tp = match transport {
            Transport::Udp => String::new(),
            t => format!(";transport={}", t.as_str().to_ascii_lowercase()),
        };
        let host = match addr.ip() {
            IpAddr::V6(v6) => format!("[{v6}]"),
            IpAddr::V4(v4) => v4.to_string(),
        };
        format!("<sip:{user}@{host}:{}{tp}>", addr.port())
    }

    fn via(&mut self, transport: Transport, account: Option<AccountId>) -> (String, String) {
        let addr = self.contact_addr(account, transport);
        let branch = self.rng.branch();
        let host = match addr.ip() {
            IpAddr::V6(v6) => format!("[{v6}]"),
            IpAddr::V4(v4) => v4.to_string(),
        };
        (
            format!(
                "SIP/2.0/{transport} {host}:{};branch={branch};rport",
                addr.port()
            ),
            branch,
        )
    }

    /// Resolves a URI's host to a peer, or asks the shell to resolve it.
    fn peer_for(&mut self, uri: &str) -> Result<Option<Peer>, CommandError> {
        let (transport, host, port) =
            parse_uri_host(uri).ok_or_else(|| CommandError::BadTarget(uri.to_owned()))?;
        let ip_port = match host.parse::<IpAddr>() {
            Ok(ip) => (ip, None),
            Err(_) => match self.resolved.get(&host.to_ascii_lowercase()) {
                Some(r) => *r,
                None => {
                    let key = host.to_ascii_lowercase();
                    if !self.resolving.contains(&key) {
                        self.resolving.push(key.clone());
                        let srv = port.is_none().then_some(match transport {
                            Transport::Udp => "_sip._udp",
                            Transport::Tcp => "_sip._tcp",
                            Transport::Tls => "_sips._tcp",
                        });
                        self.events
                            .push_back(UaEvent::ResolveHost { host: key, srv });
                    }
                    return Ok(None);
                }
            },
        };
        let port = port.or(ip_port.1).unwrap_or(transport.default_port());
        Ok(Some(Peer {
            transport,
            addr: SocketAddr::new(ip_port.0, port),
            connection: None,
        }))
    }

    /// A stream connection to `transport`/`addr` could not be made: what was sent there
    /// fails now (a registration with 503 "transport error", a call ends).
    pub fn handle_connection_failed(
        &mut self,
        now: Instant,
        transport: Transport,
        addr: SocketAddr,
    ) {
        self.tx.handle_connection_failed(transport, addr);
        self.drain_tx(now);
    }

    /// Gives the address of a host asked for with [`UaEvent::ResolveHost`], with the port
    /// of its SRV record when one was found; `None` when it could not be resolved (what
    /// waited for it fails).
    pub fn handle_resolved(
        &mut self,
        now: Instant,
        host: &str,
        addr: Option<(IpAddr, Option<u16>)>,
    ) {
        let key = host.to_ascii_lowercase();
        self.resolving.retain(|h| *h != key);
        match addr {
            Some(a) => {
                self.resolved.insert(key, a);
            }
            None => {
                // Accounts waiting on it fail and back off; calls end.
                for i in 0..self.accounts.len() {
                    if self.accounts[i].waiting_dns {
                        self.accounts[i].waiting_dns = false;
                        self.registration_failed(
                            now,
                            AccountId(i),
                            503,
                            format!("cannot resolve {host}"),
                            None,
                        );
                    }
                }
                let waiting: Vec<CallRef> = self
                    .calls
                    .iter()
                    .filter(|(_, c)| c.state == CallState::Resolving)
                    .map(|(id, _)| *id)
                    .collect();
                for id in waiting {
                    self.end_call(id, EndReason::TransportError);
                }
                return;
            }
        }
        for i in 0..self.accounts.len() {
            if self.accounts[i].waiting_dns {
                self.accounts[i].waiting_dns = false;
                self.send_register(now, AccountId(i));
            }
        }
        let waiting: Vec<CallRef> = self
            .calls
            .iter()
            .filter(|(_, c)| c.state == CallState::Resolving)
            .map(|(id, _)| *id)
            .collect();
        for id in waiting {
            self.send_invite(now, id);
        }
        self.drain_tx(now);
    }

    fn drain_tx(&mut self, now: Instant) {
        while let Some(t) = self.tx.poll_transmit() {
            self.transmits.push_back(Transmit {
                to: t.to,
                payload: t.payload,
            });
        }
        while let Some(ev) = self.tx.poll_event() {
            self.on_tx_event(now, ev);
            while let Some(t) = self.tx.poll_transmit() {
                self.transmits.push_back(Transmit {
                    to: t.to,
                    payload: t.payload,
                });
            }
        }
    }

    /// Takes the next datagram to send.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// Takes the next event.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<UaEvent> {
        self.events.pop_front()
    }

    /// The next instant at which [`UserAgent::handle_timeout`] has work.
    #[must_use]
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        let mut next = self.tx.poll_timeout();
        let mut consider = |t: Option<Instant>| {
            if let Some(t) = t {
                next = Some(next.map_or(t, |n: Instant| n.min(t)));
            }
        };
        for a in &self.accounts {
            consider(a.next_at);
            consider(a.keepalive_at);
        }
        for c in self.calls.values() {
            consider(c.ok_retx.as_ref().map(|r| r.2.min(r.3)));
        }
        next
    }

    /// Fires everything due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.tx.handle_timeout(now);
        self.drain_tx(now);
        for i in 0..self.accounts.len() {
            if self.accounts[i].next_at.is_some_and(|t| t <= now) {
                self.accounts[i].next_at = None;
                self.send_register(now, AccountId(i));
            }
            if self.accounts[i].keepalive_at.is_some_and(|t| t <= now) {
                self.send_keepalive(now, AccountId(i));
            }
        }
        let due: Vec<CallRef> = self
            .calls
            .iter()
            .filter(|(_, c)| c.ok_retx.as_ref().is_some_and(|r| r.2 <= now || r.3 <= now))
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            self.retransmit_ok(now, id);
        }
        self.drain_tx(now);
    }

    // ------------------------------------------------------------------ inbound

    /// Handles one datagram (or stream frame) from `from`.
    pub fn handle_datagram(&mut self, now: Instant, from: Peer, data: Bytes) {
        match Message::parse(data) {
            Ok(msg) => self.handle_message(now, from, msg),
            Err(e) => self.events.push_back(UaEvent::Dropped {
                from,
                why: e.to_string(),
            }),
        }
    }

    /// Handles one parsed message from `from`.
    pub fn handle_message(&mut self, now: Instant, from: Peer, msg: Message) {
        if msg.is_request() {
            self.handle_request(now, from, msg);
        } else if let Err(why) = validate_response(&msg) {
            self.events.push_back(UaEvent::Dropped {
                from,
                why: format!("bad response: {why}"),
            });
        } else if let Some(stray) = self.tx.handle_response(now, msg) {
            self.handle_stray_response(now, stray);
        }
        self.drain_tx(now);
    }

    fn reply(
        &mut self,
        now: Instant,
        tx: TransactionId,
        req: &Message,
        (code, reason): (u16, &str),
        tag: Option<&str>,
        extra: &[(HeaderName, String)],
    ) {
        let mut b = response_to(req, code, reason, tag);
        for (n, v) in extra {
            b.header(*n, v);
        }
        b.header(HeaderName::Server, &self.cfg.user_agent);
        self.tx.respond(now, tx, code, b.finish());
    }

    fn handle_request(&mut self, now: Instant, from: Peer, req: Message) {
        let policy = Policy {
            allowed: ALLOWED,
            supported: &[],
            accepted_bodies: ACCEPTED_BODIES,
        };
        let method = req.method().cloned();
        if let Err(rej) = validate_request(&req, &policy) {
            use crate::message::validate::Rejection;
            if method == Some(Method::Ack) || req.header(HeaderName::Via).is_none() {
                // An ACK is never answered; without a Via there is nowhere to answer.
                self.events.push_back(UaEvent::Dropped {
                    from,
                    why: rej.to_string(),
                });
                return;
            }
            // A broken request is answered statelessly: it gets no transaction.
            let mut b = response_to(&req, rej.status(), &rej.reason(), Some(&self.rng.tag()));
            match &rej {
                Rejection::MethodNotAllowed | Rejection::NotImplemented => {
                    b.header(HeaderName::Allow, &self.allow);
                }
                Rejection::BadExtension(t) => {
                    b.header(HeaderName::Unsupported, t.join(", "));
                }
                Rejection::UnsupportedMediaType => {
                    b.header(HeaderName::Accept, ACCEPTED_BODIES.join(", "));
                }
                Rejection::NotAcceptable => {
                    b.header(
                        HeaderName::Warning,
                        "399 hasip \"answers carry application/sdp only\"",
                    );
                }
                Rejection::BadRequest(_)
                | Rejection::VersionNotSupported
                | Rejection::UnsupportedUriScheme => {}
            }
            b.header(HeaderName::Server, &self.cfg.user_agent);
            let payload = b.finish();
            let to = match req.top_via() {
                Some(Ok(v)) => response_destination(from, &v),
                // An unreadable Via still lets the peer match the answer, which goes back to
                // the source; a huge one is not echoed (that would reflect traffic).
                _ if payload.len() > MAX_BLIND_RESPONSE => {
                    self.events.push_back(UaEvent::Dropped {
                        from,
                        why: format!("{rej}; unreadable Via, answer too large"),
                    });
                    return;
                }
                _ => from,
            };
            self.events.push_back(UaEvent::Rejected {
                from,
                why: rej.to_string(),
            });
            self.transmits.push_back(Transmit { to, payload });
            return;
        }
        let Some(method) = method else { return };
        if method == Method::Invite && !self.tx.knows_request(&req) && !in_dialog(&req) {
            // A new call: who may make it is decided before any state is kept for it, so
            // a flood of strangers' INVITEs costs one stateless answer each.
            if let Err(refusal) = self.admit(from, &req) {
                self.refuse(from, &req, refusal);
                return;
            }
            let ip = from.addr.ip().to_canonical();
            if !self.call_buckets.allow(self.cfg.call_rate, now, ip) {
                self.refuse(from, &req, Refusal::too_fast(ip, self.cfg.call_rate));
                return;
            }
        }
        if method == Method::Options {
            // Answered statelessly (RFC 3261 §8.2.7): a flood of OPTIONS (scanners, keep-alive
            // probes) leaves no transaction behind. A retransmission gets the same answer:
            // its tag is derived from the request with a secret key.
            self.answer_options(from, &req);
            return;
        }
        let incoming = self.tx.handle_request(now, from, &req);
        match incoming {
            Incoming::Retransmission | Incoming::AckAbsorbed => {}
            Incoming::Ack => self.handle_ack(now, &req),
            Incoming::New(tx) => match method {
                Method::Invite => self.handle_invite(now, from, tx, req),
                Method::Cancel => self.handle_cancel(now, tx, &req),
                // Answered statelessly before any transaction (see above).
                Method::Options => {}
                _ => self.handle_in_dialog(now, tx, &req, &method),
            },
        }
    }

    fn call_of_request(&self, req: &Message) -> Option<CallRef> {
        let call_id = req.call_id()?.to_owned();
        let tag = req.to()?.ok()?.tag()?.to_owned();
        self.by_dialog.get(&(call_id, tag)).copied()
    }

    /// The account a new call from `from` is for, or why it is refused (see
    /// [`crate::admission`]): among the accounts that take calls from the source, the one
    /// whose user the request URI (then the To) names; else an account that registers
    /// (providers put the dialled number in the request URI); else, for direct-call
    /// accounts, one with an empty user in the request, and 404 for any other user.
    fn admit(&self, from: Peer, req: &Message) -> Result<Option<AccountId>, Refusal> {
        let ip = from.addr.ip();
        if self.accounts.is_empty() {
            // No account configured: direct calls, from the private networks only.
            return if admission::in_networks(&admission::private_networks(), ip) {
                Ok(None)
            } else {
                Err(Refusal::forbidden(ip))
            };
        }
        let trusting: Vec<usize> = (0..self.accounts.len())
            .filter(|&i| self.takes_calls_from(i, ip))
            .collect();
        if trusting.is_empty() {
            return Err(Refusal::forbidden(ip));
        }
        let ruri_user = req
            .request_uri()
            .and_then(Result::ok)
            .and_then(|u| u.user().map(|u| u.into_owned()))
            .unwrap_or_default();
        let to_user = req
            .to()
            .and_then(Result::ok)
            .and_then(|t| t.uri.user().map(|u| u.into_owned()))
            .unwrap_or_default();
        let by_user = |u: &str, registering_only: bool| {
            trusting.iter().copied().find(|&i| {
                !u.is_empty()
                    && self.accounts[i].user.as_deref() == Some(u)
                    && (!registering_only || self.accounts[i].cfg.registrar.is_some())
            })
        };
        // The To names the user only for a provider's calls (a direct caller's To is
        // whatever it typed).
        if let Some(i) = by_user(&ruri_user, false).or_else(|| by_user(&to_user, true)) {
            return Ok(Some(AccountId(i)));
        }
        if let Some(&i) = trusting
            .iter()
            .find(|&&i| self.accounts[i].cfg.registrar.is_some())
        {
            return Ok(Some(AccountId(i)));
        }
        // Only direct-call accounts: their own user, or none (some intercoms send none),
        // or an account with no user of its own.
        if let Some(&i) = trusting.iter().find(|&&i| self.accounts[i].user.is_none()) {
            return Ok(Some(AccountId(i)));
        }
        if ruri_user.is_empty() {
            return Ok(Some(AccountId(trusting[0])));
        }
        Err(Refusal::no_user(&ruri_user))
    }

    /// True when account `i` takes calls from `ip`: its registrar's or proxy's address (as
    /// resolved) or its `--allow-calls-from` networks; a direct-call account, its networks
    /// or the private ones.
    fn takes_calls_from(&self, i: usize, ip: IpAddr) -> bool {
        let a = &self.accounts[i];
        if a.cfg.registrar.is_none() {
            return match &a.cfg.allow_calls_from {
                Some(nets) => admission::in_networks(nets, ip),
                None => admission::in_networks(&admission::private_networks(), ip),
            };
        }
        let ip = ip.to_canonical();
        let signalling = [a.cfg.registrar.as_deref(), a.cfg.proxy.as_deref()];
        signalling.into_iter().flatten().any(|uri| {
            parse_uri_host(uri).is_some_and(|(_, host, _)| match host.parse::<IpAddr>() {
                Ok(lit) => lit.to_canonical() == ip,
                Err(_) => self
                    .resolved
                    .get(&host)
                    .is_some_and(|(r, _)| r.to_canonical() == ip),
            })
        }) || a
            .cfg
            .allow_calls_from
            .as_deref()
            .is_some_and(|nets| admission::in_networks(nets, ip))
    }

    /// The stateless 200 to an OPTIONS, with Allow, Accept and a To tag that is the same
    /// for every retransmission of the request (a keyed hash of its Call-ID and branch) and
    /// that no one without the key can foresee.
    fn answer_options(&mut self, from: Peer, req: &Message) {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        h.update(self.stateless_key);
        h.update(req.call_id().unwrap_or_default().as_bytes());
        if let Some(Ok(v)) = req.top_via() {
            h.update(v.branch().unwrap_or_default().as_bytes());
        }
        let digest = h.finalize();
        let tag: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        let mut b = response_to(req, 200, "OK", Some(&tag));
        b.header(HeaderName::Allow, &self.allow);
        b.header(HeaderName::Accept, ACCEPTED_BODIES.join(", "));
        b.header(HeaderName::AcceptLanguage, "en");
        b.header(HeaderName::Supported, "");
        b.header(HeaderName::Server, &self.cfg.user_agent);
        let payload = b.finish();
        let to = match req.top_via() {
            Some(Ok(v)) => response_destination(from, &v),
            _ => from,
        };
        self.transmits.push_back(Transmit { to, payload });
    }

    /// Answers a refused INVITE statelessly (no transaction, so nothing is kept).
    fn refuse(&mut self, from: Peer, req: &Message, refusal: Refusal) {
        let mut b = response_to(req, refusal.code, refusal.reason, Some(&self.rng.tag()));
        b.header(HeaderName::Server, &self.cfg.user_agent);
        if refusal.code == 503 {
            b.header(HeaderName::RetryAfter, "5");
        }
        let payload = b.finish();
        let to = match req.top_via() {
            Some(Ok(v)) => response_destination(from, &v),
            _ => from,
        };
        self.transmits.push_back(Transmit { to, payload });
        self.events.push_back(UaEvent::Refused { from, refusal });
    }

    fn handle_invite(&mut self, now: Instant, from: Peer, tx: TransactionId, req: Message) {
        if let Some(call) = self.call_of_request(&req) {
            self.handle_reinvite(now, call, tx, req);
            return;
        }
        if req
            .to()
            .and_then(Result::ok)
            .is_some_and(|t| t.tag().is_some())
        {
            // A request for a dialog we do not know (RFC 3261 §12.2.2).
            self.reply(
                now,
                tx,
                &req,
                (481, "Call/Transaction Does Not Exist"),
                None,
                &[],
            );
            return;
        }
        let Ok(account) = self.admit(from, &req) else {
            // Admitted when it arrived; a registrar whose address changed since is refused
            // with the next INVITE.
            self.reply(now, tx, &req, (403, "Forbidden"), None, &[]);
            return;
        };
        let id = self.new_call_ref();
        let local_tag = self.rng.tag();
        let dialog = Dialog::from_uas(&req, &local_tag, (self.rng.next_u64() % 10_000) as u32 + 1);
        self.by_invite_tx.insert(tx, id);
        if let Some(d) = &dialog {
            self.by_dialog
                .insert((d.call_id.clone(), local_tag.clone()), id);
        }
        self.calls.insert(
            id,
            Call {
                role: Role::Uas,
                account,
                state: CallState::Initial,
                invite: req.clone(),
                invite_tx: Some(tx),
                peer: from,
                local_tag,
                dialog,
                cancel_pending: false,
                ack: None,
                ok_retx: None,
                auth_tries: 0,
                offer: Bytes::new(),
                target: String::new(),
                extra_headers: Vec::new(),
            },
        );
        self.owners.insert(tx, Owner::Invite(id));
        self.events.push_back(UaEvent::IncomingCall {
            call: id,
            account,
            invite: req,
        });
    }

    fn handle_reinvite(&mut self, now: Instant, call: CallRef, tx: TransactionId, req: Message) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        if let Some(d) = c.dialog.as_mut() {
            let seq = req.cseq().and_then(Result::ok).map_or(0, |c| c.seq);
            if d.remote_seq.is_some_and(|r| seq <= r) {
                let tag = c.local_tag.clone();
                self.reply(
                    now,
                    tx,
                    &req,
                    (500, "Server Internal Error"),
                    Some(&tag),
                    &[(HeaderName::RetryAfter, "1".into())],
                );
                return;
            }
            d.remote_seq = Some(seq);
            d.refresh_target(&req);
        }
        self.owners.insert(tx, Owner::InDialog(call));
        self.events.push_back(UaEvent::ReInvite {
            call,
            tx,
            offer: req.body().clone(),
        });
    }

    /// Answers a re-INVITE with our SDP (200) or a failure code (`sdp` empty, e.g. 488).
    pub fn answer_reinvite(
        &mut self,
        now: Instant,
        call: CallRef,
        tx: TransactionId,
        code: u16,
        sdp: Bytes,
    ) {
        let Some(req) = self.tx.request(tx).cloned() else {
            return;
        };
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        let tag = c.local_tag.clone();
        let transport = c.peer.transport;
        let contact = self.contact(c.account, transport);
        let mut b = response_to(
            &req,
            code,
            if code == 200 {
                "OK"
            } else {
                "Not Acceptable Here"
            },
            Some(&tag),
        );
        b.header(HeaderName::Contact, contact);
        b.header(HeaderName::Allow, &self.allow);
        b.header(HeaderName::Server, &self.cfg.user_agent);
        let wire = if (200..300).contains(&code) && !sdp.is_empty() {
            b.finish_with_body("application/sdp", &sdp)
        } else {
            b.finish()
        };
        self.tx.respond(now, tx, code, wire);
        self.drain_tx(now);
    }

    fn handle_ack(&mut self, now: Instant, ack: &Message) {
        let Some(call) = self.call_of_request(ack) else {
            return;
        };
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        if c.role == Role::Uas && c.state == CallState::Accepted {
            c.state = CallState::Confirmed;
            c.ok_retx = None;
            self.events.push_back(UaEvent::Confirmed { call });
        } else if c.role == Role::Uas {
            // An ACK for a re-INVITE's 2xx, or a duplicate: nothing to do.
            c.ok_retx = None;
        }
        let _ = now;
    }

    fn handle_cancel(&mut self, now: Instant, tx: TransactionId, req: &Message) {
        let Some(invite_tx) = self.tx.invite_for_cancel(req) else {
            self.reply(
                now,
                tx,
                req,
                (481, "Call/Transaction Does Not Exist"),
                None,
                &[],
            );
            return;
        };
        self.reply(now, tx, req, (200, "OK"), None, &[]);
        let Some(&call) = self.by_invite_tx.get(&invite_tx) else {
            return;
        };
        if self.tx.is_pending_invite(invite_tx) {
            if let Some(invite) = self.tx.request(invite_tx).cloned() {
                let tag = self.calls.get(&call).map(|c| c.local_tag.clone());
                self.reply(
                    now,
                    invite_tx,
                    &invite,
                    (487, "Request Terminated"),
                    tag.as_deref(),
                    &[],
                );
            }
            self.end_call(call, EndReason::Cancelled);
        }
    }

    fn handle_in_dialog(
        &mut self,
        now: Instant,
        tx: TransactionId,
        req: &Message,
        method: &Method,
    ) {
        let Some(call) = self.call_of_request(req) else {
            self.reply(
                now,
                tx,
                req,
                (481, "Call/Transaction Does Not Exist"),
                None,
                &[],
            );
            return;
        };
        if let Some(d) = self.calls.get_mut(&call).and_then(|c| c.dialog.as_mut()) {
            let seq = req.cseq().and_then(Result::ok).map_or(0, |c| c.seq);
            d.remote_seq = Some(d.remote_seq.map_or(seq, |r| r.max(seq)));
        }
        match method {
            Method::Bye => {
                self.reply(now, tx, req, (200, "OK"), None, &[]);
                self.end_call(call, EndReason::RemoteBye);
            }
            Method::Info => {
                let content_type = req.content_type().unwrap_or("").to_ascii_lowercase();
                self.reply(now, tx, req, (200, "OK"), None, &[]);
                self.events.push_back(UaEvent::Info {
                    call,
                    content_type,
                    body: req.body().clone(),
                });
            }
            Method::Notify => {
                self.reply(now, tx, req, (200, "OK"), None, &[]);
                let is_refer = req
                    .header(HeaderName::Event)
                    .is_some_and(|e| e.trim().to_ascii_lowercase().starts_with("refer"));
                if is_refer {
                    let frag = String::from_utf8_lossy(req.body());
                    let code = frag
                        .lines()
                        .next()
                        .and_then(|l| l.strip_prefix("SIP/2.0 "))
                        .and_then(|r| r.get(..3))
                        .and_then(|c| c.parse().ok())
                        .unwrap_or(0);
                    let done = req
                        .header(HeaderName::SubscriptionState)
                        .is_some_and(|s| s.trim().to_ascii_lowercase().starts_with("terminated"));
                    self.events
                        .push_back(UaEvent::ReferProgress { call, code, done });
                }
            }
            Method::Refer => {
                // Transfers are made by us, never taken from the peer.
                self.reply(now, tx, req, (603, "Decline"), None, &[]);
            }
            _ => {
                let allow = self.allow.clone();
                self.reply(
                    now,
                    tx,
                    req,
                    (405, "Method Not Allowed"),
                    None,
                    &[(HeaderName::Allow, allow)],
                );
            }
        }
    }

    // ------------------------------------------------------------------ UAS commands

    fn uas_call(&self, call: CallRef) -> Result<(&Call, TransactionId), CommandError> {
        let c = self.calls.get(&call).ok_or(CommandError::UnknownCall)?;
        if c.role != Role::Uas || !matches!(c.state, CallState::Initial | CallState::Early) {
            return Err(CommandError::WrongState("not ringing"));
        }
        let tx = c.invite_tx.ok_or(CommandError::WrongState("not ringing"))?;
        Ok((c, tx))
    }

    /// Sends 180 Ringing for an incoming call.
    pub fn ring(&mut self, now: Instant, call: CallRef) -> Result<(), CommandError> {
        let (c, tx) = self.uas_call(call)?;
        let (invite, tag, account, transport) = (
            c.invite.clone(),
            c.local_tag.clone(),
            c.account,
            c.peer.transport,
        );
        let contact = self.contact(account, transport);
        // RFC 3261 §12.1.1: dialog-creating responses copy the Record-Route set.
        let mut extra: Vec<(HeaderName, String)> = invite
            .header_all(HeaderName::RecordRoute)
            .map(|v| (HeaderName::RecordRoute, v.to_owned()))
            .collect();
        extra.push((HeaderName::Contact, contact));
        self.reply(now, tx, &invite, (180, "Ringing"), Some(&tag), &extra);
        if let Some(c) = self.calls.get_mut(&call) {
            c.state = CallState::Early;
        }
        self.drain_tx(now);
        Ok(())
    }

    /// Answers an incoming call with 200 OK and our SDP answer.
    pub fn accept(&mut self, now: Instant, call: CallRef, sdp: Bytes) -> Result<(), CommandError> {
        let (c, tx) = self.uas_call(call)?;
        let (invite, tag, account, transport) = (
            c.invite.clone(),
            c.local_tag.clone(),
            c.account,
            c.peer.transport,
        );
        let contact = self.contact(account, transport);
        let mut b = response_to(&invite, 200, "OK", Some(&tag));
        for rr in invite.header_all(HeaderName::RecordRoute) {
            b.header(HeaderName::RecordRoute, rr);
        }
        b.header(HeaderName::Contact, contact);
        b.header(HeaderName::Allow, &self.allow);
        b.header(HeaderName::Supported, "");
        b.header(HeaderName::Server, &self.cfg.user_agent);
        let wire = b.finish_with_body("application/sdp", &sdp);
        self.tx.respond(now, tx, 200, wire.clone());
        let t1 = self.cfg.timers.t1;
        let reliable = transport.is_reliable();
        if let Some(c) = self.calls.get_mut(&call) {
            c.state = CallState::Accepted;
            // RFC 3261 §13.3.1.4: the UAS core retransmits the 2xx until the ACK (only the
            // give-up timer on reliable transports).
            let next = if reliable { now + 64 * t1 } else { now + t1 };
            c.ok_retx = Some((wire, t1, next, now + 64 * t1));
        }
        self.drain_tx(now);
        Ok(())
    }

    fn retransmit_ok(&mut self, now: Instant, call: CallRef) {
        let t2 = self.cfg.timers.t2;
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let Some((wire, interval, next, give_up)) = c.ok_retx.clone() else {
            return;
        };
        if give_up <= now {
            c.ok_retx = None;
            // No ACK: the call is dead (RFC 3261 §13.3.1.4); end it with a BYE.
            self.end_call_with_bye(now, call, EndReason::Timeout);
            return;
        }
        if next <= now {
            let peer = c.peer;
            let interval = (interval * 2).min(t2);
            c.ok_retx = Some((wire.clone(), interval, now + interval, give_up));
            if let Some(tx) = c.invite_tx {
                self.tx.respond(now, tx, 200, wire.clone());
            } else {
                self.transmits.push_back(Transmit {
                    to: peer,
                    payload: wire,
                });
            }
            self.drain_tx(now);
        }
    }

    /// Rejects an incoming call (486 Busy Here, 603 Decline, 488, …).
    pub fn reject(
        &mut self,
        now: Instant,
        call: CallRef,
        code: u16,
        reason: &str,
    ) -> Result<(), CommandError> {
        let (c, tx) = self.uas_call(call)?;
        let (invite, tag) = (c.invite.clone(), c.local_tag.clone());
        self.reply(now, tx, &invite, (code, reason), Some(&tag), &[]);
        self.drain_tx(now);
        self.end_call(call, EndReason::Declined { code });
        Ok(())
    }

    // ------------------------------------------------------------------ UAC

    fn new_call_ref(&mut self) -> CallRef {
        self.next_call += 1;
        CallRef(self.next_call)
    }

    /// Starts an outgoing call to `target` with the SDP `offer`.
    ///
    /// # Errors
    /// When the target is not a SIP URI or the account does not exist.
    pub fn invite(
        &mut self,
        now: Instant,
        account: Option<AccountId>,
        target: &str,
        offer: Bytes,
        extra_headers: Vec<(String, String)>,
    ) -> Result<CallRef, CommandError> {
        if let Some(a) = account
            && a.0 >= self.accounts.len()
        {
            return Err(CommandError::UnknownAccount);
        }
        parse_uri_host(target).ok_or_else(|| CommandError::BadTarget(target.to_owned()))?;
        let id = self.new_call_ref();
        let local_tag = self.rng.tag();
        let call_id = format!("{}@hasip", self.rng.hex(16));
        let placeholder = Message::parse(Bytes::from(format!(
            "INVITE {target} SIP/2.0\r\nCall-ID: {call_id}\r\nCSeq: 1 INVITE\r\n\r\n"
        )))
        .map_err(|_| CommandError::BadTarget(target.to_owned()))?;
        self.calls.insert(
            id,
            Call {
                role: Role::Uac,
                account,
                state: CallState::Resolving,
                invite: placeholder,
                invite_tx: None,
                peer: Peer {
                    transport: Transport::Udp,
                    addr: SocketAddr::from(([0, 0, 0, 0], 0)),
                    connection: None,
                },
                local_tag,
                dialog: None,
                cancel_pending: false,
                ack: None,
                ok_retx: None,
                auth_tries: 0,
                offer,
                target: target.to_owned(),
                extra_headers,
            },
        );
        self.send_invite(now, id);
        self.drain_tx(now);
        Ok(id)
    }

    fn account_proxy(&self, account: Option<AccountId>) -> Option<String> {
        account
            .and_then(|a| self.accounts.get(a.0))
            .and_then(|a| a.cfg.proxy.clone())
    }

    fn local_from(&self, account: Option<AccountId>, tag: &str, transport: Transport) -> String {
        match account.and_then(|a| self.accounts.get(a.0)) {
            Some(a) if !a.cfg.id_uri.is_empty() => format!("<{}>;tag={tag}", a.cfg.id_uri),
            _ => {
                let addr = self.local_addr(transport);
                format!(
                    "<sip:hasip@{}>;tag={tag}",
                    SocketAddr::new(addr.ip(), addr.port())
                )
            }
        }
    }

    fn send_invite(&mut self, now: Instant, id: CallRef) {
        let Some(c) = self.calls.get(&id) else { return };
        let (account, target) = (c.account, c.target.clone());
        let proxy = self.account_proxy(account);
        let hop = proxy.clone().unwrap_or_else(|| target.clone());
        let peer = match self.peer_for(&hop) {
            Ok(Some(p)) => p,
            Ok(None) => {
                if let Some(c) = self.calls.get_mut(&id) {
                    c.state = CallState::Resolving;
                }
                return;
            }
            Err(_) => {
                self.end_call(id, EndReason::TransportError);
                return;
            }
        };
        let (via, _) = self.via(peer.transport, account);
        let Some(c) = self.calls.get(&id) else { return };
        let call_id = c.invite.call_id().unwrap_or("").to_owned();
        let seq = c.invite.cseq().and_then(Result::ok).map_or(1, |s| s.seq);
        let from = self.local_from(account, &c.local_tag, peer.transport);
        let contact = self.contact(account, peer.transport);
        let mut b = Builder::request(&Method::Invite, &target);
        b.header(HeaderName::Via, via);
        b.header(HeaderName::MaxForwards, 70);
        if let Some(p) = &proxy {
            let route = if p.starts_with('<') {
                p.clone()
            } else {
                format!("<{p};lr>")
            };
            b.header(HeaderName::Route, route);
        }
        b.header(HeaderName::From, from);
        b.header(HeaderName::To, format!("<{target}>"));
        b.header(HeaderName::CallId, &call_id);
        b.header(HeaderName::CSeq, format_args!("{seq} INVITE"));
        b.header(HeaderName::Contact, contact);
        b.header(HeaderName::Allow, &self.allow);
        b.header(HeaderName::UserAgent, &self.cfg.user_agent);
        for (n, v) in &c.extra_headers {
            b.header_named(n, v);
        }
        let wire = b.finish_with_body("application/sdp", &c.offer);
        self.start_invite_tx(now, id, peer, wire);
    }

    fn start_invite_tx(&mut self, now: Instant, id: CallRef, peer: Peer, wire: Bytes) {
        let Ok(msg) = Message::parse(wire.clone()) else {
            return;
        };
        let Some(tx) = self.tx.send_request(now, peer, msg.clone(), wire) else {
            return;
        };
        self.owners.insert(tx, Owner::Invite(id));
        if let Some(c) = self.calls.get_mut(&id) {
            c.invite = msg;
            c.invite_tx = Some(tx);
            c.peer = peer;
            if c.state == CallState::Resolving {
                c.state = CallState::Initial;
            }
        }
    }

    fn on_tx_event(&mut self, now: Instant, ev: TxEvent) {
        match ev {
            TxEvent::Response { tx, response } => {
                let response = *response;
                let owner = self.owners.get(&tx).copied();
                match owner {
                    Some(Owner::Register(a)) => self.on_register_response(now, a, tx, response),
                    Some(Owner::Invite(c)) => self.on_invite_response(now, c, tx, response),
                    Some(Owner::Bye(c)) => {
                        if response.status().is_some_and(|s| s >= 200) {
                            self.forget_call(c);
                        }
                    }
                    Some(Owner::Cancel(_) | Owner::InDialog(_)) | None => {}
                }
            }
            TxEvent::Timeout { tx } | TxEvent::TransportError { tx } => {
                let reason = if matches!(ev, TxEvent::Timeout { .. }) {
                    EndReason::Timeout
                } else {
                    EndReason::TransportError
                };
                match self.owners.get(&tx).copied() {
                    Some(Owner::Register(a)) => {
                        let (code, why) = if reason == EndReason::Timeout {
                            (408, "no answer from registrar")
                        } else {
                            (503, "transport error")
                        };
                        self.accounts[a.0].tx = None;
                        self.registration_failed(now, a, code, why.into(), None);
                    }
                    Some(Owner::Invite(c))
                        if self
                            .calls
                            .get(&c)
                            .is_some_and(|x| x.role == Role::Uac && x.dialog.is_none()) =>
                    {
                        self.end_call(c, reason);
                    }
                    Some(Owner::Bye(c)) => self.forget_call(c),
                    _ => {}
                }
            }
            TxEvent::AckTimeout { .. } => {}
            TxEvent::Terminated { tx } => {
                self.owners.remove(&tx);
                self.by_invite_tx.remove(&tx);
                // A call whose last transaction is gone and that is ending is forgotten.
                let ended: Vec<CallRef> = self
                    .calls
                    .iter()
                    .filter(|(_, c)| c.state == CallState::Ending && c.invite_tx == Some(tx))
                    .map(|(id, _)| *id)
                    .collect();
                for c in ended {
                    self.forget_call(c);
                }
            }
        }
    }

    fn on_invite_response(&mut self, now: Instant, id: CallRef, tx: TransactionId, resp: Message) {
        let Some(code) = resp.status() else { return };
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        if c.role != Role::Uac || c.invite_tx != Some(tx) {
            return;
        }
        match code {
            100 => {}
            101..=199 => {
                if c.state == CallState::Initial {
                    c.state = CallState::Early;
                }
                if c.cancel_pending {
                    c.cancel_pending = false;
                    self.send_cancel(now, id);
                }
                self.events.push_back(UaEvent::Progress {
                    call: id,
                    code,
                    body: resp.body().clone(),
                });
            }
            200..=299 => self.on_invite_ok(now, id, resp),
            401 | 407 => {
                let header = if code == 401 {
                    HeaderName::WwwAuthenticate
                } else {
                    HeaderName::ProxyAuthenticate
                };
                let creds = c
                    .account
                    .and_then(|a| self.accounts.get(a.0))
                    .map(|a| a.cfg.credentials.clone());
                let tries = c.auth_tries;
                let cancelled = c.cancel_pending || c.state == CallState::Ending;
                let challenge = Challenge::choose(resp.challenges(header).filter_map(Result::ok));
                match (creds, challenge) {
                    (Some(cr), Ok(ch)) if tries < 2 && !cancelled && !cr.username.is_empty() => {
                        if let Some(c) = self.calls.get_mut(&id) {
                            c.auth_tries += 1;
                        }
                        self.resend_invite_with_auth(now, id, code, &ch, &cr);
                    }
                    _ => self.end_call(id, EndReason::AuthFailed),
                }
            }
            _ => {
                let reason = resp.reason().unwrap_or("").to_owned();
                let was_cancel = c.state == CallState::Ending && code == 487;
                self.end_call(
                    id,
                    if was_cancel {
                        EndReason::Local
                    } else {
                        EndReason::Rejected { code, reason }
                    },
                );
            }
        }
    }

    fn resend_invite_with_auth(
        &mut self,
        now: Instant,
        id: CallRef,
        code: u16,
        ch: &Challenge,
        cr: &crate::ua::Credentials,
    ) {
        let Some(c) = self.calls.get(&id) else { return };
        let old = c.invite.clone();
        let peer = c.peer;
        let seq = old.cseq().and_then(Result::ok).map_or(1, |s| s.seq) + 1;
        let uri = old.request_uri_str().unwrap_or("").to_owned();
        let cnonce = self.rng.hex(16);
        let auth = authorization(
            ch,
            &cr.username,
            &cr.password,
            RequestParts {
                method: "INVITE",
                uri: &uri,
                body: old.body(),
            },
            1,
            &cnonce,
        );
        let (via, _) = self.via(peer.transport, c.account);
        let mut b = Builder::request(&Method::Invite, &uri);
        b.header(HeaderName::Via, via);
        for h in old.headers() {
            match h.name {
                HeaderName::Via
                | HeaderName::ContentLength
                | HeaderName::ContentType
                | HeaderName::Authorization
                | HeaderName::ProxyAuthorization => {}
                HeaderName::CSeq => {
                    b.header(HeaderName::CSeq, format_args!("{seq} INVITE"));
                }
                HeaderName::Other => {
                    b.header_named(h.name_str, h.value);
                }
                n => {
                    b.header(n, h.value);
                }
            }
        }
        b.header(
            if code == 401 {
                HeaderName::Authorization
            } else {
                HeaderName::ProxyAuthorization
            },
            auth,
        );
        let wire = b.finish_with_body("application/sdp", old.body());
        self.start_invite_tx(now, id, peer, wire);
    }

    fn on_invite_ok(&mut self, now: Instant, id: CallRef, resp: Message) {
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        if c.dialog.is_some() {
            // A retransmitted 2xx: the ACK was lost, send it again.
            if let Some((peer, ack)) = c.ack.clone() {
                self.transmits.push_back(Transmit {
                    to: peer,
                    payload: ack,
                });
            }
            return;
        }
        let Some(mut dialog) = Dialog::from_uac(&c.invite, &resp) else {
            return;
        };
        // A peer that echoes our own Contact in its 2xx (Home Assistant's VoIP integration,
        // voip-utils 0.1.0, does) would have us send ACK and BYE to ourselves: keep sending
        // to where the INVITE went.
        if dialog.route_set.is_empty()
            && crate::dialog::first_contact_uri(&c.invite).as_deref()
                == Some(dialog.remote_target.as_str())
            && let Some(target) = c.invite.request_uri_str()
        {
            dialog.remote_target = target.to_owned();
        }
        let cancelled = c.cancel_pending || c.state == CallState::Ending;
        self.by_dialog
            .insert((dialog.call_id.clone(), dialog.local_tag.clone()), id);
        c.dialog = Some(dialog);
        c.state = CallState::Confirmed;
        let seq = c.invite.cseq().and_then(Result::ok).map_or(1, |s| s.seq);
        if let Some((peer, ack)) = self.build_in_dialog(id, Method::Ack, Some(seq), &[], None) {
            self.transmits.push_back(Transmit {
                to: peer,
                payload: ack.clone(),
            });
            if let Some(c) = self.calls.get_mut(&id) {
                c.ack = Some((peer, ack));
            }
        }
        if cancelled {
            // We hung up while the 2xx was on its way: confirm, then BYE (RFC 3261 §15).
            self.end_call_with_bye(now, id, EndReason::Local);
            return;
        }
        self.events.push_back(UaEvent::Answered {
            call: id,
            response: resp,
        });
    }

    fn handle_stray_response(&mut self, _now: Instant, resp: Message) {
        // A 2xx retransmission after the INVITE transaction ended still needs its ACK.
        if resp.status().is_some_and(|s| (200..300).contains(&s))
            && resp
                .cseq()
                .and_then(Result::ok)
                .is_some_and(|c| c.method == Method::Invite)
            && let (Some(call_id), Some(Ok(from))) = (resp.call_id(), resp.from())
            && let Some(tag) = from.tag()
            && let Some(&id) = self.by_dialog.get(&(call_id.to_owned(), tag.to_owned()))
            && let Some((peer, ack)) = self.calls.get(&id).and_then(|c| c.ack.clone())
        {
            self.transmits.push_back(Transmit {
                to: peer,
                payload: ack,
            });
        }
    }

    /// Builds a request inside the call's dialog: ACK (with the INVITE's CSeq number),
    /// BYE, INFO, re-INVITE, REFER.
    fn build_in_dialog(
        &mut self,
        id: CallRef,
        method: Method,
        seq: Option<u32>,
        extra: &[(HeaderName, String)],
        body: Option<(&str, &[u8])>,
    ) -> Option<(Peer, Bytes)> {
        let (account, mut dialog) = {
            let c = self.calls.get(&id)?;
            (c.account, c.dialog.clone()?)
        };
        let seq = seq.unwrap_or_else(|| dialog.next_seq());
        let (ruri, routes) = dialog.request_target();
        let hop = dialog.next_hop();
        let mut peer = self.peer_for(&hop).ok().flatten()?;
        // Reuse the stream the call runs on.
        if let Some(c) = self.calls.get(&id)
            && c.peer.transport.is_reliable()
            && c.peer.transport == peer.transport
        {
            peer = c.peer;
        }
        let (via, _) = self.via(peer.transport, account);
        let (from, to) = dialog.from_to();
        let mut b = Builder::request(&method, &ruri);
        b.header(HeaderName::Via, via);
        b.header(HeaderName::MaxForwards, 70);
        for r in routes {
            b.header(HeaderName::Route, r);
        }
        b.header(HeaderName::From, from);
        b.header(HeaderName::To, to);
        b.header(HeaderName::CallId, &dialog.call_id);
        b.header(HeaderName::CSeq, format_args!("{seq} {method}"));
        if matches!(method, Method::Invite | Method::Refer) {
            b.header(HeaderName::Contact, self.contact(account, peer.transport));
        }
        for (n, v) in extra {
            b.header(*n, v);
        }
        b.header(HeaderName::UserAgent, &self.cfg.user_agent);
        let wire = match body {
            Some((ct, data)) => b.finish_with_body(ct, data),
            None => b.finish(),
        };
        if let Some(c) = self.calls.get_mut(&id) {
            c.dialog = Some(dialog);
        }
        Some((peer, wire))
    }

    fn send_in_dialog(
        &mut self,
        now: Instant,
        id: CallRef,
        method: Method,
        extra: &[(HeaderName, String)],
        body: Option<(&str, &[u8])>,
        owner: Owner,
    ) -> Result<(), CommandError> {
        let (peer, wire) = self
            .build_in_dialog(id, method, None, extra, body)
            .ok_or(CommandError::WrongState("not established"))?;
        let msg = Message::parse(wire.clone())
            .map_err(|_| CommandError::WrongState("not established"))?;
        if let Some(tx) = self.tx.send_request(now, peer, msg, wire) {
            self.owners.insert(tx, owner);
        }
        self.drain_tx(now);
        Ok(())
    }

    /// Sends an INFO (e.g. `application/dtmf-relay`) in an established call.
    pub fn send_info(
        &mut self,
        now: Instant,
        call: CallRef,
        content_type: &str,
        body: &[u8],
    ) -> Result<(), CommandError> {
        self.established(call)?;
        self.send_in_dialog(
            now,
            call,
            Method::Info,
            &[],
            Some((content_type, body)),
            Owner::InDialog(call),
        )
    }

    /// Sends a re-INVITE with a new offer (hold, resume).
    pub fn reinvite(
        &mut self,
        now: Instant,
        call: CallRef,
        offer: Bytes,
    ) -> Result<(), CommandError> {
        self.established(call)?;
        self.send_in_dialog(
            now,
            call,
            Method::Invite,
            &[],
            Some(("application/sdp", &offer)),
            Owner::InDialog(call),
        )
    }

    /// Transfers an established call (REFER, RFC 3515); progress arrives as
    /// [`UaEvent::ReferProgress`].
    pub fn refer(&mut self, now: Instant, call: CallRef, target: &str) -> Result<(), CommandError> {
        self.established(call)?;
        let referred_by = self
            .calls
            .get(&call)
            .and_then(|c| c.dialog.as_ref())
            .map(|d| d.local_uri.clone())
            .unwrap_or_default();
        self.send_in_dialog(
            now,
            call,
            Method::Refer,
            &[
                (HeaderName::ReferTo, format!("<{target}>")),
                (HeaderName::ReferredBy, referred_by),
            ],
            None,
            Owner::InDialog(call),
        )
    }

    fn established(&self, call: CallRef) -> Result<(), CommandError> {
        match self.calls.get(&call) {
            None => Err(CommandError::UnknownCall),
            Some(c)
                if c.state == CallState::Confirmed
                    || (c.role == Role::Uas && c.state == CallState::Accepted) =>
            {
                Ok(())
            }
            Some(_) => Err(CommandError::WrongState("not established")),
        }
    }

    /// Ends a call whatever its state: BYE when established, CANCEL while our INVITE is
    /// pending (after its first provisional, RFC 3261 §9.1), 603 for an unanswered
    /// incoming call.
    pub fn hangup(&mut self, now: Instant, call: CallRef) -> Result<(), CommandError> {
        let c = self.calls.get(&call).ok_or(CommandError::UnknownCall)?;
        match (c.role, c.state) {
            (_, CallState::Ending) => Ok(()),
            (Role::Uas, CallState::Initial | CallState::Early) => {
                self.reject(now, call, 603, "Decline")
            }
            (_, CallState::Confirmed | CallState::Accepted) => {
                self.end_call_with_bye(now, call, EndReason::Local);
                Ok(())
            }
            (_, CallState::Resolving) => {
                self.end_call(call, EndReason::Local);
                Ok(())
            }
            (Role::Uac, CallState::Initial) => {
                // No provisional yet: the CANCEL must wait for one.
                if let Some(c) = self.calls.get_mut(&call) {
                    c.cancel_pending = true;
                }
                Ok(())
            }
            (Role::Uac, CallState::Early) => {
                self.send_cancel(now, call);
                Ok(())
            }
        }
    }

    fn send_cancel(&mut self, now: Instant, id: CallRef) {
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        c.state = CallState::Ending;
        let inv = c.invite.clone();
        let peer = c.peer;
        let mut b = Builder::request(&Method::Cancel, inv.request_uri_str().unwrap_or(""));
        if let Some(v) = inv.header(HeaderName::Via) {
            b.header(HeaderName::Via, v);
        }
        b.header(HeaderName::MaxForwards, 70);
        for name in [
            HeaderName::Route,
            HeaderName::From,
            HeaderName::To,
            HeaderName::CallId,
        ] {
            for v in inv.header_all(name) {
                b.header(name, v);
            }
        }
        let seq = inv.cseq().and_then(Result::ok).map_or(1, |s| s.seq);
        b.header(HeaderName::CSeq, format_args!("{seq} CANCEL"));
        let wire = b.finish();
        if let Ok(msg) = Message::parse(wire.clone())
            && let Some(tx) = self.tx.send_request(now, peer, msg, wire)
        {
            self.owners.insert(tx, Owner::Cancel(id));
        }
        self.drain_tx(now);
    }

    fn end_call_with_bye(&mut self, now: Instant, id: CallRef, reason: EndReason) {
        if let Some(c) = self.calls.get_mut(&id) {
            c.state = CallState::Ending;
            c.ok_retx = None;
        }
        if let Some((peer, wire)) = self.build_in_dialog(id, Method::Bye, None, &[], None)
            && let Ok(msg) = Message::parse(wire.clone())
            && let Some(tx) = self.tx.send_request(now, peer, msg, wire)
        {
            self.owners.insert(tx, Owner::Bye(id));
        } else {
            self.forget_call(id);
        }
        self.events.push_back(UaEvent::Ended { call: id, reason });
        self.drain_tx(now);
    }

    fn end_call(&mut self, id: CallRef, reason: EndReason) {
        if let Some(c) = self.calls.get_mut(&id) {
            c.state = CallState::Ending;
            c.ok_retx = None;
            self.events.push_back(UaEvent::Ended { call: id, reason });
            // Keep the call until its INVITE transaction ends so that retransmitted
            // responses and CANCEL races still find it; forget it now if there is none.
            if c.invite_tx.is_none_or(|tx| self.tx.peer(tx).is_none()) {
                self.forget_call(id);
            }
        }
    }

    fn forget_call(&mut self, id: CallRef) {
        if let Some(c) = self.calls.remove(&id)
            && let Some(d) = c.dialog
        {
            self.by_dialog.remove(&(d.call_id, d.local_tag));
        }
        if crate::transaction::shrink_if_sparse(&mut self.calls) {
            self.by_dialog.shrink_to_fit();
            self.by_invite_tx.shrink_to_fit();
            self.owners.shrink_to_fit();
        }
    }

    /// True when a call or a pending transaction uses stream connection `id`.
    pub fn connection_in_use(&self, id: crate::transport::ConnectionId) -> bool {
        self.calls.values().any(|c| c.peer.connection == Some(id)) || self.tx.uses_connection(id)
    }

    /// Where the call's SIP goes to and comes from: the caller's address for an incoming
    /// call, the first hop (proxy, registrar or callee) for an outgoing one.
    pub fn peer_of(&self, call: CallRef) -> Option<Peer> {
        self.calls.get(&call).map(|c| c.peer)
    }

    /// Number of calls the agent tracks.
    pub fn call_count(&self) -> usize {
        self.calls.len()
    }

    /// The SIP Call-ID of a call.
    pub fn sip_call_id(&self, call: CallRef) -> Option<&str> {
        self.calls.get(&call).and_then(|c| c.invite.call_id())
    }

    /// The INVITE of a call (received, or the latest sent).
    pub fn invite_of(&self, call: CallRef) -> Option<&Message> {
        self.calls.get(&call).map(|c| &c.invite)
    }

    // ------------------------------------------------------------------ registration

    /// Starts (or restarts) the registration of `account`.
    pub fn register(&mut self, now: Instant, account: AccountId) -> Result<(), CommandError> {
        let a = self
            .accounts
            .get_mut(account.0)
            .ok_or(CommandError::UnknownAccount)?;
        a.unregistering = false;
        a.failures = 0;
        a.auth_tries = 0;
        self.send_register(now, account);
        self.drain_tx(now);
        Ok(())
    }

    /// Removes the binding (REGISTER with Expires: 0), e.g. at shutdown.
    pub fn unregister(&mut self, now: Instant, account: AccountId) -> Result<(), CommandError> {
        let a = self
            .accounts
            .get_mut(account.0)
            .ok_or(CommandError::UnknownAccount)?;
        a.unregistering = true;
        a.next_at = None;
        a.auth_tries = 0;
        if a.registered {
            self.send_register(now, account);
            self.drain_tx(now);
        }
        Ok(())
    }

    /// True while any REGISTER or BYE is still in flight (shutdown waits for these).
    pub fn has_pending_requests(&self) -> bool {
        self.owners
            .values()
            .any(|o| matches!(o, Owner::Register(_) | Owner::Bye(_)))
    }

    /// Sends the account's keep-alive to its first hop and schedules the next one.
    fn send_keepalive(&mut self, now: Instant, account: AccountId) {
        let Some(a) = self.accounts.get_mut(account.0) else {
            return;
        };
        let (Some(every), true, false) = (a.cfg.keepalive, a.registered, a.unregistering) else {
            a.keepalive_at = None;
            return;
        };
        a.keepalive_at = Some(now + every);
        let Some(hop) = a.cfg.proxy.clone().or_else(|| a.cfg.registrar.clone()) else {
            return;
        };
        // Only to an address already known: a keep-alive never starts a DNS lookup.
        if let Ok(Some(to)) = self.peer_for_known(&hop) {
            let payload = if to.transport == Transport::Udp {
                Bytes::from_static(b"\r\n")
            } else {
                Bytes::from_static(b"\r\n\r\n")
            };
            self.transmits.push_back(Transmit { to, payload });
        }
    }

    /// [`Self::peer_for`] without asking for a lookup: `None` for a host not resolved yet.
    fn peer_for_known(&self, uri: &str) -> Result<Option<Peer>, CommandError> {
        let (transport, host, port) =
            parse_uri_host(uri).ok_or_else(|| CommandError::BadTarget(uri.to_owned()))?;
        let (ip, srv_port) = match host.parse::<IpAddr>() {
            Ok(ip) => (ip, None),
            Err(_) => match self.resolved.get(&host.to_ascii_lowercase()) {
                Some(r) => *r,
                None => return Ok(None),
            },
        };
        let port = port.or(srv_port).unwrap_or(transport.default_port());
        Ok(Some(Peer {
            transport,
            addr: SocketAddr::new(ip, port),
            connection: None,
        }))
    }

    fn send_register(&mut self, now: Instant, account: AccountId) {
        let Some(a) = self.accounts.get(account.0) else {
            return;
        };
        let Some(registrar) = a.cfg.registrar.clone() else {
            return;
        };
        let hop = a.cfg.proxy.clone().unwrap_or_else(|| registrar.clone());
        let peer = match self.peer_for(&hop) {
            Ok(Some(p)) => p,
            Ok(None) => {
                self.accounts[account.0].waiting_dns = true;
                return;
            }
            Err(e) => {
                self.registration_failed(now, account, 400, e.to_string(), None);
                return;
            }
        };
        let (via, _) = self.via(peer.transport, Some(account));
        let contact = self.contact(Some(account), peer.transport);
        let a = &mut self.accounts[account.0];
        a.cseq += 1;
        let expires = if a.unregistering { 0 } else { a.expires };
        let ruri = match NameAddr::parse(&registrar).ok().map(|n| n.uri.to_string()) {
            Some(u) => u,
            None => registrar.clone(),
        };
        let mut b = Builder::request(&Method::Register, &ruri);
        b.header(HeaderName::Via, via);
        b.header(HeaderName::MaxForwards, 70);
        if let Some(p) = &a.cfg.proxy {
            let route = if p.starts_with('<') {
                p.clone()
            } else {
                format!("<{p};lr>")
            };
            b.header(HeaderName::Route, route);
        }
        b.header(
            HeaderName::From,
            format!("<{}>;tag={}", a.cfg.id_uri, a.from_tag),
        );
        b.header(HeaderName::To, format!("<{}>", a.cfg.id_uri));
        b.header(HeaderName::CallId, &a.call_id);
        b.header(HeaderName::CSeq, format_args!("{} REGISTER", a.cseq));
        b.header(HeaderName::Contact, contact);
        b.header(HeaderName::Expires, expires);
        b.header(HeaderName::Allow, &self.allow);
        b.header(HeaderName::UserAgent, &self.cfg.user_agent);
        if let Some((ch, proxy_auth)) = a.last_challenge.clone() {
            a.nonce_count += 1;
            let cnonce = self.rng.hex(16);
            let a = &self.accounts[account.0];
            let auth = authorization(
                &ch,
                &a.cfg.credentials.username,
                &a.cfg.credentials.password,
                RequestParts {
                    method: "REGISTER",
                    uri: &ruri,
                    body: b"",
                },
                a.nonce_count,
                &cnonce,
            );
            b.header(
                if proxy_auth {
                    HeaderName::ProxyAuthorization
                } else {
                    HeaderName::Authorization
                },
                auth,
            );
        }
        let wire = b.finish();
        let Ok(msg) = Message::parse(wire.clone()) else {
            return;
        };
        if let Some(old) = self.accounts[account.0].tx.take() {
            self.owners.remove(&old);
        }
        if let Some(tx) = self.tx.send_request(now, peer, msg, wire) {
            self.accounts[account.0].tx = Some(tx);
            self.owners.insert(tx, Owner::Register(account));
        }
    }

    fn on_register_response(
        &mut self,
        now: Instant,
        account: AccountId,
        tx: TransactionId,
        resp: Message,
    ) {
        let Some(code) = resp.status() else { return };
        if code < 200 || self.accounts.get(account.0).and_then(|a| a.tx) != Some(tx) {
            return;
        }
        self.accounts[account.0].tx = None;
        self.owners.remove(&tx);
        match code {
            200..=299 => self.on_registered(now, account, &resp),
            401 | 407 => {
                let header = if code == 401 {
                    HeaderName::WwwAuthenticate
                } else {
                    HeaderName::ProxyAuthenticate
                };
                let a = &self.accounts[account.0];
                let realm_ok = |c: &Challenge| {
                    let want = &a.cfg.credentials.realm;
                    want.is_empty() || want == "*" || want.eq_ignore_ascii_case(&c.realm)
                };
                match Challenge::choose(resp.challenges(header).filter_map(Result::ok)) {
                    Ok(ch) if realm_ok(&ch) && !a.cfg.credentials.username.is_empty() => {
                        // A stale nonce means the password was right: answer at once, without
                        // counting an attempt. A fresh challenge after our answer means the
                        // credentials are wrong: stop (providers ban retry storms).
                        let stale = ch.stale;
                        let a = &mut self.accounts[account.0];
                        if !stale {
                            a.auth_tries += 1;
                        }
                        if a.auth_tries > 1 {
                            a.last_challenge = None;
                            self.registration_failed(
                                now,
                                account,
                                code,
                                "authentication failed (wrong user name or password?)".into(),
                                None,
                            );
                            return;
                        }
                        a.nonce_count = 0;
                        a.last_challenge = Some((ch, code == 407));
                        self.send_register(now, account);
                    }
                    Ok(ch) => {
                        let why = format!("no credentials for realm {:?}", ch.realm);
                        self.registration_failed(now, account, code, why, None);
                    }
                    Err(e) => self.registration_failed(now, account, code, e.to_string(), None),
                }
            }
            423 => {
                let min = resp.min_expires().and_then(Result::ok).unwrap_or(3600);
                let a = &mut self.accounts[account.0];
                a.expires = min.max(a.expires);
                a.failures += 1;
                if a.failures > 3 {
                    self.registration_failed(now, account, code, "Interval Too Brief".into(), None);
                } else {
                    self.send_register(now, account);
                }
            }
            _ => {
                let reason = resp.reason().unwrap_or("").to_owned();
                let retry_after = if matches!(code, 500 | 503) {
                    resp.retry_after().and_then(Result::ok)
                } else {
                    None
                };
                self.registration_failed(now, account, code, reason, retry_after);
            }
        }
    }

    fn on_registered(&mut self, now: Instant, account: AccountId, resp: &Message) {
        // NAT: the registrar saw us at `received`/`rport`; advertise that and register again
        // (pjsip's contact rewrite, on by default in ha-sip).
        if let Some(Ok(via)) = resp.top_via() {
            let a = &self.accounts[account.0];
            let seen_ip = via
                .received()
                .and_then(|r| r.trim_matches(['[', ']']).parse::<IpAddr>().ok());
            let seen_port = via.rport().flatten();
            if let (Some(ip), Some(port)) = (seen_ip, seen_port) {
                let seen = SocketAddr::new(ip, port);
                let ours = self.contact_addr(Some(account), Transport::Udp);
                if seen != ours && !a.unregistering && a.public != Some(seen) && !ip.is_loopback() {
                    self.accounts[account.0].public = Some(seen);
                    self.send_register(now, account);
                    return;
                }
            }
        }
        let a = &mut self.accounts[account.0];
        a.auth_tries = 0;
        a.failures = 0;
        if a.unregistering {
            a.registered = false;
            self.events.push_back(UaEvent::Registration {
                account,
                state: RegistrationState::Unregistered,
            });
            return;
        }
        // The granted lifetime: our Contact's expires, else the Expires header.
        let ours = self.contact(Some(account), Transport::Udp);
        let our_uri = NameAddr::parse(&ours).ok().map(|n| n.uri.to_string());
        let a = &mut self.accounts[account.0];
        let from_contact = resp.contacts().find_map(|c| match c {
            Ok(Contact::Addr(n)) if Some(n.uri.to_string()) == our_uri || our_uri.is_none() => n
                .params
                .get("expires")
                .flatten()
                .and_then(|e| e.parse::<u32>().ok()),
            _ => None,
        });
        let granted = from_contact
            .or_else(|| resp.expires().and_then(Result::ok))
            .unwrap_or(a.expires)
            .max(1);
        a.registered = true;
        if a.keepalive_at.is_none() {
            a.keepalive_at = a.cfg.keepalive.map(|k| now + k);
        }
        let refresh = Duration::from_secs(u64::from(granted))
            .saturating_sub(REFRESH_MARGIN.max(Duration::from_secs(u64::from(granted) / 10)))
            .max(Duration::from_secs(1));
        a.next_at = Some(now + refresh);
        self.events.push_back(UaEvent::Registration {
            account,
            state: RegistrationState::Registered { expires: granted },
        });
    }

    fn registration_failed(
        &mut self,
        now: Instant,
        account: AccountId,
        code: u16,
        reason: String,
        retry_after: Option<u32>,
    ) {
        let jitter = (self.rng.next_u64() % 10) as u32;
        let Some(a) = self.accounts.get_mut(account.0) else {
            return;
        };
        a.registered = false;
        a.keepalive_at = None;
        a.failures += 1;
        if a.unregistering {
            a.unregistering = false;
            self.events.push_back(UaEvent::Registration {
                account,
                state: RegistrationState::Unregistered,
            });
            return;
        }
        // Back off: 30 s doubling to 300 s (plus jitter), or the registrar's Retry-After.
        let backoff = 30u32
            .saturating_mul(1 << a.failures.saturating_sub(1).min(4))
            .min(MAX_BACKOFF_SECS)
            + jitter;
        let wait = retry_after.map_or(backoff, |r| r.clamp(1, MAX_RETRY_AFTER_SECS));
        a.next_at = Some(now + Duration::from_secs(u64::from(wait)));
        a.auth_tries = 0;
        a.last_challenge = None;
        self.events.push_back(UaEvent::Registration {
            account,
            state: RegistrationState::Failed {
                code,
                reason,
                retry_in: wait,
            },
        });
    }

    /// True when `account` is registered.
    pub fn is_registered(&self, account: AccountId) -> bool {
        self.accounts.get(account.0).is_some_and(|a| a.registered)
    }
}

#[cfg(test)]
mod tests;
