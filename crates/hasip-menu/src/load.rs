//! The schema: a [`Node`] tree (from YAML or JSON) to [`Menu`], [`IncomingCallFile`] and
//! [`MenuFile`], with the key path of every value so that each error names its field.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::error::{KeyPath, LoadError, Position, suggest, unknown_key_message};
use crate::incoming::{IncomingCallFile, NumberPattern};
use crate::model::{Action, COMMANDS, DEFAULT_TIMEOUT, Menu, PostAction};
use crate::node::{Node, ScalarKind, Value, bool_word};
use crate::yaml;

/// The keys of a menu object (spec §5.1, plus `max_pin_attempts`).
pub const MENU_KEYS: [&str; 13] = [
    "id",
    "message",
    "handle_as_template",
    "audio_file",
    "language",
    "choices_are_pin",
    "max_pin_attempts",
    "timeout",
    "post_action",
    "action",
    "choices",
    "cache_audio",
    "wait_for_audio_to_finish",
];

/// The keys of an `incoming_call_file` (spec §4.2).
pub const INCOMING_KEYS: [&str; 5] = [
    "allowed_numbers",
    "blocked_numbers",
    "answer_after",
    "webhook_to_call",
    "menu",
];

/// The event names a `webhook_to_call` map may name (spec §6.1; `incoming_call` is
/// accepted as ha-sip accepted it, and like ha-sip never sent to a per-call webhook).
pub const WEBHOOK_EVENTS: [&str; 16] = [
    "call_established",
    "entered_menu",
    "dtmf_digit",
    "call_disconnected",
    "timeout",
    "ring_timeout",
    "playback_done",
    "recording_started",
    "recording_stopped",
    "outgoing_call_initiated",
    "pin_lockout",
    "incoming_call",
    "assist_started",
    "assist_heard",
    "assist_answered",
    "assist_ended",
];

/// The longest timeout or delay accepted: a year.
const MAX_SECONDS: f64 = 365.0 * 24.0 * 3600.0;

/// The characters a caller can dial; choice keys are lower-cased.
const DIALLABLE: &str = "0123456789*#abcd";

impl Menu {
    /// Reads a menu object from YAML text (a file that holds just a menu).
    ///
    /// # Errors
    /// A [`LoadError`] naming `file`, line, column and key path.
    pub fn from_yaml(text: &str, file: Option<&str>) -> Result<Self, LoadError> {
        let node = yaml::parse(text).map_err(|e| e.with_file(file))?;
        if node.is_null() {
            return Err(
                LoadError::new(None, KeyPath::root(), "the file holds no menu").with_file(file),
            );
        }
        read_root_menu(&node, &KeyPath::root()).map_err(|e| e.with_file(file))
    }

    /// Reads a menu object from JSON, as it arrives inside a `dial` or `answer` command.
    /// ha-sip gives a command whose `menu` is missing, `null` or `{}` the standard menu:
    /// the caller checks for those and uses [`crate::MenuTree::standard`] (`null` is an
    /// error here, `{}` an empty menu).
    ///
    /// # Errors
    /// A [`LoadError`] naming the key path (JSON has no positions).
    pub fn from_json(value: &serde_json::Value) -> Result<Self, LoadError> {
        let node = Node::from_json(value).map_err(|m| LoadError::new(None, KeyPath::root(), m))?;
        read_root_menu(&node, &KeyPath::root())
    }
}

impl IncomingCallFile {
    /// Reads an `incoming_call_file`. An empty file is the default (no filters, the
    /// standard menu).
    ///
    /// # Errors
    /// A [`LoadError`] naming `file`, line, column and key path.
    pub fn from_yaml(text: &str, file: Option<&str>) -> Result<Self, LoadError> {
        let node = yaml::parse(text).map_err(|e| e.with_file(file))?;
        read_incoming(&node, &KeyPath::root()).map_err(|e| e.with_file(file))
    }

