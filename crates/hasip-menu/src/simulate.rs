//! A caller in virtual time: drives a [`MenuSession`] with digits and pauses and writes a
//! plain-text transcript of what the caller hears, which actions run, which events are sent
//! and when the call hangs up. Used by `hasip menu simulate` and the snapshot tests.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::session::{MenuSession, Output, PlaybackEnd, PlaybackId, Prompt};
use crate::tree::{MenuTree, quote};

/// How the simulated call behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimOptions {
    /// How long every prompt (message or file) plays.
    pub prompt_length: Duration,
    /// The caller's pause before each digit.
    pub digit_gap: Duration,
    /// Press digits without waiting for the prompt that plays to end.
    pub barge_in: bool,
    /// Virtual time after which the simulation stops in any case.
    pub limit: Duration,
}

impl Default for SimOptions {
    fn default() -> Self {
        Self {
            prompt_length: Duration::from_secs(2),
            digit_gap: Duration::from_millis(500),
            barge_in: false,
            limit: Duration::from_secs(24 * 3600),
        }
    }
}

/// One thing the caller does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallerStep {
    /// Press a key.
    Digit(char),
    /// Stay silent this long.
    Pause(Duration),
}

/// Reads a caller script: DTMF keys (`0-9`, `*`, `#`, `A-D`), `,` for a pause of one
/// second, `[2.5s]` or `[300ms]` for a pause of that length; spaces are ignored.
///
/// # Errors
/// Any other character, or a malformed pause.
pub fn parse_script(script: &str) -> Result<Vec<CallerStep>, String> {
    let mut steps = Vec::new();
    let mut chars = script.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            c if c.is_whitespace() => {}
            ',' => steps.push(CallerStep::Pause(Duration::from_secs(1))),
            '[' => {
                let mut inner = String::new();
                let mut closed = false;
                for (_, c) in chars.by_ref() {
                    if c == ']' {
                        closed = true;
                        break;
                    }
                    inner.push(c);
                }
                if !closed {
                    return Err(format!("unclosed \"[\" at position {}", i + 1));
                }
                steps.push(CallerStep::Pause(pause(inner.trim())?));
            }
            c if c.is_ascii_digit() || matches!(c, '*' | '#' | 'A'..='D' | 'a'..='d') => {
                steps.push(CallerStep::Digit(c.to_ascii_uppercase()));
            }
            c => {
                return Err(format!(
                    "{c:?} at position {} is not a DTMF key (0-9, *, #, A-D), \",\" or a pause like [2s]",
                    i + 1
                ));
            }
        }
    }
    Ok(steps)
}

fn pause(text: &str) -> Result<Duration, String> {
    let (number, scale) = if let Some(n) = text.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1.0)
    } else {
        (text, 1.0)
    };
    number
        .trim()
        .parse::<f64>()
        .ok()
        .map(|x| x * scale)
        .filter(|x| x.is_finite() && (0.0..=86_400.0).contains(x))
        .map(Duration::from_secs_f64)
        .ok_or_else(|| format!("\"[{text}]\" is not a pause such as [2s] or [300ms] (up to a day)"))
}

/// Most transcript lines; a longer simulation stops there.
const MAX_LINES: usize = 5_000;
/// Most prompts [`Simulation::wait_until_quiet`] waits for.
pub const QUIET_PROMPTS: usize = 20;
/// Most steps while advancing time; guards against a session that never settles.
const MAX_ITERATIONS: usize = 100_000;

#[derive(Debug)]
struct Playing {
    id: PlaybackId,
    ends: Instant,
    prompt: Prompt,
}

/// A call driven by a simulated caller.
#[derive(Debug)]
pub struct Simulation {
    session: MenuSession,
    t0: Instant,
    now: Instant,
    playing: Option<Playing>,
    transcript: String,
    lines: usize,
    options: SimOptions,
    stopped: bool,
}

