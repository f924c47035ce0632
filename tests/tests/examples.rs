//! Every file in `examples/` is loaded and checked the way the gateway and Home Assistant
//! would read it:
//!
//! - Home Assistant automations (`examples/automations/`): every command they send —
//!   `hassio.addon_stdin` `input`s and `mqtt.publish` payloads to `hasip/execute`, and the
//!   `action`s of the menus inside them — goes through the real command parser
//!   (`hasip_bus::parse_command`); a field that is not one of the verb's is an error too,
//!   as is an add-on id that is not this add-on's, a webhook id that no trigger listens on
//!   (or a trigger that nothing posts to), and an event name or menu id in a template
//!   that cannot occur (tests/tests/blueprints.rs loads them into the real Home
//!   Assistant);
//! - menu and incoming-call files (`examples/*.yaml`): `hasip_menu::MenuFile`, the loader
//!   behind `hasip menu check`, and their actions through the command parser;
//! - add-on option fragments (`examples/addon-options/`): over the add-on's defaults,
//!   through the real loader and `hasip::config::check`, incoming-call files included.
//!
//! The tests at the end change one thing in a real example and require the check to fail.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use hasip_tests::workspace_root;
use serde_json::{Map, Value};

// ---------------------------------------------------------------------------------------
// YAML as Home Assistant reads it (PyYAML, YAML 1.1), into JSON. (The same reader as in
// tests/tests/addon.rs.)

/// Reads one YAML document into JSON. Plain scalars resolve as PyYAML resolves them
/// (`yes`/`no`/`on`/`off` are booleans, `~` is null); forms whose YAML 1.1 meaning
/// surprises people (`0123` is octal, `1:30` is 90) are refused, so examples quote them.
fn yaml_to_json(text: &str) -> Result<Value, String> {
    use granit_parser::{Event, Parser, ScalarStyle};
    enum Frame {
        Seq(Vec<Value>, usize),
        Map(Map<String, Value>, Option<String>, usize),
    }
    let mut stack: Vec<Frame> = Vec::new();
    let mut anchors: HashMap<usize, Value> = HashMap::new();
    let mut root = None;
    for next in Parser::new_from_str(text) {
        let (event, span) = next.map_err(|e| {
            format!(
                "{}:{}: {}",
                e.marker().line(),
                e.marker().col() + 1,
                e.info()
            )
        })?;
        let at = format!("{}:{}", span.start.line(), span.start.col() + 1);
        let (value, anchor) = match event {
            Event::Scalar(s, style, anchor, tag) => {
                if let Some(Frame::Map(_, key @ None, _)) = stack.last_mut() {
                    *key = Some(s.into_owned());
                    continue;
                }
                let plain = matches!(style, ScalarStyle::Plain) && tag.is_none();
                let v = if plain {
                    resolve_plain(&s).map_err(|m| format!("{at}: {m}"))?
                } else {
                    Value::String(s.into_owned())
                };
                (v, anchor)
            }
            Event::Alias(id) => (
                anchors
                    .get(&id)
                    .cloned()
                    .ok_or_else(|| format!("{at}: alias to an unknown anchor"))?,
                0,
            ),
            Event::SequenceStart(_, anchor, _) => {
                stack.push(Frame::Seq(Vec::new(), anchor));
                continue;
            }
            Event::MappingStart(_, anchor, _) => {
                stack.push(Frame::Map(Map::new(), None, anchor));
                continue;
            }
            Event::SequenceEnd => match stack.pop() {
                Some(Frame::Seq(items, anchor)) => (Value::Array(items), anchor),
                _ => return Err(format!("{at}: unbalanced sequence")),
            },
            Event::MappingEnd => match stack.pop() {
                Some(Frame::Map(map, _, anchor)) => (Value::Object(map), anchor),
                _ => return Err(format!("{at}: unbalanced mapping")),
            },
            _ => continue,
        };
        if anchor != 0 {
            anchors.insert(anchor, value.clone());
        }
        match stack.last_mut() {
            None => root = Some(value),
            Some(Frame::Seq(items, _)) => items.push(value),
            Some(Frame::Map(map, key, _)) => {
                let k = key
                    .take()
                    .ok_or_else(|| format!("{at}: a key must be text"))?;
                if k == "<<" {
                    let Value::Object(merged) = value else {
                        return Err(format!("{at}: << needs a mapping"));
                    };
                    for (mk, mv) in merged {
                        map.entry(mk).or_insert(mv);
                    }
                } else if map.insert(k.clone(), value).is_some() {
                    return Err(format!("{at}: duplicate key {k:?}"));
                }
            }
        }
    }
    Ok(root.unwrap_or(Value::Null))
}

