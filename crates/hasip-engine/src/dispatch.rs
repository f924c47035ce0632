//! The command dispatcher: what each command (spec §3.4, and ha-sip-rs's own) does to its
//! call, from the moment our 200 OK is sent (`connected_call`).

use hasip_menu::{PlayCommand, Prompt};

use super::*;

impl Engine {
    /// A call that is connected: answered (our 200 OK sent, its ACK perhaps still on the
    /// way), in its settle time, or established. The usual door opener sends `answer` and
    /// `send_dtmf` together; the settle time only delays `call_established` and the menu
    /// (issue 22).
    pub(crate) fn connected_call(
        &self,
        from_call: Option<CallKey>,
        number: &str,
    ) -> Result<CallKey, CommandError> {
        let key = self.find_from(from_call, number)?;
        match self
            .calls
            .get(&key)
            .map(|c| (c.phase, c.media.session.is_some()))
        {
            Some((Phase::Established | Phase::Settling, _) | (Phase::Ringing, true)) => Ok(key),
            _ => Err(CommandError(format!("call {number} is not connected"))),
        }
    }

    /// Carries out one command.
    pub(crate) fn command(
        &mut self,
        now: Instant,
        from_call: Option<CallKey>,
        command: Command,
    ) -> Result<(), CommandError> {
        match command {
            Command::CallService {
                domain,
                service,
                entity_id,
                service_data,
            } => {
                // The body is entity_id merged at the top level with service_data (§3.4.1).
                let mut body = serde_json::Map::new();
                if let Some(e) = entity_id.filter(|e| !e.is_empty()) {
                    body.insert("entity_id".into(), e.into());
                }
                body.extend(service_data);
                self.outputs.push_back(Output::CallService {
                    domain,
                    service,
                    body: serde_json::Value::Object(body),
                });
                Ok(())
            }
            Command::Dial {
                number,
                ring_timeout,
                sip_account,
                webhook_to_call,
                menu,
            } => self.dial(
                now,
                number,
                ring_timeout,
                sip_account,
                webhook_to_call,
                menu,
            ),
            Command::Answer {
                number,
                webhook_to_call,
                menu,
            } => {
                let key = self.find_from(from_call, &number)?;
                let c = self.calls.get_mut(&key).ok_or_else(|| not_found(&number))?;
                let answered = c.phase == Phase::Ringing
                    && c.direction == CallDirection::Incoming
                    && c.media.session.is_some();
                let acts = matches!(c.phase, Phase::Established | Phase::Settling)
                    || answered
                    || (c.direction == CallDirection::Incoming && c.phase == Phase::Ringing);
                if !acts {
                    // ha-sip crashed here for outgoing calls (issue #81); we decline clearly,
                    // and a refused command changes nothing.
                    return Err(CommandError(format!(
                        "call {number} is not an incoming call that is ringing"
                    )));
                }
                if let Some(w) = webhook_to_call {
                    c.webhooks = w;
                }
                let tree = menu.map(|m| Arc::new(MenuTree::new(&m)));
                if let Some(t) = &tree {
                    c.menu.handle_menu_replaced(now, Arc::clone(t));
                }
                let established = c.phase == Phase::Established;
                self.arm_menu_timer(key);
                if let Some(t) = tree.filter(|_| !established) {
                    // Not playing yet: its first prompt is fetched now, so the caller does
                    // not wait for TTS at pick-up (issue 22).
                    self.prefetch(key, &t);
                }
                let c = self.calls.get_mut(&key).ok_or_else(|| not_found(&number))?;
                if c.phase == Phase::Established {
                    // ha-sip 5.5: an answer with a menu on an established call enters it.
                    self.drain_menu(now, key);
                    return Ok(());
                }
                if c.phase == Phase::Settling || answered {
                    // Already answered: the (replaced) menu is entered when the settle
                    // time ends, as for any answered call (ha-sip crashed here, spec §3.4.4).
                    return Ok(());
                }
                let bound = c.media.rtp.is_some();
                self.set_timer(key, Timer::Answer, Some(now));
                if !bound && !self.rtp_requested(key) {
                    self.outputs.push_back(Output::BindRtp { call: key });
                }
                self.call_timers(now, key);
                Ok(())
            }
            Command::Reject { number, code } => {
                let key = self.find_from(from_call, &number)?;
                let c = self.calls.get(&key).ok_or_else(|| not_found(&number))?;
                let (Some(r), CallDirection::Incoming, Phase::Ringing) =
                    (c.ua, c.direction, c.phase)
                else {
                    return Err(CommandError(format!(
                        "call {number} is not an incoming call that is ringing"
                    )));
                };
                if !(400..700).contains(&code) {
                    return Err(CommandError(format!(
                        "code: {code} is not a final error status (400-699)"
                    )));
                }
                self.ua
                    .reject(now, r, code, reject_reason(code))
                    .map_err(|e| CommandError(format!("call {number}: {e}")))
            }
            Command::Hangup { number } => {
                let key = self.find_from(from_call, &number)?;
                self.hangup_call(now, key);
                Ok(())
            }
            Command::Transfer {
                number,
                transfer_to,
            } => {
                let key = self.connected_call(from_call, &number)?;
                let r = self
                    .calls
                    .get(&key)
                    .and_then(|c| c.ua)
                    .ok_or_else(|| not_found(&number))?;
                if hasip_sip::dialog::uri_of(&transfer_to).is_none() {
                    return Err(CommandError(format!(
                        "transfer_to: {transfer_to:?} is not a URI"
                    )));
                }
                self.ua
                    .refer(now, r, &transfer_to)
                    .map_err(|e| CommandError(format!("call {number}: {e}")))
            }
            Command::SendDtmf {
                number,
                digits,
                method,
                tone,
                gap,
            } => {
                let timing = crate::DtmfTiming {
                    tone: tone.unwrap_or(self.config.dtmf_timing.tone),
                    pause: gap.unwrap_or(self.config.dtmf_timing.pause),
                };
                if let Some(bad) = digits
                    .chars()
                    .find(|c| !matches!(c.to_ascii_uppercase(), '0'..='9' | '*' | '#' | 'A'..='D'))
                {
                    return Err(CommandError(format!(
                        "digits: {bad:?} is not a DTMF digit (0-9, *, #, A-D)"
                    )));
                }
                let key = self.connected_call(from_call, &number)?;
                // Sending resets the menu's timeout (spec §3.4.7).
                if let Some(c) = self.calls.get_mut(&key) {
                    c.menu.handle_activity(now);
                }
                self.arm_menu_timer(key);
                match method {
                    DtmfMethod::SipInfo => {
                        let r = self
                            .calls
                            .get(&key)
                            .and_then(|c| c.ua)
                            .ok_or_else(|| not_found(&number))?;
                        for d in digits.chars() {
                            let body = format!(
                                "Signal={}\r\nDuration={}\r\n",
                                d.to_ascii_uppercase(),
                                timing.tone.as_millis()
                            );
                            self.ua
                                .send_info(now, r, "application/dtmf-relay", body.as_bytes())
                                .map_err(|e| CommandError(format!("call {number}: {e}")))?;
                        }
                        Ok(())
                    }
                    DtmfMethod::InBand | DtmfMethod::Rfc2833 => {
                        self.media_send_dtmf(key, &number, &digits, method, timing)?;
                        self.mark_media(key);
                        Ok(())
                    }
                }
            }
            Command::PlayMessage {
                number,
                message,
                language,
                handle_as_template,
                cache_audio,
                wait_for_audio_to_finish,
                hangup_after,
            } => {
                let key = self.find_from(from_call, &number)?;
                self.play(
                    now,
                    key,
                    PlayCommand {
                        prompt: Prompt::Message {
                            text: message,
                            language,
                            handle_as_template,
                        },
                        cache_audio,
                        wait_for_audio_to_finish,
                        hangup_after,
                    },
                );
                Ok(())
            }
            Command::PlayAudioFile {
                number,
                audio_file,
                cache_audio,
                wait_for_audio_to_finish,
                hangup_after,
            } => {
                let key = self.find_from(from_call, &number)?;
                self.play(
                    now,
                    key,
                    PlayCommand {
                        prompt: Prompt::AudioFile { path: audio_file },
                        cache_audio,
                        wait_for_audio_to_finish,
                        hangup_after,
                    },
                );
                Ok(())
            }
            Command::StopPlayback { number } => {
                let key = self.find_from(from_call, &number)?;
                if let Some(c) = self.calls.get_mut(&key) {
                    c.menu.handle_stop_playback(now);
                }
                self.drain_menu(now, key);
                Ok(())
            }
            Command::BridgeAudio { number, bridge_to } => {
                let a = self.find_from(from_call, &number)?;
                let b = self.find_from(from_call, &bridge_to)?;
                self.media_bridge(a, b, (&number, &bridge_to))
            }
            Command::StartRecording {
                number,
                recording_file,
                channels,
            } => {
                let key = self.find_from(from_call, &number)?;
                if !recording_file.starts_with('/') {
                    return Err(CommandError(format!(
                        "recording_file: {recording_file:?} must be an absolute path"
                    )));
                }
                self.media_start_recording(key, &number, recording_file, channels)
            }
            Command::StopRecording { number } => {
                let key = self.find_from(from_call, &number)?;
                if self.media_stop_recording(key) {
                    Ok(())
                } else {
                    Err(CommandError(format!("call {number} is not recording")))
                }
            }
            Command::Assist { number, settings } => {
                let key = self.connected_call(from_call, &number)?;
                self.assist_start(now, key, settings)
            }
            Command::StopAssist { number } => {
                let key = self.find_from(from_call, &number)?;
                self.assist_stop(now, key)
            }
            Command::State => {
                let calls: Vec<String> = self
                    .order
                    .iter()
                    .filter_map(|k| self.calls.get(k))
                    .map(|c| format!("{} (aliases: {})", c.info.internal_id, c.aliases.join(", ")))
                    .collect();
                if calls.is_empty() {
                    tracing::info!("No active calls.");
                } else {
                    tracing::info!("Currently registered calls: {}", calls.join("; "));
                }
                Ok(())
            }
            Command::Escalate(request) => self.escalate(now, *request),
            Command::Quit => {
                tracing::info!("Quit.");
                self.shutdown(now);
                self.outputs.push_back(Output::Quit);
                Ok(())
            }
        }
    }

    pub(crate) fn play(&mut self, now: Instant, key: CallKey, command: PlayCommand) {
        if let Some(c) = self.calls.get_mut(&key) {
            // The menu keeps the playback's post_action and wait flag (spec §3.4.8).
            let _ = c.menu.handle_play(now, command);
        }
        self.drain_menu(now, key);
    }
}

/// The reason phrase of a `reject` status.
fn reject_reason(code: u16) -> &'static str {
    match code {
        403 => "Forbidden",
        404 => "Not Found",
        480 => "Temporarily Unavailable",
        486 => "Busy Here",
        488 => "Not Acceptable Here",
        600 => "Busy Everywhere",
        603 => "Decline",
        604 => "Does Not Exist Anywhere",
        _ => "Rejected",
    }
}
