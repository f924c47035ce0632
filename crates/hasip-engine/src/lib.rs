//! The ha-sip-rs gateway as one sans-IO state machine.
//!
//! The engine composes the SIP layer (and, as later issues land, media and menus) into
//! the gateway's behaviour. It never performs I/O: the shell pushes inputs and drains
//! outputs, in this loop:
//!
//! 1. Push whatever happened: [`Engine::handle_sip`] for a SIP message that arrived.
//! 2. Drain [`Engine::poll_output`] until it returns `None`, performing each output
//!    (send a [`Transmit`]).
//! 3. Sleep until the next input (or, once timers exist, `poll_timeout`).
//!
//! Time is always an argument (`now`); randomness comes from the seed given to
//! [`Engine::new`]. One faulty message never affects anything but its own answer.
#![forbid(unsafe_code)]
#![warn(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod drop_log;

use std::collections::VecDeque;
use std::time::Instant;

use bytes::Bytes;
use hasip_sip::message::build::{Builder, response_to};
use hasip_sip::message::validate::{Policy, Rejection, validate_request, validate_response};
use hasip_sip::message::{HeaderName, Message, Method};
use hasip_sip::rng::Rng;
use hasip_sip::transport::{Peer, response_destination};

use drop_log::DropLog;

/// Static settings of the engine.
#[derive(Debug, Clone)]
pub struct Config {
    /// Sent as `Server` in responses and `User-Agent` in requests.
    pub user_agent: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            user_agent: format!("ha-sip-rs/{}", env!("CARGO_PKG_VERSION")),
        }
    }
}

/// Bytes to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Where to, and over which transport (and connection).
    pub to: Peer,
    /// The message.
    pub payload: Bytes,
}

/// Something the shell must do.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Output {
    /// Send bytes.
    Transmit(Transmit),
}

/// Methods the gateway handles today. INVITE, INFO, REFER and NOTIFY join this list with
/// the signalling issue; until then they are answered 405 with this list in `Allow`.
const ALLOWED: &[Method] = &[Method::Options, Method::Ack, Method::Cancel, Method::Bye];
/// Option tags we support (none yet; `Require` with any tag gets 420).
const SUPPORTED: &[&str] = &[];
/// Body types we accept on INVITE.
const ACCEPTED_BODIES: &[&str] = &["application/sdp"];

/// The gateway.
#[derive(Debug)]
pub struct Engine {
    config: Config,
    rng: Rng,
    outputs: VecDeque<Output>,
    drops: DropLog,
    allow_header: String,
}

impl Engine {
    /// A new engine. `seed` drives every random choice (tags, branches, Call-IDs).
    pub fn new(config: Config, seed: u64) -> Self {
        let allow_header = ALLOWED
            .iter()
            .map(Method::as_str)
            .collect::<Vec<_>>()
            .join(", ");
        Self {
            config,
            rng: Rng::new(seed),
            outputs: VecDeque::new(),
            drops: DropLog::default(),
            allow_header,
        }
    }

    /// Takes the next output, if any.
    #[must_use]
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// The earliest instant at which the engine needs [`Engine::handle_timeout`]. The
    /// engine has no timers yet.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        None
    }

    /// Handles a SIP message (a UDP datagram, or one frame of a stream) from `source`.
    pub fn handle_sip(&mut self, now: Instant, source: Peer, data: Bytes) {
        let msg = match Message::parse(data) {
            Ok(m) => m,
            Err(e) => {
                self.drops.note(now, source, &e.to_string());
                return;
            }
        };
        if msg.is_request() {
            self.handle_request(now, source, &msg);
        } else if let Err(why) = validate_response(&msg) {
            self.drops
                .note(now, source, &format!("bad response: {why}"));
        } else {
            // No client transactions exist yet, so every response is stray.
            tracing::debug!(%source.addr, status = msg.status(), "stray response dropped");
        }
    }

    fn handle_request(&mut self, now: Instant, source: Peer, req: &Message) {
        let policy = Policy {
            allowed: ALLOWED,
            supported: SUPPORTED,
            accepted_bodies: ACCEPTED_BODIES,
        };
        // Without a readable top Via there is no transaction to answer and no safe place
        // to answer to (and echoing a huge broken Via back would amplify an attack).
        match req.top_via() {
            Some(Ok(_)) => {}
            Some(Err(e)) => {
                self.drops
                    .note(now, source, &format!("unreadable Via: {e}"));
                return;
            }
            None => {
                self.drops.note(now, source, "request without Via");
                return;
            }
        }
        let is_ack = req.method() == Some(&Method::Ack);
        if let Err(rejection) = validate_request(req, &policy) {
            if is_ack {
                // An ACK is never answered (RFC 3261 §17.2.1); a broken one is dropped.
                self.drops.note(now, source, &rejection.to_string());
                return;
            }
            tracing::info!(%source.addr, method = ?req.method().map(Method::as_str), %rejection, "request rejected");
            self.reject(source, req, &rejection);
            return;
        }
        match req.method() {
            Some(Method::Options) => self.answer_options(source, req),
            Some(Method::Ack) => {}
            Some(Method::Cancel | Method::Bye) => {
                self.respond(source, req, 481, "Call/Transaction Does Not Exist", |_| {});
            }
            _ => {
                let r = Rejection::MethodNotAllowed;
                self.reject(source, req, &r);
            }
        }
    }

    fn answer_options(&mut self, source: Peer, req: &Message) {
        let allow = self.allow_header.clone();
        self.respond(source, req, 200, "OK", |b| {
            b.header(HeaderName::Allow, &allow)
                .header(HeaderName::Accept, ACCEPTED_BODIES.join(", "))
                .header(HeaderName::AcceptLanguage, "en")
                .header(HeaderName::Supported, SUPPORTED.join(", "));
        });
    }

    fn reject(&mut self, source: Peer, req: &Message, rejection: &Rejection) {
        let allow = self.allow_header.clone();
        let reason = rejection.reason().into_owned();
        self.respond(
            source,
            req,
            rejection.status(),
            &reason,
            |b| match rejection {
                Rejection::MethodNotAllowed | Rejection::NotImplemented => {
                    b.header(HeaderName::Allow, &allow);
                }
                Rejection::BadExtension(tags) => {
                    b.header(HeaderName::Unsupported, tags.join(", "));
                }
                Rejection::UnsupportedMediaType => {
                    b.header(HeaderName::Accept, ACCEPTED_BODIES.join(", "));
                }
                Rejection::BadRequest(_)
                | Rejection::VersionNotSupported
                | Rejection::UnsupportedUriScheme => {}
            },
        );
    }

    fn respond(
        &mut self,
        source: Peer,
        req: &Message,
        code: u16,
        reason: &str,
        extra: impl FnOnce(&mut Builder),
    ) {
        let tag = self.rng.tag();
        let mut b = response_to(req, code, reason, Some(&tag));
        extra(&mut b);
        b.header(HeaderName::Server, &self.config.user_agent);
        let to = match req.top_via() {
            Some(Ok(via)) => response_destination(source, &via),
            _ => source,
        };
        self.outputs.push_back(Output::Transmit(Transmit {
            to,
            payload: b.finish(),
        }));
    }
}

#[cfg(test)]
mod tests;
