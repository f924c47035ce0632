//! Assist over a call (issue 20): the caller talks to Home Assistant's voice assistant,
//! turn after turn, on any account and codec.
//!
//! The engine decides the turns; the shell carries the audio to the Assist pipeline
//! (`assist_pipeline/run`) and brings the answers back. A voice-activity detector
//! ([`hasip_media::vad`]) hears each received packet as it arrives (ahead of the playout
//! buffer, so 40 ms sooner) and says where speech starts and ends; the audio sent is the
//! tapped frames, in order:
//!
//! - **Waiting**: nothing is sent; the last 300 ms are kept. Speech starts a turn:
//!   [`AssistTap::TurnStarted`], the kept audio and then every frame
//!   ([`AssistTap::Audio`]) go to [`MediaIo::assist`]. No speech for `silence_timeout`
//!   ends Assist (`silence`).
//! - **Speaking**: `end_of_speech` of quiet ends the turn's audio
//!   ([`Output::AssistSpeechEnded`]); so do 20 s of speech.
//! - **Thinking**: the pipeline works; [`Engine::handle_assist`] brings what it heard, its
//!   answer and the spoken answer, which plays.
//! - **Replying**: the answer plays; speech of 200 ms or more over it (barge-in) stops it
//!   and starts the next turn at once. When it has played, Waiting again.
//!
//! End of speech is found here, not by the pipeline (`no_vad`): the gateway needs the
//! detector anyway to start turns, to hear a caller interrupting a reply and to time the
//! silence out, and deciding here means the end of the turn leaves with the frame that
//! ended it, for every codec alike.
//!
//! A digit in `leave_digits` ends Assist (`digit`) and then goes to the call's menu as a
//! pressed key; other digits are ignored while Assist runs. The menu's timeout waits while
//! Assist runs.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hasip_media::vad::{Vad, VadConfig, VadEvent};
use hasip_menu::PlaybackEnd;

use crate::{CallKey, CommandError, Engine, EventKind, Output, Timer};

/// The audio before the detected start of speech that is sent with it (the onset and the
/// soft start of the first word).
const PRE_ROLL: Duration = Duration::from_millis(300);
/// Speech over a reply must last this long to interrupt it (not a cough, not a click).
const BARGE_IN: Duration = Duration::from_millis(200);
/// The longest utterance: the turn's audio ends here even if the caller talks on.
const MAX_UTTERANCE: Duration = Duration::from_secs(20);
/// How long the pipeline may take to answer before Assist gives up (`error`).
const MAX_THINKING: Duration = Duration::from_secs(60);
/// Reply playbacks are numbered apart from the menu's.
const REPLY_ID: u64 = 1 << 62;

/// How an `assist` command wants the conversation held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssistSettings {
    /// The Assist pipeline (`None`: Home Assistant's preferred one).
    pub pipeline: Option<String>,
    /// The language: the first pipeline in it, when no pipeline is named.
    pub language: Option<String>,
    /// The digits that end Assist (then handed to the menu).
    pub leave_digits: String,
    /// No speech for this long ends Assist.
    pub silence_timeout: Duration,
    /// Quiet for this long ends what the caller says.
    pub end_of_speech: Duration,
}

impl Default for AssistSettings {
    fn default() -> Self {
        Self {
            pipeline: None,
            language: None,
            leave_digits: "#".into(),
            silence_timeout: Duration::from_secs(30),
            end_of_speech: Duration::from_millis(500),
        }
    }
}

/// Why Assist ended (`assist_ended`'s `reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssistEnd {
    /// The caller pressed a leave digit.
    Digit,
    /// The caller said nothing for `silence_timeout`.
    Silence,
    /// The call ended.
    Hangup,
    /// The pipeline failed (the log says why) or never answered.
    Error,
    /// `stop_assist`, or a new `assist` replacing it.
    Stopped,
}

impl AssistEnd {
    /// The `reason` of `assist_ended`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Digit => "digit",
            Self::Silence => "silence",
            Self::Hangup => "hangup",
            Self::Error => "error",
            Self::Stopped => "stopped",
        }
    }
}

