//! The `incoming_call_file` (spec §4.2): who is answered, after how long, which per-call
//! webhooks, and the menu; and the number patterns with `{*}` and `{?}` (spec §4.4).

use std::fmt;
use std::time::Duration;

use crate::model::Menu;

/// An account's `answer_mode` (spec §4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerMode {
    /// Let the call ring; Home Assistant may `answer` it.
    Listen,
    /// Answer after `answer_after`.
    Accept,
}

/// A parsed `incoming_call_file`. The default (an empty file) answers every caller at once
/// in accept mode with the standard menu.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct IncomingCallFile {
    /// `allowed_numbers`: in accept mode, only these callers are answered. Empty: absent.
    pub allowed_numbers: Vec<NumberPattern>,
    /// `blocked_numbers`: in accept mode, these callers are not answered. Empty: absent.
    /// Never given together with `allowed_numbers` (a load error).
    pub blocked_numbers: Vec<NumberPattern>,
    /// `answer_after`: delay before 200 OK in accept mode (fractions of a second count).
    pub answer_after: Duration,
    /// `webhook_to_call`: event name to webhook id, in the order written.
    pub webhook_to_call: Vec<(String, String)>,
    /// `menu`; absent means the standard menu.
    pub menu: Option<Menu>,
}

impl IncomingCallFile {
    /// Whether a call from `caller` (the parsed caller number, spec §4.6) is answered, for
    /// an account configured with `configured` (spec §4.3). A caller that is not
    /// answered keeps ringing, as in listen mode.
    #[must_use]
    pub fn answer_mode(&self, configured: AnswerMode, caller: Option<&str>) -> AnswerMode {
        if configured == AnswerMode::Listen {
            return AnswerMode::Listen;
        }
        let matches =
            |list: &[NumberPattern]| caller.is_some_and(|c| list.iter().any(|p| p.matches(c)));
        match (
            self.allowed_numbers.is_empty(),
            self.blocked_numbers.is_empty(),
        ) {
            // Both lists at once cannot be loaded; should a caller build one by hand,
            // answer nobody, as ha-sip does.
            (false, false) => AnswerMode::Listen,
            (false, true) if matches(&self.allowed_numbers) => AnswerMode::Accept,
            (false, true) => AnswerMode::Listen,
            (true, false) if matches(&self.blocked_numbers) => AnswerMode::Listen,
            _ => AnswerMode::Accept,
        }
    }

    /// The webhook id configured for `event`, if any.
    #[must_use]
    pub fn webhook_for(&self, event: &str) -> Option<&str> {
        self.webhook_to_call
            .iter()
            .find(|(e, _)| e == event)
            .map(|(_, id)| id.as_str())
    }
}

/// A number pattern of `allowed_numbers`/`blocked_numbers`: matches the whole number,
/// case-sensitively; `{*}` is any run of characters (also none), `{?}` exactly one
/// character; everything else, `*`, `#`, `+` and `.` included, is literal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumberPattern {
    text: String,
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Char(char),
    One,
    Any,
}

impl NumberPattern {
    /// Reads a pattern; every text is a valid pattern.
    #[must_use]
    pub fn new(text: &str) -> Self {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(c) = rest.chars().next() {
            if let Some(r) = rest.strip_prefix("{*}") {
                parts.push(Part::Any);
                rest = r;
            } else if let Some(r) = rest.strip_prefix("{?}") {
                parts.push(Part::One);
                rest = r;
            } else {
                parts.push(Part::Char(c));
                rest = &rest[c.len_utf8()..];
            }
        }
        Self {
            text: text.to_owned(),
            parts,
        }
    }

