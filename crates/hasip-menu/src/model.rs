//! The menu as written: every key of ha-sip's menu object with its default (spec §5.1),
//! before normalisation. [`crate::MenuTree`] is the normalised form a call runs.

use std::fmt;
use std::time::Duration;

use crate::error::suggest;

/// ha-sip's default menu timeout and the built-in menus' timeout: 300 s.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

/// One menu object: the root of an `incoming_call_file`, a `dial`/`answer` command's
/// `menu`, or any choice inside another menu.
#[derive(Debug, Clone, PartialEq)]
pub struct Menu {
    /// `id`, trimmed; an empty id counts as none. Entering a menu with an id sends
    /// `entered_menu`; ids are `jump` targets.
    pub id: Option<String>,
    /// `message`: text spoken through Home Assistant's TTS on entry.
    pub message: Option<String>,
    /// `handle_as_template`: render `message` as a Home Assistant template first.
    pub handle_as_template: bool,
    /// `audio_file`: a `.wav`, `.mp3`, `.ogg` or `.flac` file played on entry (after the
    /// message, when both are set).
    pub audio_file: Option<String>,
    /// `language`: TTS language of `message`; none means the global `tts.language`.
    pub language: Option<String>,
    /// `choices_are_pin`: match choices as PINs (no feedback before the full length).
    pub choices_are_pin: bool,
    /// `max_pin_attempts` (ha-sip-rs only): after this many wrong PINs in this menu the
    /// call is hung up and `pin_lockout` is sent.
    pub max_pin_attempts: Option<u32>,
    /// `timeout`: time without activity before the timeout choice is entered (300 s).
    pub timeout: Duration,
    /// `post_action`: what happens once the entry prompt has played.
    pub post_action: PostAction,
    /// `action`: a command run on entry (not on `repeat_message`).
    pub action: Option<Action>,
    /// `choices`: sub-menus by DTMF key, lower-cased, in the order written; `default` and
    /// `timeout` are taken out into the two fields below.
    pub choices: Vec<(String, Menu)>,
    /// The `default` choice: entered on input that matches no choice.
    pub default: Option<Box<Menu>>,
    /// The `timeout` choice: entered when `timeout` passes without activity.
    pub on_timeout: Option<Box<Menu>>,
    /// `cache_audio`: let the TTS or converted file be cached.
    pub cache_audio: bool,
    /// `wait_for_audio_to_finish`: digits are dropped while this menu's prompt plays.
    pub wait_for_audio_to_finish: bool,
}

impl Default for Menu {
    fn default() -> Self {
        Self {
            id: None,
            message: None,
            handle_as_template: false,
            audio_file: None,
            language: None,
            choices_are_pin: false,
            max_pin_attempts: None,
            timeout: DEFAULT_TIMEOUT,
            post_action: PostAction::Noop,
            action: None,
            choices: Vec::new(),
            default: None,
            on_timeout: None,
            cache_audio: false,
            wait_for_audio_to_finish: false,
        }
    }
}

/// What runs once a menu's entry prompt has finished or was interrupted (spec §5.7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PostAction {
    /// `noop` (also absent or empty): nothing.
    Noop,
    /// `hangup`: end the call.
    Hangup,
    /// `repeat_message`: play the prompt again, until the menu's timeout fires.
    RepeatMessage,
    /// `return [N]`: re-enter the menu N levels up (1 when N is absent; 0 re-enters the
    /// current menu).
    Return(u32),
    /// `jump <id>`: enter the menu with that id.
    Jump(String),
}

/// The post_action words, for "did you mean".
const POST_ACTIONS: [&str; 5] = ["noop", "hangup", "repeat_message", "return", "jump"];

impl PostAction {
    /// Reads a `post_action` string.
    ///
    /// # Errors
    /// An unknown word (with a suggestion), a `return` level that is not a whole number,
    /// `jump` without an id, or extra words.
    pub fn parse(text: &str) -> Result<Self, String> {
        let words: Vec<&str> = text.split_whitespace().collect();
        let extra = |n: usize| -> Result<(), String> {
            match words.get(n) {
                Some(w) => Err(format!(
                    "unexpected \"{w}\" in post_action \"{}\"",
                    text.trim()
                )),
                None => Ok(()),
            }
        };
        let Some(first) = words.first() else {
            return Ok(Self::Noop);
        };
        match *first {
            "noop" => extra(1).map(|()| Self::Noop),
            "hangup" => extra(1).map(|()| Self::Hangup),
            "repeat_message" => extra(1).map(|()| Self::RepeatMessage),
            "return" => {
                extra(2)?;
                match words.get(1) {
                    None => Ok(Self::Return(1)),
                    Some(n) => n.parse().map(Self::Return).map_err(|_| {
                        format!(
                            "return level must be a whole number of levels (0 or more), not \"{n}\""
                        )
                    }),
                }
            }
            "jump" => {
                extra(2)?;
                match words.get(1) {
                    Some(id) => Ok(Self::Jump((*id).to_owned())),
                    None => Err("jump needs a menu id: \"jump <id>\"".to_owned()),
                }
            }
            other => Err(match suggest(other, &POST_ACTIONS) {
                Some(s) => format!("unknown action \"{other}\", did you mean \"{s}\"?"),
                None => format!(
                    "unknown action \"{other}\", expected noop, hangup, repeat_message, return [N] or jump <id>"
                ),
            }),
        }
    }
}