/// What the engine hands the shell of a call's Assist through [`MediaIo::assist`], in
/// order with the audio.
///
/// [`MediaIo::assist`]: crate::MediaIo::assist
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssistTap<'a> {
    /// The caller started speaking: run turn `turn` of the pipeline, in `conversation_id`.
    TurnStarted {
        /// The turn (answers name it).
        turn: u64,
        /// The conversation of the previous turns.
        conversation_id: Option<&'a str>,
    },
    /// The caller's audio of the current turn, at `rate`.
    Audio {
        /// Mono PCM.
        pcm: &'a [i16],
        /// Its rate (the call's codec's).
        rate: u32,
    },
}

/// What the pipeline gave for a turn, for [`Engine::handle_assist`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssistUpdate {
    /// What speech-to-text heard.
    Heard(String),
    /// The conversation agent's answer, and the conversation to continue.
    Answer {
        /// Its plain speech.
        text: String,
        /// The conversation id for the next turn.
        conversation_id: Option<String>,
    },
    /// The spoken answer, decoded, or why there is none (the turn is then over without an
    /// answer and the caller may speak again).
    Reply(Result<SpokenReply, String>),
    /// The turn failed (the pipeline's error, the websocket): Assist ends (`error`).
    Failed(String),
}

/// A spoken answer: mono PCM at `rate`, best decoded at the call's rate (the shell does);
/// when a re-INVITE changed the call's codec to another rate meanwhile, the engine
/// resamples it before it plays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpokenReply {
    /// Mono PCM.
    pub samples: Arc<[i16]>,
    /// Its rate, in Hz.
    pub rate: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AssistPhase {
    Waiting,
    Speaking,
    Thinking,
    Replying,
}

/// A call's Assist.
#[derive(Debug)]
pub(crate) struct AssistState {
    settings: AssistSettings,
    vad: Vad,
    phase: AssistPhase,
    turn: u64,
    conversation_id: Option<String>,
    /// The last [`PRE_ROLL`] of the caller's audio, at `rate`.
    pre_roll: VecDeque<i16>,
    rate: u32,
    /// The rate of the audio the detector gets.
    vad_rate: u32,
    /// Speech has started but the turn is not announced yet (with the next tapped frame).
    announce: bool,
}

impl AssistState {
    fn vad_config(settings: &AssistSettings, onset: Duration) -> VadConfig {
        VadConfig {
            onset,
            end_silence: settings.end_of_speech,
            ..VadConfig::default()
        }
    }

    fn keep(&mut self, pcm: &[i16]) {
        let cap = (self.rate as usize * PRE_ROLL.as_millis() as usize / 1000).max(1);
        self.pre_roll.extend(pcm);
        while self.pre_roll.len() > cap {
            self.pre_roll.pop_front();
        }
    }
}

impl Engine {
    /// `assist`: the call's audio goes to the Assist pipeline from now on.
    pub(crate) fn assist_start(
        &mut self,
        now: Instant,
        key: CallKey,
        settings: AssistSettings,
    ) -> Result<(), CommandError> {
        let c = self
            .calls
            .get(&key)
            .ok_or_else(|| CommandError("the call is over".into()))?;
        if c.media.session.is_none() {
            return Err(CommandError(format!(
                "assist: call {} has no audio",
                c.info.internal_id
            )));
        }
        if c.assist.is_some() {
            self.assist_end(now, key, AssistEnd::Stopped);
        }
        let Some(c) = self.calls.get_mut(&key) else {
            return Ok(());
        };
        let rate = c.media.rate;
        let vad = Vad::new(
            AssistState::vad_config(&settings, VadConfig::default().onset),
            rate,
        );
        self.outputs.push_back(Output::AssistStart {
            call: key,
            pipeline: settings.pipeline.clone(),
            language: settings.language.clone(),
            rate,
        });
        tracing::info!(call = key.0, pipeline = ?settings.pipeline, "assist started");
        c.assist = Some(Box::new(AssistState {
            settings,
            vad,
            phase: AssistPhase::Waiting,
            turn: 0,
            conversation_id: None,
            pre_roll: VecDeque::new(),
            rate,
            vad_rate: rate,
            announce: false,
        }));
        c.media.assisting = true;
        let tap = c.media.wants_tap();
        if let Some(m) = c.media.session.as_mut() {
            m.set_tap(tap);
            m.set_arrival_tap(true);
        }
        self.set_timer(key, Timer::Menu, None);
        self.assist_wait(now, key);
        self.event(key, EventKind::AssistStarted);
        Ok(())
    }