fn resolve_plain(s: &str) -> Result<Value, String> {
    Ok(match s {
        "" | "~" | "null" | "Null" | "NULL" => Value::Null,
        "true" | "True" | "TRUE" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" => Value::Bool(true),
        "false" | "False" | "FALSE" | "no" | "No" | "NO" | "off" | "Off" | "OFF" => {
            Value::Bool(false)
        }
        _ => {
            let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
            let all_digits = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
            if all_digits && digits.len() > 1 && digits.starts_with('0') {
                return Err(format!(
                    "{s} is an octal number in YAML 1.1: quote it if it is text"
                ));
            }
            if all_digits {
                return Ok(s
                    .parse::<i64>()
                    .map(Value::from)
                    .unwrap_or_else(|_| Value::String(s.to_owned())));
            }
            let sexagesimal = digits.split(':').count() > 1
                && digits
                    .split(':')
                    .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
                && !digits.starts_with('0');
            if sexagesimal {
                return Err(format!(
                    "{s} is a base-60 number in YAML 1.1: quote it if it is text"
                ));
            }
            let floaty = digits.contains('.')
                && digits
                    .bytes()
                    .all(|b| b.is_ascii_digit() || b".eE+-".contains(&b));
            match s.parse::<f64>() {
                Ok(x) if floaty && x.is_finite() => Value::from(x),
                _ if s.starts_with(".inf") || s.starts_with(".nan") => {
                    return Err(format!("{s} has no JSON form"));
                }
                _ => Value::String(s.to_owned()),
            }
        }
    })
}

// ---------------------------------------------------------------------------------------
// The add-on id Home Assistant gives this add-on: the first 8 hex digits of the SHA-1 of
// the repository URL (lower-cased), `_`, the slug (supervisor/store/utils.py).

fn sha1(data: &[u8]) -> [u8; 20] {
    let mut h: [u32; 5] = [
        0x6745_2301,
        0xEFCD_AB89,
        0x98BA_DCFE,
        0x1032_5476,
        0xC3D2_E1F0,
    ];
    let mut msg = data.to_vec();
    let bits = (data.len() as u64).wrapping_mul(8);
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bits.to_be_bytes());
    for chunk in msg.chunks(64) {
        let mut w = [0u32; 80];
        for (i, word) in chunk.chunks(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (i, wi) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5A82_7999),
                20..=39 => (b ^ c ^ d, 0x6ED9_EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1B_BCDC),
                _ => (b ^ c ^ d, 0xCA62_C1D6),
            };
            let t = a
                .rotate_left(5)
                .wrapping_add(f)
                .wrapping_add(e)
                .wrapping_add(k)
                .wrapping_add(*wi);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = t;
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e]) {
            *x = x.wrapping_add(y);
        }
    }
    let mut out = [0u8; 20];
    for (i, x) in h.iter().enumerate() {
        out[i * 4..i * 4 + 4].copy_from_slice(&x.to_be_bytes());
    }
    out
}

fn addon_id(repository_url: &str, slug: &str) -> String {
    let hash: String = sha1(repository_url.to_lowercase().as_bytes())[..4]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("{hash}_{slug}")
}

#[test]
fn addon_ids_are_computed_as_the_supervisor_does() {
    // ha-sip's id, which its README and every user automation use.
    assert_eq!(
        addon_id("https://github.com/arnonym/ha-plugins", "ha-sip"),
        "c7744bff_ha-sip"
    );
    assert_eq!(
        sha1(b"abc")
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>(),
        "a9993e364706816aba3e25717850c26c9cd0d89d"
    );
}

// ---------------------------------------------------------------------------------------
// What a command may contain (ha-sip spec §3.4, plus `reject`).

const COMMON: &[&str] = &["command"];

fn verb_fields(verb: &str) -> Option<&'static [&'static str]> {
    Some(match verb {
        "call_service" => &["domain", "service", "entity_id", "service_data"],
        "dial" => &[
            "number",
            "menu",
            "ring_timeout",
            "sip_account",
            "webhook_to_call",
        ],
        "answer" => &["number", "menu", "webhook_to_call"],
        "reject" => &["number", "code"],
        "hangup" | "stop_playback" | "stop_recording" => &["number"],
        "transfer" => &["number", "transfer_to"],
        "bridge_audio" => &["number", "bridge_to"],
        "send_dtmf" => &["number", "digits", "method", "tone_ms", "gap_ms"],
        "play_message" => &[
            "number",
            "message",
            "tts_language",
            "handle_as_template",
            "cache_audio",
            "wait_for_audio_to_finish",
            "post_action",
        ],
        "play_audio_file" => &[
            "number",
            "audio_file",
            "cache_audio",
            "wait_for_audio_to_finish",
            "post_action",
        ],
        "start_recording" => &["number", "recording_file"],
        "escalate" => &[
            "id",
            "numbers",
            "message",
            "acknowledge_digit",
            "acknowledge_timeout",
            "ring_timeout",
            "sip_account",
        ],
        "assist" => &[
            "number",
            "pipeline",
            "language",
            "leave_digits",
            "silence_timeout",
            "end_of_speech_ms",
        ],
        "stop_assist" => &["number"],
        "state" | "quit" => &[],
        _ => return None,
    })
}

