//! What one turn of the loop does with each kind of input: a stream connection's frame or
//! state, a batch of RTP, a call's RTP socket after its STUN binding, a host name resolved,
//! a stdin line, an MQTT message, a signal; and the start-up reports that need the loop's
//! state (ignored flags, accounts that cannot run).

use super::*;

/// A frame, a close, an idle period or a failed connect of a stream connection.
pub(super) fn on_connection(engine: &mut Engine, io: &mut Io, ev: ConnEvent) {
    match ev {
        ConnEvent::Frame { id, from, data } => {
            if let Some((_, spoke)) = io.accepted.get_mut(&id) {
                *spoke = true;
            }
            let transport = io.conns.get(&id).map_or(Transport::Tcp, |(t, _)| *t);
            trace_message("recv", transport, from, &data);
            let peer = Peer {
                transport,
                addr: from,
                connection: Some(id),
            };
            engine.handle_sip(Instant::now(), peer, data);
        }
        ConnEvent::Closed { id } => io.remove_conn(id),
        ConnEvent::Idle { id } => {
            if !engine.connection_in_use(id) {
                tracing::debug!(conn = id.0, "idle connection closed");
                io.remove_conn(id);
            }
        }
        ConnEvent::ConnectFailed { id } => {
            let target = io.by_addr.iter().find(|(_, v)| **v == id).map(|(k, _)| *k);
            io.remove_conn(id);
            if let Some((transport, addr)) = target {
                engine.handle_connection_failed(Instant::now(), transport, addr);
            }
        }
    }
}

/// One RTP packet, and what else is waiting (up to 64), before the loop recomputes its
/// deadline.
pub(super) fn on_rtp(engine: &mut Engine, first: RtpIn, rx: &mut mpsc::Receiver<RtpIn>) {
    let now = Instant::now();
    engine.handle_rtp(now, first.call, first.from, &first.data);
    for _ in 0..64 {
        match rx.try_recv() {
            Ok(p) => engine.handle_rtp(now, p.call, p.from, &p.data),
            Err(_) => break,
        }
    }
}

/// A call's RTP socket after its STUN binding: its receive task starts and the engine
/// learns the address to put in the SDP.
pub(super) fn on_stun_bound(engine: &mut Engine, io: &mut Io, b: StunBound) {
    let public = match b.result {
        Ok(a) => {
            tracing::info!(call = b.call.0, public = %a, "STUN: the RTP socket is seen as this address");
            Some(a)
        }
        Err(e) => {
            tracing::warn!(call = b.call.0, error = %e, "STUN: no public RTP address; using the local one");
            None
        }
    };
    match rtp::start(b.call, b.sock, io.rtp_tx.clone()) {
        Ok((local, sock)) => {
            io.rtp.insert(b.call, sock);
            engine.handle_rtp_bound(Instant::now(), b.call, Ok(public.unwrap_or(local)));
        }
        Err(e) => engine.handle_rtp_bound(Instant::now(), b.call, Err(e.to_string())),
    }
}

/// A host name the engine asked for, resolved (or not).
pub(super) fn on_resolved(
    engine: &mut Engine,
    io: &mut Io,
    host: &str,
    addr: Option<(IpAddr, Option<u16>)>,
) {
    match addr {
        Some((ip, _)) => {
            io.names.insert(ip, host.to_owned());
        }
        None => tracing::warn!(host, "cannot resolve host"),
    }
    engine.handle_resolved(Instant::now(), host, addr);
}

/// A stdin line; false once stdin has closed (the Supervisor may not attach it: the
/// gateway keeps running).
pub(super) fn on_stdin(engine: &mut Engine, io: &Io, ev: Option<StdinEvent>) -> bool {
    match ev {
        Some(StdinEvent::Line(line)) => {
            let _ = run_command(engine, io, "stdin", &line);
        }
        Some(StdinEvent::TooLong) => {
            tracing::error!(
                limit = stdin::MAX_LINE,
                "stdin: command line too long, ignored"
            );
        }
        None => {
            tracing::debug!("stdin closed");
            return false;
        }
    }
    true
}

/// A command, a device message or a connection change from MQTT.
pub(super) fn on_mqtt(engine: &mut Engine, io: &Io, m: hasip_bus::mqtt::MqttIn) {
    match m {
        hasip_bus::mqtt::MqttIn::Command(payload) => match std::str::from_utf8(&payload) {
            Ok(text) => {
                let _ = run_command(engine, io, "mqtt", text);
            }
            Err(e) => io.command_failed("mqtt", &format!("the payload is not UTF-8 ({e})")),
        },
        hasip_bus::mqtt::MqttIn::Connected => {
            tracing::info!("MQTT: connected and subscribed");
            io.publish_device();
        }
        hasip_bus::mqtt::MqttIn::Message {
            topic,
            payload,
            retained,
        } => mqtt_message(engine, io, &topic, &payload, retained),
        hasip_bus::mqtt::MqttIn::Disconnected { reason, retry_in } => {
            tracing::warn!(%reason, ?retry_in, "MQTT: not connected");
        }
    }
}