    /// Back to waiting for the caller to speak, for at most `silence_timeout`.
    fn assist_wait(&mut self, now: Instant, key: CallKey) {
        let Some(a) = self.calls.get_mut(&key).and_then(|c| c.assist.as_mut()) else {
            return;
        };
        a.phase = AssistPhase::Waiting;
        a.vad.reset();
        let config = AssistState::vad_config(&a.settings, VadConfig::default().onset);
        a.vad.set_config(config);
        let at = now + a.settings.silence_timeout;
        self.set_timer(key, Timer::Assist, Some(at));
    }

    /// Ends the call's Assist (if it runs) for `why`.
    pub(crate) fn assist_end(&mut self, now: Instant, key: CallKey, why: AssistEnd) {
        let Some(c) = self.calls.get_mut(&key) else {
            return;
        };
        let Some(a) = c.assist.take() else {
            return;
        };
        c.media.assisting = false;
        let tap = c.media.wants_tap();
        let replying = a.phase == AssistPhase::Replying;
        if let Some(m) = c.media.session.as_mut() {
            m.set_tap(tap);
            m.set_arrival_tap(false);
            if replying {
                m.stop_playback();
            }
        }
        tracing::info!(
            call = key.0,
            reason = why.name(),
            turns = a.turn,
            "assist ended"
        );
        self.outputs.push_back(Output::AssistStop { call: key });
        self.set_timer(key, Timer::Assist, None);
        self.event(key, EventKind::AssistEnded(why.name().into()));
        if why != AssistEnd::Hangup {
            self.media_events(now, key);
            self.arm_menu_timer(key);
        }
    }

    /// A digit while Assist runs: true when Assist took it (the menu does not see it).
    pub(crate) fn assist_digit(&mut self, now: Instant, key: CallKey, digit: char) -> bool {
        let Some(a) = self.calls.get(&key).and_then(|c| c.assist.as_ref()) else {
            return false;
        };
        if a.settings
            .leave_digits
            .chars()
            .any(|d| d.eq_ignore_ascii_case(&digit))
        {
            self.assist_end(now, key, AssistEnd::Digit);
            // The menu then takes the digit as a pressed key.
            return false;
        }
        tracing::debug!(call = key.0, %digit, "assist: digit ignored");
        true
    }

    /// Whether the call's Assist timer is due and what it means.
    pub(crate) fn assist_timer(&mut self, now: Instant, key: CallKey) {
        let Some(c) = self.calls.get(&key) else {
            return;
        };
        if !c.timers.due(Timer::Assist, now) {
            return;
        }
        let Some(a) = c.assist.as_ref() else {
            self.set_timer(key, Timer::Assist, None);
            return;
        };
        match a.phase {
            AssistPhase::Waiting => self.assist_end(now, key, AssistEnd::Silence),
            AssistPhase::Thinking => {
                tracing::warn!(call = key.0, "assist: the pipeline did not answer in time");
                self.assist_end(now, key, AssistEnd::Error);
            }
            // The caller talked for the longest utterance: the turn's audio ends here.
            AssistPhase::Speaking => self.assist_think(now, key),
            AssistPhase::Replying => self.set_timer(key, Timer::Assist, None),
        }
    }