/// The events of webhook payloads (spec §6.3).
const EVENTS: &[&str] = &[
    "incoming_call",
    "outgoing_call_initiated",
    "call_established",
    "entered_menu",
    "dtmf_digit",
    "timeout",
    "ring_timeout",
    "playback_done",
    "recording_started",
    "recording_stopped",
    "pin_lockout",
    "call_disconnected",
    "escalation_acknowledged",
    "escalation_failed",
];

const AUTOMATION_KEYS: &[&str] = &[
    "id",
    "alias",
    "description",
    "triggers",
    "trigger",
    "conditions",
    "condition",
    "actions",
    "action",
    "mode",
    "max",
    "max_exceeded",
    "variables",
    "trigger_variables",
    "initial_state",
    "trace",
];

// ---------------------------------------------------------------------------------------
// The checker.

/// What the examples use and define, across files.
#[derive(Debug, Default)]
struct Seen {
    /// Webhook ids that some trigger listens on.
    listened: BTreeSet<String>,
    /// Webhook ids that a `webhook_to_call` posts to, with the file.
    targeted: Vec<(String, String)>,
    /// Menu ids defined in menus.
    menu_ids: BTreeSet<String>,
    /// Menu ids compared in templates, with the file.
    menu_ids_used: Vec<(String, String)>,
    /// (file, verb) of every command found.
    commands: Vec<(String, String)>,
}

struct Checker<'a> {
    file: &'a str,
    /// One of ha-sip's README examples: its webhook ids are placeholders.
    readme_copy: bool,
    /// The add-on ids a `hassio.addon_stdin` in this file may name.
    ids: &'a [String],
    problems: Vec<String>,
    seen: &'a mut Seen,
}

