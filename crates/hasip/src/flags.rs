//! ha-sip's flag strings: `sip_global.global_options` and each account's `options`
//! (spec §2.6–2.8). The string is split on white space; `--flag value` and `--flag=value`
//! both work; the last occurrence wins; boolean words are ha-sip's (case-sensitive, as in
//! argparse). An unknown flag or a bad value stops start-up with a message naming it.

use std::fmt;

/// A flag string error: names the option string, the flag and what is accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlagError(pub String);

impl fmt::Display for FlagError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FlagError {}

#[derive(Clone, Copy)]
enum Kind {
    Bool,
    Text,
    Port,
    PortRange,
    Choice(&'static [&'static str]),
    /// Text of several words: up to the next word that starts with `--`.
    Words,
}

const ENABLED: [&str; 6] = ["enabled", "enable", "true", "yes", "on", "1"];
const DISABLED: [&str; 6] = ["disabled", "disable", "false", "no", "off", "0"];

/// The global flags (`sip_global.global_options`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GlobalFlags {
    /// `--stun-server HOST[:PORT]`.
    pub stun_server: Option<String>,
    /// `--udp` (default on).
    pub udp: bool,
    /// `--tcp` (default on).
    pub tcp: bool,
    /// `--tls` (default off).
    pub tls: bool,
    /// `--tls-port` (default 5061).
    pub tls_port: u16,
    /// `--debug-headers` (default off).
    pub debug_headers: bool,
    /// `--tls-verify-server` (ha-sip-rs addition, default on): check a TLS server's
    /// certificate; off for PBXs with self-signed certificates.
    pub tls_verify_server: bool,
    /// `--rtp-port-range LO-HI` (ha-sip-rs addition; default: any free port).
    pub rtp_ports: Option<std::ops::RangeInclusive<u16>>,
    /// `--codecs LIST` (ha-sip-rs addition): the codecs offered and accepted, in order of
    /// preference.
    pub codecs: Vec<hasip_sip::sdp::Codec>,
    /// `--tls-cert FILE` and `--tls-key FILE` (ha-sip-rs additions): the PEM certificate
    /// chain and key of the TLS listener that `--tls enabled` opens on `--tls-port`.
    pub tls_cert: Option<String>,
    /// See `tls_cert`.
    pub tls_key: Option<String>,
    /// `--recording-channels stereo|mono` (ha-sip-rs addition, default stereo): how
    /// `start_recording` writes a call when the command does not say.
    pub recording_channels: hasip_engine::RecordingChannels,
    /// `--dtmf-tone MS` and `--dtmf-gap MS` (ha-sip-rs additions; pjsua's 180 and 220 ms by
    /// default): how long a digit `send_dtmf` sends sounds, and the silence after it, unless
    /// the command says (`tone_ms`, `gap_ms`). Some intercoms need 250–500 ms tones.
    pub dtmf_timing: hasip_engine::DtmfTiming,
    /// `--call-rate-limit N` (ha-sip-rs addition): new calls one source address may start
    /// per second, five times that at once (2 by default; 0: no limit). More are answered
    /// 503 with Retry-After: a flood does not ring the house or bury Home Assistant.
    pub call_rate: hasip_sip::admission::CallRate,
}

/// The default codec preference: what ha-sip offered that is worth keeping, wideband
/// first (the spec's suggestion, §8.5).
pub const DEFAULT_CODECS: [hasip_sip::sdp::Codec; 4] = [
    hasip_sip::sdp::Codec::Opus,
    hasip_sip::sdp::Codec::G722,
    hasip_sip::sdp::Codec::Pcmu,
    hasip_sip::sdp::Codec::Pcma,
];