    /// The turn's audio is complete: tell the shell and wait for the pipeline. What the
    /// playout buffer still holds of the turn (the end of the quiet) is not sent.
    fn assist_think(&mut self, now: Instant, key: CallKey) {
        let Some(a) = self.calls.get_mut(&key).and_then(|c| c.assist.as_mut()) else {
            return;
        };
        a.phase = AssistPhase::Thinking;
        let turn = a.turn;
        tracing::debug!(call = key.0, turn, "assist: end of speech");
        self.outputs
            .push_back(Output::AssistSpeechEnded { call: key, turn });
        self.set_timer(key, Timer::Assist, Some(now + MAX_THINKING));
    }

    /// One tapped frame of what the caller said, at `rate` (from `drain_media`, after the
    /// playout buffer): kept as lead-in, or sent while the caller speaks, the turn's start
    /// announced first.
    pub(crate) fn assist_frame(
        &mut self,
        key: CallKey,
        pcm: &[i16],
        rate: u32,
        io: &mut dyn crate::MediaIo,
    ) {
        let Some(a) = self.calls.get_mut(&key).and_then(|c| c.assist.as_mut()) else {
            return;
        };
        if rate != a.rate {
            // The codec changed (a re-INVITE): the kept audio is at the old rate.
            a.rate = rate;
            a.pre_roll.clear();
        }
        if a.phase != AssistPhase::Speaking {
            a.keep(pcm);
            return;
        }
        if std::mem::take(&mut a.announce) {
            let kept: Vec<i16> = a.pre_roll.drain(..).collect();
            io.assist(
                key,
                AssistTap::TurnStarted {
                    turn: a.turn,
                    conversation_id: a.conversation_id.as_deref(),
                },
            );
            io.assist(key, AssistTap::Audio { pcm: &kept, rate });
        }
        io.assist(key, AssistTap::Audio { pcm, rate });
    }

    /// A received packet's audio as it arrived, ahead of the playout buffer (from
    /// `handle_rtp`): the detector decides here, 40 ms sooner than on the tapped frames,
    /// where speech starts (the turn is announced with the next tapped frame, whose audio
    /// then still holds the start) and where it ends.
    pub(crate) fn assist_arrival(&mut self, now: Instant, key: CallKey, pcm: &[i16], rate: u32) {
        let Some(a) = self.calls.get_mut(&key).and_then(|c| c.assist.as_mut()) else {
            return;
        };
        if rate != a.vad_rate {
            a.vad_rate = rate;
            a.vad = Vad::new(a.vad.config(), rate);
        }
        match (a.phase, a.vad.process(pcm)) {
            (AssistPhase::Speaking, Some(VadEvent::SpeechEnded)) => {
                if std::mem::take(&mut a.announce) {
                    // Not a word of it was sent yet: no turn.
                    a.turn -= 1;
                    self.assist_wait(now, key);
                } else {
                    self.assist_think(now, key);
                }
            }
            (AssistPhase::Waiting | AssistPhase::Replying, Some(VadEvent::SpeechStarted)) => {
                let barge_in = a.phase == AssistPhase::Replying;
                a.turn += 1;
                a.phase = AssistPhase::Speaking;
                a.announce = true;
                let turn = a.turn;
                let config = AssistState::vad_config(&a.settings, VadConfig::default().onset);
                a.vad.set_config(config);
                if barge_in {
                    tracing::info!(
                        call = key.0,
                        turn,
                        "assist: the caller spoke over the reply"
                    );
                    if let Some(m) = self
                        .calls
                        .get_mut(&key)
                        .and_then(|c| c.media.session.as_mut())
                    {
                        m.stop_playback();
                    }
                } else {
                    tracing::debug!(call = key.0, turn, "assist: the caller speaks");
                }
                self.set_timer(key, Timer::Assist, Some(now + MAX_UTTERANCE));
            }
            _ => {}
        }
    }

