//! The Home Assistant add-on (`addon/`, `repository.yaml`) and the stand-alone files
//! (`.env.example`, `docker-compose.yml`), checked offline:
//!
//! - `addon/config.yaml` against the rules of the community add-on linter
//!   (frenck/action-addon-linter: its JSON schema with the "uses a default value" rule and
//!   its extra checks) and of the Supervisor's manifest validation (slug, version, image,
//!   map, schema types, options against schema);
//! - what this gateway needs from the manifest (stdin, Home Assistant API, host network,
//!   maps, MQTT service, arches);
//! - `options`/`schema` against the real loader (`hasip::config`): the same keys, and the
//!   options the Supervisor would write parse and check;
//! - ha-sip's README options parse into the same configuration as the equivalent `.env`;
//! - translations, icon and logo, changelog, Dockerfile, repository.yaml.
//!
//! The rules are those of ../shared/spec/addon-conventions.md (§1–§4, §10–§11).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use hasip::config::{self, Options};
use hasip_tests::workspace_root;
use serde_json::{Map, Value, json};

// ---------------------------------------------------------------------------------------
// YAML as Home Assistant and the Supervisor read it (PyYAML, YAML 1.1), into JSON.

/// Reads one YAML document into JSON. Plain scalars resolve as PyYAML resolves them
/// (`yes`/`no`/`on`/`off` are booleans, `~` is null); forms whose YAML 1.1 meaning
/// surprises people (`0123` is octal, `1:30` is 90) are refused, so files here quote them.
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
// Files.