impl Simulation {
    /// A call about to be established at `t0`.
    #[must_use]
    pub fn new(t0: Instant, tree: Arc<MenuTree>, options: SimOptions) -> Self {
        Self {
            session: MenuSession::new(tree),
            t0,
            now: t0,
            playing: None,
            transcript: String::new(),
            lines: 0,
            options,
            stopped: false,
        }
    }

    /// The transcript so far.
    #[must_use]
    pub fn transcript(&self) -> &str {
        &self.transcript
    }

    /// Whether the call ended (or the simulation hit a limit).
    #[must_use]
    pub fn is_over(&self) -> bool {
        self.stopped || self.session.is_ended()
    }

    /// The session, to look at its state.
    #[must_use]
    pub fn session(&self) -> &MenuSession {
        &self.session
    }

    /// Virtual time since the start.
    #[must_use]
    pub fn elapsed(&self) -> Duration {
        self.now.saturating_duration_since(self.t0)
    }

    fn line(&mut self, text: &str) {
        if self.lines >= MAX_LINES {
            if !self.stopped {
                self.stopped = true;
                let _ = writeln!(self.transcript, "… stopped after {MAX_LINES} lines");
            }
            return;
        }
        self.lines += 1;
        let t = self.elapsed();
        let stamp = format!("+{}.{:03}s", t.as_secs(), t.subsec_millis());
        let _ = writeln!(self.transcript, "{stamp:<9} {text}");
    }

    fn drain(&mut self) {
        while let Some(o) = self.session.poll_output() {
            let text = match o {
                Output::Play(p) => {
                    let mut text = match &p.prompt {
                        Prompt::Message {
                            text,
                            language,
                            handle_as_template,
                        } => {
                            let mut s = format!("say {}", quote(text));
                            if let Some(l) = language {
                                let _ = write!(s, " [{l}]");
                            }
                            if *handle_as_template {
                                s.push_str(" (template)");
                            }
                            s
                        }
                        Prompt::AudioFile { path } => format!("play {path}"),
                    };
                    if p.wait_for_audio_to_finish {
                        text.push_str(" (digits dropped until it ends)");
                    }
                    self.playing = Some(Playing {
                        id: p.id,
                        ends: self.now + self.options.prompt_length,
                        prompt: p.prompt,
                    });
                    text
                }
                Output::StopPlayback => {
                    self.playing = None;
                    "stop playback".to_owned()
                }
                Output::RunAction(a) => format!("run {a}"),
                Output::HangUp => {
                    self.playing = None;
                    "hang up".to_owned()
                }
                Output::Event(e) => format!("event {e}"),
                Output::Notice(n) => format!("({n})"),
            };
            self.line(&text);
        }
    }

    /// The call is established: the root menu is entered.
    pub fn establish(&mut self) {
        self.line("call established");
        self.session.handle_established(self.now);
        self.drain();
    }

    /// The caller presses a key now.
    pub fn press(&mut self, digit: char) {
        if self.is_over() {
            return;
        }
        self.line(&format!("caller presses {digit}"));
        self.session.handle_digit(self.now, digit);
        self.drain();
    }

    /// Time passes: prompts end and timeouts fire on their way.
    pub fn wait(&mut self, d: Duration) {
        let until = self.now.checked_add(d).unwrap_or(self.now);
        self.advance(until);
    }

    /// Waits until the prompt that plays now has ended.
    pub fn wait_for_prompt(&mut self) {
        if let Some(p) = &self.playing {
            let ends = p.ends;
            self.advance(ends);
        }
    }

    /// Waits until nothing plays any more (prompts that follow each other, such as a
    /// post_action's, included), but for at most [`QUIET_PROMPTS`] prompts: a menu that
    /// repeats itself is never quiet.
    pub fn wait_until_quiet(&mut self) {
        for _ in 0..QUIET_PROMPTS {
            match &self.playing {
                Some(p) if !self.is_over() => {
                    let ends = p.ends;
                    self.advance(ends);
                }
                _ => return,
            }
        }
        if self.playing.is_some() && !self.is_over() {
            self.line(&format!(
                "(still playing after {QUIET_PROMPTS} prompts; give a time to wait)"
            ));
        }
    }