fn parse_codecs(text: &str) -> Result<Vec<hasip_sip::sdp::Codec>, FlagError> {
    use hasip_sip::sdp::Codec;
    let mut out = Vec::new();
    for name in text.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let c = match name.to_ascii_lowercase().as_str() {
            "opus" => Codec::Opus,
            "g722" | "g.722" => Codec::G722,
            "pcmu" | "g711u" | "ulaw" => Codec::Pcmu,
            "pcma" | "g711a" | "alaw" => Codec::Pcma,
            _ => {
                return Err(FlagError(format!(
                    "sip_global.global_options: --codecs: unknown codec {name:?} (known: opus, g722, pcmu, pcma)"
                )));
            }
        };
        if !out.contains(&c) {
            out.push(c);
        }
    }
    if out.is_empty() {
        return Err(FlagError(
            "sip_global.global_options: --codecs needs at least one of opus, g722, pcmu, pcma"
                .to_owned(),
        ));
    }
    Ok(out)
}

impl Default for GlobalFlags {
    fn default() -> Self {
        Self {
            stun_server: None,
            udp: true,
            tcp: true,
            tls: false,
            tls_port: 5061,
            debug_headers: false,
            tls_verify_server: true,
            rtp_ports: None,
            codecs: DEFAULT_CODECS.to_vec(),
            recording_channels: hasip_engine::RecordingChannels::Stereo,
            dtmf_timing: hasip_engine::DtmfTiming::default(),
            call_rate: hasip_sip::admission::CallRate::default(),
            tls_cert: None,
            tls_key: None,
        }
    }
}

/// The per-account flags (`sip.options`, …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountFlags {
    /// `--proxy URI`: the outbound proxy.
    pub proxy: Option<String>,
    /// `--ice` (ha-sip default on; ha-sip-rs offers no ICE and accepts the flag).
    pub ice: bool,
    /// `--use-stun-for-sip`.
    pub use_stun_for_sip: bool,
    /// `--use-stun-for-media`.
    pub use_stun_for_media: bool,
    /// `--use-contact-rewrite`.
    pub use_contact_rewrite: bool,
    /// `--use-via-rewrite`.
    pub use_via_rewrite: bool,
    /// `--use-sdp-nat-rewrite`.
    pub use_sdp_nat_rewrite: bool,
    /// `--use-sip-outbound`.
    pub use_sip_outbound: bool,
    /// `--turn-server HOST[:PORT]`.
    pub turn_server: Option<String>,
    /// `--turn-connection-type`.
    pub turn_connection_type: String,
    /// `--turn-user`.
    pub turn_user: Option<String>,
    /// `--turn-password`.
    pub turn_password: Option<String>,
    /// `--extract-headers A,B,C`, trimmed, original spelling kept.
    pub extract_headers: Vec<String>,
    /// `--keepalive SECONDS` (ha-sip-rs addition; pjsua's 15 s by default, 0 turns it
    /// off): how often a registered account sends a keep-alive to its registrar.
    pub keepalive_secs: u32,
    /// `--register-expires SECONDS` (ha-sip-rs addition; 300 as in ha-sip): the lifetime
    /// asked for in REGISTER. Some providers and NAT routers need other values.
    pub register_expires: u32,
    /// `--allow-calls-from NETWORKS` (ha-sip-rs addition): where the account takes calls
    /// from, besides its registrar and proxy (a direct-call account: instead of the private
    /// and loopback networks). `any` takes them from everywhere.
    pub allow_calls_from: Option<Vec<hasip_sip::admission::IpNet>>,
    /// `--header NAME: VALUE` (ha-sip-rs addition, repeatable; ha-sip #126): headers added
    /// to the account's REGISTER and INVITE requests.
    pub headers: Vec<(String, String)>,
    /// `--can-call disabled` (ha-sip-rs addition): the account never dials; `dial` with it
    /// is refused.
    pub can_call: bool,
    /// `--can-be-called disabled` (ha-sip-rs addition): the account takes no calls; INVITEs
    /// for it are answered 403.
    pub can_be_called: bool,
    /// The flags given that have no effect here (`--ice`, `--use-sip-outbound`, `--turn-*`),
    /// as written, for one warning at start-up.
    pub ignored: Vec<&'static str>,
}

