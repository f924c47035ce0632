//! YAML text to a [`Node`] tree with positions, from `granit-parser`'s event stream.
//!
//! The resolution of plain scalars is ours ([`resolve_plain`]): PyYAML's YAML 1.1 booleans
//! (as ha-sip read them), decimal integers only, quoted text always a string. Anchors and
//! aliases work (aliases are copied, within [`MAX_NODES`]); `<<` merge keys work as in
//! PyYAML; duplicate keys, several documents and unknown tags are errors.

use std::collections::{HashMap, HashSet};

use granit_parser::{Event, Options, Parser, ScalarStyle, Span, Tag};

use crate::error::{KeyPath, LoadError, Position};
use crate::node::{MAX_DEPTH, MAX_NODES, Node, Scalar, ScalarKind, Value, resolve_plain};

enum Frame {
    Seq {
        at: Position,
        anchor: usize,
        items: Vec<Node>,
        size: usize,
    },
    Map {
        at: Position,
        anchor: usize,
        entries: Vec<(Node, Node)>,
        seen: HashSet<String>,
        key: Option<Node>,
        size: usize,
    },
}

struct Builder {
    stack: Vec<Frame>,
    anchors: HashMap<usize, (Node, usize)>,
    nodes: usize,
    root: Option<Node>,
    documents: usize,
}

fn position(span: &Span) -> Position {
    Position {
        line: span.start.line(),
        column: span.start.col() + 1,
    }
}

/// Parses one YAML document. An empty text (or only comments) gives a null node.
///
/// # Errors
/// Syntax errors, several documents, duplicate keys, non-scalar keys, unknown tags, aliases
/// that expand past [`MAX_NODES`] and nesting deeper than [`MAX_DEPTH`], each with its
/// position and the key path that leads to it.
pub(crate) fn parse(text: &str) -> Result<Node, LoadError> {
    let mut options = Options::default();
    options.block_nesting_limit = MAX_DEPTH + 1;
    options.flow_nesting_limit = MAX_DEPTH + 1;
    let mut b = Builder {
        stack: Vec::new(),
        anchors: HashMap::new(),
        nodes: 0,
        root: None,
        documents: 0,
    };
    for next in Parser::new_from_str_with_options(text, options) {
        let (event, span) = next.map_err(|e| {
            let at = Position {
                line: e.marker().line(),
                column: e.marker().col() + 1,
            };
            LoadError::new(Some(at), b.path(), format!("invalid YAML: {}", e.info()))
        })?;
        b.event(event, &span)?;
    }
    Ok(b.root.unwrap_or(Node {
        value: Value::Scalar(Scalar {
            text: String::new(),
            kind: ScalarKind::Null,
        }),
        at: None,
    }))
}

impl Builder {
    /// The key path to the value being built, for errors.
    fn path(&self) -> KeyPath {
        let mut p = KeyPath::root();
        for f in &self.stack {
            match f {
                Frame::Seq { items, .. } => p = p.index(items.len()),
                Frame::Map { key: Some(k), .. } => p = p.key(&k.key_text().unwrap_or_default()),
                Frame::Map { key: None, .. } => {}
            }
        }
        p
    }

    fn error(&self, at: Position, message: impl Into<String>) -> LoadError {
        LoadError::new(Some(at), self.path(), message)
    }

    fn count(&mut self, n: usize, at: Position) -> Result<(), LoadError> {
        self.nodes = self.nodes.saturating_add(n);
        if self.nodes > MAX_NODES {
            return Err(self.error(
                at,
                format!("document too large (more than {MAX_NODES} values, counting alias copies)"),
            ));
        }
        Ok(())
    }

