//! Configuration: ha-sip's add-on options (`/data/options.json`, same schema), an embedded
//! default for running without a registrar, and command-line overrides.
//!
//! Every error names the file, the key path and what is accepted, e.g.
//! `/data/options.json: sip_global.port: 70000 is out of range (1-65535)`.

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::Deserialize;
use serde::de::{self, Deserializer};

mod check;
pub use check::{Checked, check};

/// The configuration used when no file is given: no accounts (so no registrar is
/// needed), SIP on UDP and TCP port 5060, info-level logs.
pub const DEFAULT_OPTIONS: &str = include_str!("default_options.json");

/// Where the Supervisor writes the add-on's options.
pub const ADDON_OPTIONS_PATH: &str = "/data/options.json";

/// The whole configuration, in ha-sip's add-on schema.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Options {
    /// Global SIP settings.
    pub sip_global: SipGlobal,
    /// Account 1.
    pub sip: Account,
    /// Account 2.
    pub sip_2: Account,
    /// Account 3.
    pub sip_3: Account,
    /// Text to speech.
    pub tts: Tts,
    /// The global webhook.
    pub webhook: Webhook,
    /// MQTT commands and events (ha-sip-rs addition to the add-on options; stand-alone
    /// mode reads ha-sip's `COMMAND_SOURCE=mqtt` and `BROKER_*` variables into it).
    pub mqtt: Mqtt,
    /// ha-sip 5.5's sensors (`SENSOR_ENABLED`, `SENSOR_ENTITY_PREFIX` stand-alone).
    pub sensors: Sensors,
}

/// `sensors` (ha-sip 5.5): Home Assistant entities for each account's call, registration
/// and last call.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Sensors {
    /// Write the sensors.
    pub enabled: bool,
    /// The entity ids' prefix (`sensor.<prefix>_account_1`); lower-cased, `-` becomes `_`,
    /// empty means `ha_sip`.
    pub entity_prefix: String,
}

impl Default for Sensors {
    fn default() -> Self {
        Self {
            enabled: false,
            entity_prefix: "ha_sip".to_owned(),
        }
    }
}

impl Sensors {
    /// The prefix as ha-sip normalises it.
    #[must_use]
    pub fn prefix(&self) -> String {
        let p = self.entity_prefix.trim().to_lowercase().replace('-', "_");
        if p.is_empty() { "ha_sip".to_owned() } else { p }
    }
}

/// `mqtt`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Mqtt {
    /// Take commands from and publish events to the broker.
    pub enabled: bool,
    /// Broker host; empty in add-on mode means "ask the Supervisor".
    pub broker_address: String,
    /// Broker port (1883; ha-sip's stand-alone default 1833 was a typo).
    #[serde(deserialize_with = "de_port")]
    pub broker_port: u16,
    /// User name (empty: none).
    pub username: String,
    /// Password.
    pub password: Secret,
    /// TLS to the broker.
    pub tls: bool,
    /// Where commands arrive.
    pub command_topic: String,
    /// Where events go (empty: not published).
    pub state_topic: String,
    /// `online`/`offline` availability, retained, with a last will (empty: none).
    pub availability_topic: String,
    /// Announce the gateway as a device with entities through Home Assistant's MQTT
    /// discovery (ha-sip-rs addition).
    pub discovery: bool,
    /// The discovery prefix Home Assistant listens on.
    pub discovery_prefix: String,
    /// This gateway's id in topics and in the device's identifiers; two gateways on one
    /// broker need different ones.
    pub node_id: String,
}

impl Default for Mqtt {
    fn default() -> Self {
        Self {
            enabled: false,
            broker_address: String::new(),
            broker_port: 1883,
            username: String::new(),
            password: Secret::default(),
            tls: false,
            command_topic: "hasip/execute".to_owned(),
            state_topic: "hasip/state".to_owned(),
            availability_topic: "hasip/availability".to_owned(),
            discovery: true,
            discovery_prefix: "homeassistant".to_owned(),
            node_id: "ha_sip_rs".to_owned(),
        }
    }
}