    /// Reads the same structure from JSON.
    ///
    /// # Errors
    /// A [`LoadError`] naming the key path.
    pub fn from_json(value: &serde_json::Value) -> Result<Self, LoadError> {
        let node = Node::from_json(value).map_err(|m| LoadError::new(None, KeyPath::root(), m))?;
        read_incoming(&node, &KeyPath::root())
    }
}

/// What a menu file given to `hasip menu check` holds, told apart by its keys.
#[derive(Debug, Clone, PartialEq)]
pub enum MenuFile {
    /// An `incoming_call_file`.
    Incoming(IncomingCallFile),
    /// A bare menu object.
    Menu(Menu),
    /// A command object (`command: dial`, `answer`, …), bare or inside a Home Assistant
    /// `hassio.addon_stdin` service call as in ha-sip's README; only its `menu` is read.
    Command {
        /// The verb.
        command: String,
        /// The command's menu; none means the standard menu.
        menu: Option<Menu>,
    },
}

impl MenuFile {
    /// Reads a file and decides what it is: a service call (`data:` at the top), a
    /// command (`command:` or `number:`), an incoming-call file (any of its keys) or a
    /// menu.
    ///
    /// # Errors
    /// A [`LoadError`] naming `file`, line, column and key path.
    pub fn from_yaml(text: &str, file: Option<&str>) -> Result<Self, LoadError> {
        let node = yaml::parse(text).map_err(|e| e.with_file(file))?;
        read_menu_file(&node).map_err(|e| e.with_file(file))
    }

    /// The menu a call would run (none: the standard menu).
    #[must_use]
    pub fn menu(&self) -> Option<&Menu> {
        match self {
            Self::Incoming(f) => f.menu.as_ref(),
            Self::Menu(m) => Some(m),
            Self::Command { menu, .. } => menu.as_ref(),
        }
    }

    /// A short description: "incoming-call file", "menu", "dial command".
    #[must_use]
    pub fn kind(&self) -> String {
        match self {
            Self::Incoming(_) => "incoming-call file".to_owned(),
            Self::Menu(_) => "menu".to_owned(),
            Self::Command { command, .. } => format!("{command} command"),
        }
    }
}

fn err(node: &Node, path: &KeyPath, message: impl Into<String>) -> LoadError {
    LoadError::new(node.at, path.clone(), message)
}

/// The entries of a mapping; `what` names the expected thing in the error.
fn entries<'a>(
    node: &'a Node,
    path: &KeyPath,
    what: &str,
) -> Result<&'a [(Node, Node)], LoadError> {
    match &node.value {
        Value::Map(e) => Ok(e),
        _ => Err(err(
            node,
            path,
            format!("expected {what}, found {}", node.describe()),
        )),
    }
}

/// Checks every key against `known`; returns (key text, key node, value) triples.
fn keyed<'a>(
    map: &'a [(Node, Node)],
    path: &KeyPath,
    known: &[&str],
    hint: impl Fn(&str) -> Option<String>,
) -> Result<Vec<(String, &'a Node)>, LoadError> {
    let mut out = Vec::with_capacity(map.len());
    for (k, v) in map {
        let key = k.key_text().unwrap_or_default();
        if !known.contains(&key.as_str()) {
            let message = hint(&key).unwrap_or_else(|| unknown_key_message("key", &key, known));
            return Err(err(k, path, message));
        }
        out.push((key, v));
    }
    Ok(out)
}

fn scalar_text(node: &Node, path: &KeyPath, what: &str) -> Result<Option<String>, LoadError> {
    match &node.value {
        Value::Scalar(s) if s.kind == ScalarKind::Null => Ok(None),
        Value::Scalar(s) => Ok(Some(s.text.clone())),
        _ => Err(err(
            node,
            path,
            format!("expected {what}, found {}", node.describe()),
        )),
    }
}

/// A text field; empty text counts as absent (ha-sip tested these for truth).
fn text(node: &Node, path: &KeyPath) -> Result<Option<String>, LoadError> {
    Ok(scalar_text(node, path, "text")?.filter(|s| !s.is_empty()))
}