impl Default for AccountFlags {
    fn default() -> Self {
        Self {
            proxy: None,
            ice: true,
            use_stun_for_sip: true,
            use_stun_for_media: true,
            use_contact_rewrite: true,
            use_via_rewrite: true,
            use_sdp_nat_rewrite: true,
            use_sip_outbound: true,
            turn_server: None,
            turn_connection_type: "udp".into(),
            turn_user: None,
            turn_password: None,
            extract_headers: Vec::new(),
            keepalive_secs: 15,
            register_expires: 300,
            allow_calls_from: None,
            headers: Vec::new(),
            can_call: true,
            can_be_called: true,
            ignored: Vec::new(),
        }
    }
}

const GLOBAL: &[(&str, Kind)] = &[
    ("stun-server", Kind::Text),
    ("udp", Kind::Bool),
    ("tcp", Kind::Bool),
    ("tls", Kind::Bool),
    ("tls-port", Kind::Port),
    ("debug-headers", Kind::Bool),
    ("rtp-port-range", Kind::PortRange),
    ("codecs", Kind::Text),
    ("tls-verify-server", Kind::Bool),
    ("recording-channels", Kind::Choice(&["stereo", "mono"])),
    ("tls-cert", Kind::Text),
    ("tls-key", Kind::Text),
    ("dtmf-tone", Kind::Text),
    ("dtmf-gap", Kind::Text),
    ("call-rate-limit", Kind::Text),
];

const ACCOUNT: &[(&str, Kind)] = &[
    ("proxy", Kind::Text),
    ("ice", Kind::Bool),
    ("use-stun-for-sip", Kind::Bool),
    ("use-stun-for-media", Kind::Bool),
    ("use-contact-rewrite", Kind::Bool),
    ("use-via-rewrite", Kind::Bool),
    ("use-sdp-nat-rewrite", Kind::Bool),
    ("use-sip-outbound", Kind::Bool),
    ("turn-server", Kind::Text),
    ("turn-connection-type", Kind::Choice(&["tcp", "udp", "tls"])),
    ("turn-user", Kind::Text),
    ("turn-password", Kind::Text),
    ("extract-headers", Kind::Text),
    ("keepalive", Kind::Text),
    ("register-expires", Kind::Text),
    ("allow-calls-from", Kind::Text),
    ("header", Kind::Words),
    ("can-call", Kind::Bool),
    ("can-be-called", Kind::Bool),
];

/// A parsed value.
enum V {
    Bool(bool),
    Text(String),
    Port(u16),
    Range(u16, u16),
}

fn parse_flags<'a>(
    field: &str,
    text: &'a str,
    known: &[(&'static str, Kind)],
) -> Result<Vec<(&'static str, V)>, FlagError> {
    let mut out = Vec::new();
    let mut words = text.split_whitespace().peekable();
    while let Some(word) = words.next() {
        let Some(flag) = word.strip_prefix("--") else {
            return Err(FlagError(format!(
                "{field}: unexpected {word:?} (flags start with --)"
            )));
        };
        let (name, inline) = match flag.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (flag, None),
        };
        let Some(&(canonical, kind)) = known.iter().find(|(k, _)| *k == name) else {
            let hint = known
                .iter()
                .map(|(k, _)| (crate::config::edit_distance(name, k), *k))
                .filter(|(d, _)| *d <= 3)
                .min()
                .map(|(_, k)| format!(" (did you mean --{k}?)"))
                .unwrap_or_default();
            let all: Vec<String> = known.iter().map(|(k, _)| format!("--{k}")).collect();
            return Err(FlagError(format!(
                "{field}: unknown flag --{name}{hint}; known flags: {}",
                all.join(", ")
            )));
        };
        let value: &'a str = match inline {
            Some(v) => v,
            None => words
                .next()
                .ok_or_else(|| FlagError(format!("{field}: --{canonical} needs a value")))?,
        };
        if matches!(kind, Kind::Words) {
            let mut text = value.to_owned();
            while let Some(w) = words.next_if(|w| !w.starts_with("--")) {
                text.push(' ');
                text.push_str(w);
            }
            out.push((canonical, V::Text(text)));
            continue;
        }
        let v = match kind {
            Kind::Bool => {
                if ENABLED.contains(&value) {
                    V::Bool(true)
                } else if DISABLED.contains(&value) {
                    V::Bool(false)
                } else {
                    return Err(FlagError(format!(
                        "{field}: --{canonical} {value:?} is not a boolean word; use one of {} or {}",
                        ENABLED.join("/"),
                        DISABLED.join("/")
                    )));
                }
            }
            Kind::Text | Kind::Words => V::Text(value.to_owned()),
            Kind::Port => V::Port(value.parse::<u16>().ok().filter(|p| *p != 0).ok_or_else(
                || {
                    FlagError(format!(
                        "{field}: --{canonical} {value:?} is not a port (1-65535)"
                    ))
                },
            )?),
            Kind::PortRange => {
                let range = value.split_once('-').and_then(|(a, b)| {
                    let (a, b) = (a.parse::<u16>().ok()?, b.parse::<u16>().ok()?);
                    (a > 0 && a < b).then_some((a, b))
                });
                match range {
                    Some((a, b)) => V::Range(a, b),
                    None => {
                        return Err(FlagError(format!(
                            "{field}: --{canonical} {value:?} is not a port range (LOW-HIGH, e.g. 16000-16999)"
                        )));
                    }
                }
            }
            Kind::Choice(choices) => {
                if let Some(c) = choices.iter().find(|c| c.eq_ignore_ascii_case(value)) {
                    V::Text((*c).to_owned())
                } else {
                    return Err(FlagError(format!(
                        "{field}: --{canonical} {value:?}; accepted: {}",
                        choices.join(", ")
                    )));
                }
            }
        };
        out.push((canonical, v));
    }
    Ok(out)
}

