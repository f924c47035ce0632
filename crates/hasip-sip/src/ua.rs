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

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
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
    /// Headers added to the account's REGISTER and INVITE requests (`--header`).
    pub headers: Vec<(String, String)>,
    /// False for an account that only makes calls: INVITEs for it are answered 403.
    pub can_be_called: bool,
    /// Which of our own addresses follow the public address the registrar reports in
    /// `received`/`rport` (behind NAT).
    pub nat: NatRewrite,
}

/// What follows the public address a registrar reports (pjsua's `contactRewriteUse` and
/// `viaRewriteUse`, both on in ha-sip). [`UserAgent::public_addr`] reports the address
/// either way, for the SDP rewrite the engine does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NatRewrite {
    /// The Contact of REGISTER, INVITE and answers: the account registers again with it.
    pub contact: bool,
    /// The sent-by of our Via headers.
    pub via: bool,
}

impl Default for NatRewrite {
    fn default() -> Self {
        Self {
            contact: true,
            via: true,
        }
    }
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
    /// When each call's 2xx is next retransmitted or given up (the earlier of the two), in
    /// time order; an entry counts while the call's `ok_retx` still gives its instant.
    ok_retx_due: BinaryHeap<Reverse<(Instant, CallRef)>>,
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
    /// The networks a direct-call account takes calls from by default, parsed once (they
    /// are checked for every new INVITE, a flood's included).
    private_networks: Vec<ipnet::IpNet>,
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
            ok_retx_due: BinaryHeap::new(),
            next_call: 0,
            owners: HashMap::new(),
            by_dialog: HashMap::new(),
            by_invite_tx: HashMap::new(),
            resolved: HashMap::new(),
            call_buckets: admission::CallBuckets::default(),
            stateless_key,
            private_networks: admission::private_networks(),
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

    /// The public address the registrar reported for `account` (`received`/`rport` of its
    /// REGISTER's answer) when it differs from ours: the account is behind NAT.
    pub fn public_addr(&self, account: AccountId) -> Option<SocketAddr> {
        self.accounts.get(account.0).and_then(|a| a.public)
    }

    /// The address advertised in Contact for `transport` on behalf of `account` (the
    /// NAT-learned public address once the registrar told us one, unless the account
    /// turned the rewrite off).
    fn contact_addr(&self, account: Option<AccountId>, transport: Transport) -> SocketAddr {
        self.rewritten_addr(account, transport, |n| n.contact)
    }

    fn rewritten_addr(
        &self,
        account: Option<AccountId>,
        transport: Transport,
        rewrite: impl Fn(NatRewrite) -> bool,
    ) -> SocketAddr {
        account
            .and_then(|a| self.accounts.get(a.0))
            .filter(|a| rewrite(a.cfg.nat))
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
        let addr = self.rewritten_addr(account, transport, |n| n.via);
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
        consider(self.next_ok_retx());
        next
    }

    /// When `call`'s 2xx next needs attention, as its `ok_retx` says.
    fn ok_retx_at(&self, call: CallRef) -> Option<Instant> {
        self.calls
            .get(&call)
            .and_then(|c| c.ok_retx.as_ref())
            .map(|r| r.2.min(r.3))
    }

    /// Puts `call`'s 2xx retransmission in the time-ordered table (after `ok_retx` is set).
    pub(super) fn arm_ok_retx(&mut self, call: CallRef) {
        if let Some(at) = self.ok_retx_at(call) {
            self.ok_retx_due.push(Reverse((at, call)));
        }
    }

    /// The earliest 2xx retransmission still due; stale entries are dropped.
    fn next_ok_retx(&mut self) -> Option<Instant> {
        while let Some(Reverse((at, call))) = self.ok_retx_due.peek().copied() {
            if self.ok_retx_at(call) == Some(at) {
                return Some(at);
            }
            self.ok_retx_due.pop();
        }
        None
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
        let mut due = Vec::new();
        while let Some(Reverse((at, call))) = self.ok_retx_due.peek().copied() {
            if at > now {
                break;
            }
            self.ok_retx_due.pop();
            if self.ok_retx_at(call) == Some(at) {
                due.push(call);
            }
        }
        // In call order, not the table's: two calls' 2xx retransmissions due together go
        // out in the same order on every run (as transaction.rs does).
        due.sort_unstable();
        for id in due {
            self.retransmit_ok(now, id);
        }
        self.drain_tx(now);
    }
}

mod inbound;
mod registration;
mod uac;
mod uas;

#[cfg(test)]
mod tests;