/// A flag: YAML/JSON booleans, the words yes/no/on/off/true/false in any case (also
/// quoted), 0 and 1; null and empty text are false.
fn flag(node: &Node, path: &KeyPath) -> Result<bool, LoadError> {
    let bad = || {
        err(
            node,
            path,
            format!("expected true or false, found {}", node.describe()),
        )
    };
    match &node.value {
        Value::Scalar(s) => match s.kind {
            ScalarKind::Null => Ok(false),
            ScalarKind::Bool(b) => Ok(b),
            ScalarKind::Int(0) => Ok(false),
            ScalarKind::Int(1) => Ok(true),
            ScalarKind::Str if s.text.is_empty() => Ok(false),
            ScalarKind::Str => bool_word(s.text.trim()).ok_or_else(|| {
                err(
                    node,
                    path,
                    format!("expected true or false, found \"{}\"", s.text),
                )
            }),
            _ => Err(bad()),
        },
        _ => Err(bad()),
    }
}

/// Seconds as a number or numeric text; null gives `default`.
fn seconds(node: &Node, path: &KeyPath, default: Duration) -> Result<Duration, LoadError> {
    let value = match &node.value {
        Value::Scalar(s) => match s.kind {
            ScalarKind::Null => return Ok(default),
            ScalarKind::Int(i) => Some(i as f64),
            ScalarKind::Float(x) => Some(x),
            ScalarKind::Str => s.text.trim().parse::<f64>().ok(),
            _ => None,
        },
        _ => None,
    };
    let what = match &node.value {
        Value::Scalar(s) if s.kind != ScalarKind::Null => format!("\"{}\"", s.text),
        _ => node.describe().to_owned(),
    };
    match value {
        Some(x) if x.is_finite() && (0.0..=MAX_SECONDS).contains(&x) => {
            Duration::try_from_secs_f64(x)
                .map_err(|_| err(node, path, "expected a number of seconds"))
        }
        Some(x) if x.is_finite() && x > MAX_SECONDS => Err(err(
            node,
            path,
            format!("{what} seconds is more than a year"),
        )),
        _ => Err(err(
            node,
            path,
            format!("expected a number of seconds (0 or more), found {what}"),
        )),
    }
}

/// A jump found while reading, checked once every id is known.
struct PendingJump {
    target: String,
    at: Option<Position>,
    path: KeyPath,
}

#[derive(Default)]
struct Reader {
    jumps: Vec<PendingJump>,
    ids: BTreeSet<String>,
}

fn read_root_menu(node: &Node, path: &KeyPath) -> Result<Menu, LoadError> {
    let mut r = Reader::default();
    let menu = r.menu(node, path)?;
    r.check_jumps()?;
    Ok(menu)
}

impl Reader {
    fn check_jumps(&self) -> Result<(), LoadError> {
        for j in &self.jumps {
            if !self.ids.contains(&j.target) {
                let ids: Vec<&str> = self.ids.iter().map(String::as_str).collect();
                let message = match (suggest(&j.target, &ids), ids.is_empty()) {
                    (_, true) => format!(
                        "jump target \"{}\" does not exist: no menu has an id",
                        j.target
                    ),
                    (Some(s), _) => format!(
                        "jump target \"{}\" does not exist, did you mean \"{s}\"?",
                        j.target
                    ),
                    (None, _) => format!(
                        "jump target \"{}\" does not exist; menu ids are: {}",
                        j.target,
                        ids.join(", ")
                    ),
                };
                return Err(LoadError::new(j.at, j.path.clone(), message));
            }
        }
        Ok(())
    }

