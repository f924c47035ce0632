//! One call's run through its menu (spec §5.3–5.8): digits, playback ends and timer expiry
//! in; prompts, actions, events and hang-up out. Sans-IO: `now` is always an argument.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::model::{Action, PostAction};
use crate::tree::{MenuIndex, MenuTree, quote, seconds};

/// Identifies one playback request, so that a late "playback ended" for a prompt that was
/// already replaced is ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PlaybackId(u64);

impl PlaybackId {
    /// The number, for logs and transcripts.
    #[must_use]
    pub fn get(self) -> u64 {
        self.0
    }
}

/// What to play.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prompt {
    /// Text for Home Assistant's TTS.
    Message {
        /// The text (a template when `handle_as_template`).
        text: String,
        /// The TTS language; none means the global `tts.language`.
        language: Option<String>,
        /// Render `text` through Home Assistant's template API first.
        handle_as_template: bool,
    },
    /// An audio file (`.wav`, `.mp3`, `.ogg`, `.flac`).
    AudioFile {
        /// The path as written.
        path: String,
    },
}

/// A request to play a prompt to the caller. Answer it with
/// [`MenuSession::handle_playback_end`] when it ends (or could not start).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Play {
    /// Names this playback in `handle_playback_end`.
    pub id: PlaybackId,
    /// What to play.
    pub prompt: Prompt,
    /// The TTS result or converted file may be cached (`cache_audio`).
    pub cache_audio: bool,
    /// Digits are dropped while this plays (`wait_for_audio_to_finish`).
    pub wait_for_audio_to_finish: bool,
}

/// How a playback ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlaybackEnd {
    /// It played to the end (the engine sends `playback_done`).
    Finished,
    /// Something else stopped it (a `stop_playback` command).
    Stopped,
    /// It could not play (no media, a file that cannot be read).
    Failed,
}

/// An event for Home Assistant (webhooks and MQTT, spec §6.3) caused by the menu.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// `dtmf_digit`: a digit was taken from the queue (as received, e.g. `A`).
    DtmfDigit {
        /// The digit.
        digit: char,
    },
    /// `entered_menu`: a menu with an id was entered (not on `repeat_message`).
    EnteredMenu {
        /// The menu's id.
        menu_id: String,
    },
    /// `timeout`: a menu's timeout passed; `menu_id` is the menu that timed out.
    Timeout {
        /// The id of the menu that timed out (none if it has no id).
        menu_id: Option<String>,
    },
    /// `pin_lockout` (ha-sip-rs only): `max_pin_attempts` wrong PINs; the call is hung up.
    PinLockout {
        /// The PIN menu's id.
        menu_id: Option<String>,
    },
}

impl Event {
    /// The event name on the wire.
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            Self::DtmfDigit { .. } => "dtmf_digit",
            Self::EnteredMenu { .. } => "entered_menu",
            Self::Timeout { .. } => "timeout",
            Self::PinLockout { .. } => "pin_lockout",
        }
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let id = |i: &Option<String>| i.as_deref().map_or_else(|| "null".to_owned(), quote);
        match self {
            Self::DtmfDigit { digit } => {
                write!(f, "dtmf_digit digit={}", quote(&digit.to_string()))
            }
            Self::EnteredMenu { menu_id } => write!(f, "entered_menu menu_id={}", quote(menu_id)),
            Self::Timeout { menu_id } => write!(f, "timeout menu_id={}", id(menu_id)),
            Self::PinLockout { menu_id } => write!(f, "pin_lockout menu_id={}", id(menu_id)),
        }
    }
}