    fn event(&mut self, event: Event<'_>, span: &Span) -> Result<(), LoadError> {
        let at = position(span);
        match event {
            Event::DocumentStart(..) => {
                self.documents += 1;
                if self.documents > 1 {
                    return Err(LoadError::new(
                        Some(at),
                        KeyPath::root(),
                        "only one YAML document is allowed here",
                    ));
                }
            }
            Event::Scalar(text, style, anchor, tag) => {
                let kind = self.scalar_kind(&text, style, tag.as_deref(), at)?;
                self.count(1, at)?;
                let node = Node {
                    value: Value::Scalar(Scalar {
                        text: text.into_owned(),
                        kind,
                    }),
                    at: Some(at),
                };
                self.finish(node, anchor, 1)?;
            }
            Event::SequenceStart(_, anchor, tag) => {
                self.collection_tag(tag.as_deref(), "seq", at)?;
                self.open(at)?;
                self.stack.push(Frame::Seq {
                    at,
                    anchor,
                    items: Vec::new(),
                    size: 1,
                });
            }
            Event::MappingStart(_, anchor, tag) => {
                self.collection_tag(tag.as_deref(), "map", at)?;
                self.open(at)?;
                self.stack.push(Frame::Map {
                    at,
                    anchor,
                    entries: Vec::new(),
                    seen: HashSet::new(),
                    key: None,
                    size: 1,
                });
            }
            Event::SequenceEnd => {
                if let Some(Frame::Seq {
                    at,
                    anchor,
                    items,
                    size,
                }) = self.stack.pop()
                {
                    let node = Node {
                        value: Value::Seq(items),
                        at: Some(at),
                    };
                    self.finish(node, anchor, size)?;
                }
            }
            Event::MappingEnd => {
                if let Some(Frame::Map {
                    at,
                    anchor,
                    entries,
                    size,
                    ..
                }) = self.stack.pop()
                {
                    let entries = self.merge(entries)?;
                    let node = Node {
                        value: Value::Map(entries),
                        at: Some(at),
                    };
                    self.finish(node, anchor, size)?;
                }
            }
            Event::Alias(id) => {
                let Some((node, size)) = self.anchors.get(&id).cloned() else {
                    return Err(self.error(at, "alias to an unknown anchor"));
                };
                self.count(size, at)?;
                // The copy keeps the anchor's positions: errors inside it point at the
                // original text, which is where the user would fix them.
                self.finish(node, 0, size)?;
            }
            _ => {}
        }
        Ok(())
    }