    /// What the pipeline gave for `turn` of `call`'s Assist.
    pub fn handle_assist(&mut self, now: Instant, call: CallKey, turn: u64, update: AssistUpdate) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let call_rate = c.media.rate;
        let Some(a) = c.assist.as_mut() else {
            return;
        };
        if a.turn != turn {
            // An older turn, overtaken by the caller speaking again.
            tracing::debug!(call = call.0, turn, "assist: an old turn's answer, dropped");
            return;
        }
        match update {
            AssistUpdate::Heard(text) => {
                tracing::info!(call = call.0, turn, heard = %text, "assist: heard");
                self.event(call, EventKind::AssistHeard(text));
            }
            AssistUpdate::Answer {
                text,
                conversation_id,
            } => {
                if conversation_id.is_some() {
                    a.conversation_id = conversation_id;
                }
                tracing::info!(call = call.0, turn, answer = %text, "assist: answered");
                self.event(call, EventKind::AssistAnswered(text));
            }
            AssistUpdate::Reply(audio) => {
                if a.phase != AssistPhase::Thinking {
                    return;
                }
                match audio {
                    Ok(spoken) => {
                        let samples = if spoken.rate == call_rate || spoken.rate == 0 {
                            spoken.samples
                        } else {
                            // The codec changed its rate since the answer was decoded.
                            let mut out = Vec::with_capacity(
                                spoken.samples.len() * call_rate as usize / spoken.rate as usize
                                    + 1,
                            );
                            hasip_media::mix::resample_into(
                                &spoken.samples,
                                spoken.rate,
                                call_rate,
                                &mut out,
                            );
                            out.into()
                        };
                        a.phase = AssistPhase::Replying;
                        a.vad.reset();
                        let config = AssistState::vad_config(&a.settings, BARGE_IN);
                        a.vad.set_config(config);
                        self.set_timer(call, Timer::Assist, None);
                        // The menu's prompt, if one still plays, gives way to the answer.
                        if let Some((id, _)) =
                            self.calls.get_mut(&call).and_then(|c| c.playing.take())
                            && let Some(c) = self.calls.get_mut(&call)
                        {
                            c.menu.handle_playback_end(now, id, PlaybackEnd::Stopped);
                        }
                        tracing::debug!(call = call.0, turn, "assist: the answer plays");
                        self.media_play(now, call, REPLY_ID | turn, samples);
                    }
                    Err(e) => {
                        tracing::warn!(call = call.0, turn, error = %e, "assist: no spoken answer");
                        self.assist_wait(now, call);
                    }
                }
            }
            AssistUpdate::Failed(e) => {
                tracing::warn!(call = call.0, turn, error = %e, "assist: the pipeline failed");
                self.assist_end(now, call, AssistEnd::Error);
            }
        }
        self.pump(now);
    }

    /// A playback of `call` finished: true when it was an Assist reply (then the caller
    /// may speak again).
    pub(crate) fn assist_reply_done(&mut self, now: Instant, call: CallKey, playback: u64) -> bool {
        if playback & REPLY_ID == 0 {
            return false;
        }
        let replying = self
            .calls
            .get(&call)
            .and_then(|c| c.assist.as_ref())
            .is_some_and(|a| a.phase == AssistPhase::Replying && REPLY_ID | a.turn == playback);
        if replying {
            self.assist_wait(now, call);
        }
        true
    }

    /// True while the call runs Assist.
    pub(crate) fn assisting(&self, key: CallKey) -> bool {
        self.calls.get(&key).is_some_and(|c| c.assist.is_some())
    }

    /// `stop_assist`.
    pub(crate) fn assist_stop(&mut self, now: Instant, key: CallKey) -> Result<(), CommandError> {
        if !self.assisting(key) {
            return Err(CommandError(
                "stop_assist: the call does not run assist".into(),
            ));
        }
        self.assist_end(now, key, AssistEnd::Stopped);
        Ok(())
    }

    /// The phase, for tests.
    #[cfg(test)]
    pub(crate) fn assist_phase(&self, key: CallKey) -> Option<AssistPhase> {
        self.calls
            .get(&key)
            .and_then(|c| c.assist.as_ref())
            .map(|a| a.phase)
    }
}