    /// One menu object.
    fn menu(&mut self, node: &Node, path: &KeyPath) -> Result<Menu, LoadError> {
        let map = entries(node, path, "a menu (a mapping of menu keys)")?;
        let hint = |key: &str| match key {
            "menu" => Some(
                "unknown key \"menu\": a choice is itself a menu, write its keys directly"
                    .to_owned(),
            ),
            k if INCOMING_KEYS.contains(&k) => Some(format!(
                "\"{k}\" belongs at the top of an incoming-call file, not in a menu"
            )),
            _ => None,
        };
        let mut menu = Menu::default();
        let mut pin_attempts_at: Option<(&Node, KeyPath)> = None;
        for (key, v) in keyed(map, path, &MENU_KEYS, hint)? {
            let p = path.key(&key);
            match key.as_str() {
                "id" => {
                    menu.id = scalar_text(v, &p, "text")?
                        .map(|s| s.trim().to_owned())
                        .filter(|s| !s.is_empty());
                    if let Some(id) = &menu.id {
                        self.ids.insert(id.clone());
                    }
                }
                "message" => menu.message = text(v, &p)?,
                "handle_as_template" => menu.handle_as_template = flag(v, &p)?,
                "audio_file" => {
                    menu.audio_file = text(v, &p)?;
                    if let Some(f) = &menu.audio_file {
                        check_audio_file(f).map_err(|m| err(v, &p, m))?;
                    }
                }
                "language" => menu.language = text(v, &p)?,
                "choices_are_pin" => menu.choices_are_pin = flag(v, &p)?,
                "max_pin_attempts" => {
                    menu.max_pin_attempts = match &v.value {
                        Value::Scalar(s) if s.kind == ScalarKind::Null => None,
                        Value::Scalar(s) => match s.kind {
                            ScalarKind::Int(i) if i >= 1 => u32::try_from(i).ok(),
                            ScalarKind::Str => s.text.trim().parse().ok().filter(|n| *n >= 1),
                            _ => None,
                        }
                        .map(Some)
                        .ok_or_else(|| {
                            err(
                                v,
                                &p,
                                format!(
                                    "expected a whole number of attempts (1 or more), found \"{}\"",
                                    s.text
                                ),
                            )
                        })?,
                        _ => {
                            return Err(err(
                                v,
                                &p,
                                format!(
                                    "expected a whole number of attempts, found {}",
                                    v.describe()
                                ),
                            ));
                        }
                    };
                    pin_attempts_at = Some((v, p));
                }
                "timeout" => menu.timeout = seconds(v, &p, DEFAULT_TIMEOUT)?,
                "post_action" => {
                    let text = scalar_text(v, &p, "text")?.unwrap_or_default();
                    menu.post_action = PostAction::parse(&text).map_err(|m| err(v, &p, m))?;
                    if let PostAction::Jump(target) = &menu.post_action {
                        self.jumps.push(PendingJump {
                            target: target.clone(),
                            at: v.at,
                            path: p,
                        });
                    }
                }
                "action" => menu.action = action(v, &p)?,
                "choices" => self.choices(v, &p, &mut menu)?,
                "cache_audio" => menu.cache_audio = flag(v, &p)?,
                "wait_for_audio_to_finish" => menu.wait_for_audio_to_finish = flag(v, &p)?,
                _ => {}
            }
        }
        if let Some((v, p)) = pin_attempts_at
            && menu.max_pin_attempts.is_some()
            && !menu.choices_are_pin
        {
            return Err(err(
                v,
                &p,
                "max_pin_attempts needs choices_are_pin: true in the same menu",
            ));
        }
        Ok(menu)
    }

    fn choices(&mut self, node: &Node, path: &KeyPath, menu: &mut Menu) -> Result<(), LoadError> {
        if node.is_null() {
            return Ok(());
        }
        let map = entries(node, path, "a mapping of DTMF keys to menus")?;
        let mut seen = BTreeSet::new();
        for (k, v) in map {
            let written = k.key_text().unwrap_or_default();
            let key = written.to_lowercase();
            let p = path.key(&written);
            if !seen.insert(key.clone()) {
                return Err(err(
                    k,
                    path,
                    format!("choice \"{written}\" is given twice (keys are not case-sensitive)"),
                ));
            }
            let special = key == "default" || key == "timeout";
            if !special && (key.is_empty() || !key.chars().all(|c| DIALLABLE.contains(c))) {
                return Err(err(
                    k,
                    path,
                    format!(
                        "choice \"{written}\" can never be dialled: keys use 0-9, *, # and A-D"
                    ),
                ));
            }
            if v.is_null() {
                return Err(err(
                    k,
                    &p,
                    "a choice needs a menu; write {} for one that does nothing",
                ));
            }
            let sub = self.menu(v, &p)?;
            match key.as_str() {
                "default" => menu.default = Some(Box::new(sub)),
                "timeout" => menu.on_timeout = Some(Box::new(sub)),
                _ => menu.choices.push((key, sub)),
            }
        }
        Ok(())
    }
}