fn as_bool(v: &V) -> bool {
    matches!(v, V::Bool(true))
}

fn as_text(v: V) -> String {
    match v {
        V::Text(s) => s,
        V::Bool(b) => b.to_string(),
        V::Port(p) => p.to_string(),
        V::Range(a, b) => format!("{a}-{b}"),
    }
}

/// Parses `sip_global.global_options`.
///
/// # Errors
/// An unknown flag or a bad value, named.
pub fn parse_global(text: &str) -> Result<GlobalFlags, FlagError> {
    let mut g = GlobalFlags::default();
    for (name, v) in parse_flags("sip_global.global_options", text, GLOBAL)? {
        match name {
            "stun-server" => g.stun_server = Some(as_text(v)),
            "udp" => g.udp = as_bool(&v),
            "tcp" => g.tcp = as_bool(&v),
            "tls" => g.tls = as_bool(&v),
            "tls-port" => g.tls_port = if let V::Port(p) = v { p } else { 5061 },
            "debug-headers" => g.debug_headers = as_bool(&v),
            "rtp-port-range" => {
                if let V::Range(a, b) = v {
                    g.rtp_ports = Some(a..=b);
                }
            }
            "codecs" => g.codecs = parse_codecs(&as_text(v))?,
            "tls-verify-server" => g.tls_verify_server = as_bool(&v),
            "tls-cert" => g.tls_cert = Some(as_text(v)),
            "tls-key" => g.tls_key = Some(as_text(v)),
            "recording-channels" => {
                g.recording_channels =
                    hasip_engine::RecordingChannels::parse(&as_text(v)).unwrap_or_default();
            }
            "call-rate-limit" => {
                let text = as_text(v);
                let n = text
                    .trim()
                    .parse::<u32>()
                    .ok()
                    .filter(|n| *n <= 10_000)
                    .ok_or_else(|| {
                        FlagError(format!(
                            "sip_global.global_options: --call-rate-limit: {text:?} is not a number of calls a second (0-10000; 0: no limit)"
                        ))
                    })?;
                g.call_rate = hasip_sip::admission::CallRate {
                    per_second: n,
                    burst: n.saturating_mul(5),
                };
            }
            "dtmf-tone" | "dtmf-gap" => {
                let text = as_text(v);
                let (min, max) = if name == "dtmf-tone" {
                    (20, 5000)
                } else {
                    (0, 5000)
                };
                let ms = text
                    .trim()
                    .parse::<u64>()
                    .ok()
                    .filter(|m| (min..=max).contains(m))
                    .ok_or_else(|| {
                        FlagError(format!(
                            "sip_global.global_options: --{name}: {text:?} is not milliseconds ({min}-{max})"
                        ))
                    })?;
                let d = std::time::Duration::from_millis(ms);
                if name == "dtmf-tone" {
                    g.dtmf_timing.tone = d;
                } else {
                    g.dtmf_timing.pause = d;
                }
            }
            _ => {}
        }
    }
    Ok(g)
}