fn read(rel: &str) -> String {
    let p = workspace_root().join(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn yaml_file(rel: &str) -> Value {
    yaml_to_json(&read(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn manifest() -> Map<String, Value> {
    match yaml_file("addon/config.yaml") {
        Value::Object(m) => m,
        other => panic!("addon/config.yaml is not a mapping: {other}"),
    }
}

fn object<'a>(v: &'a Value, what: &str) -> &'a Map<String, Value> {
    v.as_object()
        .unwrap_or_else(|| panic!("{what}: expected a mapping, found {v}"))
}

// ---------------------------------------------------------------------------------------
// The community linter (frenck/action-addon-linter, src/config.schema.json and lint.py).

/// Every property of the linter's schema: its JSON types and, where it has one, the
/// default that the linter refuses to see written out ("'X' should be removed, it uses a
/// default value"). `additionalProperties` is false: no other key is allowed.
const LINTER_PROPERTIES: &[(&str, &[&str], Option<&str>)] = &[
    ("advanced", &["boolean"], Some("false")),
    ("apparmor", &["string", "boolean"], Some("true")),
    ("arch", &["array"], None),
    ("audio", &["boolean"], Some("false")),
    ("auth_api", &["boolean"], Some("false")),
    ("auto_uart", &["boolean"], Some("false")),
    ("backup", &["string"], Some("\"hot\"")),
    ("backup_exclude", &["array"], None),
    ("backup_pre", &["string"], None),
    ("backup_post", &["string"], None),
    ("boot", &["string"], Some("\"auto\"")),
    ("breaking_versions", &["array"], None),
    ("codenotary", &["string"], None),
    ("description", &["string"], None),
    ("devices", &["array"], None),
    ("devicetree", &["boolean"], Some("false")),
    ("discovery", &["array"], None),
    ("docker_api", &["boolean"], Some("false")),
    ("environment", &["object"], None),
    ("full_access", &["boolean"], Some("false")),
    ("gpio", &["boolean"], Some("false")),
    ("hassio_api", &["boolean"], Some("false")),
    ("hassio_role", &["string"], Some("\"default\"")),
    ("homeassistant", &["string"], Some("false")),
    ("homeassistant_api", &["boolean"], Some("false")),
    ("host_dbus", &["boolean"], Some("false")),
    ("host_ipc", &["boolean"], Some("false")),
    ("host_network", &["boolean"], Some("false")),
    ("host_pid", &["boolean"], Some("false")),
    ("host_uts", &["boolean"], Some("false")),
    ("image", &["string"], None),
    ("ingress", &["boolean"], Some("false")),
    ("ingress_entry", &["string"], None),
    ("ingress_port", &["integer"], Some("8099")),
    ("ingress_stream", &["boolean"], Some("false")),
    ("init", &["boolean"], Some("true")),
    ("journald", &["boolean"], Some("false")),
    ("kernel_modules", &["boolean"], Some("false")),
    ("legacy", &["boolean"], Some("false")),
    ("machine", &["array"], None),
    ("map", &["array"], None),
    ("name", &["string"], None),
    ("options", &["object"], Some("{}")),
    ("panel_admin", &["boolean"], Some("true")),
    ("panel_icon", &["string"], Some("\"mdi:puzzle\"")),
    ("panel_title", &["string"], None),
    ("ports", &["object"], None),
    ("ports_description", &["object"], None),
    ("privileged", &["array"], None),
    ("realtime", &["boolean"], Some("false")),
    ("schema", &["object"], Some("{}")),
    ("services", &["array"], None),
    ("slug", &["string"], None),
    ("stage", &["string"], Some("\"stable\"")),
    ("startup", &["string"], Some("\"application\"")),
    ("stdin", &["boolean"], Some("false")),
    ("timeout", &["integer"], Some("10")),
    ("tmpfs", &["string", "boolean"], Some("false")),
    ("uart", &["boolean"], Some("false")),
    ("udev", &["boolean"], Some("false")),
    ("ulimits", &["object"], Some("{}")),
    ("url", &["string"], None),
    ("usb", &["boolean"], Some("false")),
    ("version", &["string"], None),
    ("video", &["boolean"], Some("false")),
    ("watchdog", &["string"], None),
    ("webui", &["string"], None),
];

/// The linter's enums.
const LINTER_ENUMS: &[(&str, &[&str])] = &[
    ("backup", &["hot", "cold"]),
    ("boot", &["auto", "manual", "manual_only"]),
    (
        "hassio_role",
        &["admin", "backup", "default", "homeassistant", "manager"],
    ),
    ("stage", &["deprecated", "experimental", "stable"]),
    (
        "startup",
        &["application", "initialize", "once", "services", "system"],
    ),
];

/// Architectures the linter knows; the last three are deprecated (a warning from the
/// linter, ARCH_DEPRECATED from the Supervisor).
const LINTER_ARCHES: &[&str] = &["aarch64", "amd64", "armhf", "armv7", "i386"];
const DEPRECATED_ARCHES: &[&str] = &["armhf", "armv7", "i386"];

/// Map types of the linter's schema (strings `type[:rw|:ro]` or objects).
const MAP_TYPES: &[&str] = &[
    "addon_config",
    "app_config",
    "addons",
    "local_apps",
    "all_addon_configs",
    "all_app_configs",
    "backup",
    "config",
    "data",
    "homeassistant_config",
    "media",
    "share",
    "ssl",
];

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// The linter's checks on a manifest: every error message it would print.
fn lint(config: &Map<String, Value>) -> Vec<String> {
    let mut errors = Vec::new();
    for required in ["arch", "description", "name", "slug", "version"] {
        if !config.contains_key(required) {
            errors.push(format!("'{required}' is a required property"));
        }
    }
    let props: BTreeMap<&str, (&[&str], Option<&str>)> = LINTER_PROPERTIES
        .iter()
        .map(|(k, t, d)| (*k, (*t, *d)))
        .collect();
    for (key, value) in config {
        let Some((types, default)) = props.get(key.as_str()) else {
            errors.push(format!(
                "Additional properties are not allowed ('{key}' was unexpected)"
            ));
            continue;
        };
        let t = json_type(value);
        // JSON Schema: an integer is also a "number"; "number" is not used by the linter.
        if !types.contains(&t) {
            errors.push(format!("{key}: {value} is not of type {types:?}"));
        }
        if let Some(d) = default {
            let d: Value = serde_json::from_str(d).expect("default is JSON");
            if *value == d {
                errors.push(format!(
                    "'{key}' should be removed, it uses a default value"
                ));
            }
        }
        if let Some((_, allowed)) = LINTER_ENUMS.iter().find(|(k, _)| k == key)
            && !value.as_str().is_some_and(|s| allowed.contains(&s))
        {
            errors.push(format!("{key}: {value} is not one of {allowed:?}"));
        }
    }
    if let Some(arch) = config.get("arch").and_then(Value::as_array) {
        for a in arch {
            if !a.as_str().is_some_and(|a| LINTER_ARCHES.contains(&a)) {
                errors.push(format!("arch: {a} is not one of {LINTER_ARCHES:?}"));
            }
        }
    }
    if let Some(services) = config.get("services").and_then(Value::as_array) {
        for s in services {
            let ok = s
                .as_str()
                .and_then(|s| s.split_once(':'))
                .is_some_and(|(svc, right)| {
                    ["mqtt", "mysql"].contains(&svc) && ["provide", "want", "need"].contains(&right)
                });
            if !ok {
                errors.push(format!(
                    "services: {s} does not match (mqtt|mysql):(provide|want|need)"
                ));
            }
        }
    }
    if let Some(map) = config.get("map").and_then(Value::as_array) {
        let strings = map.iter().all(Value::is_string);
        let objects = map.iter().all(Value::is_object);
        if !strings && !objects {
            errors.push(
                "map: is not valid under any of the given schemas (mixes strings and objects)"
                    .into(),
            );
        }
        for item in map {
            match item {
                Value::String(s) => {
                    let (t, mode) = s.split_once(':').unwrap_or((s, "rw"));
                    // The string form does not know "data".
                    if !MAP_TYPES.contains(&t) || t == "data" || !["rw", "ro"].contains(&mode) {
                        errors.push(format!("map: {s:?} is not a valid map entry"));
                    }
                }
                Value::Object(o) => {
                    if !o
                        .get("type")
                        .and_then(Value::as_str)
                        .is_some_and(|t| MAP_TYPES.contains(&t))
                    {
                        errors.push(format!("map: {item} needs a known type"));
                    }
                    for (k, v) in o {
                        let ok = match k.as_str() {
                            "type" => true,
                            "read_only" => v.is_boolean(),
                            "path" => v.is_string(),
                            _ => false,
                        };
                        if !ok {
                            errors.push(format!("map: {k}: {v} is not allowed"));
                        }
                    }
                }
                other => errors.push(format!("map: {other} is not a string or mapping")),
            }
        }
    }
    if let Some(ports) = config.get("ports").and_then(Value::as_object) {
        for (k, v) in ports {
            let ok = v.is_null() || v.as_u64().is_some_and(|p| (1..=65535).contains(&p));
            if !ok {
                errors.push(format!("ports: {k}: {v} is not a port"));
            }
        }
    }
    if let Some(t) = config.get("ingress_port").and_then(Value::as_i64)
        && !(0..=65535).contains(&t)
    {
        errors.push("ingress_port: out of range".into());
    }
    // lint.py's checks after the schema.
    let truthy = |k: &str| {
        config
            .get(k)
            .is_some_and(|v| !matches!(v, Value::Bool(false) | Value::Null))
    };
    if truthy("ingress") {
        if truthy("webui") {
            errors.push("'webui' should be removed, Ingress is enabled.".into());
        }
        if !truthy("host_network") && config.get("ingress_port") == Some(&json!(0)) {
            errors.push("'ingress_port' this does not run on the host network.".into());
        }
    }
    if truthy("full_access")
        && ["devices", "gpio", "uart", "usb"]
            .iter()
            .any(|k| config.contains_key(*k))
    {
        errors.push("'full_access', don't add 'devices', 'uart', 'usb' or 'gpio'".into());
    }
    if config.contains_key("auto_uart") {
        errors.push("'auto_uart' is deprecated, use 'uart' instead.".into());
    }
    if let Some(devices) = config.get("devices").and_then(Value::as_array)
        && devices
            .iter()
            .any(|d| d.as_str().is_some_and(|d| d.contains(':')))
    {
        errors.push("'devices' uses a deprecated format".into());
    }
    if config.get("tmpfs").is_some_and(|v| !v.is_boolean()) {
        errors.push("'tmpfs' use a deprecated format, it is a boolean now.".into());
    }
    if config.get("backup").and_then(Value::as_str) == Some("cold") {
        for k in ["backup_pre", "backup_post"] {
            if config.contains_key(k) {
                errors.push(format!("'{k}' is not valid when using cold backups."));
            }
        }
    }
    if truthy("watchdog") {
        errors.push(
            "'watchdog', is obsolete. Use the native Docker HEALTHCHECK directive instead.".into(),
        );
    }
    errors
}

// ---------------------------------------------------------------------------------------
// The Supervisor: manifest validation (supervisor/addons/validate.py) and option
// validation (supervisor/addons/options.py).

/// `RE_SCHEMA_ELEMENT`: a schema type, optionally with a trailing `?`.
fn schema_type_ok(t: &str) -> bool {
    let t = t.strip_suffix('?').unwrap_or(t);
    let args = |name: &str, number: fn(&str) -> bool| -> bool {
        t == name
            || t.strip_prefix(name)
                .and_then(|r| r.strip_prefix('('))
                .and_then(|r| r.strip_suffix(')'))
                .and_then(|r| r.split_once(','))
                .is_some_and(|(a, b)| (a.is_empty() || number(a)) && (b.is_empty() || number(b)))
    };
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let decimal = |s: &str| s.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    matches!(t, "bool" | "email" | "url" | "port" | "device")
        || args("str", digits)
        || args("password", digits)
        || args("int", digits)
        || args("float", decimal)
        || t.strip_prefix("device(subsystem=")
            .and_then(|r| r.strip_suffix(')'))
            .is_some_and(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase()))
        || (t.starts_with("match(") && t.ends_with(')'))
        || (t.starts_with("list(") && t.ends_with(')') && t.len() > "list()".len())
}

fn optional(t: &Value) -> bool {
    match t {
        Value::String(s) => s.ends_with('?'),
        Value::Array(a) => a.first().is_some_and(optional),
        _ => false,
    }
}

/// `(min, max)` of `int(…)`, `float(…)`, `str(…)`, `password(…)`.
fn range(t: &str) -> (Option<f64>, Option<f64>) {
    let Some(inner) = t.split_once('(').and_then(|(_, r)| r.strip_suffix(')')) else {
        return (None, None);
    };
    let Some((a, b)) = inner.split_once(',') else {
        return (None, None);
    };
    (a.parse().ok(), b.parse().ok())
}

/// voluptuous's `Boolean()`.
fn vol_boolean(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => n.as_f64().map(|x| x != 0.0),
        Value::String(s) => match s.to_lowercase().as_str() {
            "1" | "true" | "yes" | "on" | "enable" => Some(true),
            "0" | "false" | "no" | "off" | "disable" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// `_single_validate`: the value the Supervisor writes to options.json, or why not.
fn validate_single(t: &str, v: &Value, key: &str) -> Result<Value, String> {
    if v.is_null() {
        return Err(format!("Missing required option '{key}'"));
    }
    let base = t.strip_suffix('?').unwrap_or(t);
    let (min, max) = range(base);
    let in_range = |x: f64| min.is_none_or(|m| x >= m) && max.is_none_or(|m| x <= m);
    let coerce = |v: &Value| -> Option<f64> {
        match v {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
    };
    let bad = |what: &str| format!("{key}: {v} is not {what} (type {t})");
    if base.starts_with("str") || base.starts_with("password") {
        // `vol.All(str(value), …)(value)`: the value must already be text.
        let s = v.as_str().ok_or_else(|| bad("text"))?;
        let n = s.chars().count() as f64;
        return in_range(n)
            .then(|| v.clone())
            .ok_or_else(|| bad("of the allowed length"));
    }
    if base.starts_with("int") {
        let x = coerce(v).map(f64::trunc).ok_or_else(|| bad("an integer"))?;
        return in_range(x)
            .then(|| json!(x as i64))
            .ok_or_else(|| bad("in range"));
    }
    if base.starts_with("float") {
        let x = coerce(v).ok_or_else(|| bad("a number"))?;
        return in_range(x).then(|| json!(x)).ok_or_else(|| bad("in range"));
    }
    match base {
        "bool" => vol_boolean(v)
            .map(Value::Bool)
            .ok_or_else(|| bad("a boolean")),
        "port" => coerce(v)
            .filter(|x| x.fract() == 0.0 && (1.0..=65535.0).contains(x))
            .map(|x| json!(x as i64))
            .ok_or_else(|| bad("a port (1-65535)")),
        "email" => v
            .as_str()
            .filter(|s| s.contains('@'))
            .map(|_| v.clone())
            .ok_or_else(|| bad("an e-mail address")),
        "url" => v
            .as_str()
            .filter(|s| s.contains("://"))
            .map(|_| v.clone())
            .ok_or_else(|| bad("a URL")),
        _ if base.starts_with("list(") => {
            let choices = &base["list(".len()..base.len() - 1];
            let s = match v {
                Value::String(s) => s.clone(),
                Value::Bool(b) => if *b { "True" } else { "False" }.to_owned(),
                other => other.to_string(),
            };
            choices
                .split('|')
                .any(|c| c == s)
                .then_some(Value::String(s))
                .ok_or_else(|| bad(&format!("one of {choices}")))
        }
        _ => Err(format!(
            "{key}: type {t} is not supported by this test (add it to validate_single)"
        )),
    }
}

fn validate_element(t: &Value, v: &Value, key: &str) -> Result<Value, String> {
    match t {
        Value::String(t) => validate_single(t, v, key),
        Value::Array(items) => {
            let item = items
                .first()
                .ok_or_else(|| format!("{key}: empty list schema"))?;
            let values = v
                .as_array()
                .ok_or_else(|| format!("Invalid list for option '{key}'"))?;
            values
                .iter()
                .map(|x| validate_element(item, x, key))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array)
        }
        Value::Object(schema) => {
            let map = v
                .as_object()
                .ok_or_else(|| format!("Invalid dict for option '{key}'"))?;
            validate_options(schema, map, &format!("{key}.")).map(Value::Object)
        }
        other => Err(format!("{key}: {other} is not a schema element")),
    }
}

/// `AddonOptions.__call__`, except that a key missing from the schema is an error here
/// (the Supervisor drops it with a warning, so a value written there would be lost).
fn validate_options(
    schema: &Map<String, Value>,
    options: &Map<String, Value>,
    prefix: &str,
) -> Result<Map<String, Value>, String> {
    let mut out = Map::new();
    for (k, v) in options {
        let t = schema.get(k).ok_or_else(|| {
            format!("Option '{prefix}{k}' does not exist in the schema (the Supervisor drops it)")
        })?;
        out.insert(k.clone(), validate_element(t, v, &format!("{prefix}{k}"))?);
    }
    for (k, t) in schema {
        if !out.contains_key(k) && !optional(t) {
            return Err(format!("Missing option '{prefix}{k}'"));
        }
    }
    Ok(out)
}

/// What the Supervisor writes to `/data/options.json`: the manifest's `options` with the
/// user's top-level sections laid over them (`{**defaults, **user}`), validated.
fn supervisor_options(user: &Map<String, Value>) -> Result<Value, String> {
    let config = manifest();
    let mut merged = object(&config["options"], "options").clone();
    for (k, v) in user {
        merged.insert(k.clone(), v.clone());
    }
    validate_options(object(&config["schema"], "schema"), &merged, "").map(Value::Object)
}

/// The nesting depth of a schema value (a dict of types is 1).
fn depth(v: &Value) -> usize {
    match v {
        Value::Object(m) => 1 + m.values().map(depth).max().unwrap_or(0),
        Value::Array(a) => a.iter().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

// ---------------------------------------------------------------------------------------
// The manifest.

#[test]
fn manifest_passes_the_community_linter() {
    let errors = lint(&manifest());
    assert!(errors.is_empty(), "addon/config.yaml: {errors:#?}");
}

#[test]
fn the_linter_check_catches_what_the_linter_catches() {
    // The checker is only worth something if it fails: each manifest below breaks one rule.
    let base = manifest();
    // (what, key, new value; None removes the key)
    let broken: Vec<(&str, &str, Option<Value>)> = vec![
        ("init: true (a default)", "init", Some(json!(true))),
        (
            "init: \"false\" (ha-sip's string)",
            "init",
            Some(json!("false")),
        ),
        (
            "hassio_api: false (a default)",
            "hassio_api",
            Some(json!(false)),
        ),
        (
            "startup: application (a default)",
            "startup",
            Some(json!("application")),
        ),
        (
            "watchdog",
            "watchdog",
            Some(json!("tcp://[HOST]:[PORT:5060]")),
        ),
        ("unknown key", "squash", Some(json!(true))),
        ("missing slug", "slug", None),
        ("arch i368", "arch", Some(json!(["amd64", "i368"]))),
        (
            "services mqtt:maybe",
            "services",
            Some(json!(["mqtt:maybe"])),
        ),
        ("map type nope", "map", Some(json!([{"type": "nope"}]))),
        ("stdin as text", "stdin", Some(json!("true"))),
        ("timeout: 10 (a default)", "timeout", Some(json!(10))),
    ];
    for (what, key, value) in broken {
        let mut m = base.clone();
        match value {
            Some(v) => m.insert(key.to_owned(), v),
            None => m.remove(key),
        };
        assert!(!lint(&m).is_empty(), "the lint check missed: {what}");
    }
}

#[test]
fn manifest_passes_the_supervisors_validation() {
    let m = manifest();
    let slug = m["slug"].as_str().expect("slug is text");
    assert!(
        !slug.is_empty()
            && slug
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)),
        "slug {slug:?} does not match [-_.A-Za-z0-9]+"
    );
    let version = m["version"]
        .as_str()
        .expect("version is text (quote it in YAML)");
    let semver = version.split('.').count() == 3
        && version
            .split('.')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    assert!(
        semver || version == "dev",
        "version {version:?} is not X.Y.Z"
    );
    let url = m["url"].as_str().expect("url");
    assert!(url.starts_with("https://"), "url {url:?}");
    // supervisor/validate.py docker_image, and the naming the builder and the docs use:
    // <registry>/<org>/<slug> (multi-arch) or <registry>/<org>/{arch}-<slug>.
    if let Some(image) = m.get("image") {
        let image = image.as_str().expect("image is text");
        let parts: Vec<&str> = image.split('/').collect();
        assert!(parts.len() >= 3, "image {image:?}: registry/org/name");
        let name_ok = |p: &&str| {
            !p.is_empty() && p.chars().all(|c| c.is_alphanumeric() || "-_{}".contains(c))
        };
        assert!(
            parts[parts.len() - 2..].iter().all(name_ok),
            "image {image:?}"
        );
        assert!(
            parts[..parts.len() - 2].iter().all(|p| !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-.:{}".contains(c))),
            "image {image:?}: registry"
        );
        let name = parts[parts.len() - 1];
        assert!(
            name == slug || name == format!("{{arch}}-{slug}"),
            "image {image:?} is not named after the slug {slug:?}"
        );
        assert!(
            !image.contains(':') || parts[0].contains(':'),
            "image {image:?} carries a tag: the tag is the version"
        );
    }
    let schema = object(&m["schema"], "schema");
    let mut stack: Vec<(String, &Value)> = schema.iter().map(|(k, v)| (k.clone(), v)).collect();
    while let Some((key, v)) = stack.pop() {
        match v {
            Value::String(t) => assert!(schema_type_ok(t), "schema {key}: unknown type {t:?}"),
            Value::Array(items) => {
                assert_eq!(
                    items.len(),
                    1,
                    "schema {key}: a list schema has one element"
                );
                assert!(
                    !items[0].is_array(),
                    "schema {key}: a list may not contain a list"
                );
                stack.push((format!("{key}[]"), &items[0]));
            }
            Value::Object(m) => stack.extend(m.iter().map(|(k, v)| (format!("{key}.{k}"), v))),
            other => panic!("schema {key}: {other} is not a type"),
        }
    }
    // The docs: options and schema nest at most two levels deep.
    for (k, v) in schema {
        assert!(depth(v) <= 2, "schema {k} nests deeper than two levels");
    }
    // A legacy `config` map cannot be combined with addon_config/homeassistant_config.
    let types: Vec<&str> = m["map"]
        .as_array()
        .expect("map")
        .iter()
        .map(|e| match e {
            Value::String(s) => s.split(':').next().unwrap_or(s),
            other => other["type"].as_str().expect("map type"),
        })
        .collect();
    assert!(
        !(types.contains(&"config")
            && (types.contains(&"addon_config") || types.contains(&"homeassistant_config"))),
        "map: config with addon_config/homeassistant_config: {types:?}"
    );
    let paths: Vec<&str> = m["map"]
        .as_array()
        .expect("map")
        .iter()
        .filter_map(|e| e.get("path").and_then(Value::as_str))
        .collect();
    assert!(
        paths.iter().all(|p| p.starts_with('/')),
        "map paths are absolute: {paths:?}"
    );
    assert_eq!(
        paths.iter().collect::<BTreeSet<_>>().len(),
        paths.len(),
        "map paths are unique: {paths:?}"
    );
}

#[test]
fn manifest_gives_the_gateway_what_it_needs() {
    let m = manifest();
    let arch: Vec<&str> = m["arch"]
        .as_array()
        .expect("arch")
        .iter()
        .map(|a| a.as_str().expect("arch name"))
        .collect();
    assert_eq!(arch, ["aarch64", "amd64"], "exactly the supported arches");
    assert!(
        !arch.iter().any(|a| DEPRECATED_ARCHES.contains(a)),
        "deprecated arch in {arch:?}"
    );
    for key in ["stdin", "homeassistant_api", "host_network"] {
        assert_eq!(m.get(key), Some(&json!(true)), "{key}: true is required");
    }
    assert_eq!(
        m.get("services"),
        Some(&json!(["mqtt:want"])),
        "the MQTT broker is looked up, not required"
    );
    // The image runs the binary as its CMD without s6-overlay: Docker's init (the default)
    // must stay, so `init` is not written at all (writing `true` is a linter error).
    assert!(!m.contains_key("init"), "init must be left at its default");
    // SIP and RTP need the host network; port mappings would be ignored (and ranges are
    // impossible), so there are none.
    assert!(!m.contains_key("ports"), "no ports with host_network");
    for unwanted in [
        "hassio_api",
        "full_access",
        "privileged",
        "docker_api",
        "webui",
        "ingress_port",
    ] {
        assert!(!m.contains_key(unwanted), "{unwanted} is not needed");
    }
    // The dashboard page in the sidebar, through the Supervisor's ingress on the default
    // port (8099, which web.rs serves).
    assert_eq!(m.get("ingress"), Some(&json!(true)));
    assert!(m.contains_key("panel_icon") && m.contains_key("panel_title"));
    let map: Vec<(String, bool, Option<String>)> = m["map"]
        .as_array()
        .expect("map")
        .iter()
        .map(|e| match e {
            Value::String(s) => {
                let (t, mode) = s.split_once(':').unwrap_or((s, "ro"));
                (t.to_owned(), mode == "ro", None)
            }
            other => (
                other["type"].as_str().expect("type").to_owned(),
                other
                    .get("read_only")
                    .and_then(Value::as_bool)
                    .unwrap_or(true),
                other.get("path").and_then(Value::as_str).map(str::to_owned),
            ),
        })
        .collect();
    let writable = |t: &str| map.iter().any(|(ty, ro, _)| ty == t && !ro);
    assert!(
        writable("addon_config") || writable("homeassistant_config"),
        "a writable config folder for incoming-call files and audio: {map:?}"
    );
    assert!(
        writable("media"),
        "media read-write for recordings: {map:?}"
    );
    // ha-sip users' paths (/config/sip-1-incoming.yaml) are Home Assistant's configuration
    // folder: it must be at /config, where ha-sip mapped it.
    assert!(
        map.iter()
            .any(|(t, _, p)| t == "homeassistant_config" && p.as_deref() == Some("/config")),
        "homeassistant_config at /config, as in ha-sip: {map:?}"
    );
}

/// The keys of a section of the loader's options (the whole file when `section` is
/// `None`), as serde lists them when it meets an unknown key.
fn loader_keys(section: Option<&str>) -> BTreeSet<String> {
    const PROBE: &str = "zzzzzzzzzzzz_probe";
    let text = match section {
        None => format!(r#"{{"{PROBE}": 0}}"#),
        Some(s) => format!(r#"{{"{s}": {{"{PROBE}": 0}}}}"#),
    };
    let err = config::parse_options(&text, "probe")
        .expect_err("an unknown key is refused")
        .to_string();
    let listed = err
        .split_once("expected")
        .unwrap_or_else(|| panic!("{err}"))
        .1;
    let listed = listed.split(" (did you mean").next().unwrap_or(listed);
    listed
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

#[test]
fn schema_has_exactly_the_loaders_keys_and_ha_sips() {
    let m = manifest();
    let schema = object(&m["schema"], "schema");
    let sections: BTreeSet<String> = schema.keys().cloned().collect();
    assert_eq!(
        sections,
        loader_keys(None),
        "schema sections vs hasip::config::Options"
    );
    for (section, keys) in schema {
        let keys: BTreeSet<String> = object(keys, section).keys().cloned().collect();
        assert_eq!(
            keys,
            loader_keys(Some(section)),
            "schema.{section} vs the loader's keys"
        );
    }
    // ha-sip's schema (spec §2.2), key for key and optional where ha-sip's is.
    let ha_sip: &[(&str, &[&str], &[&str])] = &[
        (
            "sip_global",
            &[
                "port",
                "log_level",
                "name_server",
                "cache_dir",
                "global_options",
            ],
            &[],
        ),
        (
            "tts",
            &["language"],
            &["engine_id", "platform", "voice", "debug_print"],
        ),
        ("webhook", &["id"], &[]),
    ];
    let account: &[&str] = &[
        "enabled",
        "registrar_uri",
        "id_uri",
        "realm",
        "user_name",
        "password",
        "answer_mode",
        "settle_time",
        "incoming_call_file",
        "options",
    ];
    let mut expected: Vec<(&str, &[&str], &[&str])> = ha_sip.to_vec();
    for s in ["sip", "sip_2", "sip_3"] {
        expected.push((s, account, &[]));
    }
    for (section, required, optional_keys) in expected {
        let s = object(&schema[section], section);
        for k in required {
            let t = s
                .get(*k)
                .unwrap_or_else(|| panic!("schema.{section}.{k} missing"));
            assert!(!optional(t), "schema.{section}.{k} is required in ha-sip");
        }
        for k in optional_keys {
            let t = s
                .get(*k)
                .unwrap_or_else(|| panic!("schema.{section}.{k} missing"));
            assert!(optional(t), "schema.{section}.{k} is optional in ha-sip");
        }
        // Keys beyond ha-sip's are ours and must be optional, so that an existing ha-sip
        // configuration still validates.
        for (k, t) in s {
            if !required.contains(&k.as_str()) && !optional_keys.contains(&k.as_str()) {
                assert!(
                    optional(t),
                    "schema.{section}.{k} is new: it must be optional"
                );
            }
        }
    }
    // Sections beyond ha-sip's: present in options (so that a configuration without them
    // gets them from the defaults) with every key but the switch optional.
    for (section, keys) in schema {
        if ["sip_global", "sip", "sip_2", "sip_3", "tts", "webhook"].contains(&section.as_str()) {
            continue;
        }
        assert!(
            m["options"].get(section).is_some(),
            "new section {section} needs a default in options"
        );
        for (k, t) in object(keys, section) {
            assert!(
                k == "enabled" || optional(t),
                "schema.{section}.{k} must be optional"
            );
        }
    }
}

#[test]
fn options_agree_with_the_schema() {
    let m = manifest();
    let schema = object(&m["schema"], "schema");
    let options = object(&m["options"], "options");
    // No default for an optional key (the docs and the linter convention), and every
    // option has a schema entry.
    fn walk(schema: &Map<String, Value>, options: &Map<String, Value>, path: &str) {
        for (k, v) in options {
            let t = schema
                .get(k)
                .unwrap_or_else(|| panic!("options {path}{k} has no schema entry"));
            assert!(
                !optional(t),
                "options {path}{k}: an optional key ({t}) has no default"
            );
            if let (Value::Object(s), Value::Object(o)) = (t, v) {
                walk(s, o, &format!("{path}{k}."));
            }
        }
    }
    walk(schema, options, "");
    // The defaults themselves validate: a fresh installation starts.
    validate_options(schema, options, "").unwrap_or_else(|e| panic!("options: {e}"));
    // Secrets are `password`, so that the UI hides them and the Supervisor checks them
    // against the list of pwned passwords.
    let mut stack: Vec<(String, &Value)> = schema.iter().map(|(k, v)| (k.clone(), v)).collect();
    while let Some((key, v)) = stack.pop() {
        match v {
            Value::Object(m) => stack.extend(m.iter().map(|(k, v)| (format!("{key}.{k}"), v))),
            Value::String(t) => {
                let last = key.rsplit('.').next().unwrap_or(&key);
                if ["password", "token", "secret"]
                    .iter()
                    .any(|s| last.contains(s))
                {
                    assert!(
                        t.starts_with("password"),
                        "schema {key}: {t} should be password"
                    );
                }
            }
            _ => {}
        }
    }
}

#[test]
fn validation_refuses_what_the_supervisor_refuses() {
    let s = |v: Value| supervisor_options(v.as_object().expect("object"));
    assert!(s(json!({})).is_ok(), "the defaults validate");
    let refused = [
        json!({"sip": {"enabled": true}}),
        json!({"sip_global": {"port": 0, "log_level": 5, "name_server": "", "cache_dir": "", "global_options": ""}}),
        json!({"sip_global": {"port": 5060, "log_level": 9, "name_server": "", "cache_dir": "", "global_options": ""}}),
        json!({"tts": {"language": "en", "voice": null}}),
        json!({"tts": {"language": 5}}),
        json!({"webhook": {"id": "x", "typo": 1}}),
        json!({"mqtt": {"enabled": "maybe"}}),
    ];
    for r in refused {
        assert!(s(r.clone()).is_err(), "accepted {r}");
    }
    // Coercions the Supervisor applies before writing options.json.
    let v = s(json!({"mqtt": {"enabled": "yes", "broker_port": "1884"}})).expect("valid");
    assert_eq!(v["mqtt"], json!({"enabled": true, "broker_port": 1884}));
}

#[test]
fn default_options_parse_and_check_with_the_real_loader() {
    let written = supervisor_options(&Map::new()).expect("defaults validate");
    let o = config::parse_options(&written.to_string(), "/data/options.json")
        .unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(o.sip_global.port, 5060);
    assert_eq!(o.sip_global.log_level, 5);
    assert!(o.sip.enabled && !o.sip_2.enabled && !o.sip_3.enabled);
    assert_eq!(o.sip_3.registrar_uri, "sip:192.168.178.10");
    assert_eq!(
        o.tts.language, "",
        "empty means en at run time, as in ha-sip"
    );
    assert_eq!(o.webhook.id, "sip_call_webhook_id");
    assert!(!o.mqtt.enabled);
    assert_eq!(o.mqtt.broker_port, 1883);
    config::check(o).unwrap_or_else(|e| panic!("{e:#}"));
}

#[test]
fn every_schema_key_reaches_the_loader() {
    // Every key of the schema set to a value other than its default, through the
    // Supervisor's validation into the loader; the values must arrive.
    let user = json!({
        "sip_global": {"port": 5070, "log_level": 6, "name_server": "192.168.1.1, 9.9.9.9",
                       "cache_dir": "/config/audio_cache", "global_options": "--tls enabled --tls-port 5062",
                       "bind_address": "127.0.0.1"},
        "sip": {"enabled": true, "registrar_uri": "sip:fritz.box", "id_uri": "sip:ha@fritz.box",
                "realm": "fritz.box", "user_name": "620", "password": "pw1", "answer_mode": "accept",
                "settle_time": 0.5, "incoming_call_file": "", "options": "--ice disabled --proxy sip:proxy.example.com"},
        "sip_2": {"enabled": true, "registrar_uri": "", "id_uri": "sip:door@192.168.1.10",
                  "realm": "*", "user_name": "", "password": "", "answer_mode": "listen",
                  "settle_time": 0, "incoming_call_file": "", "options": ""},
        "sip_3": {"enabled": false, "registrar_uri": "sip:pbx", "id_uri": "sip:x@pbx", "realm": "*",
                  "user_name": "x", "password": "pw3", "answer_mode": "accept", "settle_time": 2,
                  "incoming_call_file": "", "options": "--use-sip-outbound off"},
        "tts": {"engine_id": "tts.piper", "platform": "google_translate", "language": "de",
                "voice": "thorsten", "debug_print": true},
        "webhook": {"id": "my_hook", "delivery": "event", "spool_dir": "/data/events"},
        "mqtt": {"enabled": true, "broker_address": "core-mosquitto", "broker_port": 8883,
                 "username": "addons", "password": "mqttpw", "tls": true,
                 "command_topic": "sip/cmd", "state_topic": "sip/state", "availability_topic": "sip/up",
                 "discovery": false, "discovery_prefix": "ha", "node_id": "door-2"},
        "sensors": {"enabled": true, "entity_prefix": "Door-Phone"}
    });
    let schema = object(&manifest()["schema"], "schema").clone();
    for (section, keys) in &schema {
        for k in object(keys, section).keys() {
            assert!(
                user[section].get(k).is_some(),
                "this test does not set {section}.{k}: add it"
            );
        }
    }
    let written = supervisor_options(object(&user, "user")).unwrap_or_else(|e| panic!("{e}"));
    let o = config::parse_options(&written.to_string(), "/data/options.json")
        .unwrap_or_else(|e| panic!("{e:#}"));
    let got = fields(&o);
    let expect = |path: &str, value: &str| {
        assert_eq!(
            got.get(path).map(String::as_str),
            Some(value),
            "{path} did not arrive"
        );
    };
    expect("sip_global.port", "5070");
    expect("sip_global.log_level", "6");
    expect("sip_global.bind_address", "127.0.0.1");
    expect("sip.answer_mode", "Accept");
    expect("sip.settle_time", "0.5");
    expect("sip.password", "pw1");
    expect("sip_2.settle_time", "0");
    expect("sip_3.password", "pw3");
    expect("tts.voice", "thorsten");
    expect("tts.debug_print", "true");
    expect("webhook.id", "my_hook");
    expect("mqtt.enabled", "true");
    expect("mqtt.broker_port", "8883");
    expect("mqtt.password", "mqttpw");
    expect("mqtt.tls", "true");
    expect("mqtt.availability_topic", "sip/up");
    expect("webhook.delivery", "Event");
    expect("webhook.spool_dir", "/data/events");
    expect("mqtt.discovery", "false");
    expect("mqtt.discovery_prefix", "ha");
    expect("mqtt.node_id", "door-2");
    expect("sensors.enabled", "true");
    expect("sensors.entity_prefix", "Door-Phone");
    assert_eq!(o.sensors.prefix(), "door_phone");
    let checked = config::check(o).unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(checked.accounts.len(), 2, "sip and sip_2 are enabled");
}

// ---------------------------------------------------------------------------------------
// ha-sip's README options and the equivalent stand-alone .env.

/// The default configuration block of ha-sip's README, verbatim
/// (../shared/seeds/001_81cadf2b6e8ba354.txt, "Installation").
const README_OPTIONS: &str = r#"sip_global:
    port: 5060
    log_level: 5 # log level of pjsip library
    name_server: '' # comma separated list of name servers, must be set if sip server must be resolved via SRV record
    cache_dir: '/config/audio_cache' # directory to cache TTS messages or converted audio files. Must be inside /config and existing
    global_options: ''
sip:
    enabled: true
    registrar_uri: sip:fritz.box
    id_uri: sip:homeassistant@fritz.box
    realm: '*'
    user_name: homeassistant
    password: secure
    answer_mode: listen  # "listen" or "accept", see below
    settle_time: 1 # time to wait for playing the message/actions/etc. after call was established
    incoming_call_file: "" # config and menu definition file for incoming calls, see below
    options: ''
sip_2:
    enabled: false
    registrar_uri: sip:fritz.box
    id_uri: sip:anotheruser@fritz.box
    realm: '*'
    user_name: anotheruser
    password: secret
    answer_mode: listen
    settle_time: 1
    incoming_call_file: ""
    options: ''
tts:
    engine_id: tts.google_translate_de_com # entity id of the TTS engine
    platform: google_translate # deprecated, must not be set if engine_id is set
    language: en # might also be in en-US format, depending on the platform
    debug_print: false # set to true, to output known engines and languages to the log at startup
    voice: zephyr # voice if engine supports it
webhook:
    id: sip_call_webhook_id
"#;

/// The same configuration as ha-sip's `run-in-ha.sh` exports it (spec §2.3), written as a
/// stand-alone `.env`. sip_3 is what the add-on's defaults give for the section the
/// README leaves out.
const README_DOTENV: &str = r#"# ha-sip's README configuration, stand-alone
COMMAND_SOURCE="stdin"
PORT=5060
LOG_LEVEL=5
NAME_SERVER=""
CACHE_DIR="/config/audio_cache"
GLOBAL_OPTIONS=""

SIP1_ENABLED="true"
SIP1_REGISTRAR_URI="sip:fritz.box"
SIP1_ID_URI="sip:homeassistant@fritz.box"
SIP1_REALM="*"
SIP1_USER_NAME="homeassistant"
SIP1_PASSWORD="secure"
SIP1_ANSWER_MODE="listen"
SIP1_SETTLE_TIME="1"
SIP1_INCOMING_CALL_FILE=""
SIP1_OPTIONS=""

SIP2_ENABLED="false"
SIP2_REGISTRAR_URI="sip:fritz.box"
SIP2_ID_URI="sip:anotheruser@fritz.box"
SIP2_REALM="*"
SIP2_USER_NAME="anotheruser"
SIP2_PASSWORD="secret"
SIP2_ANSWER_MODE="listen"
SIP2_SETTLE_TIME="1"
SIP2_INCOMING_CALL_FILE=""
SIP2_OPTIONS=""

SIP3_ENABLED="false"
SIP3_REGISTRAR_URI="sip:192.168.178.10"
SIP3_ID_URI=""
SIP3_REALM="*"
SIP3_USER_NAME=""
SIP3_PASSWORD=""
SIP3_ANSWER_MODE="listen"
SIP3_SETTLE_TIME="1"
SIP3_INCOMING_CALL_FILE=""
SIP3_OPTIONS=""

TTS_ENGINE_ID="tts.google_translate_de_com"
TTS_PLATFORM="google_translate"
TTS_LANGUAGE="en"
TTS_VOICE="zephyr"
TTS_DEBUG_PRINT="false"

HA_BASE_URL="http://homeassistant.local:8123/api"
HA_WEBSOCKET_URL="ws://homeassistant.local:8123/api/websocket"
HA_TOKEN="token"
HA_WEBHOOK_ID="sip_call_webhook_id"

BROKER_ADDRESS=""
BROKER_PORT=1883
BROKER_USERNAME=""
BROKER_PASSWORD=""
MQTT_TOPIC="hasip/execute"
MQTT_STATE_TOPIC="hasip/state"
SENSOR_ENABLED="false"
SENSOR_ENTITY_PREFIX="ha_sip"
"#;

/// Every field of the configuration by path, secrets included (their `Debug` hides them).
fn fields(o: &Options) -> BTreeMap<String, String> {
    let mut f = BTreeMap::new();
    let mut put = |k: &str, v: String| {
        f.insert(k.to_owned(), v);
    };
    let g = &o.sip_global;
    put("sip_global.port", g.port.to_string());
    put("sip_global.log_level", g.log_level.to_string());
    put("sip_global.name_server", g.name_server.clone());
    put("sip_global.cache_dir", g.cache_dir.clone());
    put("sip_global.global_options", g.global_options.clone());
    put("sip_global.bind_address", g.bind_address.to_string());
    for (name, a) in [("sip", &o.sip), ("sip_2", &o.sip_2), ("sip_3", &o.sip_3)] {
        put(&format!("{name}.enabled"), a.enabled.to_string());
        put(&format!("{name}.registrar_uri"), a.registrar_uri.clone());
        put(&format!("{name}.id_uri"), a.id_uri.clone());
        put(&format!("{name}.realm"), a.realm.clone());
        put(&format!("{name}.user_name"), a.user_name.clone());
        put(&format!("{name}.password"), a.password.expose().to_owned());
        put(
            &format!("{name}.answer_mode"),
            format!("{:?}", a.answer_mode),
        );
        put(&format!("{name}.settle_time"), a.settle_time.to_string());
        put(
            &format!("{name}.incoming_call_file"),
            a.incoming_call_file.clone(),
        );
        put(&format!("{name}.options"), a.options.clone());
    }
    let t = &o.tts;
    put("tts.engine_id", t.engine_id.clone());
    put("tts.platform", t.platform.clone());
    put("tts.language", t.language.clone());
    put("tts.voice", t.voice.clone());
    put("tts.debug_print", t.debug_print.to_string());
    put("webhook.id", o.webhook.id.clone());
    put("webhook.delivery", format!("{:?}", o.webhook.delivery));
    put("webhook.spool_dir", o.webhook.spool_dir.clone());
    let q = &o.mqtt;
    put("mqtt.enabled", q.enabled.to_string());
    put("mqtt.broker_address", q.broker_address.clone());
    put("mqtt.broker_port", q.broker_port.to_string());
    put("mqtt.username", q.username.clone());
    put("mqtt.password", q.password.expose().to_owned());
    put("mqtt.tls", q.tls.to_string());
    put("mqtt.command_topic", q.command_topic.clone());
    put("mqtt.state_topic", q.state_topic.clone());
    put("mqtt.availability_topic", q.availability_topic.clone());
    put("mqtt.discovery", q.discovery.to_string());
    put("mqtt.discovery_prefix", q.discovery_prefix.clone());
    put("mqtt.node_id", q.node_id.clone());
    put("sensors.enabled", o.sensors.enabled.to_string());
    put("sensors.entity_prefix", o.sensors.entity_prefix.clone());
    f
}

/// Fields that differ between two configurations; the `Debug` forms are compared too, so
/// that a field added later and not listed in [`fields`] yet is not missed.
fn differences(a: &Options, b: &Options) -> Vec<String> {
    let (fa, fb) = (fields(a), fields(b));
    let mut differ: Vec<String> = fa
        .iter()
        .filter(|(k, v)| fb.get(*k) != Some(*v))
        .map(|(k, v)| format!("{k}: {v:?} vs {:?}", fb.get(k)))
        .collect();
    let (da, db) = (format!("{a:?}"), format!("{b:?}"));
    if da != db {
        differ.push(format!("Debug: {da} vs {db}"));
    }
    differ
}

fn readme_options() -> Options {
    let user = yaml_to_json(README_OPTIONS).expect("the README's YAML");
    let written = supervisor_options(object(&user, "README options"))
        .unwrap_or_else(|e| panic!("ha-sip's README options do not validate: {e}"));
    config::parse_options(&written.to_string(), "/data/options.json")
        .unwrap_or_else(|e| panic!("{e:#}"))
}

fn options_from_dotenv(text: &str) -> Options {
    let vars: HashMap<String, String> = config::parse_dotenv(text, ".env")
        .unwrap_or_else(|e| panic!("{e:#}"))
        .into_iter()
        .collect();
    config::from_env(&|k: &str| vars.get(k).cloned()).unwrap_or_else(|e| panic!("{e:#}"))
}

#[test]
fn readme_options_parse_into_the_same_configuration_as_the_equivalent_dotenv() {
    let addon = readme_options();
    let standalone = options_from_dotenv(README_DOTENV);
    let differ = differences(&addon, &standalone);
    assert!(differ.is_empty(), "README options vs .env: {differ:#?}");
    // And the values are the README's, not two equal wrong ones.
    let f = fields(&addon);
    assert_eq!(f["sip_global.cache_dir"], "/config/audio_cache");
    assert_eq!(f["sip.password"], "secure");
    assert_eq!(f["sip_2.user_name"], "anotheruser");
    assert_eq!(f["tts.voice"], "zephyr");
    assert_eq!(f["tts.platform"], "google_translate");
    config::check(addon).unwrap_or_else(|e| panic!("{e:#}"));
}

#[test]
fn the_comparison_sees_a_difference() {
    let addon = readme_options();
    for (from, to) in [
        ("SIP2_PASSWORD=\"secret\"", "SIP2_PASSWORD=\"secret2\""),
        ("TTS_VOICE=\"zephyr\"", "TTS_VOICE=\"\""),
        ("LOG_LEVEL=5", "LOG_LEVEL=4"),
    ] {
        assert!(README_DOTENV.contains(from), "{from}");
        let changed = options_from_dotenv(&README_DOTENV.replace(from, to));
        assert!(
            !differences(&addon, &changed).is_empty(),
            "{from} -> {to} went unnoticed"
        );
    }
}

// ---------------------------------------------------------------------------------------
// Stand-alone files.

/// Every variable of ha-sip's stand-alone mode (spec §2.4): the loader's list plus the
/// ten per-account variables of each account.
fn standalone_variables() -> Vec<String> {
    let mut all: Vec<String> = config::ENV_VARIABLES
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    for n in 1..=3 {
        for k in [
            "ENABLED",
            "REGISTRAR_URI",
            "ID_URI",
            "REALM",
            "USER_NAME",
            "PASSWORD",
            "ANSWER_MODE",
            "SETTLE_TIME",
            "INCOMING_CALL_FILE",
            "OPTIONS",
        ] {
            let v = format!("SIP{n}_{k}");
            if !all.contains(&v) {
                all.push(v);
            }
        }
    }
    all
}

/// What is wrong with a stand-alone `.env` template: variables it lacks, values the
/// loader refuses. Paths to incoming-call files are not read (they name files of the
/// container).
fn env_template_problems(text: &str, origin: &str) -> Vec<String> {
    let vars: BTreeMap<String, String> = match config::parse_dotenv(text, origin) {
        Ok(v) => v.into_iter().collect(),
        Err(e) => return vec![format!("{e:#}")],
    };
    let mut problems: Vec<String> = standalone_variables()
        .into_iter()
        .filter(|v| !vars.contains_key(v))
        .map(|v| format!("{origin} lacks {v}"))
        .collect();
    match config::from_env(&|k: &str| vars.get(k).cloned()) {
        Ok(mut o) => {
            for a in [&mut o.sip, &mut o.sip_2, &mut o.sip_3] {
                a.incoming_call_file.clear();
            }
            if let Err(e) = config::check(o) {
                problems.push(format!("{origin}: {e:#}"));
            }
        }
        Err(e) => problems.push(format!("{origin}: {e:#}")),
    }
    problems
}

#[test]
fn env_example_covers_every_variable_and_loads() {
    // The check passes on a complete template (so a failure below is the file's); ha-sip's
    // README predates ha-sip-rs's own variables.
    let added = [
        "HA_EVENT_DELIVERY",
        "WEBHOOK_SPOOL_DIR",
        "MQTT_DISCOVERY",
        "MQTT_DISCOVERY_PREFIX",
        "MQTT_NODE_ID",
    ];
    let ours: Vec<String> = env_template_problems(README_DOTENV, "README_DOTENV")
        .into_iter()
        .filter(|p| !added.iter().any(|v| p.ends_with(&format!("lacks {v}"))))
        .collect();
    assert!(ours.is_empty(), "{ours:#?}");
    let problems = env_template_problems(&read(".env.example"), ".env.example");
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn docker_compose_uses_the_host_network_and_the_env_file() {
    let compose = yaml_file("docker-compose.yml");
    let services = object(&compose["services"], "services");
    assert!(!services.is_empty(), "docker-compose.yml has no service");
    for (name, s) in services {
        assert_eq!(
            s["network_mode"], "host",
            "{name}: SIP and RTP need the host network"
        );
        let env_files: Vec<&str> = match &s["env_file"] {
            Value::String(f) => vec![f.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            other => panic!("{name}: env_file {other}"),
        };
        assert!(
            env_files
                .iter()
                .any(|f| f.trim_start_matches("./") == ".env"),
            "{name}: env_file .env, as ha-sip's stand-alone mode: {env_files:?}"
        );
        if let Some(build) = s.get("build") {
            let dockerfile = build["dockerfile"].as_str().unwrap_or("Dockerfile");
            let context = build["context"].as_str().unwrap_or(".");
            assert!(
                workspace_root().join(context).join(dockerfile).is_file(),
                "{name}: {context}/{dockerfile} does not exist"
            );
        }
        assert!(
            s.get("ports").is_none(),
            "{name}: no port mappings with the host network"
        );
    }
}

// ---------------------------------------------------------------------------------------
// The rest of the add-on folder.

#[test]
fn translations_name_and_describe_every_option() {
    let m = manifest();
    let schema = object(&m["schema"], "schema");
    let tr = yaml_file("addon/translations/en.yaml");
    let tr = object(&tr, "translations/en.yaml");
    for k in tr.keys() {
        assert!(
            ["configuration", "network"].contains(&k.as_str()),
            "translations: unknown section {k}"
        );
    }
    let conf = object(&tr["configuration"], "configuration");
    let text = |v: &Value, what: &str| {
        let s = v.as_str().unwrap_or_else(|| panic!("{what} is missing"));
        assert!(!s.trim().is_empty(), "{what} is empty");
    };
    for (key, t) in schema {
        let entry = conf
            .get(key)
            .unwrap_or_else(|| panic!("translations: configuration.{key} is missing"));
        text(&entry["name"], &format!("configuration.{key}.name"));
        text(
            &entry["description"],
            &format!("configuration.{key}.description"),
        );
        if let Value::Object(nested) = t {
            let fields = object(&entry["fields"], &format!("configuration.{key}.fields"));
            for k in nested.keys() {
                let f = fields
                    .get(k)
                    .unwrap_or_else(|| panic!("translations: {key}.fields.{k} is missing"));
                text(&f["name"], &format!("{key}.fields.{k}.name"));
                text(&f["description"], &format!("{key}.fields.{k}.description"));
            }
            for k in fields.keys() {
                assert!(
                    nested.contains_key(k),
                    "translations: {key}.fields.{k} is not an option"
                );
            }
        }
    }
    for k in conf.keys() {
        assert!(
            schema.contains_key(k),
            "translations: configuration.{k} is not an option"
        );
    }
    let ports: BTreeSet<&String> = m
        .get("ports")
        .and_then(Value::as_object)
        .map(|p| p.keys().collect())
        .unwrap_or_default();
    if let Some(network) = tr.get("network") {
        for k in object(network, "network").keys() {
            assert!(
                ports.contains(k),
                "translations: network.{k} is not a port of the add-on"
            );
        }
    }
}

fn png_size(rel: &str) -> (u32, u32) {
    let p = workspace_root().join(rel);
    let data = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    assert_eq!(&data[..8], b"\x89PNG\r\n\x1a\n", "{rel}: not a PNG");
    assert_eq!(&data[12..16], b"IHDR", "{rel}: no IHDR first");
    let be = |i: usize| u32::from_be_bytes([data[i], data[i + 1], data[i + 2], data[i + 3]]);
    assert!(
        data.windows(4).any(|w| w == b"IEND"),
        "{rel}: truncated (no IEND)"
    );
    (be(16), be(20))
}

#[test]
fn icon_and_logo_are_pngs_of_the_recommended_size() {
    let (w, h) = png_size("addon/icon.png");
    assert!(
        w == h && (96..=256).contains(&w),
        "icon.png is {w}x{h}: square, about 128x128"
    );
    let (w, h) = png_size("addon/logo.png");
    assert!(
        (200..=300).contains(&w) && (80..=120).contains(&h) && w > h,
        "logo.png is {w}x{h}: about 250x100"
    );
}

fn workspace_version() -> String {
    let cargo = read("Cargo.toml");
    let section = cargo
        .split("[workspace.package]")
        .nth(1)
        .expect("[workspace.package]");
    section
        .lines()
        .find_map(|l| l.trim().strip_prefix("version = "))
        .map(|v| v.trim_matches('"').to_owned())
        .expect("workspace version")
}

#[test]
fn version_agrees_everywhere_and_the_changelog_has_it() {
    let version = manifest()["version"].as_str().expect("version").to_owned();
    assert_eq!(
        version,
        workspace_version(),
        "config.yaml version vs Cargo.toml"
    );
    let changelog = read("addon/CHANGELOG.md");
    let first = changelog
        .lines()
        .find(|l| l.starts_with("## "))
        .expect("CHANGELOG.md has a version heading");
    assert!(
        first.contains(&format!("[{version}]")) || first.contains(&format!("## {version}")),
        "the latest CHANGELOG.md entry is {first:?}, not {version}"
    );
    let dockerfile = read("addon/Dockerfile");
    assert!(
        dockerfile.contains(&format!("ARG BUILD_VERSION={version}")),
        "Dockerfile's BUILD_VERSION default is not {version}"
    );
}

#[test]
fn dockerfile_is_the_reviewed_shape() {
    let instructions = |text: &str| -> Vec<String> {
        text.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_owned)
            .collect()
    };
    let local = read("addon/Dockerfile");
    let image = read("addon/image.Containerfile");
    for (name, d, stages) in [
        ("addon/Dockerfile", &local, 3),
        ("addon/image.Containerfile", &image, 2),
    ] {
        let ins = instructions(d);
        let froms: Vec<&String> = ins.iter().filter(|l| l.starts_with("FROM ")).collect();
        assert_eq!(froms.len(), stages, "{name}: {froms:?}");
        assert!(
            ins.iter().any(|l| l.starts_with("ARG BUILD_FROM=")),
            "{name}: the base is Home Assistant's BUILD_FROM argument"
        );
        assert!(
            froms.iter().any(|f| *f == "FROM ${BUILD_FROM} AS runtime"),
            "{name}: the runtime files come from BUILD_FROM: {froms:?}"
        );
        assert_eq!(
            froms.last().map(|f| f.as_str()),
            Some("FROM scratch"),
            "{name}: nothing but the binary and what it links"
        );
        assert!(
            d.contains("rootfs.sh"),
            "{name}: rootfs.sh gathers the runtime files"
        );
        for label in [
            "io.hass.version",
            "io.hass.type",
            "io.hass.arch",
            "org.opencontainers.image.source",
        ] {
            assert!(d.contains(label), "{name}: LABEL {label}");
        }
        for arg in ["ARG BUILD_ARCH", "ARG BUILD_VERSION"] {
            assert!(d.contains(arg), "{name}: {arg}");
        }
        assert!(
            ins.iter()
                .any(|l| l.starts_with("CMD [\"/usr/bin/hasip\", \"health\"]")),
            "{name}: HEALTHCHECK runs hasip health"
        );
        // The gateway itself is the CMD, in exec form: only the CMD gets the container's
        // stdin (hassio.addon_stdin) and signals reach it directly.
        assert_eq!(
            ins.last().map(String::as_str),
            Some(r#"CMD ["/usr/bin/hasip", "run"]"#),
            "{name}"
        );
        assert!(!d.contains("ENTRYPOINT"), "{name}: no entrypoint wrapper");
    }
    // The final stages are the same: the local build makes the published image.
    let tail = |d: &str| d[d.find("FROM scratch").unwrap_or(0)..].to_owned();
    assert_eq!(tail(&local), tail(&image), "the final stages differ");
    assert!(
        local.contains("cargo build --locked --profile \"$CARGO_PROFILE\" -p hasip")
            && local.contains("ARG CARGO_PROFILE=release"),
        "the local build compiles the release, locked"
    );
    let rootfs = read("addon/rootfs.sh");
    for needed in [
        "libopus0",
        "ca-certificates",
        "--no-install-recommends",
        "ldd",
        "nsswitch",
    ] {
        assert!(rootfs.contains(needed), "rootfs.sh: {needed}");
    }
    let build = yaml_file("addon/build.yaml");
    for arch in ["aarch64", "amd64"] {
        assert!(
            build["build_from"][arch]
                .as_str()
                .is_some_and(|b| b.contains("bookworm")),
            "build.yaml: build_from.{arch} on the Debian release the binary is built for"
        );
    }
}

#[test]
fn repository_and_documentation_files_are_there() {
    let repo = yaml_file("repository.yaml");
    let repo = object(&repo, "repository.yaml");
    for k in ["name", "url", "maintainer"] {
        assert!(
            repo.get(k)
                .and_then(Value::as_str)
                .is_some_and(|s| !s.is_empty()),
            "repository.yaml: {k}"
        );
    }
    assert_eq!(
        repo["url"],
        manifest()["url"],
        "repository.yaml and config.yaml name the same repository"
    );
    let root = workspace_root();
    for f in [
        "README.md",
        "DOCS.md",
        "CHANGELOG.md",
        "Dockerfile",
        "config.yaml",
    ] {
        assert!(root.join("addon").join(f).is_file(), "addon/{f} is missing");
    }
    // The Supervisor finds add-ons by searching for config.yaml: no other file may be
    // called that.
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
        {
            let p = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            if p.is_dir() && !name.starts_with('.') && name != "target" {
                stack.push(p);
            } else if ["config.yaml", "config.yml", "config.json"].contains(&name.as_str()) {
                assert_eq!(
                    p.strip_prefix(&root).ok(),
                    Some(Path::new("addon/config.yaml")),
                    "only the add-on manifest may be called {name}"
                );
            }
        }
    }
    // The docs show every option.
    let docs = read("addon/DOCS.md");
    let schema = object(&manifest()["schema"], "schema").clone();
    for (section, keys) in &schema {
        assert!(
            docs.contains(&format!("`{section}`")),
            "DOCS.md does not document {section}"
        );
        for k in object(keys, section).keys() {
            assert!(
                docs.contains(&format!("`{k}`")),
                "DOCS.md does not document {section}.{k}"
            );
        }
    }
}