/// SIGTERM or SIGINT: calls are hung up and accounts unregistered; the loop leaves once
/// the engine is idle or at the returned deadline.
pub(super) fn begin_shutdown(engine: &mut Engine, signal: &str) -> tokio::time::Instant {
    tracing::info!("{signal}: shutting down");
    engine.shutdown(Instant::now());
    tokio::time::Instant::now() + SHUTDOWN_GRACE
}

/// One warning per account that names the ha-sip flags it was given that change nothing.
pub(super) fn warn_ignored_flags(checked: &Checked) {
    for (number, _, f, _) in &checked.accounts {
        if !f.ignored.is_empty() {
            let flags: Vec<String> = f.ignored.iter().map(|n| format!("--{n}")).collect();
            tracing::warn!(
                account = number,
                "options {} are accepted for ha-sip compatibility and have no effect (no \
                 ICE, TURN or RFC 5626 outbound; see docs/compatibility.md)",
                flags.join(" ")
            );
        }
    }
}

/// Accounts whose configuration cannot be used do not run; each says why in the log, its
/// status (health, MQTT device), its 5.5 sensor and, in the add-on, a notification.
pub(super) fn report_broken_accounts(io: &mut Io, broken: &[(u8, String, String)]) {
    for (number, id_uri, reason) in broken {
        tracing::error!(
            account = number,
            "{reason}; this account does not register or take calls, the others run"
        );
        io.status
            .misconfigured(*number, id_uri.clone(), reason.clone());
        io.publish_account(*number);
        if let Some(s) = &io.sensors {
            s.misconfigured(*number, reason);
        }
        io.notify_registration(*number);
    }
    io.web_accounts();
}

/// A request from the dashboard page: a command, carried out as one from stdin with the
/// engine's verdict sent back; or a browser's offer to talk in a call.
pub(super) fn on_web(engine: &mut Engine, io: &mut Io, r: crate::web::WebRequest) {
    match r {
        crate::web::WebRequest::Command { text, reply } => {
            let verdict = run_command(engine, io, "web", &text);
            if let (Err(e), Some(w)) = (&verdict, &io.web) {
                w.command_failed(e);
            }
            let _ = reply.send(verdict);
        }
        crate::web::WebRequest::Talk {
            call,
            offer,
            local_ip,
            reply,
        } => {
            let Some(key) = engine.call_key(&call) else {
                let e = format!("call not in progress: {call}");
                web_failed(io, &e);
                let _ = reply.send(Err(e));
                return;
            };
            if io.talks.contains_key(&key) {
                let _ = reply.send(Err(format!("a browser already talks in {call}")));
                return;
            }
            let ip = if io.web_ingress || local_ip.is_unspecified() {
                io.advertised
            } else {
                local_ip
            };
            let events = io.talk_tx.clone();
            tokio::spawn(async move {
                match crate::talk::start(key, &offer, ip, events.clone()).await {
                    Ok((answer, talk)) => {
                        let started = crate::talk::TalkEvent::Started {
                            call: key,
                            id: call,
                            talk,
                        };
                        if events.send(started).await.is_ok() {
                            let _ = reply.send(Ok(answer));
                        }
                    }
                    Err(e) => {
                        tracing::warn!(call = key.0, error = %e, "browser talk refused");
                        let _ = reply.send(Err(e));
                    }
                }
            });
        }
    }
}

/// A request of the page that failed: logged and published as a command's, and on the
/// page's log.
fn web_failed(io: &Io, e: &str) {
    io.command_failed("web", e);
    if let Some(w) = &io.web {
        w.command_failed(e);
    }
}

/// A browser's talk session: started (the call's audio goes to it), audio from its
/// microphone (into the call), or over.
pub(super) fn on_talk(engine: &mut Engine, io: &mut Io, t: crate::talk::TalkEvent) {
    use crate::talk::TalkEvent;
    match t {
        TalkEvent::Started { call, id, talk } => match engine.set_talk(call, true) {
            Ok(()) => {
                io.talks.insert(call, (id, talk));
            }
            // The call ended meanwhile: dropping the session's handle ends it.
            Err(e) => tracing::info!(call = call.0, error = %e, "browser talk: not started"),
        },
        TalkEvent::Audio { call, pcm } => {
            engine.handle_talk_audio(Instant::now(), call, &pcm, 48_000);
        }
        TalkEvent::Ended { call } => {
            io.talks.remove(&call);
            let _ = engine.set_talk(call, false);
        }
    }
}