    fn open(&mut self, at: Position) -> Result<(), LoadError> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(self.error(at, format!("nesting deeper than {MAX_DEPTH} levels")));
        }
        self.count(1, at)
    }

    fn scalar_kind(
        &self,
        text: &str,
        style: ScalarStyle,
        tag: Option<&Tag>,
        at: Position,
    ) -> Result<ScalarKind, LoadError> {
        let plain = matches!(style, ScalarStyle::Plain);
        let Some(tag) = tag else {
            return Ok(if plain {
                resolve_plain(text)
            } else {
                ScalarKind::Str
            });
        };
        let resolved = resolve_plain(text);
        let kind = match (tag.core_suffix(), resolved) {
            (Some("str"), _) => Some(ScalarKind::Str),
            (Some("null"), ScalarKind::Null) => Some(resolved),
            (Some("bool"), ScalarKind::Bool(_)) => Some(resolved),
            (Some("int"), ScalarKind::Int(_)) => Some(resolved),
            (Some("float"), ScalarKind::Float(_)) => Some(resolved),
            (Some("float"), ScalarKind::Int(i)) => Some(ScalarKind::Float(i as f64)),
            _ => None,
        };
        kind.ok_or_else(|| self.error(at, format!("\"{text}\" cannot be read with the tag {tag}")))
    }

    fn collection_tag(
        &self,
        tag: Option<&Tag>,
        expected: &str,
        at: Position,
    ) -> Result<(), LoadError> {
        match tag {
            None => Ok(()),
            Some(t) if t.core_suffix() == Some(expected) => Ok(()),
            Some(t) => Err(self.error(at, format!("unsupported tag {t}"))),
        }
    }

    /// Hands a finished node to its parent (or makes it the document).
    fn finish(&mut self, node: Node, anchor: usize, size: usize) -> Result<(), LoadError> {
        if anchor != 0 {
            self.anchors.insert(anchor, (node.clone(), size));
        }
        let path_if_error = self.path();
        match self.stack.last_mut() {
            None => self.root = Some(node),
            Some(Frame::Seq { items, size: s, .. }) => {
                items.push(node);
                *s = s.saturating_add(size);
            }
            Some(Frame::Map {
                entries,
                seen,
                key,
                size: s,
                ..
            }) => {
                *s = s.saturating_add(size);
                match key.take() {
                    Some(k) => entries.push((k, node)),
                    None => {
                        let at = node.at.unwrap_or(Position { line: 0, column: 0 });
                        let Value::Scalar(scalar) = &node.value else {
                            return Err(LoadError::new(
                                Some(at),
                                path_if_error,
                                "a key must be a plain value, not a list or mapping",
                            ));
                        };
                        if scalar.kind != ScalarKind::Merge && !seen.insert(scalar.text.clone()) {
                            return Err(LoadError::new(
                                Some(at),
                                path_if_error,
                                format!("duplicate key \"{}\"", scalar.text),
                            ));
                        }
                        *key = Some(node);
                    }
                }
            }
        }
        Ok(())
    }

    /// Applies `<<` merge keys: keys written in the mapping win over merged ones, and
    /// earlier mappings in a merged list win over later ones (as in PyYAML).
    fn merge(&self, entries: Vec<(Node, Node)>) -> Result<Vec<(Node, Node)>, LoadError> {
        let is_merge = |k: &Node| {
            matches!(
                &k.value,
                Value::Scalar(Scalar {
                    kind: ScalarKind::Merge,
                    ..
                })
            )
        };
        if !entries.iter().any(|(k, _)| is_merge(k)) {
            return Ok(entries);
        }
        let (merges, mut out): (Vec<_>, Vec<_>) =
            entries.into_iter().partition(|(k, _)| is_merge(k));
        let mut seen: HashSet<String> = out.iter().filter_map(|(k, _)| k.key_text()).collect();
        for (k, v) in merges {
            let sources: Vec<Node> = match v.value {
                Value::Map(_) => vec![v],
                Value::Seq(items) => items,
                Value::Scalar(_) => Vec::new(),
            };
            if sources.is_empty() {
                let at = k.at.unwrap_or(Position { line: 0, column: 0 });
                return Err(LoadError::new(
                    Some(at),
                    self.path(),
                    "<< (merge) needs a mapping or a list of mappings",
                ));
            }
            for source in sources {
                let Value::Map(merged) = source.value else {
                    let at = source.at.unwrap_or(Position { line: 0, column: 0 });
                    return Err(LoadError::new(
                        Some(at),
                        self.path(),
                        "<< (merge) needs a mapping or a list of mappings",
                    ));
                };
                for (mk, mv) in merged {
                    if let Some(t) = mk.key_text()
                        && seen.insert(t)
                    {
                        out.push((mk, mv));
                    }
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map_keys(n: &Node) -> Vec<String> {
        match &n.value {
            Value::Map(e) => e.iter().filter_map(|(k, _)| k.key_text()).collect(),
            _ => Vec::new(),
        }
    }

    #[test]
    fn positions_are_one_based() {
        let n = parse("a:\n  b: c\n").unwrap();
        let Value::Map(e) = &n.value else { panic!() };
        let Value::Map(inner) = &e[0].1.value else {
            panic!()
        };
        assert_eq!(inner[0].1.at, Some(Position { line: 2, column: 6 }));
    }

    #[test]
    fn quoted_scalars_stay_strings_and_keys_keep_their_digits() {
        let n = parse("'1234': 1\n0042: 2\n\"yes\": yes\n").unwrap();
        assert_eq!(map_keys(&n), ["1234", "0042", "yes"]);
        let Value::Map(e) = &n.value else { panic!() };
        assert!(matches!(
            &e[2].0.value,
            Value::Scalar(Scalar {
                kind: ScalarKind::Str,
                ..
            })
        ));
        assert!(matches!(
            &e[2].1.value,
            Value::Scalar(Scalar {
                kind: ScalarKind::Bool(true),
                ..
            })
        ));
    }

    #[test]
    fn anchors_aliases_and_merge_keys() {
        let n = parse("base: &b {x: 1, y: 2}\nother:\n  <<: *b\n  y: 3\n").unwrap();
        let Value::Map(e) = &n.value else { panic!() };
        assert_eq!(map_keys(&e[1].1), ["y", "x"]);
    }

    #[test]
    fn errors_have_positions_and_paths() {
        let e = parse("a:\n  b: 1\n  b: 2\n").unwrap_err();
        assert_eq!(e.to_string(), "line 3 column 3: a: duplicate key \"b\"");
        let e = parse("a: [1, 2\n").unwrap_err();
        assert!(e.to_string().starts_with("line "), "{e}");
        let e = parse("a: 1\n---\nb: 2\n").unwrap_err();
        assert!(e.to_string().contains("only one YAML document"), "{e}");
        let e = parse("a: !foo 1\n").unwrap_err();
        assert!(e.to_string().contains("tag"), "{e}");
        let e = parse("a: *nothing\n").unwrap_err();
        assert!(
            e.to_string().contains("invalid YAML") || e.to_string().contains("anchor"),
            "{e}"
        );
    }

    #[test]
    fn alias_bombs_and_deep_nesting_are_refused() {
        let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 0..8 {
            let prev = if i == 0 {
                "a".to_owned()
            } else {
                format!("a{}", i - 1)
            };
            bomb.push_str(&format!("a{i}: &a{i} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"));
        }
        let e = parse(&bomb).unwrap_err();
        assert!(e.to_string().contains("too large"), "{e}");
        let deep = "[".repeat(200) + &"]".repeat(200);
        assert!(parse(&deep).is_err());
    }

    #[test]
    fn empty_text_is_null() {
        assert!(parse("").unwrap().is_null());
        assert!(parse("# only a comment\n").unwrap().is_null());
    }
}