/// Something worth a log line; no action is needed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// A menu was entered (`repeat`: by `repeat_message`).
    EnteredMenu {
        /// The menu's path in the tree, e.g. `/1234`.
        path: String,
        /// Entered again by `repeat_message`.
        repeat: bool,
    },
    /// The menu's timeout passed.
    TimedOut {
        /// The timeout.
        after: Duration,
    },
    /// A digit arrived while a `wait_for_audio_to_finish` prompt played.
    DigitDropped {
        /// The digit.
        digit: char,
    },
    /// A character that is no DTMF digit, or more digits queued than kept.
    DigitIgnored {
        /// The character.
        digit: char,
    },
    /// No choice starts with the input (non-PIN menu).
    InvalidInput {
        /// The input so far.
        input: String,
    },
    /// A PIN of full length matched no choice (the PIN itself is not logged).
    WrongPin {
        /// Wrong PINs in this menu during this call.
        attempt: u32,
    },
    /// `return N` would walk past the root.
    ReturnPastRoot {
        /// N.
        levels: u32,
    },
    /// `jump` to an id that is not in the tree (only for trees built by hand: loading
    /// rejects such jumps).
    JumpTargetMissing {
        /// The id.
        id: String,
    },
    /// `repeat_message` on a menu with nothing to play does nothing.
    NothingToRepeat,
    /// Menus kept entering each other without playing anything or receiving a digit; the
    /// call is hung up rather than spin.
    LoopStopped,
}

impl fmt::Display for Notice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::EnteredMenu {
                path,
                repeat: false,
            } => write!(f, "enter {path}"),
            Self::EnteredMenu { path, repeat: true } => write!(f, "repeat {path}"),
            Self::TimedOut { after } => write!(f, "timeout of {} passed", seconds(*after)),
            Self::DigitDropped { digit } => {
                write!(f, "digit {digit} dropped: the prompt must finish first")
            }
            Self::DigitIgnored { digit } => write!(f, "digit {:?} ignored", digit),
            Self::InvalidInput { input } => write!(f, "invalid input {}", quote(input)),
            Self::WrongPin { attempt } => write!(f, "no PIN matched (wrong PIN {attempt})"),
            Self::ReturnPastRoot { levels } => {
                write!(f, "could not return {levels} levels: past the root")
            }
            Self::JumpTargetMissing { id } => write!(f, "no menu with id {}", quote(id)),
            Self::NothingToRepeat => f.write_str("nothing to repeat"),
            Self::LoopStopped => f.write_str("menus loop without prompt or input: hanging up"),
        }
    }
}

/// What the session asks the engine to do or tell.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Start playing (replacing whatever plays).
    Play(Play),
    /// Stop the current playback at once, without a `playback_done` event.
    StopPlayback,
    /// Run a command (a menu's `action`) with this call as `self`.
    RunAction(Action),
    /// End the call (BYE, or 603/CANCEL before establishment).
    HangUp,
    /// Send an event to Home Assistant.
    Event(Event),
    /// Log this.
    Notice(Notice),
}

/// A `play_message` or `play_audio_file` command for a call (spec §3.4.8–3.4.9).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlayCommand {
    /// What to play.
    pub prompt: Prompt,
    /// `cache_audio`.
    pub cache_audio: bool,
    /// `wait_for_audio_to_finish`.
    pub wait_for_audio_to_finish: bool,
    /// `post_action: hangup`: hang up once this playback ends, however it ends.
    pub hangup_after: bool,
}

/// The most digits kept waiting; more are dropped (a peer flooding RFC 4733 events must
/// not grow memory).
pub const MAX_QUEUED_DIGITS: usize = 64;

/// Most menus entered one after another by post_actions and timeouts (not by digits)
/// without a prompt that played or a digit in between, within [`LOOP_WINDOW`]. Entering
/// one of them a second time in such a run is a loop that nothing would end: the call is
/// hung up rather than spin.
pub const MAX_SILENT_ENTRIES: usize = 16;

/// See [`MAX_SILENT_ENTRIES`].
pub const LOOP_WINDOW: Duration = Duration::from_secs(1);

/// Steps taken in one input at most; [`MAX_SILENT_ENTRIES`] and the digit queue bound the
/// work far below this, which only guards against a bug turning into a spin.
const MAX_STEPS: usize = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Not established yet: digits queue, nothing is entered.
    Waiting,
    Running,
    Ended,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Entry {
    Normal,
    Repeat,
}

#[derive(Debug)]
struct Playing {
    id: PlaybackId,
    started: Instant,
    wait: bool,
    cache: bool,
    rest: VecDeque<Prompt>,
    hangup_after: bool,
}

