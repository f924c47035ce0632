//! The command parser (`hasip_bus::parse_command`, `parse_line`) fed arbitrary JSON: every
//! verb with fields of every type, random and hostile strings (huge numbers, "NaN",
//! "inf", control characters), deep nesting. It never panics, and every error names the
//! field at fault or says what was expected, so that the log line (and the MQTT state
//! message) tells the user what to fix.

use hasip_bus::{BusError, VERBS, parse_command, parse_line};
use proptest::prelude::*;
use serde_json::{Map, Number, Value, json};

/// Every field any verb reads (ha-sip spec §3.4, plus `reject`'s `code`).
const FIELDS: &[&str] = &[
    "command",
    "number",
    "menu",
    "ring_timeout",
    "sip_account",
    "webhook_to_call",
    "code",
    "transfer_to",
    "bridge_to",
    "digits",
    "method",
    "message",
    "tts_language",
    "handle_as_template",
    "cache_audio",
    "wait_for_audio_to_finish",
    "post_action",
    "audio_file",
    "recording_file",
    "domain",
    "service",
    "entity_id",
    "service_data",
    "numbers",
    "acknowledge_digit",
    "acknowledge_timeout",
    "id",
];

/// The keys of a menu object, which often sit beside a command's fields by mistake.
const MENU_KEYS: &[&str] = &hasip_menu::MENU_KEYS;

/// Verbs whose only required field is `number`.
const NUMBER_VERBS: &[&str] = &[
    "hangup",
    "answer",
    "stop_playback",
    "stop_recording",
    "dial",
];

/// Strings that have broken parsers before: number-like text, special floats, ids,
/// escapes, control and wide characters.
const NASTY: &[&str] = &[
    "",
    " ",
    "NaN",
    "nan",
    "-NaN",
    "inf",
    "-inf",
    "Infinity",
    "1e309",
    "-1e309",
    "1e-400",
    "0x10",
    "99999999999999999999999999999999",
    "-1",
    "0",
    "3",
    "255",
    "256",
    "1.5",
    "15",
    "self",
    "sip:**620@fritz.box",
    "\"Ferdy\" <sip:0123@fritz.box>",
    "hangup",
    "return 99999999999999999999",
    "jump ",
    "in_band",
    "rfc2833",
    "sip_info",
    "123#*ABCD",
    "\u{0}",
    "\u{1b}[31m",
    "\u{feff}",
    "𝄞🎵",
    "a\nb",
    "{\"command\": \"dial\"}",
    "/config/audio/welcome.mp3",
    "../../../../etc/passwd",
];

/// Numbers JSON can carry, from zero to the edges of i64, u64 and f64.
fn number() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (0i64..5).prop_map(Value::from),
        (300i64..800).prop_map(Value::from),
        any::<f64>()
            .prop_filter_map("finite", Number::from_f64)
            .prop_map(Value::Number),
        Just(json!(f64::MAX)),
        Just(json!(f64::MIN_POSITIVE)),
        Just(json!(-0.0)),
        Just(json!(u64::MAX)),
        Just(json!(i64::MIN)),
    ]
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::sample::select(NASTY).prop_map(str::to_owned),
        any::<String>(),
        "[ -~]{0,40}",
        "[0-9*#A-D]{1,12}",
    ]
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        number(),
        text().prop_map(Value::String),
    ]
}