impl Checker<'_> {
    fn problem(&mut self, path: &str, message: impl std::fmt::Display) {
        let at = if path.is_empty() {
            String::new()
        } else {
            format!(" {path}:")
        };
        self.problems.push(format!("{}:{at} {message}", self.file));
    }

    /// One command, as it reaches the gateway.
    fn command(&mut self, cmd: &Value, path: &str) {
        self.seen.commands.push((
            self.file.to_owned(),
            cmd.get("command")
                .and_then(Value::as_str)
                .unwrap_or("call_service")
                .to_owned(),
        ));
        if let Err(e) = hasip_bus::parse_command(cmd) {
            self.problem(path, e);
        }
        let Some(obj) = cmd.as_object() else {
            return;
        };
        let verb = obj
            .get("command")
            .and_then(Value::as_str)
            .unwrap_or("call_service");
        let Some(fields) = verb_fields(verb) else {
            self.problem(path, format!("unknown command {verb:?}"));
            return;
        };
        for k in obj.keys() {
            if !COMMON.contains(&k.as_str()) && !fields.contains(&k.as_str()) {
                self.problem(
                    path,
                    format!(
                        "{k}: not a field of {verb} (its fields: {})",
                        fields.join(", ")
                    ),
                );
            }
        }
        if let Some(a) = obj.get("sip_account") {
            let n = a
                .as_u64()
                .or_else(|| a.as_str().and_then(|s| s.trim().parse().ok()));
            if !n.is_some_and(|n| (1..=3).contains(&n)) {
                self.problem(path, format!("sip_account: {a} is not 1, 2 or 3"));
            }
        }
        if let Some(hooks) = obj.get("webhook_to_call") {
            self.webhooks(hooks, &format!("{path}.webhook_to_call"));
        }
        if let Some(menu) = obj.get("menu").filter(|m| !m.is_null()) {
            self.menu(menu, &format!("{path}.menu"));
        }
    }

    fn webhooks(&mut self, hooks: &Value, path: &str) {
        let Some(hooks) = hooks.as_object() else {
            self.problem(path, "expected a mapping of event to webhook id");
            return;
        };
        for (event, id) in hooks {
            if !EVENTS.contains(&event.as_str()) || event == "incoming_call" {
                self.problem(
                    path,
                    format!("{event}: no such per-call event (incoming_call only goes to the global webhook)"),
                );
            }
            match id.as_str() {
                Some(id) if !self.readme_copy => {
                    self.seen
                        .targeted
                        .push((self.file.to_owned(), id.to_owned()));
                }
                Some(_) => {}
                None => self.problem(path, format!("{event}: {id} is not a webhook id")),
            }
        }
    }

    /// A menu object: its id, its action (a command), its choices.
    fn menu(&mut self, menu: &Value, path: &str) {
        let Some(m) = menu.as_object() else {
            return;
        };
        if let Some(id) = m.get("id").and_then(Value::as_str) {
            self.seen.menu_ids.insert(id.trim().to_owned());
        }
        if let Some(action) = m.get("action").filter(|a| !a.is_null()) {
            self.command(action, &format!("{path}.action"));
        }
        if let Some(choices) = m.get("choices").and_then(Value::as_object) {
            for (k, sub) in choices {
                self.menu(sub, &format!("{path}.choices.{k:?}"));
            }
        }
    }

    /// Event names and menu ids compared in a template.
    fn template(&mut self, text: &str, path: &str) {
        for (needle, events) in [("event == ", true), ("menu_id == ", false)] {
            for (i, _) in text.match_indices(needle) {
                let rest = &text[i + needle.len()..];
                let Some(q) = rest.chars().next().filter(|c| *c == '\'' || *c == '"') else {
                    continue;
                };
                let word: String = rest[1..].chars().take_while(|c| *c != q).collect();
                if events {
                    if !EVENTS.contains(&word.as_str()) {
                        self.problem(
                            path,
                            format!("template compares with {word:?}, which is no event"),
                        );
                    }
                } else {
                    self.seen.menu_ids_used.push((self.file.to_owned(), word));
                }
            }
        }
    }

    /// Walks a Home Assistant automation (or any part of one).
    fn walk(&mut self, v: &Value, path: &str) {
        match v {
            Value::String(s) => self.template(s, path),
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    self.walk(item, &format!("{path}[{i}]"));
                }
            }
            Value::Object(o) => {
                self.step(o, path);
                for (k, item) in o {
                    // Commands were checked as a whole by `step`.
                    if k == "data" && service_of(o).is_some_and(|s| s.ends_with("_stdin")) {
                        continue;
                    }
                    self.walk(item, &format!("{path}.{k}"));
                }
            }
            _ => {}
        }
    }

    /// A trigger or action step.
    fn step(&mut self, o: &Map<String, Value>, path: &str) {
        let platform = o
            .get("trigger")
            .or_else(|| o.get("platform"))
            .and_then(Value::as_str);
        if platform == Some("webhook") {
            match o.get("webhook_id").and_then(Value::as_str) {
                Some(id) => {
                    self.seen.listened.insert(id.to_owned());
                }
                None => self.problem(path, "webhook trigger without webhook_id"),
            }
            // local_only may stay on: the add-on posts webhooks to Core on the host network
            // (issue 17), not through the Supervisor's proxy.
            let post = o
                .get("allowed_methods")
                .and_then(Value::as_array)
                .is_some_and(|m| m.iter().any(|x| x == "POST"));
            if !post {
                self.problem(path, "webhook trigger needs allowed_methods: [POST]");
            }
        }
        let Some(service) = service_of(o) else {
            return;
        };
        let data = o.get("data").and_then(Value::as_object);
        match service {
            "hassio.addon_stdin" | "hassio.app_stdin" => {
                let Some(data) = data else {
                    self.problem(path, format!("{service} without data"));
                    return;
                };
                let id_key = if service == "hassio.app_stdin" {
                    "app"
                } else {
                    "addon"
                };
                match data.get(id_key).and_then(Value::as_str) {
                    Some(id) if self.ids.iter().any(|x| x == id) => {}
                    other => {
                        let ids = self.ids.join(" or ");
                        self.problem(
                            path,
                            format!("data.{id_key}: {other:?}; this add-on is {ids}"),
                        );
                    }
                }
                for k in data.keys() {
                    if k != id_key && k != "input" {
                        self.problem(
                            path,
                            format!("data.{k}: Home Assistant does not pass it on"),
                        );
                    }
                }
                match data.get("input") {
                    Some(input @ Value::Object(_)) => {
                        self.command(input, &format!("{path}.data.input"));
                    }
                    other => self.problem(
                        path,
                        format!("data.input must be a command mapping (a string reaches the add-on as a JSON string), not {other:?}"),
                    ),
                }
            }
            "mqtt.publish" => {
                let topic = data.and_then(|d| d.get("topic")).and_then(Value::as_str);
                if topic != Some("hasip/execute") {
                    return;
                }
                match data.and_then(|d| d.get("payload")).and_then(Value::as_str) {
                    Some(p) => match serde_json::from_str::<Value>(p) {
                        Ok(cmd) => self.command(&cmd, &format!("{path}.data.payload")),
                        Err(e) => self.problem(path, format!("data.payload is not JSON: {e}")),
                    },
                    None => self.problem(path, "data.payload must be the JSON command as text"),
                }
            }
            _ => {}
        }
    }
}

