//! Registration per account: REGISTER with digest, refresh before expiry, backoff,
//! Retry-After, keep-alives, NAT rewrite from `received`/`rport`, un-REGISTER.

use super::*;

impl UserAgent {
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
    pub(super) fn send_keepalive(&mut self, now: Instant, account: AccountId) {
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
    pub(super) fn peer_for_known(&self, uri: &str) -> Result<Option<Peer>, CommandError> {
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

    pub(super) fn send_register(&mut self, now: Instant, account: AccountId) {
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
        for (n, v) in &a.cfg.headers {
            b.header_named(n, v);
        }
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

    pub(super) fn on_register_response(
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

    pub(super) fn on_registered(&mut self, now: Instant, account: AccountId, resp: &Message) {
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
                let ours = self.local_addr(Transport::Udp);
                let learned = seen != ours && a.public != Some(seen) && !ip.is_loopback();
                if learned && !a.unregistering {
                    let contact = a.cfg.nat.contact;
                    self.accounts[account.0].public = Some(seen);
                    if contact {
                        self.send_register(now, account);
                        return;
                    }
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

    pub(super) fn registration_failed(
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
