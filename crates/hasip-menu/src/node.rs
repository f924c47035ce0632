//! A small document tree that both YAML and JSON input become, so that one schema reader
//! (with key paths and, for YAML, positions) serves files and commands alike.

use crate::error::Position;

/// A value with the place it was written (YAML only).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    pub(crate) value: Value,
    pub(crate) at: Option<Position>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Scalar(Scalar),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

/// A scalar keeps the text as written next to what it resolved to, so that a choice key
/// `0042` stays `"0042"` and a string field given as `yes` reads `"yes"`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Scalar {
    pub(crate) text: String,
    pub(crate) kind: ScalarKind,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum ScalarKind {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str,
    /// The plain YAML merge key `<<`.
    Merge,
}

/// Deepest nesting of collections accepted (menus nest two levels per sub-menu).
pub(crate) const MAX_DEPTH: usize = 64;
/// Most nodes in one document, counting the copies that aliases make.
pub(crate) const MAX_NODES: usize = 100_000;

impl Node {
    pub(crate) fn describe(&self) -> &'static str {
        match &self.value {
            Value::Scalar(s) => match s.kind {
                ScalarKind::Null => "null",
                ScalarKind::Bool(_) => "a boolean",
                ScalarKind::Int(_) => "an integer",
                ScalarKind::Float(_) => "a number",
                ScalarKind::Str | ScalarKind::Merge => "a string",
            },
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }

    pub(crate) fn is_null(&self) -> bool {
        matches!(
            &self.value,
            Value::Scalar(Scalar {
                kind: ScalarKind::Null,
                ..
            })
        )
    }

    /// Converts JSON (a command's menu) into the same tree; there are no positions.
    ///
    /// # Errors
    /// Nesting deeper than [`MAX_DEPTH`].
    pub(crate) fn from_json(v: &serde_json::Value) -> Result<Node, String> {
        from_json_at(v, 0)
    }

    /// Converts back to JSON, for actions, which are handed on as commands.
    ///
    /// # Errors
    /// A non-finite float (YAML `.nan`, `.inf`), which JSON cannot carry.
    pub(crate) fn to_json(&self) -> Result<serde_json::Value, String> {
        use serde_json::Value as J;
        Ok(match &self.value {
            Value::Scalar(s) => match s.kind {
                ScalarKind::Null => J::Null,
                ScalarKind::Bool(b) => J::Bool(b),
                ScalarKind::Int(i) => J::from(i),
                ScalarKind::Float(x) => serde_json::Number::from_f64(x)
                    .map(J::Number)
                    .ok_or_else(|| format!("{} is not a finite number", s.text))?,
                ScalarKind::Str | ScalarKind::Merge => J::String(s.text.clone()),
            },
            Value::Seq(items) => {
                J::Array(items.iter().map(Node::to_json).collect::<Result<_, _>>()?)
            }
            Value::Map(entries) => {
                let mut m = serde_json::Map::new();
                for (k, v) in entries {
                    m.insert(k.key_text().unwrap_or_default(), v.to_json()?);
                }
                J::Object(m)
            }
        })
    }

    /// The text of a scalar used as a mapping key.
    pub(crate) fn key_text(&self) -> Option<String> {
        match &self.value {
            Value::Scalar(s) => Some(s.text.clone()),
            _ => None,
        }
    }
}

fn from_json_at(v: &serde_json::Value, depth: usize) -> Result<Node, String> {
    use serde_json::Value as J;
    if depth > MAX_DEPTH {
        return Err(format!("nesting deeper than {MAX_DEPTH} levels"));
    }
    let scalar = |text: String, kind| Value::Scalar(Scalar { text, kind });
    let value = match v {
        J::Null => scalar(String::new(), ScalarKind::Null),
        J::Bool(b) => scalar(b.to_string(), ScalarKind::Bool(*b)),
        J::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => scalar(n.to_string(), ScalarKind::Int(i)),
            (None, Some(x)) => scalar(n.to_string(), ScalarKind::Float(x)),
            (None, None) => scalar(n.to_string(), ScalarKind::Str),
        },
        J::String(s) => scalar(s.clone(), ScalarKind::Str),
        J::Array(items) => Value::Seq(
            items
                .iter()
                .map(|i| from_json_at(i, depth + 1))
                .collect::<Result<_, _>>()?,
        ),
        J::Object(m) => Value::Map(
            m.iter()
                .map(|(k, v)| {
                    let key = Node {
                        value: scalar(k.clone(), ScalarKind::Str),
                        at: None,
                    };
                    Ok((key, from_json_at(v, depth + 1)?))
                })
                .collect::<Result<_, String>>()?,
        ),
    };
    Ok(Node { value, at: None })
}