/// The service an action step calls (`action:` or the older `service:`), if it is a step.
fn service_of(o: &Map<String, Value>) -> Option<&str> {
    o.get("action")
        .or_else(|| o.get("service"))
        .and_then(Value::as_str)
        .filter(|s| s.contains('.'))
}

/// ha-sip's README examples, kept verbatim: they name ha-sip's add-on id and post to the
/// README's placeholder webhook `another_webhook_id`.
const README_COPIES: &[&str] = &[
    "answer-say-bye.yaml",
    "dial-burglar-alarm.yaml",
    "dial-dtmf-services.yaml",
    "dial-message-only.yaml",
    "dial-pin.yaml",
    "incoming-call-pin.yaml",
    "menu-reference.yaml",
    "mqtt-dial-hello.yaml",
    "options.json",
];

/// Incoming-call files that option fragments name, and the example that stands for each.
const INCOMING_FILES: &[(&str, &str)] = &[(
    "/config/ha-sip/door-opener.yaml",
    "door-opener-incoming.yaml",
)];

fn parse(file: &str, text: &str) -> Result<Value, String> {
    yaml_to_json(text).map_err(|e| format!("{file}:{e}"))
}

/// Checks every example; `files` maps paths relative to `examples/` to their text.
fn check_examples(files: &BTreeMap<String, String>) -> (Vec<String>, Seen) {
    let mut seen = Seen::default();
    let mut problems = Vec::new();
    let config = parse("addon/config.yaml", &read("addon/config.yaml")).expect("manifest");
    let repo = parse("repository.yaml", &read("repository.yaml")).expect("repository.yaml");
    let ours = addon_id(
        repo["url"].as_str().expect("repository url"),
        config["slug"].as_str().expect("slug"),
    );
    let ha_sip = addon_id("https://github.com/arnonym/ha-plugins", "ha-sip");
    let global = config["options"]["webhook"]["id"]
        .as_str()
        .expect("webhook.id")
        .to_owned();
    let ids_ours = [ours.clone()];
    // ha-sip's README examples are kept verbatim, with ha-sip's id.
    let ids_readme = [ours, ha_sip];
    for (file, text) in files {
        let readme_copy = README_COPIES.contains(&file.as_str());
        let mut c = Checker {
            file,
            readme_copy,
            ids: if readme_copy { &ids_readme } else { &ids_ours },
            problems: Vec::new(),
            seen: &mut seen,
        };
        if file.ends_with(".json") {
            options_file(&mut c, text, false);
        } else if file.starts_with("automations/") {
            match parse(file, text) {
                Ok(v) => automations(&mut c, &v),
                Err(e) => c.problems.push(e),
            }
        } else if file.starts_with("addon-options/") {
            options_file(&mut c, text, true);
        } else if !file.contains('/') {
            menu_file(&mut c, text);
        } else if file.starts_with("blueprints/") {
            // Loaded and run by the real Home Assistant (tests/tests/blueprints.rs); here
            // only the add-on id they default to.
            if text.contains("addon") && !text.contains(&format!("default: {}", ids_ours[0])) {
                c.problems
                    .push(format!("{file}: the add-on id defaults to another add-on"));
            }
        } else {
            c.problems
                .push(format!("{file}: not a kind of example this test knows"));
        }
        problems.append(&mut c.problems);
    }
    for (file, id) in &seen.targeted {
        if !seen.listened.contains(id) && *id != global {
            problems.push(format!(
                "{file}: webhook {id:?} is posted to, but no example trigger listens on it"
            ));
        }
    }
    let targeted: BTreeSet<&String> = seen.targeted.iter().map(|(_, id)| id).collect();
    for id in &seen.listened {
        if !targeted.contains(id) && *id != global {
            problems.push(format!(
                "a trigger listens on webhook {id:?}, but nothing posts to it (not the add-on's webhook.id {global:?}, not in any webhook_to_call)"
            ));
        }
    }
    for (file, id) in &seen.menu_ids_used {
        if !seen.menu_ids.contains(id) {
            problems.push(format!(
                "{file}: a template compares menu_id with {id:?}, but no menu has that id"
            ));
        }
    }
    (problems, seen)
}

