//! Load errors that say where: the file, the line and column, and the key path.

use std::fmt;

/// A place in a YAML source: 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    /// Line, counted from 1.
    pub line: usize,
    /// Column, counted from 1 (in characters).
    pub column: usize,
}

/// One step of a key path: a mapping key or a sequence index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Segment {
    Key(String),
    Index(usize),
}

/// A key path such as `menu.choices.'1234'.post_action` or `allowed_numbers[2]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyPath(Vec<Segment>);

impl KeyPath {
    /// The empty path (the document itself).
    #[must_use]
    pub fn root() -> Self {
        Self::default()
    }

    pub(crate) fn key(&self, key: &str) -> Self {
        let mut p = self.clone();
        p.0.push(Segment::Key(key.to_owned()));
        p
    }

    pub(crate) fn index(&self, i: usize) -> Self {
        let mut p = self.clone();
        p.0.push(Segment::Index(i));
        p
    }

    /// Whether this is the empty path.
    #[must_use]
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }
}

/// Keys that are plain identifiers print bare; anything else (digits, `#`, spaces) is
/// quoted, so that `'1234'` reads as a choice key rather than a number.
fn is_identifier(key: &str) -> bool {
    let mut chars = key.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (n, seg) in self.0.iter().enumerate() {
            match seg {
                Segment::Key(k) => {
                    if n > 0 {
                        f.write_str(".")?;
                    }
                    if is_identifier(k) {
                        f.write_str(k)?;
                    } else {
                        write!(f, "'{}'", k.replace('\'', "''"))?;
                    }
                }
                Segment::Index(i) => write!(f, "[{i}]")?,
            }
        }
        Ok(())
    }
}

/// Why a menu, an incoming-call file or a command's menu could not be loaded.
///
/// Displays as `incoming.yaml:7:18: menu.choices.'1234'.post_action: unknown action
/// "hangupp"`; parts that are not known (no file name, JSON input without positions, an
/// error about the whole document) are left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError {
    file: Option<String>,
    position: Option<Position>,
    path: KeyPath,
    message: String,
}

impl LoadError {
    pub(crate) fn new(
        position: Option<Position>,
        path: KeyPath,
        message: impl Into<String>,
    ) -> Self {
        Self {
            file: None,
            position,
            path,
            message: message.into(),
        }
    }

    pub(crate) fn with_file(mut self, file: Option<&str>) -> Self {
        if self.file.is_none() {
            self.file = file.map(str::to_owned);
        }
        self
    }

    /// The file name given to the loader, if any.
    #[must_use]
    pub fn file(&self) -> Option<&str> {
        self.file.as_deref()
    }

    /// Where in the YAML source the fault is (absent for JSON input).
    #[must_use]
    pub fn position(&self) -> Option<Position> {
        self.position
    }

    /// The key path of the faulty value.
    #[must_use]
    pub fn path(&self) -> &KeyPath {
        &self.path
    }

    /// What is wrong, without the location.
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.file, self.position) {
            (Some(file), Some(p)) => write!(f, "{file}:{}:{}: ", p.line, p.column)?,
            (Some(file), None) => write!(f, "{file}: ")?,
            (None, Some(p)) => write!(f, "line {} column {}: ", p.line, p.column)?,
            (None, None) => {}
        }
        if !self.path.is_root() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for LoadError {}

/// The closest candidate to `word` by edit distance, if it is close enough to be a likely
/// typo ("did you mean").
pub(crate) fn suggest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let word = word.to_ascii_lowercase();
    // A shortened or lengthened key (`wait_for_audio`, `choices_list`) counts as close.
    let prefix =
        |c: &str| word.len().min(c.len()) >= 4 && (c.starts_with(&word) || word.starts_with(c));
    candidates
        .iter()
        .map(|c| {
            (
                if prefix(c) {
                    1
                } else {
                    edit_distance(&word, c)
                },
                *c,
            )
        })
        .filter(|(d, c)| *d <= (c.chars().count() / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Edit distance over characters, counting a swap of two neighbours as one edit
/// (optimal string alignment); inputs are short key names.
fn edit_distance(a: &str, b: &str) -> usize {
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

/// `unknown key "x"` plus a suggestion and the accepted keys.
pub(crate) fn unknown_key_message(what: &str, key: &str, known: &[&str]) -> String {
    match suggest(key, known) {
        Some(s) => format!("unknown {what} \"{key}\", did you mean \"{s}\"?"),
        None => format!(
            "unknown {what} \"{key}\", expected one of: {}",
            known.join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_quote_keys_that_are_not_identifiers() {
        let p = KeyPath::root()
            .key("menu")
            .key("choices")
            .key("1234")
            .key("post_action");
        assert_eq!(p.to_string(), "menu.choices.'1234'.post_action");
        assert_eq!(
            KeyPath::root().key("allowed_numbers").index(2).to_string(),
            "allowed_numbers[2]"
        );
        assert_eq!(KeyPath::root().key("it's").to_string(), "'it''s'");
    }

    #[test]
    fn suggestions_catch_typos_only() {
        assert_eq!(
            suggest("hangupp", &["noop", "hangup", "repeat_message"]),
            Some("hangup")
        );
        assert_eq!(suggest("mesage", &["message", "id"]), Some("message"));
        assert_eq!(suggest("xyz", &["message", "choices"]), None);
        assert_eq!(
            suggest("wait_for_audio", &["timeout", "wait_for_audio_to_finish"]),
            Some("wait_for_audio_to_finish")
        );
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("dail", "dial"), 1);
    }
}