/// `sip_global`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SipGlobal {
    /// Port of the UDP and TCP SIP transports.
    #[serde(deserialize_with = "de_port")]
    pub port: u16,
    /// ha-sip's pjsip log level, 0 (errors only) to 6 (everything).
    #[serde(deserialize_with = "de_log_level")]
    pub log_level: u8,
    /// Comma-separated DNS servers.
    pub name_server: String,
    /// Directory of the audio cache.
    pub cache_dir: String,
    /// ha-sip's global flags (`--tls`, `--udp off`, …).
    pub global_options: String,
    /// Address the SIP transports bind to (ha-sip-rs addition; ha-sip binds every address).
    #[serde(deserialize_with = "de_ip")]
    pub bind_address: IpAddr,
}

impl Default for SipGlobal {
    fn default() -> Self {
        Self {
            port: 5060,
            log_level: 3,
            name_server: String::new(),
            cache_dir: String::new(),
            global_options: String::new(),
            bind_address: IpAddr::from([0, 0, 0, 0]),
        }
    }
}

/// How incoming calls are handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AnswerMode {
    /// Ring and report, never answer by itself.
    #[default]
    Listen,
    /// Answer, then run the incoming-call menu.
    Accept,
}

impl<'de> Deserialize<'de> for AnswerMode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        match s.to_ascii_lowercase().as_str() {
            "listen" => Ok(Self::Listen),
            "accept" => Ok(Self::Accept),
            _ => Err(de::Error::custom(format_args!(
                "unknown answer mode {s:?}; accepted values: \"listen\", \"accept\""
            ))),
        }
    }
}

/// A secret that never appears in logs or debug output.
#[derive(Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// The secret itself, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() { "\"\"" } else { "\"***\"" })
    }
}

/// `sip`, `sip_2`, `sip_3`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Account {
    /// Whether the account is used.
    pub enabled: bool,
    /// REGISTER target; empty means no registration.
    pub registrar_uri: String,
    /// The account identity (From).
    pub id_uri: String,
    /// Digest realm; `*` matches any.
    pub realm: String,
    /// Digest user.
    pub user_name: String,
    /// Digest password.
    pub password: Secret,
    /// Incoming-call handling.
    pub answer_mode: AnswerMode,
    /// Seconds between the call being confirmed and "established".
    #[serde(deserialize_with = "de_settle_time")]
    pub settle_time: f64,
    /// YAML file with the incoming-call menu and filters.
    pub incoming_call_file: String,
    /// ha-sip's per-account flags (`--proxy`, `--ice off`, …).
    pub options: String,
}

impl Default for Account {
    fn default() -> Self {
        Self {
            enabled: false,
            registrar_uri: String::new(),
            id_uri: String::new(),
            realm: "*".to_owned(),
            user_name: String::new(),
            password: Secret::default(),
            answer_mode: AnswerMode::Listen,
            settle_time: 1.0,
            incoming_call_file: String::new(),
            options: String::new(),
        }
    }
}

/// `tts`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Tts {
    /// TTS entity, e.g. `tts.piper`.
    pub engine_id: String,
    /// Deprecated alternative to `engine_id`.
    pub platform: String,
    /// Language; empty means `en`.
    pub language: String,
    /// Voice, sent as `options.voice` when set.
    pub voice: String,
    /// List engines and voices at start-up.
    pub debug_print: bool,
}

impl Default for Tts {
    fn default() -> Self {
        Self {
            engine_id: String::new(),
            platform: String::new(),
            language: "en".to_owned(),
            voice: String::new(),
            debug_print: false,
        }
    }
}

/// `webhook`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Webhook {
    /// The global webhook id.
    pub id: String,
    /// Where events go (ha-sip-rs addition): webhooks, the event bus, or both.
    pub delivery: Delivery,
    /// Where undelivered events wait on disk (ha-sip-rs addition): empty for the add-on's
    /// default, `/data/spool`; stand-alone, no spool unless set (`WEBHOOK_SPOOL_DIR`).
    pub spool_dir: String,
}

impl Default for Webhook {
    fn default() -> Self {
        Self {
            id: "sip_call_webhook_id".to_owned(),
            delivery: Delivery::Both,
            spool_dir: String::new(),
        }
    }
}

/// `webhook.delivery`: how events reach Home Assistant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Delivery {
    /// ha-sip's way only: the global webhook and the call's `webhook_to_call` ids.
    Webhook,
    /// Only Home Assistant's event bus: one `hasip_event` per event, its data the
    /// webhook's body.
    Event,
    /// Both (the default): existing webhook automations keep working, and event-trigger
    /// automations work whatever Home Assistant thinks of the webhook's source address.
    Both,
}