    /// The pattern as written.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether `number` matches the whole pattern.
    #[must_use]
    pub fn matches(&self, number: &str) -> bool {
        // Wildcard matching with one backtrack point (the last `{*}`): linear in practice,
        // at worst pattern length times number length.
        let s: Vec<char> = number.chars().collect();
        let p = &self.parts;
        let (mut i, mut j) = (0, 0);
        let mut star: Option<(usize, usize)> = None;
        while i < s.len() {
            match p.get(j) {
                Some(Part::Char(c)) if *c == s[i] => {
                    i += 1;
                    j += 1;
                }
                Some(Part::One) => {
                    i += 1;
                    j += 1;
                }
                Some(Part::Any) => {
                    star = Some((j, i));
                    j += 1;
                }
                _ => match star {
                    Some((sj, si)) => {
                        j = sj + 1;
                        i = si + 1;
                        star = Some((sj, si + 1));
                    }
                    None => return false,
                },
            }
        }
        p[j.min(p.len())..].iter().all(|x| *x == Part::Any)
    }
}

impl fmt::Display for NumberPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pattern: &str, number: &str) -> bool {
        NumberPattern::new(pattern).matches(number)
    }

    /// The unit-tested examples of ha-sip (spec §4.4), all of them.
    #[test]
    fn spec_4_4_wildcards() {
        assert!(m("12345", "12345"));
        assert!(!m("12345", "1234"));
        assert!(m("1234{*}", "123456"));
        assert!(!m("1234{?}", "123456"));
        for p in ["1234{?}", "1{*}5", "12{?}45", "{*}45", "{?}2345"] {
            assert!(m(p, "12345"), "{p}");
        }
        assert!(!m("{?}345", "12345"));
        assert!(m("**620", "**620"));
        assert!(m("**{*}", "**620"));
        assert!(m("555{?}", "5551"));
        assert!(!m("555{?}", "555"));
        assert!(!m("555{?}", "55512"));
        assert!(m("{*}", ""));
        assert!(m("+49{*}", "+4930123"));
        assert!(!m("1.5", "105"), ". is literal");
        assert!(m("{*}{*}9", "99"));
        assert!(m("a{*}b{*}c", "aXbYbZc"));
        assert!(!m("a{*}b{*}c", "aXbYbZ"));
        assert!(m("{", "{") && m("{*", "{*") && m("{?", "{?"));
    }

    #[test]
    fn spec_4_3_answer_mode_decision() {
        let pats = |v: &[&str]| v.iter().map(|p| NumberPattern::new(p)).collect::<Vec<_>>();
        let none = IncomingCallFile::default();
        assert_eq!(
            none.answer_mode(AnswerMode::Accept, Some("1")),
            AnswerMode::Accept
        );
        assert_eq!(
            none.answer_mode(AnswerMode::Accept, None),
            AnswerMode::Accept
        );
        assert_eq!(
            none.answer_mode(AnswerMode::Listen, Some("1")),
            AnswerMode::Listen
        );
        let allowed = IncomingCallFile {
            allowed_numbers: pats(&["555{*}"]),
            ..Default::default()
        };
        assert_eq!(
            allowed.answer_mode(AnswerMode::Accept, Some("5551")),
            AnswerMode::Accept
        );
        assert_eq!(
            allowed.answer_mode(AnswerMode::Accept, Some("4441")),
            AnswerMode::Listen
        );
        assert_eq!(
            allowed.answer_mode(AnswerMode::Accept, None),
            AnswerMode::Listen
        );
        assert_eq!(
            allowed.answer_mode(AnswerMode::Listen, Some("5551")),
            AnswerMode::Listen
        );
        let blocked = IncomingCallFile {
            blocked_numbers: pats(&["555{*}"]),
            ..Default::default()
        };
        assert_eq!(
            blocked.answer_mode(AnswerMode::Accept, Some("5551")),
            AnswerMode::Listen
        );
        assert_eq!(
            blocked.answer_mode(AnswerMode::Accept, Some("4441")),
            AnswerMode::Accept
        );
        assert_eq!(
            blocked.answer_mode(AnswerMode::Accept, None),
            AnswerMode::Accept
        );
        let both = IncomingCallFile {
            allowed_numbers: pats(&["1"]),
            blocked_numbers: pats(&["2"]),
            ..Default::default()
        };
        assert_eq!(
            both.answer_mode(AnswerMode::Accept, Some("1")),
            AnswerMode::Listen
        );
    }
}