fn automations(c: &mut Checker<'_>, v: &Value) {
    let list: Vec<&Value> = match v {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    };
    if list.is_empty() {
        c.problem("", "no automation");
    }
    for (i, a) in list.iter().enumerate() {
        let path = format!("[{i}]");
        let Some(o) = a.as_object() else {
            c.problem(&path, "an automation is a mapping");
            continue;
        };
        for k in o.keys() {
            if !AUTOMATION_KEYS.contains(&k.as_str()) {
                c.problem(&path, format!("{k}: not an automation key"));
            }
        }
        for (new, old) in [("triggers", "trigger"), ("actions", "action")] {
            if !o.contains_key(new) && !o.contains_key(old) {
                c.problem(&path, format!("no {new}"));
            }
        }
        if !o.get("alias").is_some_and(Value::is_string) {
            c.problem(&path, "no alias");
        }
        c.walk(a, &path);
    }
}

fn menu_file(c: &mut Checker<'_>, text: &str) {
    let loaded = hasip_menu::MenuFile::from_yaml(text, Some(c.file));
    if let Err(e) = &loaded {
        c.problems.push(e.to_string());
        return;
    }
    let v = match parse(c.file, text) {
        Ok(v) => v,
        Err(e) => {
            c.problems.push(e);
            return;
        }
    };
    let Some(o) = v.as_object() else {
        return;
    };
    if o.contains_key("data") {
        // A service call, as in ha-sip's README.
        c.walk(&v, "");
    } else if o.contains_key("command") || o.contains_key("number") {
        c.command(&v, "");
    } else if hasip_menu::INCOMING_KEYS.iter().any(|k| o.contains_key(*k)) {
        if let Some(hooks) = o.get("webhook_to_call") {
            c.webhooks(hooks, "webhook_to_call");
        }
        if let Some(menu) = o.get("menu") {
            c.menu(menu, "menu");
        }
    } else {
        c.menu(&v, "");
    }
}

/// Add-on options: a fragment laid over the add-on's defaults (what the Supervisor does
/// with sections the user leaves out), or a whole options.json.
fn options_file(c: &mut Checker<'_>, text: &str, fragment: bool) {
    let user = if fragment {
        parse(c.file, text)
    } else {
        serde_json::from_str(text).map_err(|e| format!("{}: {e}", c.file))
    };
    let user = match user {
        Ok(Value::Object(m)) => m,
        Ok(other) => {
            c.problem("", format!("expected a mapping of sections, found {other}"));
            return;
        }
        Err(e) => {
            c.problems.push(e);
            return;
        }
    };
    let config = parse("addon/config.yaml", &read("addon/config.yaml")).expect("manifest");
    let schema = config["schema"].as_object().expect("schema");
    let mut merged = config["options"].as_object().expect("options").clone();
    for (section, keys) in &user {
        // The Supervisor refuses a section without one of its required keys, and drops
        // keys it does not know.
        let Some(s) = schema.get(section).and_then(Value::as_object) else {
            c.problem(section, "not an option of the add-on");
            continue;
        };
        let Some(keys) = keys.as_object() else {
            c.problem(section, "expected a mapping");
            continue;
        };
        for (k, t) in s {
            let optional = t.as_str().is_some_and(|t| t.ends_with('?'));
            if !optional && !keys.contains_key(k) {
                c.problem(section, format!("{k} is required by the add-on's schema"));
            }
        }
        for k in keys.keys() {
            if !s.contains_key(k) {
                c.problem(section, format!("{k} is not in the add-on's schema"));
            }
        }
        merged.insert(section.clone(), Value::Object(keys.clone()));
    }
    let mut options = match hasip::config::parse_options(&Value::Object(merged).to_string(), c.file)
    {
        Ok(o) => o,
        Err(e) => {
            c.problems.push(format!("{e:#}"));
            return;
        }
    };
    // Incoming-call files: the example that stands for the path, read by `check`.
    for acct in [&mut options.sip, &mut options.sip_2, &mut options.sip_3] {
        if acct.incoming_call_file.is_empty() || !acct.enabled {
            continue;
        }
        match INCOMING_FILES
            .iter()
            .find(|(p, _)| *p == acct.incoming_call_file)
        {
            Some((_, example)) => {
                acct.incoming_call_file = workspace_root()
                    .join("examples")
                    .join(example)
                    .to_string_lossy()
                    .into_owned();
            }
            None => {
                let f = acct.incoming_call_file.clone();
                c.problem(
                    "",
                    format!("incoming_call_file {f} is not one of the examples"),
                );
            }
        }
    }
    if let Err(e) = hasip::config::check(options) {
        c.problems.push(format!("{}: {e:#}", c.file));
    }
}