impl Delivery {
    /// Whether webhooks are posted.
    pub fn webhooks(self) -> bool {
        self != Self::Event
    }

    /// Whether events are fired on the bus.
    pub fn event_bus(self) -> bool {
        self != Self::Webhook
    }
}

fn de_port<'de, D: Deserializer<'de>>(d: D) -> Result<u16, D::Error> {
    let n = i64::deserialize(d).map_err(|e| {
        de::Error::custom(format_args!("{e}; expected a port number from 1 to 65535"))
    })?;
    u16::try_from(n)
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| de::Error::custom(format_args!("{n} is out of range (1-65535)")))
}

fn de_log_level<'de, D: Deserializer<'de>>(d: D) -> Result<u8, D::Error> {
    let n = i64::deserialize(d)
        .map_err(|e| de::Error::custom(format_args!("{e}; expected a log level from 0 to 6")))?;
    u8::try_from(n)
        .ok()
        .filter(|l| *l <= 6)
        .ok_or_else(|| de::Error::custom(format_args!("{n} is out of range (0-6)")))
}

fn de_settle_time<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    let n = f64::deserialize(d)
        .map_err(|e| de::Error::custom(format_args!("{e}; expected seconds, e.g. 1 or 0.5")))?;
    if n.is_finite() && (0.0..=3600.0).contains(&n) {
        Ok(n)
    } else {
        Err(de::Error::custom(format_args!(
            "{n} is out of range (0-3600 seconds)"
        )))
    }
}

fn de_ip<'de, D: Deserializer<'de>>(d: D) -> Result<IpAddr, D::Error> {
    let s = String::deserialize(d)?;
    s.parse().map_err(|_| {
        de::Error::custom(format_args!(
            "{s:?} is not an IP address (e.g. \"0.0.0.0\", \"127.0.0.1\" or \"::\")"
        ))
    })
}

/// Removes `null` values, which the Supervisor and bashio produce for deleted optional
/// keys, so that they read as absent (the default) rather than as the text "null".
fn strip_nulls(v: &mut serde_json::Value) {
    if let serde_json::Value::Object(map) = v {
        map.retain(|_, v| !v.is_null());
        map.values_mut().for_each(strip_nulls);
    }
}

/// Reads options from JSON text; `origin` names the source in errors.
pub fn parse_options(text: &str, origin: &str) -> anyhow::Result<Options> {
    let mut value: serde_json::Value =
        serde_json::from_str(text).with_context(|| format!("{origin}: not valid JSON"))?;
    strip_nulls(&mut value);
    if !value.is_object() {
        bail!(
            "{origin}: expected a JSON object with sip_global, sip, sip_2, sip_3, tts and webhook"
        );
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.inner().to_string();
        let hint = suggestion(&inner)
            .map(|s| format!(" (did you mean `{s}`?)"))
            .unwrap_or_default();
        if path == "." {
            anyhow::anyhow!("{origin}: {inner}{hint}")
        } else {
            anyhow::anyhow!("{origin}: {path}: {inner}{hint}")
        }
    })
}

/// For serde's "unknown field `x`, expected one of `a`, `b`" message, the closest known key.
fn suggestion(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `")?;
    let (unknown, rest) = rest.split_once('`')?;
    let candidates = rest.split('`').skip(1).step_by(2);
    candidates
        .map(|c| (edit_distance(unknown, c), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3))
        .min()
        .map(|(_, c)| c.to_owned())
}

/// Edit distance with adjacent transpositions (optimal string alignment), for "did you
/// mean" suggestions: `tsl` is one step from `tls`.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[a.len()][b.len()]
}

/// Reads the options file at `path`.
pub fn load_file(path: &Path) -> anyhow::Result<Options> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read configuration {}", path.display()))?;
    parse_options(&text, &path.display().to_string())
}