/// The menu state machine of one call.
///
/// Drive it like every sans-IO machine here:
///
/// 1. Give it inputs with `now`: [`handle_established`](Self::handle_established) once the
///    call is established (after `settle_time`), then [`handle_digit`](Self::handle_digit),
///    [`handle_playback_end`](Self::handle_playback_end) and
///    [`handle_timeout`](Self::handle_timeout) as they happen.
/// 2. After each input, drain [`poll_output`](Self::poll_output) and carry out each
///    [`Output`] in order.
/// 3. Call `handle_timeout` at [`poll_timeout`](Self::poll_timeout).
///
/// After [`Output::HangUp`] (or [`handle_call_ended`](Self::handle_call_ended)) the
/// session ignores every input.
#[derive(Debug)]
pub struct MenuSession {
    tree: Arc<MenuTree>,
    phase: Phase,
    current: MenuIndex,
    input: String,
    digits: VecDeque<char>,
    post_action: Option<PostAction>,
    playing: Option<Playing>,
    last_activity: Option<Instant>,
    armed: bool,
    next_id: u64,
    wrong_pins: HashMap<MenuIndex, u32>,
    chain_start: Option<Instant>,
    chain: Vec<MenuIndex>,
    outputs: VecDeque<Output>,
    last_now: Option<Instant>,
}

fn is_dtmf(c: char) -> bool {
    c.is_ascii_digit() || matches!(c, '*' | '#' | 'A'..='D' | 'a'..='d')
}

impl MenuSession {
    /// A session for a call that is not established yet.
    #[must_use]
    pub fn new(tree: Arc<MenuTree>) -> Self {
        let root = tree.root();
        Self {
            tree,
            phase: Phase::Waiting,
            current: root,
            input: String::new(),
            digits: VecDeque::new(),
            post_action: None,
            playing: None,
            last_activity: None,
            armed: false,
            next_id: 1,
            wrong_pins: HashMap::new(),
            chain_start: None,
            chain: Vec::new(),
            outputs: VecDeque::new(),
            last_now: None,
        }
    }

    /// The tree the call runs.
    #[must_use]
    pub fn tree(&self) -> &MenuTree {
        &self.tree
    }

    /// The current menu.
    #[must_use]
    pub fn current_menu(&self) -> MenuIndex {
        self.current
    }

    /// Whether the session ended (hung up or told the call ended).
    #[must_use]
    pub fn is_ended(&self) -> bool {
        self.phase == Phase::Ended
    }

    /// Whether a playback is in progress.
    #[must_use]
    pub fn is_playing(&self) -> bool {
        self.playing.is_some()
    }

    /// The digits typed in the current menu so far.
    #[must_use]
    pub fn input(&self) -> &str {
        &self.input
    }

