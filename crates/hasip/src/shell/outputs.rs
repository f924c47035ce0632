//! What one turn of the loop does with what came in and what the engine asks for: a
//! command line (stdin or MQTT) into the engine, a message of the MQTT device, and every
//! output of the engine performed (transmits, RTP ports, events to Home Assistant, MQTT
//! and the device, audio, recordings, lookups), then the media it has ready.

use super::*;

/// Handles one command (a stdin line, an MQTT payload, the page's): parse it (hasip-bus)
/// and hand it to the engine. A failure is logged and published with the field or call it
/// concerns, and returned; nothing else changes.
pub(super) fn run_command(
    engine: &mut Engine,
    io: &Io,
    source: &str,
    text: &str,
) -> Result<(), String> {
    let verdict = match hasip_bus::parse_line(text) {
        Err(e) => Err(e.0),
        Ok(hasip_bus::Request::Engine(cmd)) => {
            tracing::info!(source, ?cmd, "command");
            engine
                .handle_command(Instant::now(), cmd)
                .map_err(|e| e.to_string())
        }
    };
    if let Err(e) = &verdict {
        io.command_failed(source, e);
    }
    verdict
}

/// A message on a subscribed topic other than the command topic: Home Assistant's birth
/// message (publish the device again) or a button of the device.
pub(super) fn mqtt_message(
    engine: &mut Engine,
    io: &Io,
    topic: &str,
    payload: &[u8],
    retained: bool,
) {
    let Some(d) = &io.discovery else { return };
    if d.is_birth(topic) {
        if payload == b"online" {
            tracing::info!("Home Assistant is online: MQTT device published again");
            io.publish_device();
        }
        return;
    }
    let Some((account, press)) = d.press(topic, payload) else {
        tracing::debug!(topic, "MQTT message ignored");
        return;
    };
    if retained {
        // A retained press would act again on every reconnect.
        tracing::warn!(topic, "MQTT: ignored a retained button press");
        return;
    }
    let cmd = match crate::discovery::button_command(&io.status, account, press) {
        Ok(cmd) => cmd,
        Err(e) => return io.command_failed("mqtt button", &e),
    };
    tracing::info!(source = "mqtt button", account, ?cmd, "command");
    if let Err(e) = engine.handle_command(Instant::now(), cmd) {
        io.command_failed("mqtt button", &e.to_string());
    }
}

/// Performs every output the engine has, including those that performing one produces,
/// then sends the media it has ready.
pub(super) async fn drain(engine: &mut Engine, io: &mut Io) {
    drain_outputs(engine, io).await;
    let dropped_before = io.rtp_dropped;
    let mut sink = Sink {
        sockets: &io.rtp,
        recorders: &mut io.recorders,
        dropped: &mut io.rtp_dropped,
        talks: &io.talks,
        assists: &mut io.assists,
    };
    engine.drain_media(Instant::now(), &mut sink);
    // What the media gave rise to (Assist's turns, their events).
    drain_outputs(engine, io).await;
    // Logged at 1, 2, 4, 8, … in all: visible, never a flood.
    if io.rtp_dropped.leading_zeros() != dropped_before.leading_zeros() {
        tracing::warn!(
            total = io.rtp_dropped,
            "RTP packets dropped: the kernel's send buffer was full"
        );
    }
    for call in io.released.drain(..) {
        io.rtp.remove(&call);
        if let Some(r) = io.recorders.remove(&call) {
            r.finish();
        }
    }
}