/// Resolves a plain (unquoted) YAML scalar the way ha-sip's PyYAML did, with two fixes:
/// integers are decimal only, so `0042` (octal to PyYAML) and `1:30` (sexagesimal) stay
/// strings with their digits; and the boolean words match in any case.
pub(crate) fn resolve_plain(text: &str) -> ScalarKind {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return ScalarKind::Null,
        "<<" => return ScalarKind::Merge,
        _ => {}
    }
    if let Some(b) = bool_word(text) {
        return ScalarKind::Bool(b);
    }
    if let Some(i) = decimal_int(text) {
        return ScalarKind::Int(i);
    }
    if let Some(x) = float(text) {
        return ScalarKind::Float(x);
    }
    ScalarKind::Str
}

/// `yes/no/on/off/true/false` in any case: what PyYAML reads as booleans (it knows three
/// casings of each; ha-sip-rs accepts all).
pub(crate) fn bool_word(text: &str) -> Option<bool> {
    const TRUE: [&str; 3] = ["true", "yes", "on"];
    const FALSE: [&str; 3] = ["false", "no", "off"];
    if TRUE.iter().any(|w| w.eq_ignore_ascii_case(text)) {
        Some(true)
    } else if FALSE.iter().any(|w| w.eq_ignore_ascii_case(text)) {
        Some(false)
    } else {
        None
    }
}

fn decimal_int(text: &str) -> Option<i64> {
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    let first = digits.chars().next()?;
    if !first.is_ascii_digit() || (first == '0' && digits.len() > 1) {
        return None;
    }
    if !digits.chars().all(|c| c.is_ascii_digit() || c == '_') {
        return None;
    }
    text.replace('_', "").parse().ok()
}

fn float(text: &str) -> Option<f64> {
    match text.to_ascii_lowercase().as_str() {
        ".inf" | "+.inf" => return Some(f64::INFINITY),
        "-.inf" => return Some(f64::NEG_INFINITY),
        ".nan" => return Some(f64::NAN),
        _ => {}
    }
    let body = text.strip_prefix(['-', '+']).unwrap_or(text);
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    let (int_part, frac) = match mantissa.split_once('.') {
        Some((a, b)) => (a, Some(b)),
        None => (mantissa, None),
    };
    let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    let ok_mantissa = match frac {
        Some(f) => digits(int_part) && digits(f) && !(int_part.is_empty() && f.is_empty()),
        None => !int_part.is_empty() && digits(int_part),
    };
    let ok_exponent = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    // A leading zero before more digits without a point is the octal-looking case that
    // stays a string (`0042`), like for integers.
    let leading_zero = frac.is_none() && int_part.len() > 1 && int_part.starts_with('0');
    if ok_mantissa && ok_exponent && !leading_zero {
        text.parse().ok()
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_scalars_resolve_like_pyyaml_with_decimal_integers() {
        assert_eq!(resolve_plain("yes"), ScalarKind::Bool(true));
        assert_eq!(resolve_plain("OFF"), ScalarKind::Bool(false));
        assert_eq!(resolve_plain("tRuE"), ScalarKind::Bool(true));
        assert_eq!(resolve_plain("~"), ScalarKind::Null);
        assert_eq!(resolve_plain("1234"), ScalarKind::Int(1234));
        assert_eq!(resolve_plain("-5"), ScalarKind::Int(-5));
        assert_eq!(resolve_plain("0"), ScalarKind::Int(0));
        assert_eq!(resolve_plain("0042"), ScalarKind::Str);
        assert_eq!(resolve_plain("1:30"), ScalarKind::Str);
        assert_eq!(resolve_plain("0x1f"), ScalarKind::Str);
        assert_eq!(resolve_plain("1.5"), ScalarKind::Float(1.5));
        assert_eq!(resolve_plain(".5"), ScalarKind::Float(0.5));
        assert_eq!(resolve_plain("1e3"), ScalarKind::Float(1000.0));
        assert_eq!(resolve_plain("."), ScalarKind::Str);
        assert_eq!(resolve_plain("1e"), ScalarKind::Str);
        assert_eq!(resolve_plain("**620"), ScalarKind::Str);
        assert_eq!(
            resolve_plain("99999999999999999999"),
            ScalarKind::Float(1e20)
        );
    }
}