/// Headers the gateway writes itself: `--header` may not set them.
const MANAGED_HEADERS: &[&str] = &[
    "via",
    "v",
    "from",
    "f",
    "to",
    "t",
    "call-id",
    "i",
    "cseq",
    "contact",
    "m",
    "content-length",
    "l",
    "content-type",
    "c",
    "max-forwards",
    "route",
    "record-route",
    "authorization",
    "proxy-authorization",
    "expires",
    "allow",
    "supported",
    "k",
];

/// `NAME: VALUE` of `--header`: a header name (RFC 3261 token) the gateway does not write
/// itself, and a value of one line.
fn parse_header(field: &str, text: &str) -> Result<(String, String), FlagError> {
    let bad = |why: &str| FlagError(format!("{field}: --header {text:?}: {why}"));
    let (name, value) = text
        .split_once(':')
        .ok_or_else(|| bad("write it as NAME: VALUE, e.g. --header X-Tenant: home"))?;
    let (name, value) = (name.trim(), value.trim());
    let token = |c: char| c.is_ascii_alphanumeric() || "-.!%*_+`'~".contains(c);
    if name.is_empty() || !name.chars().all(token) {
        return Err(bad("the name is not a SIP header name"));
    }
    if MANAGED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
        return Err(bad("the gateway writes this header itself"));
    }
    if value.is_empty() || value.chars().any(char::is_control) {
        return Err(bad("the value is empty or not one line"));
    }
    Ok((name.to_owned(), value.to_owned()))
}

/// Account flags ha-sip has that change nothing here (docs/compatibility.md says why):
/// accepted, so that copied options keep working, and named in a warning at start-up.
pub const IGNORED_ACCOUNT_FLAGS: &[&str] = &[
    "ice",
    "use-sip-outbound",
    "turn-server",
    "turn-connection-type",
    "turn-user",
    "turn-password",
];