fn read(rel: &str) -> String {
    let p = workspace_root().join(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Every example file (YAML and JSON), by its path under `examples/`.
fn example_files() -> BTreeMap<String, String> {
    let root = workspace_root().join("examples");
    let mut out = BTreeMap::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .filter_map(Result::ok)
        {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let ext = p.extension().and_then(|e| e.to_str()).unwrap_or("");
            if ["yaml", "yml", "json"].contains(&ext) {
                let rel = p
                    .strip_prefix(&root)
                    .unwrap_or(Path::new(""))
                    .to_string_lossy()
                    .replace('\\', "/");
                let text =
                    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
                out.insert(rel, text);
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// The tests.

#[test]
fn every_example_loads_and_every_command_parses() {
    let files = example_files();
    assert!(files.len() >= 19, "examples/ has {} files", files.len());
    let (problems, seen) = check_examples(&files);
    assert!(problems.is_empty(), "{problems:#?}");
    assert!(
        seen.commands.len() >= 20,
        "only {} commands found: {:?}",
        seen.commands.len(),
        seen.commands
    );
}

#[test]
fn the_common_jobs_have_examples() {
    let files = example_files();
    let (problems, seen) = check_examples(&files);
    assert!(problems.is_empty(), "{problems:#?}");
    let verbs = |file: &str| -> Vec<&str> {
        seen.commands
            .iter()
            .filter(|(f, _)| f == file)
            .map(|(_, v)| v.as_str())
            .collect()
    };
    let has = |file: &str, wanted: &[&str]| {
        let v = verbs(file);
        for w in wanted {
            assert!(v.contains(w), "{file} does not {w}: {v:?}");
        }
    };
    // Call me with a message: a dial whose menu speaks and hangs up; also over MQTT.
    has("automations/call-me-with-a-message.yaml", &["dial"]);
    has("automations/call-me-with-a-message-mqtt.yaml", &["dial"]);
    let text = &files["automations/call-me-with-a-message.yaml"];
    assert!(text.contains("message:") && text.contains("post_action: hangup"));
    // PIN-protected door opener: an incoming-call file with allowed numbers and a PIN menu
    // whose choice calls a service, for an account in accept mode.
    let door = hasip_menu::IncomingCallFile::from_yaml(
        &files["door-opener-incoming.yaml"],
        Some("door-opener-incoming.yaml"),
    )
    .expect("door opener");
    assert!(!door.allowed_numbers.is_empty());
    let menu = door.menu.as_ref().expect("a menu");
    assert!(menu.choices_are_pin);
    assert!(menu.choices.iter().any(|(_, m)| {
        m.action
            .as_ref()
            .is_some_and(|a| a.command() == "call_service")
    }));
    has("door-opener-incoming.yaml", &["call_service"]);
    // Assist behind a PIN: the PIN's choice starts `assist` on the call itself.
    has("assist-incoming.yaml", &["assist"]);
    let assist = hasip_menu::IncomingCallFile::from_yaml(
        &files["assist-incoming.yaml"],
        Some("assist-incoming.yaml"),
    )
    .expect("assist");
    assert!(assist.menu.as_ref().is_some_and(|m| m.choices_are_pin));
    assert!(files["addon-options/door-opener.yaml"].contains("answer_mode: accept"));
    // Doorbell: ring event, answer, DTMF, hang up, with an account without registrar.
    has(
        "automations/doorbell-intercom.yaml",
        &["answer", "send_dtmf", "hangup"],
    );
    let options = yaml_to_json(&files["addon-options/doorbell-intercom.yaml"]).expect("yaml");
    assert_eq!(options["sip"]["registrar_uri"], "", "direct, no registrar");
    assert!(files["automations/doorbell-intercom.yaml"].contains("'incoming_call'"));
    // Escalation: one escalate command, its result turned into a notification.
    has("automations/escalation.yaml", &["escalate"]);
    let esc = &files["automations/escalation.yaml"];
    assert!(esc.contains("numbers:") && esc.contains("escalation_failed"));
    // Voice assistant: answer, dial Assist, bridge.
    has(
        "automations/voice-assistant.yaml",
        &["answer", "dial", "bridge_audio", "hangup"],
    );
}

#[test]
fn menu_files_check_as_hasip_menu_check_does() {
    for (file, text) in example_files() {
        if file.contains('/') || !file.ends_with(".yaml") {
            continue;
        }
        let loaded =
            hasip_menu::MenuFile::from_yaml(&text, Some(&file)).unwrap_or_else(|e| panic!("{e}"));
        // Every menu must normalise (the tree `hasip menu check` prints).
        let tree = hasip_menu::MenuTree::from_option(loaded.menu());
        assert!(!tree.render().is_empty(), "{file}");
    }
}

// The check must fail when an example is wrong: one change to a real example each.

fn broken(file: &str, from: &str, to: &str) -> Vec<String> {
    let mut files = example_files();
    let text = files
        .get_mut(file)
        .unwrap_or_else(|| panic!("{file} is not an example"));
    assert!(text.contains(from), "{file} does not contain {from:?}");
    *text = text.replacen(from, to, 1);
    check_examples(&files).0
}

fn assert_caught(problems: &[String], needle: &str) {
    assert!(
        problems.iter().any(|p| p.contains(needle)),
        "expected a problem about {needle:?}, got {problems:#?}"
    );
}

#[test]
fn a_bad_field_value_fails() {
    let p = broken(
        "automations/doorbell-intercom.yaml",
        "method: rfc2833",
        "method: rfc2834",
    );
    assert_caught(&p, "method: \"rfc2834\"");
    let p = broken(
        "automations/escalation.yaml",
        "ring_timeout: 30",
        "ring_timeout: 30\n          sip_account: 7",
    );
    assert_caught(&p, "sip_account");
    let p = broken(
        "automations/escalation.yaml",
        "acknowledge_digit: \"1\"",
        "acknowledge_digit: \"11\"",
    );
    assert_caught(&p, "acknowledge_digit");
}

#[test]
fn an_unknown_field_fails() {
    let p = broken(
        "automations/call-me-with-a-message.yaml",
        "ring_timeout: 30",
        "ring_timout: 30",
    );
    assert_caught(&p, "ring_timout: not a field of dial");
    let p = broken(
        "automations/voice-assistant.yaml",
        "bridge_to:",
        "bridge_with:",
    );
    assert_caught(&p, "bridge_with: not a field of bridge_audio");
}

#[test]
fn a_bad_menu_fails() {
    let p = broken(
        "door-opener-incoming.yaml",
        "post_action: hangup",
        "post_action: hangupp",
    );
    assert_caught(&p, "post_action");
    let p = broken(
        "dial-dtmf-services.yaml",
        "domain: switch",
        "domian: switch",
    );
    assert_caught(&p, "domain");
}

#[test]
fn a_broken_payload_or_wrong_add_on_fails() {
    let p = broken(
        "automations/call-me-with-a-message-mqtt.yaml",
        "\"post_action\": \"hangup\"}}",
        "\"post_action\": \"hangup\"}",
    );
    assert_caught(&p, "payload is not JSON");
    let p = broken(
        "automations/voice-assistant.yaml",
        "addon: 9061a816_ha-sip",
        "addon: c7744bff_ha-sip",
    );
    assert_caught(&p, "data.addon");
    let p = broken(
        "automations/doorbell-intercom.yaml",
        "          command: answer\n",
        "          command: answer\n        menu:\n          message: hi\n",
    );
    assert_caught(&p, "data.menu: Home Assistant does not pass it on");
}

#[test]
fn webhooks_and_templates_that_cannot_match_fail() {
    let p = broken(
        "automations/door-opener-notifications.yaml",
        "webhook_id: door_opener",
        "webhook_id: door_opener_2",
    );
    assert_caught(&p, "\"door_opener\" is posted to");
    assert_caught(&p, "listens on webhook \"door_opener_2\"");
    let p = broken(
        "automations/door-opener-notifications.yaml",
        "menu_id == 'door_opened'",
        "menu_id == 'door_open'",
    );
    assert_caught(&p, "door_open");
    let p = broken(
        "automations/doorbell-intercom.yaml",
        "event == 'incoming_call'",
        "event == 'incomming_call'",
    );
    assert_caught(&p, "incomming_call");
}

#[test]
fn a_bad_option_fragment_fails() {
    let p = broken(
        "addon-options/doorbell-intercom.yaml",
        "answer_mode: listen",
        "answer_mode: auto",
    );
    assert_caught(&p, "answer_mode");
    let p = broken(
        "addon-options/voice-assistant.yaml",
        "  options: \"\"\n",
        "",
    );
    assert_caught(&p, "options is required");
    let p = broken(
        "addon-options/door-opener.yaml",
        "/config/ha-sip/door-opener.yaml",
        "/config/ha-sip/other.yaml",
    );
    assert_caught(&p, "not one of the examples");
    // A mistake in the incoming-call file an option fragment names.
    let p = broken(
        "door-opener-incoming.yaml",
        "choices_are_pin: true",
        "choices_are_pin: maybe",
    );
    assert_caught(&p, "choices_are_pin");
}

#[test]
fn yaml_that_home_assistant_reads_differently_fails() {
    let p = broken(
        "automations/doorbell-intercom.yaml",
        "timeout: \"00:00:45\"",
        "timeout: 1:45",
    );
    assert_caught(&p, "base-60");
    let p = broken(
        "door-opener-incoming.yaml",
        "- \"0301234567\"",
        "- 0301234567",
    );
    assert!(
        !p.is_empty(),
        "an unquoted number with a leading zero went unnoticed"
    );
}