/// Any JSON value, nested a few levels, with keys that are often real field names.
fn any_json() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(5, 64, 8, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::vec((key(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// A field's value: mostly a scalar of any type, sometimes a nested value.
fn field_value() -> impl Strategy<Value = Value> {
    prop_oneof![6 => leaf(), 1 => any_json()]
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => proptest::sample::select(FIELDS).prop_map(str::to_owned),
        1 => proptest::sample::select(MENU_KEYS).prop_map(str::to_owned),
        1 => text(),
    ]
}

fn verb() -> impl Strategy<Value = Value> {
    prop_oneof![
        6 => proptest::sample::select(VERBS).prop_map(Value::from),
        1 => Just(Value::from("reject")),
        1 => Just(Value::Null),
        1 => text().prop_map(Value::String),
        1 => leaf(),
    ]
}

/// A command object: a verb and fields of every type, real field names mostly.
fn command() -> impl Strategy<Value = Value> {
    (
        verb(),
        proptest::collection::vec((key(), any_json()), 0..8),
        any::<bool>(),
    )
        .prop_map(|(verb, fields, with_verb)| {
            let mut m = Map::new();
            if with_verb {
                m.insert("command".into(), verb);
            }
            for (k, v) in fields {
                m.insert(k, v);
            }
            Value::Object(m)
        })
}

/// A menu nested `depth` levels through `choices`.
fn deep_menu(depth: usize, leaf: Value) -> Value {
    let mut menu = json!({"message": "bottom", "post_action": leaf});
    for i in 0..depth {
        menu = json!({"id": format!("m{i}"), "choices": {"1": menu}});
    }
    menu
}

/// An error "names a field or says what was expected": it starts with a field name (or a
/// `webhook_to_call.<event>` path, or the pair `domain, service`), or it says the line is
/// not JSON or not an object.
fn names_its_field(e: &BusError) -> bool {
    let m = e.0.as_str();
    let field = FIELDS.iter().any(|f| m.starts_with(&format!("{f}: ")))
        || m.starts_with("webhook_to_call.")
        || m.starts_with("numbers[")
        || m.starts_with("domain, service: ");
    let expected = m.starts_with("not an object: ") || m.starts_with("not JSON (");
    let says_what = [
        "expected",
        "required",
        "must be",
        "is not",
        "unknown",
        "did you mean",
        "not ",
        "deeper than",
        "out of range",
        "cannot",
        "needs",
        "no ",
    ]
    .iter()
    .any(|w| m.contains(w));
    (field || expected) && says_what && !m.trim().is_empty()
}

fn check(value: &Value) -> Result<(), TestCaseError> {
    let direct = check_value(value)?;
    // A command reads the same from stdin (one JSON line) as from MQTT (a JSON value).
    let line = parse_line(&value.to_string());
    if has_fraction(value) {
        // serde_json reads a float from text to within one ulp, not always exactly.
        prop_assert_eq!(
            direct.is_ok(),
            line.is_ok(),
            "stdin and MQTT disagree on {}",
            value
        );
    } else {
        prop_assert_eq!(&direct, &line, "stdin and MQTT disagree on {}", value);
    }
    Ok(())
}

fn has_fraction(v: &Value) -> bool {
    match v {
        Value::Number(n) => n.is_f64(),
        Value::Array(a) => a.iter().any(has_fraction),
        Value::Object(m) => m.values().any(has_fraction),
        _ => false,
    }
}

/// Parses a JSON value; an error must name its field.
fn check_value(value: &Value) -> Result<Result<hasip_bus::Request, BusError>, TestCaseError> {
    let direct = parse_command(value);
    if let Err(e) = &direct {
        prop_assert!(
            names_its_field(e),
            "unhelpful error {:?} for {}",
            e.0,
            value
        );
    }
    Ok(direct)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_json_never_panics_and_errors_name_their_field(v in any_json()) {
        check(&v)?;
    }

    #[test]
    fn commands_with_fields_of_every_type(v in command()) {
        check(&v)?;
    }

    #[test]
    fn every_verb_with_random_values_in_its_fields(
        verb in proptest::sample::select(VERBS),
        values in proptest::collection::vec(field_value(), FIELDS.len()),
        keep in proptest::collection::vec(any::<bool>(), FIELDS.len()),
    ) {
        let mut m = Map::new();
        m.insert("command".into(), Value::from(verb));
        for ((f, v), k) in FIELDS.iter().zip(values).zip(keep) {
            if k && *f != "command" {
                m.insert((*f).into(), v);
            }
        }
        check(&Value::Object(m))?;
    }

    #[test]
    fn arbitrary_lines_never_panic(line in prop_oneof![any::<String>(), "[\\[\\]{}\":,0-9a-z ]{0,200}"]) {
        if let Err(e) = parse_line(&line) {
            prop_assert!(names_its_field(&e), "unhelpful error {:?} for {:?}", e.0, line);
        }
    }

    #[test]
    fn unknown_fields_are_ignored_as_ha_sip_ignores_them(
        v in command(),
        extra in "x_[a-z]{1,10}",
        value in any_json(),
    ) {
        let mut with = v.clone();
        if let Value::Object(m) = &mut with {
            m.insert(extra, value);
        }
        prop_assert_eq!(parse_command(&v), parse_command(&with));
    }

    #[test]
    fn a_number_reads_as_its_text(verb in proptest::sample::select(NUMBER_VERBS), n in any::<u64>()) {
        let as_number = json!({"command": verb, "number": n});
        let as_text = json!({"command": verb, "number": n.to_string()});
        prop_assert_eq!(parse_command(&as_number), parse_command(&as_text));
    }

}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn deep_menus_are_refused_with_the_field_or_accepted(depth in 0usize..150, post in leaf()) {
        // Deeper than serde_json's recursion limit as text, so each path on its own.
        let v = json!({"command": "dial", "number": "sip:a@b", "menu": deep_menu(depth, post)});
        let _ = check_value(&v)?;
        if let Err(e) = parse_line(&v.to_string()) {
            prop_assert!(names_its_field(&e), "unhelpful error {:?}", e.0);
        }
    }
}

#[test]
fn huge_numbers_nan_and_deep_nesting_in_the_text() {
    let lines = [
        format!(
            r#"{{"command":"dial","number":"sip:a@b","ring_timeout":{}}}"#,
            "9".repeat(400)
        ),
        format!(r#"{{"command":"hangup","number":{}}}"#, "9".repeat(400)),
        format!(
            r#"{{"command":"dial","number":"sip:a@b","sip_account":{}}}"#,
            "1".repeat(30)
        ),
        r#"{"command":"dial","number":"sip:a@b","ring_timeout":NaN}"#.to_owned(),
        r#"{"command":"dial","number":"sip:a@b","ring_timeout":"NaN"}"#.to_owned(),
        r#"{"command":"dial","number":"sip:a@b","ring_timeout":"-inf"}"#.to_owned(),
        r#"{"command":"dial","number":"sip:a@b","ring_timeout":1e309}"#.to_owned(),
        r#"{"command":"reject","number":"x","code":1e3}"#.to_owned(),
        r#"{"command":"reject","number":"x","code":-486}"#.to_owned(),
        format!("{}{}", "[".repeat(10_000), "]".repeat(10_000)),
        format!(
            r#"{{"command":"dial","number":"x","menu":{}1{}}}"#,
            "{\"a\":".repeat(5_000),
            "}".repeat(5_000)
        ),
        format!(
            r#"{{"command":"call_service","domain":"a","service":"b","service_data":{}1{}}}"#,
            "[".repeat(100),
            "]".repeat(100)
        ),
        "\u{feff}{\"command\":\"state\"}".to_owned(),
        String::new(),
        "null".to_owned(),
        "\"hangup\"".to_owned(),
        "[{\"command\":\"quit\"}]".to_owned(),
    ];
    for line in &lines {
        if let Err(e) = parse_line(line) {
            let shown: String = line.chars().take(80).collect();
            assert!(names_its_field(&e), "unhelpful error {:?} for {shown}", e.0);
        }
    }
    // Deep menus through JSON values (no text parser in the way): refused, naming menu.
    let v =
        json!({"command": "dial", "number": "sip:a@b", "menu": deep_menu(100, json!("hangup"))});
    let e = parse_command(&v).expect_err("a menu 100 levels deep");
    assert!(e.0.starts_with("menu: "), "{}", e.0);
    // And a plain valid line of each verb parses: the properties above are not vacuous.
    for line in [
        r#"{"command":"dial","number":"sip:**620@fritz.box","ring_timeout":15,"sip_account":1}"#,
        r#"{"command":"hangup","number":"5551234456"}"#,
        r#"{"command":"send_dtmf","number":"x","digits":"123#","method":"rfc2833"}"#,
        r#"{"domain":"switch","service":"turn_on","entity_id":"switch.door"}"#,
    ] {
        assert!(parse_line(line).is_ok(), "{line}: {:?}", parse_line(line));
    }
}