/// Parses an account's `options`; `field` names it in errors (`sip_2.options`).
///
/// # Errors
/// An unknown flag or a bad value, named.
pub fn parse_account(field: &str, text: &str) -> Result<AccountFlags, FlagError> {
    let mut a = AccountFlags::default();
    for (name, v) in parse_flags(field, text, ACCOUNT)? {
        if IGNORED_ACCOUNT_FLAGS.contains(&name) && !a.ignored.contains(&name) {
            a.ignored.push(name);
        }
        match name {
            "proxy" => a.proxy = Some(as_text(v)),
            "header" => a.headers.push(parse_header(field, &as_text(v))?),
            "can-call" => a.can_call = as_bool(&v),
            "can-be-called" => a.can_be_called = as_bool(&v),
            "allow-calls-from" => {
                let text = as_text(v);
                let nets = hasip_sip::admission::parse_networks(&text)
                    .map_err(|e| FlagError(format!("{field}: --allow-calls-from: {e}")))?;
                a.allow_calls_from.get_or_insert_with(Vec::new).extend(nets);
            }
            "ice" => a.ice = as_bool(&v),
            "use-stun-for-sip" => a.use_stun_for_sip = as_bool(&v),
            "use-stun-for-media" => a.use_stun_for_media = as_bool(&v),
            "use-contact-rewrite" => a.use_contact_rewrite = as_bool(&v),
            "use-via-rewrite" => a.use_via_rewrite = as_bool(&v),
            "use-sdp-nat-rewrite" => a.use_sdp_nat_rewrite = as_bool(&v),
            "use-sip-outbound" => a.use_sip_outbound = as_bool(&v),
            "turn-server" => a.turn_server = Some(as_text(v)),
            "turn-connection-type" => a.turn_connection_type = as_text(v),
            "turn-user" => a.turn_user = Some(as_text(v)),
            "turn-password" => a.turn_password = Some(as_text(v)),
            "keepalive" => {
                let text = as_text(v);
                a.keepalive_secs = text
                    .trim()
                    .parse::<u32>()
                    .ok()
                    .filter(|s| *s <= 3600)
                    .ok_or_else(|| {
                        FlagError(format!(
                            "{field}: --keepalive: {text:?} is not a number of seconds (0-3600; 0 turns keep-alives off)"
                        ))
                    })?;
            }
            "register-expires" => {
                let text = as_text(v);
                a.register_expires = text
                    .trim()
                    .parse::<u32>()
                    .ok()
                    .filter(|s| (30..=86_400).contains(s))
                    .ok_or_else(|| {
                        FlagError(format!(
                            "{field}: --register-expires: {text:?} is not a number of seconds (30-86400)"
                        ))
                    })?;
            }
            "extract-headers" => {
                a.extract_headers = as_text(v)
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect();
            }
            _ => {}
        }
    }
    Ok(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_take_several_words_and_refuse_what_the_gateway_writes() {
        let a = parse_account(
            "sip_2.options",
            "--header X-Tenant: home assistant --proxy sip:p --header X-Site:7",
        )
        .unwrap();
        assert_eq!(
            a.headers,
            vec![
                ("X-Tenant".to_owned(), "home assistant".to_owned()),
                ("X-Site".to_owned(), "7".to_owned())
            ]
        );
        assert_eq!(a.proxy.as_deref(), Some("sip:p"));
        let e = parse_account("sip_2.options", "--header Via: x")
            .unwrap_err()
            .0;
        assert!(
            e.starts_with("sip_2.options: --header \"Via: x\": the gateway writes"),
            "{e}"
        );
        let e = parse_account("sip.options", "--header nocolon")
            .unwrap_err()
            .0;
        assert!(e.contains("NAME: VALUE"), "{e}");
        let a = parse_account("sip.options", "--can-call off --can-be-called yes").unwrap();
        assert!(!a.can_call && a.can_be_called);
    }

    #[test]
    fn flags_without_effect_are_listed_once_for_the_start_up_warning() {
        let a = parse_account(
            "sip.options",
            "--ice on --use-sip-outbound disabled --proxy sip:p --ice off --turn-user u \
             --use-sdp-nat-rewrite disabled",
        )
        .unwrap();
        assert_eq!(a.ignored, vec!["ice", "use-sip-outbound", "turn-user"]);
        assert!(!a.use_sdp_nat_rewrite);
        assert!(
            parse_account("sip.options", "--proxy sip:p --keepalive 5")
                .unwrap()
                .ignored
                .is_empty()
        );
    }

    #[test]
    fn keepalive_flag_takes_seconds_and_zero_turns_it_off() {
        assert_eq!(parse_account("sip.options", "").unwrap().keepalive_secs, 15);
        assert_eq!(
            parse_account("sip.options", "--keepalive 0")
                .unwrap()
                .keepalive_secs,
            0
        );
        let e = parse_account("sip_2.options", "--keepalive soon")
            .unwrap_err()
            .0;
        assert!(e.starts_with("sip_2.options: --keepalive: \"soon\""), "{e}");
    }

    #[test]
    fn dtmf_tone_and_gap_take_milliseconds() {
        let g = parse_global("--dtmf-tone 400 --dtmf-gap 100").unwrap();
        assert_eq!(g.dtmf_timing.tone, std::time::Duration::from_millis(400));
        assert_eq!(g.dtmf_timing.pause, std::time::Duration::from_millis(100));
        assert_eq!(
            parse_global("").unwrap().dtmf_timing,
            hasip_engine::DtmfTiming::default()
        );
        let e = parse_global("--dtmf-tone 5").unwrap_err().0;
        assert!(
            e.contains("--dtmf-tone: \"5\" is not milliseconds (20-5000)"),
            "{e}"
        );
    }

    #[test]
    fn register_expires_takes_seconds_in_a_sane_range() {
        assert_eq!(
            parse_account("sip.options", "").unwrap().register_expires,
            300
        );
        assert_eq!(
            parse_account("sip.options", "--register-expires 120")
                .unwrap()
                .register_expires,
            120
        );
        let e = parse_account("sip_3.options", "--register-expires 5")
            .unwrap_err()
            .0;
        assert!(
            e.starts_with("sip_3.options: --register-expires: \"5\""),
            "{e}"
        );
    }

    #[test]
    fn codecs_flag_sets_the_preference_and_names_bad_codecs() {
        use hasip_sip::sdp::Codec;
        assert_eq!(parse_global("").unwrap().codecs, DEFAULT_CODECS.to_vec());
        assert_eq!(
            parse_global("--codecs PCMA,g722,pcma").unwrap().codecs,
            vec![Codec::Pcma, Codec::G722]
        );
        let e = parse_global("--codecs pcmu,gsm").unwrap_err().0;
        assert!(
            e.contains("unknown codec \"gsm\"") && e.contains("known: opus"),
            "{e}"
        );
        let e = parse_global("--codecs ,").unwrap_err().0;
        assert!(e.contains("at least one"), "{e}");
    }

    #[test]
    fn recording_channels_flag_is_stereo_by_default_and_names_a_bad_value() {
        use hasip_engine::RecordingChannels;
        assert_eq!(
            parse_global("").unwrap().recording_channels,
            RecordingChannels::Stereo
        );
        assert_eq!(
            parse_global("--recording-channels=MONO")
                .unwrap()
                .recording_channels,
            RecordingChannels::Mono
        );
        let e = parse_global("--recording-channels quad").unwrap_err().0;
        assert!(
            e.contains("--recording-channels") && e.contains("quad"),
            "{e}"
        );
    }

    #[test]
    fn both_spellings_last_wins_and_defaults() {
        let g =
            parse_global("--tls on --tls-port=5062 --udp disabled --tls off --tls yes").unwrap();
        assert!(g.tls && !g.udp && g.tcp);
        assert_eq!(g.tls_port, 5062);
        assert_eq!(parse_global("").unwrap(), GlobalFlags::default());
        assert_eq!(
            parse_global("--rtp-port-range 16000-16999")
                .unwrap()
                .rtp_ports,
            Some(16000..=16999)
        );
        assert!(
            parse_global("--rtp-port-range 17000-16000")
                .unwrap_err()
                .0
                .contains("is not a port range")
        );
        let a = parse_account("sip.options", "--proxy sip:proxy.example.com;lr --ice disabled --extract-headers X-Foo,P-Called-Party-ID").unwrap();
        assert_eq!(a.proxy.as_deref(), Some("sip:proxy.example.com;lr"));
        assert!(!a.ice);
        assert_eq!(a.extract_headers, vec!["X-Foo", "P-Called-Party-ID"]);
    }

    #[test]
    fn errors_name_the_field_and_flag() {
        assert_eq!(
            parse_global("--tsl on").unwrap_err().0,
            "sip_global.global_options: unknown flag --tsl (did you mean --tls?); known flags: --stun-server, --udp, --tcp, --tls, --tls-port, --debug-headers, --rtp-port-range, --codecs, --tls-verify-server, --recording-channels, --tls-cert, --tls-key, --dtmf-tone, --dtmf-gap, --call-rate-limit"
        );
        assert!(
            parse_global("--tls Enabled")
                .unwrap_err()
                .0
                .contains("--tls \"Enabled\" is not a boolean word")
        );
        assert!(
            parse_global("--tls-port 70000")
                .unwrap_err()
                .0
                .contains("not a port")
        );
        assert!(
            parse_account("sip_3.options", "--proxy")
                .unwrap_err()
                .0
                .starts_with("sip_3.options: --proxy needs a value")
        );
        assert!(
            parse_account("sip.options", "--turn-connection-type sctp")
                .unwrap_err()
                .0
                .contains("accepted: tcp, udp, tls")
        );
        assert!(
            parse_account("sip.options", "proxy")
                .unwrap_err()
                .0
                .contains("flags start with --")
        );
    }
}