fn check_audio_file(path: &str) -> Result<(), String> {
    let ext = path.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    match ext.as_deref() {
        Some("wav" | "mp3" | "ogg" | "flac") => Ok(()),
        Some(e) if !e.contains('/') => Err(format!(
            "unsupported audio file type \".{e}\": use .wav, .mp3, .ogg or .flac"
        )),
        _ => Err("an audio file needs one of the extensions .wav, .mp3, .ogg or .flac".to_owned()),
    }
}

/// A menu `action`: a command object; without `command`, a service call that needs
/// `domain` and `service`.
fn action(node: &Node, path: &KeyPath) -> Result<Option<Action>, LoadError> {
    if node.is_null() {
        return Ok(None);
    }
    let map = entries(
        node,
        path,
        "a command (a mapping such as domain/service/entity_id)",
    )?;
    let field = |name: &str| {
        map.iter()
            .find(|(k, _)| k.key_text().as_deref() == Some(name))
    };
    let command = match field("command") {
        Some((_, v)) => scalar_text(v, &path.key("command"), "a command name")?,
        None => None,
    };
    if let (Some(c), Some((_, v))) = (&command, field("command"))
        && !COMMANDS.contains(&c.as_str())
    {
        return Err(err(
            v,
            &path.key("command"),
            unknown_key_message("command", c, &COMMANDS),
        ));
    }
    if command.as_deref().is_none_or(|c| c == "call_service") {
        for needed in ["domain", "service"] {
            let present =
                field(needed).and_then(|(_, v)| scalar_text(v, path, "text").ok().flatten());
            if present.is_none_or(|s| s.is_empty()) {
                return Err(err(
                    node,
                    path,
                    format!(
                        "a service call needs \"{needed}\" (or give \"command\" for another command)"
                    ),
                ));
            }
        }
    }
    match node.to_json() {
        Ok(serde_json::Value::Object(m)) => Ok(Some(Action::new(m))),
        Ok(_) => Err(err(node, path, "expected a command")),
        Err(m) => Err(err(node, path, m)),
    }
}

fn read_incoming(node: &Node, path: &KeyPath) -> Result<IncomingCallFile, LoadError> {
    if node.is_null() {
        return Ok(IncomingCallFile::default());
    }
    let map = entries(node, path, "an incoming-call file (a mapping)")?;
    let hint = |key: &str| {
        MENU_KEYS
            .contains(&key)
            .then(|| format!("\"{key}\" is a menu key: put it under \"menu:\""))
    };
    let mut file = IncomingCallFile::default();
    let mut blocked_at: Option<(&Node, KeyPath)> = None;
    for (key, v) in keyed(map, path, &INCOMING_KEYS, hint)? {
        let p = path.key(&key);
        match key.as_str() {
            "allowed_numbers" => file.allowed_numbers = numbers(v, &p)?,
            "blocked_numbers" => {
                file.blocked_numbers = numbers(v, &p)?;
                blocked_at = Some((v, p));
            }
            "answer_after" => file.answer_after = seconds(v, &p, Duration::ZERO)?,
            "webhook_to_call" => file.webhook_to_call = webhooks(v, &p)?,
            "menu" if !v.is_null() => file.menu = Some(read_root_menu(v, &p)?),
            _ => {}
        }
    }
    if let Some((v, p)) = blocked_at
        && !file.allowed_numbers.is_empty()
        && !file.blocked_numbers.is_empty()
    {
        return Err(err(
            v,
            &p,
            "allowed_numbers and blocked_numbers cannot both be given (ha-sip answered no call then)",
        ));
    }
    Ok(file)
}

