//! Lexical helpers for the RFC 3261 §25 grammar: character classes, linear white space,
//! quoted strings, top-level comma splitting and %-decoding.
//!
//! Every scanner here is a single forward pass with no recursion, so its cost is bounded
//! by the input length whatever the nesting of quotes and angle brackets.

use std::borrow::Cow;

/// Builds a 256-entry membership table at compile time.
const fn table(alnum: bool, extra: &[u8]) -> [bool; 256] {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        if alnum && b.is_ascii_alphanumeric() {
            t[c] = true;
        }
        c += 1;
    }
    let mut i = 0;
    while i < extra.len() {
        t[extra[i] as usize] = true;
        i += 1;
    }
    t
}

static TOKEN: [bool; 256] = table(true, b"-.!%*_+`'~");
static WORD: [bool; 256] = table(true, b"-.!%*_+`'~()<>:\\\"/[]?{}");
static UNRESERVED: [bool; 256] = table(true, b"-_.!~*'()");

/// RFC 3261 `token` characters: `alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~"`.
#[inline]
pub(crate) fn is_token_char(b: u8) -> bool {
    TOKEN[b as usize]
}

/// True when `s` is a non-empty RFC 3261 `token`.
#[inline]
pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_token_char)
}

/// RFC 3261 `word` characters (Call-ID): token characters plus `( ) < > : \ " / [ ] ? { }`.
#[inline]
pub(crate) fn is_word_char(b: u8) -> bool {
    WORD[b as usize]
}

/// RFC 3261 `unreserved`: `alphanum / mark`.
#[inline]
pub(crate) fn is_unreserved(b: u8) -> bool {
    UNRESERVED[b as usize]
}

/// Space or horizontal tab.
#[inline]
pub(crate) const fn is_wsp(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// Trims linear white space (space, tab, and the CR/LF left by unfolding) from both ends.
#[inline]
pub(crate) fn trim_lws(s: &str) -> &str {
    let b = s.as_bytes();
    let lws = |c: u8| matches!(c, b' ' | b'\t' | b'\r' | b'\n');
    let start = b.iter().position(|&c| !lws(c)).unwrap_or(b.len());
    let end = b.iter().rposition(|&c| !lws(c)).map_or(start, |e| e + 1);
    // Both ends are at ASCII bytes, so they are character boundaries.
    s.get(start..end).unwrap_or("")
}

/// Fault found while scanning a quoted string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unterminated;

/// Given `s` starting with `"`, returns the index just past the closing quote.
pub(crate) fn quoted_end(s: &str) -> Result<usize, Unterminated> {
    let b = s.as_bytes();
    debug_assert_eq!(b.first(), Some(&b'"'));
    let mut i = 1;
    while let Some(off) = memchr::memchr2(b'\\', b'"', &b[i.min(b.len())..]) {
        let at = i + off;
        if b[at] == b'"' {
            return Ok(at + 1);
        }
        i = at + 2;
        if i >= b.len() {
            break;
        }
    }
    Err(Unterminated)
}

/// Removes the surrounding quotes of a quoted string and resolves `\x` escapes.
pub fn unquote(s: &str) -> Cow<'_, str> {
    let inner = s
        .strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .unwrap_or(s);
    if !inner.contains('\\') {
        return Cow::Borrowed(inner);
    }
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Finds the first `needle` byte outside quoted strings and `<…>`.
///
/// Returns `Err` when a quoted string is not terminated.
pub(crate) fn find_top_level(s: &str, needle: u8) -> Result<Option<usize>, Unterminated> {
    let b = s.as_bytes();
    let mut i = 0;
    // Jump from one interesting byte to the next instead of looking at every byte.
    while let Some(off) = memchr::memchr3(needle, b'"', b'<', &b[i..]) {
        let at = i + off;
        match b[at] {
            b'"' => i = at + quoted_end(&s[at..])?,
            b'<' if needle != b'<' => match memchr::memchr(b'>', &b[at..]) {
                Some(close) => i = at + close + 1,
                None => i = b.len(),
            },
            _ => return Ok(Some(at)),
        }
        if i >= b.len() {
            break;
        }
    }
    Ok(None)
}

/// Splits a header value at top-level commas (outside quotes and `<…>`).
///
/// Yields trimmed items; an unterminated quoted string yields one `Err` and ends.
#[derive(Debug, Clone)]
pub struct CommaSplit<'a> {
    rest: Option<&'a str>,
}

impl<'a> CommaSplit<'a> {
    /// Splits `s`.
    pub fn new(s: &'a str) -> Self {
        Self { rest: Some(s) }
    }
}

