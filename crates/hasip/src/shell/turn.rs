//! One turn of the loop: arm the timer at the engine's next deadline, wait for the first
//! input (or the deadline), hand it to the engine, carry out every output; and the last
//! flushes after shutdown.

use super::start::Shell;
use super::*;

impl Shell {
    /// One turn: exactly one input, then every output.
    pub(super) async fn turn(&mut self) {
        self.arm_timer();
        let (engine, io, inputs) = (&mut self.engine, &mut self.io, &mut self.inputs);
        tokio::select! {
            r = recv_udp(io.udp.as_ref(), &mut self.buf) => on_udp(engine, &self.buf, r),
            r = accept_tcp(self.tls_listener.as_ref().map(|(l, _)| l)) => {
                on_accepted(io, r, self.tls_listener.as_ref().map(|(_, a)| a));
            }
            r = accept_tcp(self.tcp_listener.as_ref()) => on_accepted(io, r, None),
            Some(ev) = inputs.conn_rx.recv() => on_connection(engine, io, ev),
            Some(p) = inputs.rtp_rx.recv() => on_rtp(engine, p, &mut inputs.rtp_rx),
            Some(b) = inputs.stun_rx.recv() => on_stun_bound(engine, io, b),
            Some(f) = inputs.audio_rx.recv() => {
                let (call, playback, result) = io.audio_cache.finish(f);
                engine.handle_audio(Instant::now(), call, playback, result);
            }
            Some((host, addr)) = inputs.resolve_rx.recv() => on_resolved(engine, io, &host, addr),
            ev = inputs.stdin_rx.recv(), if inputs.stdin_open => {
                inputs.stdin_open = on_stdin(engine, io, ev);
            }
            Some(m) = inputs.mqtt_rx.recv() => on_mqtt(engine, io, m),
            Some(c) = inputs.web_rx.recv() => on_web(engine, io, c),
            Some(t) = inputs.talk_rx.recv() => on_talk(engine, io, t),
            Some(m) = inputs.assist_rx.recv() => {
                engine.handle_assist(Instant::now(), m.call, m.turn, m.update);
            }
            r = async {
                match inputs.mqtt_later.as_mut() {
                    Some(rx) => rx.await,
                    None => std::future::pending().await,
                }
            }, if inputs.mqtt_later.is_some() => {
                // An error: the starter gave up (it logged why).
                inputs.mqtt_later = None;
                io.mqtt = r.ok();
                io.publish_device();
            }
            Some(reply) = inputs.health_rx.recv() => {
                // Answered here, by the loop itself: a stuck loop answers nothing.
                let _ = reply.send(io.status.health(engine.call_count()).to_string());
            }
            () = self.give_back.due(), if self.give_back.is_armed() => {
                self.give_back.on_due(engine.call_count());
            }
            () = &mut self.timer, if self.armed.is_some() => {
                self.armed = None;
                engine.handle_timeout(Instant::now());
            }
            _ = self.sigterm.recv(), if self.shutdown_deadline.is_none() => {
                self.shutdown_deadline = Some(begin_shutdown(engine, "SIGTERM"));
            }
            _ = self.sigint.recv(), if self.shutdown_deadline.is_none() => {
                self.shutdown_deadline = Some(begin_shutdown(engine, "SIGINT"));
            }
        }
        drain(engine, io).await;
        self.give_back.after_turn(self.engine.call_count());
        if self.io.quit && self.shutdown_deadline.is_none() {
            // `quit` already hung up and unregistered; wait for the answers as at SIGTERM.
            self.shutdown_deadline = Some(tokio::time::Instant::now() + SHUTDOWN_GRACE);
        }
    }

    /// Moves the timer to the earlier of the engine's next deadline and the shutdown's.
    fn arm_timer(&mut self) {
        let wake = self
            .engine
            .poll_timeout()
            .map(tokio::time::Instant::from_std);
        let deadline = match (wake, self.shutdown_deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if deadline != self.armed {
            if let Some(d) = deadline {
                self.timer.as_mut().reset(d);
            }
            self.armed = deadline;
        }
    }

    /// After shutdown began: true once nothing is pending, or the grace period is over.
    pub(super) fn finished(&self) -> bool {
        let Some(d) = self.shutdown_deadline else {
            return false;
        };
        if self.engine.is_idle() {
            return true;
        }
        if tokio::time::Instant::now() >= d {
            tracing::warn!("shutdown grace period over; leaving with requests unanswered");
            return true;
        }
        false
    }

    /// The last flushes: connections closed, recordings finished, Home Assistant's and
    /// MQTT's queues given the grace period.
    pub(super) async fn stop(mut self) {
        self.stdin_task.abort();
        for (_, (_, c)) in self.io.conns.drain() {
            c.close();
        }
        if self.io.rtp_dropped > 0 {
            tracing::info!(
                total = self.io.rtp_dropped,
                "RTP packets dropped while running"
            );
        }
        for (_, r) in self.io.recorders.drain() {
            r.finish();
        }
        if let Some(ha) = &self.io.ha {
            ha.shutdown(SHUTDOWN_GRACE).await;
        }
        if let Some(m) = &self.io.mqtt {
            m.shutdown(SHUTDOWN_GRACE).await;
        }
        tracing::info!("stopped");
    }
}

/// A SIP datagram on the UDP socket.
fn on_udp(engine: &mut Engine, buf: &[u8], r: std::io::Result<(usize, SocketAddr)>) {
    match r {
        Ok((n, from)) => {
            let data = Bytes::copy_from_slice(&buf[..n]);
            trace_message("recv", Transport::Udp, from, &data);
            let peer = Peer {
                transport: Transport::Udp,
                addr: from,
                connection: None,
            };
            engine.handle_sip(Instant::now(), peer, data);
        }
        // ICMP errors from earlier sends surface here on Linux; they are not fatal.
        Err(e) => tracing::debug!(error = %e, "UDP receive error"),
    }
}

/// A TCP connection accepted (TLS when `tls` gives the acceptor).
fn on_accepted(
    io: &mut Io,
    r: std::io::Result<(TcpStream, SocketAddr)>,
    tls: Option<&tokio_rustls::TlsAcceptor>,
) {
    let kind = if tls.is_some() { "TLS" } else { "TCP" };
    match r {
        Ok((stream, from)) => {
            if let Some(id) = io.add_conn(stream, from, tls) {
                tracing::debug!(%from, conn = id.0, "{kind} connection accepted");
            }
        }
        Err(e) => tracing::warn!(error = %e, "{kind} accept failed"),
    }
}