    fn advance(&mut self, until: Instant) {
        let limit = self.t0.checked_add(self.options.limit).unwrap_or(self.t0);
        let until = until.min(limit);
        for _ in 0..MAX_ITERATIONS {
            if self.is_over() {
                return;
            }
            let ends = self.playing.as_ref().map(|p| p.ends);
            let timer = self.session.poll_timeout();
            let next = [Some(until), ends, timer]
                .into_iter()
                .flatten()
                .min()
                .unwrap_or(until);
            if next > until {
                break;
            }
            self.now = next.max(self.now);
            if let Some(p) = self.playing.take_if(|p| p.ends <= self.now) {
                let event = match &p.prompt {
                    Prompt::Message { text, .. } => {
                        format!("event playback_done type=message message={}", quote(text))
                    }
                    Prompt::AudioFile { path } => {
                        format!(
                            "event playback_done type=audio_file audio_file={}",
                            quote(path)
                        )
                    }
                };
                self.line(&event);
                self.session
                    .handle_playback_end(self.now, p.id, PlaybackEnd::Finished);
                self.drain();
            } else if timer.is_some_and(|t| t <= self.now) {
                self.session.handle_timeout(self.now);
                self.drain();
                if self.session.poll_timeout().is_some_and(|t| t <= self.now) {
                    // A session never leaves a deadline in the past; stop rather than spin.
                    break;
                }
            } else {
                break;
            }
        }
        if self.now < until && !self.is_over() {
            self.now = until;
        }
        if self.now >= limit && !self.is_over() {
            self.stopped = true;
            self.line("(simulation time limit reached)");
        }
    }

    /// Runs a caller script, then `after` more time (or, without it, until nothing plays)
    /// and hangs up if the call is still up.
    pub fn run(&mut self, steps: &[CallerStep], after: Option<Duration>) {
        self.establish();
        for step in steps {
            if self.is_over() {
                break;
            }
            match *step {
                CallerStep::Pause(d) => self.wait(d),
                CallerStep::Digit(c) => {
                    if !self.options.barge_in {
                        self.wait_for_prompt();
                    }
                    self.wait(self.options.digit_gap);
                    self.press(c);
                }
            }
        }
        match after {
            Some(d) => self.wait(d),
            None => self.wait_until_quiet(),
        }
        if !self.is_over() {
            let path = self.session.tree().path(self.session.current_menu());
            self.line(&format!("caller hangs up (in {path})"));
            self.session.handle_call_ended();
        }
    }
}

/// Runs `steps` against `tree` from `t0` and returns the transcript.
#[must_use]
pub fn simulate(
    t0: Instant,
    tree: Arc<MenuTree>,
    steps: &[CallerStep],
    after: Option<Duration>,
    options: SimOptions,
) -> String {
    let mut sim = Simulation::new(t0, tree, options);
    sim.run(steps, after);
    sim.transcript
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_parse() {
        assert_eq!(
            parse_script("12 ,[2.5s]#a[300ms]").unwrap(),
            vec![
                CallerStep::Digit('1'),
                CallerStep::Digit('2'),
                CallerStep::Pause(Duration::from_secs(1)),
                CallerStep::Pause(Duration::from_millis(2500)),
                CallerStep::Digit('#'),
                CallerStep::Digit('A'),
                CallerStep::Pause(Duration::from_millis(300)),
            ]
        );
        assert!(
            parse_script("12x")
                .unwrap_err()
                .contains("'x' at position 3")
        );
        assert!(parse_script("[2s").is_err());
        assert!(parse_script("[soon]").is_err());
        assert!(parse_script("[-1s]").is_err());
    }
}