fn numbers(node: &Node, path: &KeyPath) -> Result<Vec<NumberPattern>, LoadError> {
    if node.is_null() {
        return Ok(Vec::new());
    }
    let Value::Seq(items) = &node.value else {
        return Err(err(
            node,
            path,
            format!("expected a list of numbers, found {}", node.describe()),
        ));
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let p = path.index(i);
            match scalar_text(item, &p, "a number")? {
                Some(t) if !t.is_empty() => Ok(NumberPattern::new(&t)),
                _ => Err(err(item, &p, "expected a number or pattern, found nothing")),
            }
        })
        .collect()
}

/// A `webhook_to_call` map: event name to webhook id.
pub(crate) fn webhooks(node: &Node, path: &KeyPath) -> Result<Vec<(String, String)>, LoadError> {
    if node.is_null() {
        return Ok(Vec::new());
    }
    let map = entries(node, path, "a mapping of event names to webhook ids")?;
    let mut out = Vec::new();
    for (k, v) in map {
        let event = k.key_text().unwrap_or_default();
        if !WEBHOOK_EVENTS.contains(&event.as_str()) {
            return Err(err(
                k,
                path,
                unknown_key_message("event", &event, &WEBHOOK_EVENTS),
            ));
        }
        let p = path.key(&event);
        if let Some(id) = text(v, &p)? {
            out.push((event, id));
        }
    }
    Ok(out)
}

fn read_menu_file(node: &Node) -> Result<MenuFile, LoadError> {
    let root = KeyPath::root();
    if node.is_null() {
        return Ok(MenuFile::Incoming(IncomingCallFile::default()));
    }
    let map = entries(
        node,
        &root,
        "a menu, an incoming-call file or a command (a mapping)",
    )?;
    let has = |name: &str| {
        map.iter()
            .any(|(k, _)| k.key_text().as_deref() == Some(name))
    };
    if has("data") {
        return service_call(map, &root);
    }
    if has("command") || has("number") {
        return command(map, &root);
    }
    if INCOMING_KEYS.iter().any(|k| has(k)) {
        return read_incoming(node, &root).map(MenuFile::Incoming);
    }
    read_root_menu(node, &root).map(MenuFile::Menu)
}

/// `service: hassio.addon_stdin` (or `action:`), `data: {addon, input}`.
fn service_call(map: &[(Node, Node)], path: &KeyPath) -> Result<MenuFile, LoadError> {
    const TOP: [&str; 4] = ["service", "action", "data", "target"];
    const DATA: [&str; 3] = ["addon", "app", "input"];
    let mut input = None;
    for (key, v) in keyed(map, path, &TOP, |_| None)? {
        if key != "data" {
            continue;
        }
        let p = path.key("data");
        let data = entries(v, &p, "the service data (addon and input)")?;
        let hint = |k: &str| {
            (k == "menu").then(|| {
                "\"menu\" belongs inside \"input\" (Home Assistant does not pass it on from here)".to_owned()
            })
        };
        for (dk, dv) in keyed(data, &p, &DATA, hint)? {
            if dk == "input" {
                input = Some((dv, p.key("input")));
            }
        }
    }
    let Some((input, p)) = input else {
        return Err(LoadError::new(
            None,
            path.key("data"),
            "the service call has no \"input\" (the command)",
        ));
    };
    let m = entries(input, &p, "a command (a mapping)")?;
    command(m, &p)
}

