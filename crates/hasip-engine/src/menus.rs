//! Menus and playback: how the engine runs each call's [`MenuSession`], hands it digits,
//! and asks the shell for audio (the commands are in `dispatch.rs`).

use std::time::Instant;

use hasip_menu::{MenuTree, Output as MenuOutput, PlaybackEnd, Prompt};

use crate::{Audio, AudioSource, CallKey, Engine, EventKind, Output, Phase, PlaybackKind, Timer};

impl Engine {
    /// Asks the shell to fetch the TTS audio of the menu's first prompt now, while the call
    /// rings (issue 6: no gap at pick-up). Templates are not fetched ahead: they may depend
    /// on the moment they are spoken.
    pub(crate) fn prefetch(&mut self, call: CallKey, tree: &MenuTree) {
        let Some(root) = tree.node(tree.root()) else {
            return;
        };
        if root.handle_as_template {
            return;
        }
        if let Some(message) = root.message.as_ref().filter(|m| !m.trim().is_empty()) {
            let language = root
                .language
                .clone()
                .unwrap_or_else(|| self.config.tts_language.clone());
            self.outputs.push_back(Output::Prefetch {
                call,
                message: message.clone(),
                language,
                cache: root.cache_audio,
            });
        }
    }

    /// Performs what the call's menu asks for, until it asks for nothing more.
    /// Carries out what the call's menu asks for, then arms the menu's deadline (any
    /// input to a menu is followed by this).
    pub(crate) fn drain_menu(&mut self, now: Instant, key: CallKey) {
        self.drain_menu_outputs(now, key);
        self.arm_menu_timer(key);
    }

    /// Arms the call's menu deadline from its menu (after any input to the menu).
    pub(crate) fn arm_menu_timer(&mut self, key: CallKey) {
        // The menu's timeout waits while Assist runs.
        let at = self
            .calls
            .get(&key)
            .filter(|c| c.assist.is_none())
            .and_then(|c| c.menu.poll_timeout());
        if self
            .calls
            .get(&key)
            .is_some_and(|c| c.timers.get(Timer::Menu) != at)
        {
            self.set_timer(key, Timer::Menu, at);
        }
    }

    fn drain_menu_outputs(&mut self, now: Instant, key: CallKey) {
        // Bounded: a menu emits a finite batch per input (it stops jump loops itself).
        for _ in 0..1000 {
            let Some(out) = self.calls.get_mut(&key).and_then(|c| c.menu.poll_output()) else {
                return;
            };
            match out {
                MenuOutput::Play(play) => {
                    let language = self.config.tts_language.clone();
                    let (source, kind) = match play.prompt {
                        Prompt::Message {
                            text,
                            language: lang,
                            handle_as_template,
                        } => (
                            AudioSource::Tts {
                                message: text.clone(),
                                template: handle_as_template,
                                language: lang.unwrap_or(language),
                                cache: play.cache_audio,
                            },
                            PlaybackKind::Message(text),
                        ),
                        Prompt::AudioFile { path } => (
                            AudioSource::File {
                                path: path.clone(),
                                cache: play.cache_audio,
                            },
                            PlaybackKind::AudioFile(path),
                        ),
                    };
                    let Some(c) = self.calls.get_mut(&key) else {
                        return;
                    };
                    let playback = play.id.get();
                    c.playing = Some((play.id, kind));
                    let rate = c.media.rate;
                    self.outputs.push_back(Output::FetchAudio {
                        call: key,
                        playback,
                        source,
                        rate,
                    });
                }
                MenuOutput::StopPlayback => {
                    if let Some(c) = self.calls.get_mut(&key) {
                        c.playing = None;
                    }
                    self.media_stop(now, key);
                }
                MenuOutput::RunAction(action) => {
                    self.outputs.push_back(Output::RunAction {
                        from_call: key,
                        command: action.to_json(),
                    });
                }
                MenuOutput::HangUp => self.hangup_call(now, key),
                MenuOutput::Event(ev) => {
                    let kind = match ev {
                        hasip_menu::Event::DtmfDigit { digit } => EventKind::DtmfDigit(digit),
                        hasip_menu::Event::EnteredMenu { menu_id } => {
                            EventKind::EnteredMenu(menu_id)
                        }
                        hasip_menu::Event::Timeout { menu_id } => EventKind::Timeout(menu_id),
                        hasip_menu::Event::PinLockout { menu_id } => EventKind::PinLockout(menu_id),
                    };
                    self.event(key, kind);
                }
                MenuOutput::Notice(n) => tracing::info!(call = key.0, "menu: {n}"),
            }
        }
        tracing::warn!(
            call = key.0,
            "menu produced too many outputs at once; the rest waits for the next input"
        );
    }

    /// A DTMF digit from any source (SIP INFO, RFC 4733, in-band).
    pub(crate) fn dtmf(&mut self, now: Instant, key: CallKey, digit: char) {
        let Some(c) = self.calls.get_mut(&key) else {
            return;
        };
        if c.phase != Phase::Established {
            // ha-sip processes digits from the menu loop, which runs once established.
            tracing::debug!(call = key.0, %digit, "DTMF before the call is established, ignored");
            return;
        }
        if self.assist_digit(now, key, digit) {
            return;
        }
        let Some(c) = self.calls.get_mut(&key) else {
            return;
        };
        c.menu.handle_digit(now, digit);
        self.escalation_digit(key, digit);
        self.drain_menu(now, key);
    }

    /// The shell fetched (or failed to fetch) the audio of a playback.
    pub fn handle_audio(
        &mut self,
        now: Instant,
        call: CallKey,
        playback: u64,
        audio: Result<Audio, String>,
    ) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        if c.playing.as_ref().map(|p| p.0.get()) != Some(playback) {
            // Replaced or stopped while it was being fetched.
            return;
        }
        match audio {
            Ok(a) => {
                if let (Some(spoken), Some((_, PlaybackKind::Message(text)))) =
                    (&a.spoken, c.playing.as_mut())
                {
                    text.clone_from(spoken);
                }
                self.media_play(now, call, playback, a.samples);
            }
            Err(e) => {
                // As ha-sip plays its error.wav: the caller hears that something went
                // wrong, the playback then ends as if played (playback_done, post_action).
                tracing::warn!(call = call.0, playback, error = %e, "cannot play; the error tone plays instead");
                let tone = hasip_media::tone::error_tone(c.media.rate);
                self.media_play(now, call, playback, tone.into());
            }
        }
        self.pump(now);
    }

    /// A playback ended (played out, stopped, or failed).
    pub(crate) fn playback_ended(
        &mut self,
        now: Instant,
        call: CallKey,
        playback: u64,
        end: PlaybackEnd,
    ) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let (id, kind) = match c.playing.take() {
            Some((id, kind)) if id.get() == playback => (id, kind),
            other => {
                // Not the current playback (replaced or stopped meanwhile): nothing to do.
                c.playing = other;
                return;
            }
        };
        c.menu.handle_playback_end(now, id, end);
        if end == PlaybackEnd::Finished {
            self.event(call, EventKind::PlaybackDone(kind));
        }
        self.drain_menu(now, call);
    }
}