async fn drain_outputs(engine: &mut Engine, io: &mut Io) {
    while let Some(out) = engine.poll_output() {
        match out {
            Output::Transmit(t) => io.transmit(t).await,
            Output::BindRtp { call } => match io.stun_media {
                // The socket's public address first: the engine writes the SDP with it.
                Some(server) => match rtp::bind_for(call, io.bind_ip, io.rtp_ports.as_ref()) {
                    Ok(sock) => {
                        let tx = io.stun_tx.clone();
                        let id = transaction(&mut io.rng);
                        tokio::spawn(async move {
                            let result = crate::stun::mapped_address(&sock, server, id).await.0;
                            let _ = tx.send(StunBound { call, sock, result }).await;
                        });
                    }
                    Err(e) => engine.handle_rtp_bound(Instant::now(), call, Err(e.to_string())),
                },
                None => {
                    match rtp::open(call, io.bind_ip, io.rtp_ports.as_ref(), io.rtp_tx.clone()) {
                        Ok((addr, sock)) => {
                            io.rtp.insert(call, sock);
                            engine.handle_rtp_bound(Instant::now(), call, Ok(addr));
                        }
                        Err(e) => {
                            engine.handle_rtp_bound(Instant::now(), call, Err(e.to_string()));
                        }
                    }
                }
            },
            Output::ReleaseRtp { call } => io.released.push(call),
            Output::MediaStart { call, negotiated } => {
                tracing::info!(
                    call = call.0,
                    codec = negotiated.codec.name(),
                    pt = negotiated.pt,
                    remote = ?negotiated.remote,
                    direction = ?negotiated.direction,
                    "media"
                );
            }
            Output::StartRecording {
                call,
                path,
                rate,
                channels,
            } => {
                let result = Recorder::create(&path, rate, channels).map(|r| {
                    tracing::info!(call = call.0, file = %path, "recording");
                    if let Some(old) = io.recorders.insert(call, r) {
                        old.finish();
                    }
                });
                engine.handle_recording_opened(Instant::now(), call, result);
            }
            Output::StopRecording { call } => {
                if let Some(r) = io.recorders.remove(&call) {
                    r.finish();
                }
            }
            Output::Resolve { host, srv } => {
                let tx = io.resolve_tx.clone();
                let servers = io.name_servers.clone();
                let ids = [0; 5].map(|_: u16| io.rng.next_u32() as u16);
                tokio::spawn(async move {
                    let addr = if servers.is_empty() {
                        match tokio::time::timeout(
                            Duration::from_secs(10),
                            tokio::net::lookup_host((host.as_str(), 0)),
                        )
                        .await
                        {
                            Ok(Ok(mut addrs)) => addrs.next().map(|a| (a.ip(), None)),
                            _ => None,
                        }
                    } else {
                        crate::dns::resolve(&servers, &host, srv, ids).await
                    };
                    let _ = tx.send((host, addr)).await;
                });
            }
            Output::Event(ev) => {
                let body = hasip_bus::event_json(&ev);
                // One line per event, its JSON body last, so that the log is easy to follow and
                // to read back.
                tracing::info!("event {body}");
                if let Some(account) = io.status.event(&body) {
                    io.publish_account(account);
                }
                if let Some((topic, payload)) = io.discovery.as_ref().and_then(|d| d.event(&body)) {
                    io.publish(&topic, &payload, false);
                }
                if let Some(ha) = &io.ha {
                    ha.event(&ev, &body);
                }
                io.publish_state(&body);
                if let Some(s) = &mut io.sensors {
                    s.event(&body);
                }
                if let Some(w) = &io.web {
                    w.event(&body);
                }
                if matches!(ev.kind, hasip_engine::EventKind::CallDisconnected) {
                    // The browser's session ends with the call.
                    io.talks.retain(|_, (id, _)| *id != ev.call.internal_id);
                }
            }
            Output::Registration { account, state } => {
                tracing::debug!(account, ?state, "registration state");
                if io.status.registration(account, &state) {
                    io.publish_account(account);
                    io.web_accounts();
                }
                io.notify_registration(account);
                if let Some(s) = &io.sensors {
                    s.registration(account, &state);
                }
            }
            Output::Prefetch {
                call,
                message,
                language,
                cache,
            } => {
                if let Some(ha) = &io.ha {
                    tracing::info!(call = call.0, message, language, "TTS fetched ahead");
                    io.audio_cache.prefetch(ha, message, language, cache);
                }
            }
            Output::FetchAudio {
                call,
                playback,
                source,
                rate,
            } => {
                if let Some(result) = audio::fetch(
                    &mut io.audio_cache,
                    io.ha.as_ref(),
                    call,
                    playback,
                    source,
                    rate,
                    &io.audio_tx,
                ) {
                    engine.handle_audio(Instant::now(), call, playback, result);
                }
            }
            Output::CallService {
                domain,
                service,
                body,
            } => match &io.ha {
                Some(ha) => ha.call_service(domain, service, body),
                None => tracing::error!(
                    domain,
                    service,
                    %body,
                    "call_service: Home Assistant is not configured (run as an add-on, or set HA_BASE_URL and HA_TOKEN)"
                ),
            },
            Output::RunAction { from_call, command } => match hasip_bus::parse_command(&command) {
                Ok(hasip_bus::Request::Engine(cmd)) => {
                    tracing::info!(call = from_call.0, ?cmd, "menu action");
                    if let Err(e) = engine.handle_command_from(Instant::now(), Some(from_call), cmd)
                    {
                        io.command_failed("menu", &format!("call {}: {e}", from_call.0));
                    }
                }
                Err(e) => io.command_failed("menu", &format!("call {}: {e}", from_call.0)),
            },
            Output::Quit => {
                io.quit = true;
            }
            Output::AssistStart {
                call,
                pipeline,
                language,
                rate,
            } => {
                let client = io.ha.as_ref().map(|h| &h.client);
                io.assists.start(client, call, pipeline, language, rate);
            }
            Output::AssistSpeechEnded { call, turn } => io.assists.speech_ended(call, turn),
            Output::AssistStop { call } => io.assists.stop(call),
            other => tracing::warn!(?other, "output not handled by this shell"),
        }
    }
}