impl<'a> Iterator for CommaSplit<'a> {
    type Item = Result<&'a str, Unterminated>;

    fn next(&mut self) -> Option<Self::Item> {
        let s = self.rest?;
        match find_top_level(s, b',') {
            Ok(Some(i)) => {
                self.rest = Some(&s[i + 1..]);
                Some(Ok(trim_lws(&s[..i])))
            }
            Ok(None) => {
                self.rest = None;
                Some(Ok(trim_lws(s)))
            }
            Err(e) => {
                self.rest = None;
                Some(Err(e))
            }
        }
    }
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// True when every `%` in `s` starts a valid `%HH` escape.
pub(crate) fn escapes_valid(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            match (
                b.get(i + 1).copied().and_then(hex_val),
                b.get(i + 2).copied().and_then(hex_val),
            ) {
                (Some(_), Some(_)) => i += 3,
                _ => return false,
            }
        } else {
            i += 1;
        }
    }
    true
}

/// Decodes `%HH` escapes. Invalid escapes are kept literally; decoded bytes that are not
/// UTF-8 are replaced (the result is for display and comparison, not for re-encoding).
pub fn percent_decode(s: &str) -> Cow<'_, str> {
    if !s.contains('%') {
        return Cow::Borrowed(s);
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let (Some(h), Some(l)) = (
                b.get(i + 1).copied().and_then(hex_val),
                b.get(i + 2).copied().and_then(hex_val),
            )
        {
            out.push(h << 4 | l);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    match String::from_utf8(out) {
        Ok(s) => Cow::Owned(s),
        Err(e) => Cow::Owned(String::from_utf8_lossy(e.as_bytes()).into_owned()),
    }
}

/// Parses a decimal number of at most `max_digits` digits that fits in `u64`.
pub(crate) fn parse_u64(s: &str, max_digits: usize) -> Option<u64> {
    if s.is_empty() || s.len() > max_digits || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Byte searches on text for ASCII delimiters: `memchr` instead of the general `char`
/// searcher, which dominates profiles when called on many short strings.
pub(crate) trait FindByte {
    /// The first position of the ASCII byte `b`.
    fn find_b(&self, b: u8) -> Option<usize>;
    /// Splits at the first ASCII byte `b`.
    fn split_once_b(&self, b: u8) -> Option<(&str, &str)>;
}

impl FindByte for str {
    #[inline]
    fn find_b(&self, b: u8) -> Option<usize> {
        debug_assert!(b.is_ascii());
        let s = self.as_bytes();
        // Short fields are the common case; a plain loop beats memchr's dispatch there.
        if s.len() < 32 {
            s.iter().position(|&c| c == b)
        } else {
            memchr::memchr(b, s)
        }
    }

    #[inline]
    fn split_once_b(&self, b: u8) -> Option<(&str, &str)> {
        // An ASCII byte is always a character boundary, on both sides.
        let i = self.find_b(b)?;
        Some((self.get(..i)?, self.get(i + 1..)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comma_split_respects_quotes_and_angles() {
        let items: Vec<_> = CommaSplit::new(r#""a, \"b\"" <sip:x@y;p=a,b>;q=1 , <sip:z>"#)
            .collect::<Result<_, _>>()
            .unwrap_or_default();
        assert_eq!(items, vec![r#""a, \"b\"" <sip:x@y;p=a,b>;q=1"#, "<sip:z>"]);
    }

    #[test]
    fn unterminated_quote_is_reported() {
        assert!(CommaSplit::new(r#""abc <sip:x>"#).any(|r| r.is_err()));
        assert_eq!(find_top_level(r#""a\""#, b','), Err(Unterminated));
    }

    #[test]
    fn unquote_resolves_escapes() {
        assert_eq!(unquote(r#""J \"Rocket\" Smith""#), r#"J "Rocket" Smith"#);
        assert_eq!(unquote(r#""plain""#), "plain");
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("null-%00-null"), "null-\0-null");
        assert_eq!(percent_decode("a%4"), "a%4");
        assert_eq!(percent_decode("%61%62c"), "abc");
        assert!(!escapes_valid("%Z%45"));
        assert!(escapes_valid("a%45b"));
    }

    #[test]
    fn bounded_numbers() {
        assert_eq!(parse_u64("4294967296", 10), Some(4_294_967_296));
        assert_eq!(parse_u64("36893488147419103232", 20), None);
        assert_eq!(parse_u64("-1", 10), None);
        assert_eq!(parse_u64("", 10), None);
    }
}