/// The environment variables of ha-sip's stand-alone mode (spec §2.4); any of them set
/// (or a `.env` file) selects stand-alone mode.
pub const ENV_VARIABLES: &[&str] = &[
    "COMMAND_SOURCE",
    "PORT",
    "LOG_LEVEL",
    "NAME_SERVER",
    "CACHE_DIR",
    "GLOBAL_OPTIONS",
    "SIP1_ENABLED",
    "SIP2_ENABLED",
    "SIP3_ENABLED",
    "TTS_ENGINE_ID",
    "TTS_PLATFORM",
    "TTS_LANGUAGE",
    "TTS_VOICE",
    "TTS_DEBUG_PRINT",
    "HA_BASE_URL",
    "HA_WEBSOCKET_URL",
    "HA_TOKEN",
    "HA_WEBHOOK_ID",
    "HA_EVENT_DELIVERY",
    "WEBHOOK_SPOOL_DIR",
    "BROKER_ADDRESS",
    "BROKER_PORT",
    "BROKER_USERNAME",
    "BROKER_PASSWORD",
    "MQTT_TOPIC",
    "MQTT_STATE_TOPIC",
    "MQTT_DISCOVERY",
    "MQTT_DISCOVERY_PREFIX",
    "MQTT_NODE_ID",
    "SENSOR_ENABLED",
    "SENSOR_ENTITY_PREFIX",
];

/// Reads ha-sip's stand-alone environment (spec §2.4) through `get`. Unset variables keep
/// their defaults; values ha-sip silently replaced by a default are errors here, naming
/// the variable (docs/compatibility.md).
///
/// # Errors
/// The first variable that cannot be read.
pub fn from_env(get: &dyn Fn(&str) -> Option<String>) -> anyhow::Result<Options> {
    let mut o = Options::default();
    let text = |name: &str| {
        get(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let number = |name: &str, what: &str| -> anyhow::Result<Option<i64>> {
        match text(name) {
            None => Ok(None),
            Some(v) => v
                .parse::<i64>()
                .map(Some)
                .map_err(|_| anyhow::anyhow!("{name}: {v:?} is not {what}")),
        }
    };
    let boolean = |name: &str| text(name).is_some_and(|v| v.eq_ignore_ascii_case("true"));
    if let Some(p) = number("PORT", "a port number (1-65535)")? {
        o.sip_global.port = u16::try_from(p)
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| anyhow::anyhow!("PORT: {p} is out of range (1-65535)"))?;
    }
    if let Some(l) = number("LOG_LEVEL", "a log level (0-6)")? {
        o.sip_global.log_level = u8::try_from(l)
            .ok()
            .filter(|l| *l <= 6)
            .ok_or_else(|| anyhow::anyhow!("LOG_LEVEL: {l} is out of range (0-6)"))?;
    }
    o.sip_global.name_server = text("NAME_SERVER").unwrap_or_default();
    o.sip_global.cache_dir = text("CACHE_DIR").unwrap_or_default();
    o.sip_global.global_options = text("GLOBAL_OPTIONS").unwrap_or_default();
    for (n, acct) in [(1, &mut o.sip), (2, &mut o.sip_2), (3, &mut o.sip_3)] {
        let var = |k: &str| format!("SIP{n}_{k}");
        // ha-sip: only the word "true" (any case) enables an account.
        acct.enabled = boolean(&var("ENABLED"));
        acct.registrar_uri = text(&var("REGISTRAR_URI")).unwrap_or_default();
        acct.id_uri = text(&var("ID_URI")).unwrap_or_default();
        acct.realm = text(&var("REALM")).unwrap_or_else(|| "*".to_owned());
        acct.user_name = get(&var("USER_NAME")).unwrap_or_default();
        acct.password = Secret(get(&var("PASSWORD")).unwrap_or_default());
        if let Some(m) = text(&var("ANSWER_MODE")) {
            acct.answer_mode = match m.to_ascii_lowercase().as_str() {
                "listen" => AnswerMode::Listen,
                "accept" => AnswerMode::Accept,
                _ => bail!(
                    "{}: {m:?}; accepted values: listen, accept",
                    var("ANSWER_MODE")
                ),
            };
        }
        if let Some(t) = text(&var("SETTLE_TIME")) {
            acct.settle_time = t
                .parse::<f64>()
                .ok()
                .filter(|t| t.is_finite() && (0.0..=3600.0).contains(t))
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "{}: {t:?} is not seconds from 0 to 3600",
                        var("SETTLE_TIME")
                    )
                })?;
        }
        acct.incoming_call_file = text(&var("INCOMING_CALL_FILE")).unwrap_or_default();
        acct.options = text(&var("OPTIONS")).unwrap_or_default();
    }
    o.tts.engine_id = text("TTS_ENGINE_ID").unwrap_or_default();
    o.tts.platform = text("TTS_PLATFORM").unwrap_or_default();
    o.tts.language = text("TTS_LANGUAGE").unwrap_or_else(|| "en".to_owned());
    o.tts.voice = text("TTS_VOICE").unwrap_or_default();
    o.tts.debug_print = boolean("TTS_DEBUG_PRINT");
    // Stand-alone ha-sip has no global webhook unless HA_WEBHOOK_ID is set.
    o.webhook.id = text("HA_WEBHOOK_ID").unwrap_or_default();
    o.webhook.spool_dir = text("WEBHOOK_SPOOL_DIR").unwrap_or_default();
    if let Some(d) = text("HA_EVENT_DELIVERY") {
        o.webhook.delivery = match d.to_ascii_lowercase().as_str() {
            "webhook" => Delivery::Webhook,
            "event" => Delivery::Event,
            "both" => Delivery::Both,
            _ => bail!("HA_EVENT_DELIVERY: {d:?}; accepted values: webhook, event, both"),
        };
    }
    o.sensors.enabled = boolean("SENSOR_ENABLED");
    if let Some(p) = text("SENSOR_ENTITY_PREFIX") {
        o.sensors.entity_prefix = p;
    }
    o.mqtt.enabled = text("COMMAND_SOURCE").is_some_and(|c| c.eq_ignore_ascii_case("mqtt"));
    o.mqtt.broker_address = text("BROKER_ADDRESS").unwrap_or_default();
    if let Some(p) = number("BROKER_PORT", "a port number (1-65535)")? {
        o.mqtt.broker_port = u16::try_from(p)
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| anyhow::anyhow!("BROKER_PORT: {p} is out of range (1-65535)"))?;
    }
    o.mqtt.username = get("BROKER_USERNAME").unwrap_or_default();
    o.mqtt.password = Secret(get("BROKER_PASSWORD").unwrap_or_default());
    if let Some(t) = get("MQTT_TOPIC") {
        o.mqtt.command_topic = t.trim().to_owned();
    }
    if let Some(t) = get("MQTT_STATE_TOPIC") {
        // ha-sip: an empty state topic disables publishing.
        o.mqtt.state_topic = t.trim().to_owned();
    }
    if let Some(d) = text("MQTT_DISCOVERY") {
        o.mqtt.discovery = match d.to_ascii_lowercase().as_str() {
            "true" => true,
            "false" => false,
            _ => bail!("MQTT_DISCOVERY: {d:?}; accepted values: true, false"),
        };
    }
    if let Some(p) = text("MQTT_DISCOVERY_PREFIX") {
        o.mqtt.discovery_prefix = p;
    }
    if let Some(n) = text("MQTT_NODE_ID") {
        o.mqtt.node_id = n;
    }
    if o.mqtt.enabled && o.mqtt.broker_address.is_empty() {
        bail!("BROKER_ADDRESS: required when COMMAND_SOURCE=mqtt");
    }
    if o.mqtt.enabled && o.mqtt.command_topic.is_empty() {
        bail!("MQTT_TOPIC: must not be empty when COMMAND_SOURCE=mqtt");
    }
    Ok(o)
}