/// A command object: only `command` and `menu` are read here; the command's other fields
/// belong to the command bus.
fn command(map: &[(Node, Node)], path: &KeyPath) -> Result<MenuFile, LoadError> {
    let field = |name: &str| {
        map.iter()
            .find(|(k, _)| k.key_text().as_deref() == Some(name))
    };
    let verb = match field("command") {
        Some((_, v)) => scalar_text(v, &path.key("command"), "a command name")?.unwrap_or_default(),
        None => String::new(),
    };
    let verb = if verb.is_empty() {
        "call_service".to_owned()
    } else {
        verb
    };
    if !COMMANDS.contains(&verb.as_str())
        && let Some((_, v)) = field("command")
    {
        return Err(err(
            v,
            &path.key("command"),
            unknown_key_message("command", &verb, &COMMANDS),
        ));
    }
    if let Some((_, v)) = field("webhook_to_call") {
        webhooks(v, &path.key("webhook_to_call"))?;
    }
    let menu = match field("menu") {
        Some((_, v)) if !v.is_null() => {
            let empty = matches!(&v.value, Value::Map(e) if e.is_empty());
            let p = path.key("menu");
            let m = read_root_menu(v, &p)?;
            (!empty).then_some(m)
        }
        _ => None,
    };
    Ok(MenuFile::Command {
        command: verb,
        menu,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn menu_err(yaml: &str) -> String {
        Menu::from_yaml(yaml, Some("m.yaml"))
            .unwrap_err()
            .to_string()
    }

    fn incoming_err(yaml: &str) -> String {
        IncomingCallFile::from_yaml(yaml, Some("incoming.yaml"))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn the_brief_s_example_error() {
        let yaml = "menu:\n  choices:\n    '1234':\n      id: owner\n      message: Welcome beautiful.\n      \
                    # comment\n      post_action: hangupp\n";
        assert_eq!(
            incoming_err(yaml),
            "incoming.yaml:7:20: menu.choices.'1234'.post_action: unknown action \"hangupp\", did you mean \"hangup\"?"
        );
    }

    #[test]
    fn unknown_keys_get_a_suggestion_or_the_list() {
        assert_eq!(
            menu_err("mesage: hi\n"),
            "m.yaml:1:1: unknown key \"mesage\", did you mean \"message\"?"
        );
        assert!(menu_err("colour: red\n").contains("expected one of: id, message"));
        assert_eq!(
            incoming_err("message: hi\n"),
            "incoming.yaml:1:1: \"message\" is a menu key: put it under \"menu:\""
        );
        assert_eq!(
            incoming_err("alowed_numbers: []\n"),
            "incoming.yaml:1:1: unknown key \"alowed_numbers\", did you mean \"allowed_numbers\"?"
        );
        assert!(menu_err("choices:\n  '1':\n    menu: {}\n").contains("a choice is itself a menu"));
    }

    #[test]
    fn values_are_checked_with_their_path() {
        assert_eq!(
            menu_err("timeout: soon\n"),
            "m.yaml:1:10: timeout: expected a number of seconds (0 or more), found \"soon\""
        );
        assert_eq!(
            menu_err("timeout: -1\n"),
            "m.yaml:1:10: timeout: expected a number of seconds (0 or more), found \"-1\""
        );
        assert_eq!(
            menu_err("cache_audio: maybe\n"),
            "m.yaml:1:14: cache_audio: expected true or false, found \"maybe\""
        );
        assert_eq!(
            menu_err("choices:\n  x1: {}\n"),
            "m.yaml:2:3: choices: choice \"x1\" can never be dialled: keys use 0-9, *, # and A-D"
        );
        assert_eq!(
            menu_err("choices:\n  'A': {}\n  'a': {}\n"),
            "m.yaml:3:3: choices: choice \"a\" is given twice (keys are not case-sensitive)"
        );
        assert_eq!(
            menu_err("choices:\n  '1':\n"),
            "m.yaml:2:3: choices.'1': a choice needs a menu; write {} for one that does nothing"
        );
        assert_eq!(
            menu_err("max_pin_attempts: 3\n"),
            "m.yaml:1:19: max_pin_attempts: max_pin_attempts needs choices_are_pin: true in the same menu"
        );
        assert!(
            menu_err("audio_file: /config/a.m4a\n")
                .contains("unsupported audio file type \".m4a\"")
        );
        assert!(menu_err("action: {domain: switch}\n").contains("needs \"service\""));
        assert!(menu_err("action: {command: dail, number: x}\n").contains("did you mean \"dial\""));
        assert_eq!(
            menu_err("post_action: jump ownr\nchoices:\n  '1': {id: owner}\n"),
            "m.yaml:1:14: post_action: jump target \"ownr\" does not exist, did you mean \"owner\"?"
        );
        assert!(menu_err("post_action: jump x\n").contains("no menu has an id"));
        assert!(
            incoming_err("allowed_numbers: ['1']\nblocked_numbers: ['2']\n")
                .contains("cannot both be given")
        );
        assert!(incoming_err("allowed_numbers: '555'\n").contains("expected a list"));
        assert!(
            incoming_err("webhook_to_call: {call_establishd: x}\n")
                .contains("did you mean \"call_established\"")
        );
    }

    #[test]
    fn defaults_and_conversions() {
        let m = Menu::from_yaml("message: hi\n", None).unwrap();
        assert_eq!(m.timeout, DEFAULT_TIMEOUT);
        assert_eq!(m.post_action, PostAction::Noop);
        let m = Menu::from_yaml(
            "id: '  main '\ntimeout: '10'\ncache_audio: 'yes'\nwait_for_audio_to_finish: On\n\
             choices:\n  0042: {}\n  '#': {}\n  A: {}\n  Default: {message: x}\n",
            None,
        )
        .unwrap();
        assert_eq!(m.id.as_deref(), Some("main"));
        assert_eq!(m.timeout, Duration::from_secs(10));
        assert!(m.cache_audio && m.wait_for_audio_to_finish);
        let keys: Vec<&str> = m.choices.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["0042", "#", "a"]);
        assert!(m.default.is_some());
        let f = IncomingCallFile::from_yaml(
            "answer_after: 0.5\nallowed_numbers: [5551234, '555{*}']\n",
            None,
        )
        .unwrap();
        assert_eq!(f.answer_after, Duration::from_millis(500));
        assert_eq!(f.allowed_numbers[0].as_str(), "5551234");
        assert_eq!(
            IncomingCallFile::from_yaml("", None).unwrap(),
            IncomingCallFile::default()
        );
    }

    #[test]
    fn json_menus_read_the_same_schema() {
        let v: serde_json::Value = serde_json::from_str(
            r#"{"message": "Hi", "choices": {"1": {"post_action": "hangupp"}}}"#,
        )
        .unwrap();
        assert_eq!(
            Menu::from_json(&v).unwrap_err().to_string(),
            "choices.'1'.post_action: unknown action \"hangupp\", did you mean \"hangup\"?"
        );
        let v: serde_json::Value = serde_json::from_str(
            r#"{"message": "Hi", "cache_audio": "false", "timeout": 12.5, "choices": {"1": {"action": {"domain": "switch", "service": "turn_on"}}}}"#,
        )
        .unwrap();
        let m = Menu::from_json(&v).unwrap();
        assert!(!m.cache_audio);
        assert_eq!(m.timeout, Duration::from_millis(12_500));
        assert_eq!(
            m.choices[0].1.action.as_ref().map(Action::command),
            Some("call_service")
        );
    }

    #[test]
    fn menu_files_are_told_apart() {
        let f = MenuFile::from_yaml("message: hi\n", None).unwrap();
        assert_eq!(f.kind(), "menu");
        let f = MenuFile::from_yaml("answer_after: 1\n", None).unwrap();
        assert_eq!(f.kind(), "incoming-call file");
        let f = MenuFile::from_yaml(
            "command: dial\nnumber: sip:1@x\nmenu: {message: hi}\n",
            None,
        )
        .unwrap();
        assert_eq!(f.kind(), "dial command");
        let e = MenuFile::from_yaml(
            "service: hassio.addon_stdin\ndata:\n  addon: x\n  input: {command: dial}\n  menu: {}\n",
            Some("s.yaml"),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "s.yaml:5:3: data: \"menu\" belongs inside \"input\" (Home Assistant does not pass it on from here)"
        );
    }
}