impl fmt::Display for PostAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Noop => f.write_str("noop"),
            Self::Hangup => f.write_str("hangup"),
            Self::RepeatMessage => f.write_str("repeat_message"),
            Self::Return(n) => write!(f, "return {n}"),
            Self::Jump(id) => write!(f, "jump {id}"),
        }
    }
}

/// A menu's `action`: any gateway command as JSON (spec §5.9). Without `command` it is a
/// Home Assistant service call (`domain`, `service`, optional `entity_id` and
/// `service_data`). The engine runs it with the call as `self`.
#[derive(Debug, Clone, PartialEq)]
pub struct Action(serde_json::Map<String, serde_json::Value>);

/// The command verbs of ha-sip (spec §3.4), for validation and "did you mean".
pub const COMMANDS: [&str; 16] = [
    "call_service",
    "dial",
    "hangup",
    "answer",
    "transfer",
    "bridge_audio",
    "send_dtmf",
    "play_message",
    "play_audio_file",
    "stop_playback",
    "start_recording",
    "stop_recording",
    "assist",
    "stop_assist",
    "state",
    "quit",
];

impl Action {
    pub(crate) fn new(fields: serde_json::Map<String, serde_json::Value>) -> Self {
        Self(fields)
    }

    /// The verb: `command`, or `call_service` when it is absent or null.
    #[must_use]
    pub fn command(&self) -> &str {
        self.0
            .get("command")
            .and_then(serde_json::Value::as_str)
            .unwrap_or("call_service")
    }

    /// The command object as written (JSON).
    #[must_use]
    pub fn fields(&self) -> &serde_json::Map<String, serde_json::Value> {
        &self.0
    }

    /// The command object as a JSON value, as a command from stdin would be.
    #[must_use]
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::Value::Object(self.0.clone())
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = |k: &str| self.0.get(k).and_then(serde_json::Value::as_str);
        match self.command() {
            "call_service" => {
                write!(
                    f,
                    "{}.{}",
                    s("domain").unwrap_or("?"),
                    s("service").unwrap_or("?")
                )?;
                if let Some(e) = self.0.get("entity_id").filter(|v| !v.is_null()) {
                    match e.as_str() {
                        Some(e) => write!(f, " {e}")?,
                        None => write!(f, " {e}")?,
                    }
                }
                if let Some(d) = self.0.get("service_data").filter(|v| !v.is_null()) {
                    write!(f, " {d}")?;
                }
                Ok(())
            }
            verb => {
                let rest: serde_json::Map<_, _> = self
                    .0
                    .iter()
                    .filter(|(k, _)| k.as_str() != "command")
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                write!(f, "{verb} {}", serde_json::Value::Object(rest))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn post_actions_parse_as_ha_sip_wrote_them() {
        assert_eq!(PostAction::parse(""), Ok(PostAction::Noop));
        assert_eq!(PostAction::parse("noop"), Ok(PostAction::Noop));
        assert_eq!(PostAction::parse("hangup"), Ok(PostAction::Hangup));
        assert_eq!(
            PostAction::parse("repeat_message"),
            Ok(PostAction::RepeatMessage)
        );
        assert_eq!(PostAction::parse("return"), Ok(PostAction::Return(1)));
        assert_eq!(PostAction::parse("return 2"), Ok(PostAction::Return(2)));
        assert_eq!(PostAction::parse("return 0"), Ok(PostAction::Return(0)));
        assert_eq!(
            PostAction::parse(" jump  owner "),
            Ok(PostAction::Jump("owner".into()))
        );
        assert_eq!(
            PostAction::parse("hangupp"),
            Err("unknown action \"hangupp\", did you mean \"hangup\"?".into())
        );
        assert!(PostAction::parse("jump").is_err());
        assert!(PostAction::parse("return x").is_err());
        assert!(PostAction::parse("return -1").is_err());
        assert!(PostAction::parse("hangup now").is_err());
        assert!(
            PostAction::parse("dance")
                .unwrap_err()
                .contains("expected noop")
        );
    }
}