/// Reads `KEY=value` lines of a `.env` file (as python-dotenv does for ha-sip): comments,
/// blank lines, optional `export`, single or double quotes.
///
/// # Errors
/// A line that is not `KEY=value`, named by its number.
pub fn parse_dotenv(text: &str, origin: &str) -> anyhow::Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((k, v)) = line.split_once('=') else {
            bail!("{origin}:{}: expected KEY=value, got {raw:?}", n + 1);
        };
        let k = k.trim();
        if k.is_empty() || !k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            bail!("{origin}:{}: {k:?} is not a variable name", n + 1);
        }
        let v = v.trim();
        let quoted = |q: char| -> anyhow::Result<Option<String>> {
            let Some(rest) = v.strip_prefix(q) else {
                return Ok(None);
            };
            // The value ends at the matching quote (`\"` escapes one in double quotes);
            // after it only a comment may follow.
            let mut out = String::new();
            let mut chars = rest.char_indices();
            while let Some((i, c)) = chars.next() {
                if c == '\\' && q == '"' {
                    match chars.next() {
                        Some((_, 'n')) => out.push('\n'),
                        Some((_, e)) => out.push(e),
                        None => break,
                    }
                } else if c == q {
                    let after = rest[i + c.len_utf8()..].trim();
                    if !after.is_empty() && !after.starts_with('#') {
                        bail!(
                            "{origin}:{}: unexpected {after:?} after the quoted value",
                            n + 1
                        );
                    }
                    return Ok(Some(out));
                } else {
                    out.push(c);
                }
            }
            bail!("{origin}:{}: the value's quote {q} is not closed", n + 1)
        };
        let v = match (quoted('"')?, quoted('\'')?) {
            (Some(s), _) | (None, Some(s)) => s,
            // An unquoted value ends at a comment.
            (None, None) => v.split(" #").next().unwrap_or(v).trim().to_owned(),
        };
        out.push((k.to_owned(), v));
    }
    Ok(out)
}