    /// The next output to carry out.
    #[must_use]
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) is due: the current menu's timeout,
    /// counted from the last activity.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.phase == Phase::Running && self.armed {
            self.deadline()
        } else {
            None
        }
    }

    /// The call is established: enter the root menu (spec §5.4 step 3). Later calls do
    /// nothing.
    pub fn handle_established(&mut self, now: Instant) {
        let now = self.clamp(now);
        if self.phase != Phase::Waiting {
            return;
        }
        self.phase = Phase::Running;
        self.touch(now);
        let root = self.tree.root();
        self.enter(now, root, Entry::Normal);
        self.drive(now);
    }

    /// A DTMF digit arrived (spec §5.5): dropped during a `wait_for_audio_to_finish`
    /// prompt, else it stops the prompt and is queued; either way the timer restarts.
    pub fn handle_digit(&mut self, now: Instant, digit: char) {
        let now = self.clamp(now);
        if self.phase == Phase::Ended {
            return;
        }
        if !is_dtmf(digit) {
            self.notice(Notice::DigitIgnored { digit });
            return;
        }
        self.touch(now);
        if let Some(p) = &self.playing {
            if p.wait {
                self.notice(Notice::DigitDropped { digit });
                self.drive(now);
                return;
            }
            if !self.stop_playing() {
                return;
            }
        }
        if self.digits.len() >= MAX_QUEUED_DIGITS {
            self.notice(Notice::DigitIgnored { digit });
        } else {
            self.digits.push_back(digit);
        }
        self.drive(now);
    }

    /// A playback ended. Ends of playbacks that were replaced or stopped are ignored.
    pub fn handle_playback_end(&mut self, now: Instant, id: PlaybackId, end: PlaybackEnd) {
        let now = self.clamp(now);
        if self.phase == Phase::Ended {
            return;
        }
        let Some(p) = self.playing.as_mut().filter(|p| p.id == id) else {
            return;
        };
        if end == PlaybackEnd::Finished && now > p.started {
            self.chain_start = None;
        }
        let next = match end {
            PlaybackEnd::Finished | PlaybackEnd::Failed => p.rest.pop_front(),
            PlaybackEnd::Stopped => None,
        };
        match next {
            Some(prompt) => {
                let (wait, cache, hangup_after, rest) =
                    (p.wait, p.cache, p.hangup_after, std::mem::take(&mut p.rest));
                self.start(now, prompt, wait, cache, hangup_after, rest);
            }
            None => {
                let hangup_after = p.hangup_after;
                self.playing = None;
                if hangup_after {
                    self.hang_up();
                }
            }
        }
        self.drive(now);
    }

    /// The time from [`poll_timeout`](Self::poll_timeout) came (calling it early is
    /// harmless).
    pub fn handle_timeout(&mut self, now: Instant) {
        let now = self.clamp(now);
        self.drive(now);
    }

    /// Activity that restarts the menu timer without a digit: a `send_dtmf` command.
    pub fn handle_activity(&mut self, now: Instant) {
        let now = self.clamp(now);
        if self.phase != Phase::Ended {
            self.touch(now);
            self.drive(now);
        }
    }

    /// A `stop_playback` command: the prompt counts as done, without `playback_done`.
    pub fn handle_stop_playback(&mut self, now: Instant) {
        let now = self.clamp(now);
        if self.phase == Phase::Ended {
            return;
        }
        if self.playing.is_some() {
            self.stop_playing();
        }
        self.drive(now);
    }

    /// A `play_message` or `play_audio_file` command. It replaces what plays; the menu's
    /// pending post_action waits for it to end. Returns the playback's id.
    pub fn handle_play(&mut self, now: Instant, command: PlayCommand) -> Option<PlaybackId> {
        let now = self.clamp(now);
        if self.phase == Phase::Ended || (self.playing.is_some() && !self.stop_playing()) {
            return None;
        }
        let id = self.start(
            now,
            command.prompt,
            command.wait_for_audio_to_finish,
            command.cache_audio,
            command.hangup_after,
            VecDeque::new(),
        );
        self.drive(now);
        Some(id)
    }

    /// An `answer` command brought a new menu. An established call enters it at once (as
    /// ha-sip 5.5 does); a ringing one enters it when established.
    pub fn handle_menu_replaced(&mut self, now: Instant, tree: Arc<MenuTree>) {
        let now = self.clamp(now);
        if self.phase == Phase::Ended {
            return;
        }
        self.tree = tree;
        self.current = self.tree.root();
        self.input.clear();
        self.post_action = None;
        self.wrong_pins.clear();
        self.chain_start = None;
        if self.phase == Phase::Running {
            self.touch(now);
            let root = self.tree.root();
            self.enter(now, root, Entry::Normal);
            self.drive(now);
        }
    }

    /// The call ended (either side): stop, and forget pending outputs.
    pub fn handle_call_ended(&mut self) {
        self.phase = Phase::Ended;
        self.playing = None;
        self.outputs.clear();
        self.digits.clear();
    }

    fn clamp(&mut self, now: Instant) -> Instant {
        match self.last_now {
            Some(last) if now < last => last,
            _ => {
                self.last_now = Some(now);
                now
            }
        }
    }

    fn touch(&mut self, now: Instant) {
        self.last_activity = Some(now);
        self.armed = true;
    }

    fn deadline(&self) -> Option<Instant> {
        let timeout = self.tree.node(self.current)?.timeout;
        self.last_activity?.checked_add(timeout)
    }

    fn out(&mut self, o: Output) {
        self.outputs.push_back(o);
    }

    fn notice(&mut self, n: Notice) {
        self.out(Output::Notice(n));
    }

    fn hang_up(&mut self) {
        if self.phase != Phase::Ended {
            self.out(Output::HangUp);
            self.phase = Phase::Ended;
            self.playing = None;
            self.post_action = None;
            self.digits.clear();
        }
    }

    /// Stops what plays. Returns false when that ended the call (a play command's
    /// `post_action: hangup`).
    fn stop_playing(&mut self) -> bool {
        let Some(p) = self.playing.take() else {
            return true;
        };
        self.out(Output::StopPlayback);
        if p.hangup_after {
            self.hang_up();
            return false;
        }
        true
    }

    fn start(
        &mut self,
        now: Instant,
        prompt: Prompt,
        wait: bool,
        cache: bool,
        hangup_after: bool,
        rest: VecDeque<Prompt>,
    ) -> PlaybackId {
        let id = PlaybackId(self.next_id);
        self.next_id = self.next_id.wrapping_add(1);
        self.out(Output::Play(Play {
            id,
            prompt,
            cache_audio: cache,
            wait_for_audio_to_finish: wait,
        }));
        self.playing = Some(Playing {
            id,
            started: now,
            wait,
            cache,
            rest,
            hangup_after,
        });
        id
    }

    /// Runs steps until nothing is due, in ha-sip's order (spec §5.4 steps 5–7): the
    /// timeout, then a post_action once nothing plays, then one queued digit.
    fn drive(&mut self, now: Instant) {
        for _ in 0..MAX_STEPS {
            if self.phase != Phase::Running {
                return;
            }
            if self.armed && self.deadline().is_some_and(|d| now >= d) {
                self.fire_timeout(now);
                continue;
            }
            if self.playing.is_none()
                && let Some(pa) = self.post_action.take()
            {
                self.run_post_action(now, pa);
                continue;
            }
            if let Some(d) = self.digits.pop_front() {
                self.process_digit(now, d);
                continue;
            }
            return;
        }
        self.notice(Notice::LoopStopped);
        self.hang_up();
    }

    /// Records a menu entry that no digit caused. False (and the call hung up) when it
    /// would close a loop of silent entries (see [`MAX_SILENT_ENTRIES`]).
    fn automatic_entry(&mut self, now: Instant, target: MenuIndex) -> bool {
        match self.chain_start {
            Some(s) if now.saturating_duration_since(s) < LOOP_WINDOW => {}
            _ => {
                self.chain_start = Some(now);
                self.chain.clear();
            }
        }
        if self.chain.contains(&target) || self.chain.len() >= MAX_SILENT_ENTRIES {
            self.notice(Notice::LoopStopped);
            self.hang_up();
            return false;
        }
        self.chain.push(target);
        true
    }

    fn fire_timeout(&mut self, now: Instant) {
        let Some(node) = self.tree.node(self.current) else {
            self.armed = false;
            return;
        };
        let (after, menu_id, target) = (node.timeout, node.id.clone(), node.on_timeout);
        self.notice(Notice::TimedOut { after });
        match target {
            Some(t) => {
                if self.automatic_entry(now, t) {
                    self.enter(now, t, Entry::Normal);
                    self.out(Output::Event(Event::Timeout { menu_id }));
                }
            }
            None => {
                // A default or timeout menu has no timeout menu: the event repeats every
                // `timeout`; a timeout of zero fires once.
                self.out(Output::Event(Event::Timeout { menu_id }));
                self.last_activity = Some(now);
                if after.is_zero() {
                    self.armed = false;
                }
            }
        }
    }

    fn run_post_action(&mut self, now: Instant, pa: PostAction) {
        match pa {
            PostAction::Noop => {}
            PostAction::Hangup => self.hang_up(),
            PostAction::Return(levels) => {
                let mut m = Some(self.current);
                for _ in 0..levels {
                    match m {
                        Some(i) => m = self.tree.node(i).and_then(|n| n.parent),
                        None => break,
                    }
                }
                match m {
                    Some(t) => {
                        if self.automatic_entry(now, t) {
                            self.enter(now, t, Entry::Normal);
                        }
                    }
                    None => self.notice(Notice::ReturnPastRoot { levels }),
                }
            }
            PostAction::Jump(id) => match self.tree.jump_target(&id) {
                Some(t) => {
                    if self.automatic_entry(now, t) {
                        self.enter(now, t, Entry::Normal);
                    }
                }
                None => self.notice(Notice::JumpTargetMissing { id }),
            },
            PostAction::RepeatMessage => {
                let has_prompt = self.tree.node(self.current).is_some_and(|n| n.has_prompt());
                if !has_prompt {
                    self.notice(Notice::NothingToRepeat);
                } else if self.automatic_entry(now, self.current) {
                    let cur = self.current;
                    self.enter(now, cur, Entry::Repeat);
                }
            }
        }
    }

    fn process_digit(&mut self, now: Instant, digit: char) {
        self.chain_start = None;
        self.out(Output::Event(Event::DtmfDigit { digit }));
        let tree = Arc::clone(&self.tree);
        let Some(node) = tree.node(self.current) else {
            return;
        };
        // The built-in default and timeout menus have no choices: digits do nothing there.
        let Some(choices) = &node.choices else {
            return;
        };
        // Keys are lower-case; so are A-D here (ha-sip compared them with the upper-case
        // digits pjsua reports, so they never matched).
        self.input.push(digit.to_ascii_lowercase());
        if let Some((_, target)) = choices.iter().find(|(k, _)| *k == self.input) {
            self.enter(now, *target, Entry::Normal);
            return;
        }
        if node.choices_are_pin {
            // No feedback before the length of the longest PIN, whatever the prefix.
            let longest = choices
                .iter()
                .map(|(k, _)| k.chars().count())
                .max()
                .unwrap_or(0);
            if self.input.chars().count() >= longest.max(1) {
                self.wrong_pin(now);
            }
        } else if !choices.iter().any(|(k, _)| k.starts_with(&self.input)) {
            let input = self.input.clone();
            self.notice(Notice::InvalidInput { input });
            self.enter_default(now);
        }
    }

    fn wrong_pin(&mut self, now: Instant) {
        let cur = self.current;
        let Some(node) = self.tree.node(cur) else {
            return;
        };
        let (max, menu_id) = (node.max_pin_attempts, node.id.clone());
        let count = self.wrong_pins.entry(cur).or_insert(0);
        *count = count.saturating_add(1);
        let attempt = *count;
        self.notice(Notice::WrongPin { attempt });
        if max.is_some_and(|m| attempt >= m) {
            self.out(Output::Event(Event::PinLockout { menu_id }));
            self.hang_up();
            return;
        }
        self.enter_default(now);
    }

    fn enter_default(&mut self, now: Instant) {
        match self.tree.node(self.current).and_then(|n| n.default) {
            Some(d) => self.enter(now, d, Entry::Normal),
            // Only default and timeout menus lack a default: start the input afresh.
            None => self.input.clear(),
        }
    }

    /// Enters a menu (spec §5.3): timer, event, input, prompt(s), action, post_action.
    fn enter(&mut self, now: Instant, target: MenuIndex, entry: Entry) {
        let tree = Arc::clone(&self.tree);
        let Some(node) = tree.node(target) else {
            return;
        };
        if self.playing.is_some() && !self.stop_playing() {
            return;
        }
        let repeat = entry == Entry::Repeat;
        // repeat_message does not restart the timer, so that it ends at the menu's timeout.
        if !repeat {
            self.touch(now);
        }
        self.current = target;
        self.notice(Notice::EnteredMenu {
            path: tree.path(target),
            repeat,
        });
        if !repeat {
            if let Some(id) = &node.id {
                self.out(Output::Event(Event::EnteredMenu {
                    menu_id: id.clone(),
                }));
            }
            self.input.clear();
        }
        let mut prompts: VecDeque<Prompt> = VecDeque::new();
        if let Some(text) = &node.message {
            prompts.push_back(Prompt::Message {
                text: text.clone(),
                language: node.language.clone(),
                handle_as_template: node.handle_as_template,
            });
        }
        if let Some(path) = &node.audio_file {
            prompts.push_back(Prompt::AudioFile { path: path.clone() });
        }
        if let Some(first) = prompts.pop_front() {
            self.start(
                now,
                first,
                node.wait_for_audio_to_finish,
                node.cache_audio,
                false,
                prompts,
            );
        }
        if !repeat && let Some(a) = &node.action {
            self.out(Output::RunAction(a.clone()));
        }
        self.post_action = (node.post_action != PostAction::Noop).then(|| node.post_action.clone());
    }
}