/// Looks `name` up in the process environment, then in `./.env` (read once), as
/// stand-alone ha-sip does; for settings outside [`Options`] (Home Assistant's URL and
/// token). A `.env` that cannot be parsed was reported by [`load`] already.
pub fn env_lookup(name: &str) -> Option<String> {
    static DOTENV: std::sync::OnceLock<Vec<(String, String)>> = std::sync::OnceLock::new();
    std::env::var(name).ok().or_else(|| {
        DOTENV
            .get_or_init(|| {
                std::fs::read_to_string(".env")
                    .ok()
                    .and_then(|t| parse_dotenv(&t, ".env").ok())
                    .unwrap_or_default()
            })
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    })
}

/// Which configuration to use: an explicit file, the add-on's options when running under
/// the Supervisor, ha-sip's stand-alone environment (and `.env`) when any of its variables
/// is set, or the embedded default.
///
/// # Errors
/// A file that cannot be read, or a value that names its field.
pub fn load(explicit: Option<&Path>) -> anyhow::Result<(Options, String)> {
    if let Some(p) = explicit {
        return Ok((load_file(p)?, p.display().to_string()));
    }
    let addon = PathBuf::from(ADDON_OPTIONS_PATH);
    if addon.exists() {
        return Ok((load_file(&addon)?, ADDON_OPTIONS_PATH.to_owned()));
    }
    // Stand-alone: the process environment wins over `.env`, as with python-dotenv.
    let dotenv = match std::fs::read_to_string(".env") {
        Ok(text) => parse_dotenv(&text, ".env")?,
        Err(_) => Vec::new(),
    };
    let get = |k: &str| {
        std::env::var(k)
            .ok()
            .or_else(|| dotenv.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()))
    };
    if ENV_VARIABLES.iter().any(|v| get(v).is_some()) {
        let origin = if dotenv.is_empty() {
            "environment"
        } else {
            "environment and .env"
        };
        return Ok((
            from_env(&get).with_context(|| format!("configuration from the {origin}"))?,
            origin.to_owned(),
        ));
    }
    Ok((
        parse_options(DEFAULT_OPTIONS, "embedded default")?,
        "embedded default".to_owned(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        match parse_options(text, "t.json") {
            Ok(o) => panic!("accepted: {o:?}"),
            Err(e) => format!("{e:#}"),
        }
    }

    #[test]
    fn embedded_default_has_no_account() {
        let o = parse_options(DEFAULT_OPTIONS, "d").unwrap();
        assert_eq!(o.sip_global.port, 5060);
        assert!(!o.sip.enabled && !o.sip_2.enabled && !o.sip_3.enabled);
        assert_eq!(o.tts.language, "en");
    }

    #[test]
    fn errors_name_the_field() {
        assert_eq!(
            err(r#"{"sip_global": {"port": 70000}}"#),
            "t.json: sip_global.port: 70000 is out of range (1-65535)"
        );
        let e = err(r#"{"sip_global": {"prot": 5060}}"#);
        assert!(
            e.starts_with("t.json: sip_global.prot: unknown field `prot`"),
            "{e}"
        );
        assert!(e.ends_with("(did you mean `port`?)"), "{e}");
        let e = err(r#"{"sip": {"enabled": "maybe"}}"#);
        assert!(
            e.starts_with("t.json: sip.enabled: invalid type: string"),
            "{e}"
        );
        let e = err(r#"{"sip_2": {"answer_mode": "auto"}}"#);
        assert!(
            e.contains("sip_2.answer_mode") && e.contains("\"listen\", \"accept\""),
            "{e}"
        );
        let e = err(r#"{"mqtt_typo": {}}"#);
        assert!(e.contains("unknown field `mqtt_typo`"), "{e}");
        let e = err("{not json");
        assert!(e.starts_with("t.json: not valid JSON"), "{e}");
    }

    #[test]
    fn nulls_read_as_defaults_and_answer_mode_ignores_case() {
        let o = parse_options(
            r#"{"tts": {"voice": null, "platform": null}, "sip": {"answer_mode": "ACCEPT"}}"#,
            "t",
        )
        .unwrap();
        assert_eq!(o.tts.voice, "");
        assert_eq!(o.sip.answer_mode, AnswerMode::Accept);
    }

    fn env(pairs: &[(&str, &str)]) -> anyhow::Result<Options> {
        let map: std::collections::HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        from_env(&|k| map.get(k).cloned())
    }

    #[test]
    fn stand_alone_environment_as_ha_sip_reads_it() {
        let o = env(&[
            ("PORT", "5070"),
            ("SIP1_ENABLED", "TRUE"),
            ("SIP1_REGISTRAR_URI", "sip:fritz.box"),
            ("SIP1_ID_URI", "sip:homeassistant@fritz.box"),
            ("SIP1_ANSWER_MODE", "ACCEPT"),
            ("SIP2_ENABLED", "1"),
            ("TTS_LANGUAGE", ""),
            ("COMMAND_SOURCE", " mqtt "),
            ("BROKER_ADDRESS", "127.0.0.1"),
            ("MQTT_STATE_TOPIC", ""),
        ])
        .unwrap();
        assert_eq!(o.sip_global.port, 5070);
        assert!(
            o.sip.enabled && !o.sip_2.enabled,
            "only the word true enables an account"
        );
        assert_eq!(o.sip.answer_mode, AnswerMode::Accept);
        assert_eq!(o.tts.language, "en");
        assert!(o.mqtt.enabled);
        assert_eq!(o.mqtt.broker_port, 1883, "ha-sip's 1833 typo is fixed");
        assert_eq!(
            o.mqtt.state_topic, "",
            "an empty state topic disables publishing"
        );
        assert_eq!(o.webhook.id, "");
    }

    #[test]
    fn stand_alone_errors_name_the_variable() {
        let e = |pairs: &[(&str, &str)]| format!("{:#}", env(pairs).unwrap_err());
        assert_eq!(
            e(&[("PORT", "abc")]),
            "PORT: \"abc\" is not a port number (1-65535)"
        );
        assert_eq!(
            e(&[("PORT", "99999")]),
            "PORT: 99999 is out of range (1-65535)"
        );
        assert!(e(&[("SIP2_ANSWER_MODE", "auto")]).starts_with("SIP2_ANSWER_MODE: \"auto\""));
        assert!(e(&[("SIP1_SETTLE_TIME", "soon")]).starts_with("SIP1_SETTLE_TIME:"));
        assert_eq!(
            e(&[("COMMAND_SOURCE", "mqtt")]),
            "BROKER_ADDRESS: required when COMMAND_SOURCE=mqtt"
        );
    }

    #[test]
    fn dotenv_lines() {
        let v = parse_dotenv(
            "# c\nexport A=1\nB=\"two words\"\nC='x y'\nD=plain # comment\n\n",
            "t",
        )
        .unwrap();
        assert_eq!(
            v,
            vec![
                ("A".into(), "1".into()),
                ("B".into(), "two words".into()),
                ("C".into(), "x y".into()),
                ("D".into(), "plain".into())
            ]
        );
        let q = parse_dotenv(
            "A=\"\" # c\nB=\"x y\" # c\nC='a#b' #c\nD=\"say \\\"hi\\\"\"\n",
            "t",
        )
        .unwrap();
        assert_eq!(
            q,
            vec![
                ("A".into(), String::new()),
                ("B".into(), "x y".into()),
                ("C".into(), "a#b".into()),
                ("D".into(), "say \"hi\"".into())
            ],
            "quotes end the value; a comment may follow"
        );
        assert!(
            parse_dotenv("A=\"open\n", ".env")
                .unwrap_err()
                .to_string()
                .contains("not closed")
        );
        assert!(
            parse_dotenv("NOEQUALS\n", ".env")
                .unwrap_err()
                .to_string()
                .starts_with(".env:1:")
        );
    }

    #[test]
    fn password_is_never_printed() {
        let o = parse_options(r#"{"sip": {"password": "hunter2"}}"#, "t").unwrap();
        assert!(!format!("{o:?}").contains("hunter2"));
        assert_eq!(o.sip.password.expose(), "hunter2");
    }
}
