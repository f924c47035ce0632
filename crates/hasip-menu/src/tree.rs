//! Normalisation (spec §5.2): the menu a call runs, as an arena of nodes with parents,
//! built-in default and timeout menus, and the jump map.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use crate::model::{Action, DEFAULT_TIMEOUT, Menu, PostAction};

/// A menu inside one [`MenuTree`]. Only meaningful for the tree that made it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MenuIndex(usize);

/// How a menu hangs in the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MenuRole {
    /// The menu entered when the call is established.
    Root,
    /// A choice selected by this (lower-cased) key.
    Choice(String),
    /// A user-written `default` choice.
    Default,
    /// A user-written `timeout` choice.
    Timeout,
    /// The generated default: "Unknown option" in English, then `return 1`.
    BuiltinDefault,
    /// The generated timeout menu: hang up.
    BuiltinTimeout,
}

/// One normalised menu.
#[derive(Debug, Clone)]
pub struct MenuNode {
    /// The id (trimmed, non-empty).
    pub id: Option<String>,
    /// Text to speak on entry.
    pub message: Option<String>,
    /// Render `message` as a Home Assistant template first.
    pub handle_as_template: bool,
    /// File to play on entry, after the message.
    pub audio_file: Option<String>,
    /// TTS language; none means the global one.
    pub language: Option<String>,
    /// PIN matching.
    pub choices_are_pin: bool,
    /// Wrong PINs allowed before lock-out.
    pub max_pin_attempts: Option<u32>,
    /// Inactivity before the timeout choice.
    pub timeout: Duration,
    /// What runs after the entry prompt.
    pub post_action: PostAction,
    /// Command run on entry.
    pub action: Option<Action>,
    /// Choices by key in the order written; `None` for the built-in menus, which ignore
    /// digits.
    pub choices: Option<Vec<(String, MenuIndex)>>,
    /// The menu entered on input matching no choice.
    pub default: Option<MenuIndex>,
    /// The menu entered on timeout.
    pub on_timeout: Option<MenuIndex>,
    /// The menu this one belongs to (`return` walks these).
    pub parent: Option<MenuIndex>,
    /// How this menu hangs in the tree.
    pub role: MenuRole,
    /// Allow caching the prompt.
    pub cache_audio: bool,
    /// Drop digits while the prompt plays.
    pub wait_for_audio_to_finish: bool,
}

/// The normalised menu of a call. Cheap to share: a call's session holds it in an `Arc`.
#[derive(Debug, Clone)]
pub struct MenuTree {
    nodes: Vec<MenuNode>,
    jump: BTreeMap<String, MenuIndex>,
}

impl MenuNode {
    fn builtin(role: MenuRole, parent: MenuIndex) -> Self {
        let default = role == MenuRole::BuiltinDefault;
        Self {
            id: None,
            message: default.then(|| "Unknown option".to_owned()),
            handle_as_template: false,
            audio_file: None,
            language: Some("en".to_owned()),
            choices_are_pin: false,
            max_pin_attempts: None,
            timeout: DEFAULT_TIMEOUT,
            post_action: if default {
                PostAction::Return(1)
            } else {
                PostAction::Hangup
            },
            action: None,
            choices: None,
            default: None,
            on_timeout: None,
            parent: Some(parent),
            role,
            cache_audio: false,
            wait_for_audio_to_finish: false,
        }
    }

    /// Whether entering this menu plays anything.
    #[must_use]
    pub fn has_prompt(&self) -> bool {
        self.message.is_some() || self.audio_file.is_some()
    }
}

impl MenuTree {
    /// Normalises `menu` for a call.
    #[must_use]
    pub fn new(menu: &Menu) -> Self {
        let mut t = Self {
            nodes: Vec::new(),
            jump: BTreeMap::new(),
        };
        let root = t.add(menu, None, MenuRole::Root);
        t.index_ids(root);
        t
    }

    /// The standard menu (spec §5.2 item 5): no prompt, no choices, so any digit plays
    /// "Unknown option", and 300 s without a digit hang up.
    #[must_use]
    pub fn standard() -> Self {
        let menu = Menu {
            language: Some("en".to_owned()),
            ..Menu::default()
        };
        Self::new(&menu)
    }

    /// `new` for a given menu, `standard` for none.
    #[must_use]
    pub fn from_option(menu: Option<&Menu>) -> Self {
        menu.map_or_else(Self::standard, Self::new)
    }

    /// The root menu.
    #[must_use]
    pub fn root(&self) -> MenuIndex {
        MenuIndex(0)
    }

    /// A menu by index (none for an index of another tree).
    #[must_use]
    pub fn node(&self, i: MenuIndex) -> Option<&MenuNode> {
        self.nodes.get(i.0)
    }

    /// The menu a `jump <id>` enters: every menu with an id, ordinary choices and
    /// default/timeout menus alike, the last in depth-first order winning on repeats.
    #[must_use]
    pub fn jump_target(&self, id: &str) -> Option<MenuIndex> {
        self.jump.get(id).copied()
    }

    /// All menu ids that can be jumped to.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.jump.keys().map(String::as_str)
    }

    /// The number of menus, built-ins included.
    #[must_use]
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Never true: a tree has at least its root and the root's built-ins.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    fn add(&mut self, menu: &Menu, parent: Option<MenuIndex>, role: MenuRole) -> MenuIndex {
        let idx = MenuIndex(self.nodes.len());
        let special = matches!(role, MenuRole::Default | MenuRole::Timeout);
        self.nodes.push(MenuNode {
            id: menu.id.clone(),
            message: menu.message.clone(),
            handle_as_template: menu.handle_as_template,
            audio_file: menu.audio_file.clone(),
            language: menu.language.clone(),
            choices_are_pin: menu.choices_are_pin,
            max_pin_attempts: menu.max_pin_attempts,
            timeout: menu.timeout,
            post_action: menu.post_action.clone(),
            action: menu.action.clone(),
            choices: None,
            default: None,
            on_timeout: None,
            parent,
            role,
            cache_audio: menu.cache_audio,
            wait_for_audio_to_finish: menu.wait_for_audio_to_finish,
        });
        let choices = menu
            .choices
            .iter()
            .map(|(k, m)| {
                (
                    k.clone(),
                    self.add(m, Some(idx), MenuRole::Choice(k.clone())),
                )
            })
            .collect();
        // Default and timeout menus get no built-ins (spec §5.2 item 4); ones the user
        // wrote inside them do work (ha-sip left them as unreachable choices).
        let default = match &menu.default {
            Some(m) => Some(self.add(m, Some(idx), MenuRole::Default)),
            None if !special => Some(self.push_builtin(MenuRole::BuiltinDefault, idx)),
            None => None,
        };
        let on_timeout = match &menu.on_timeout {
            Some(m) => Some(self.add(m, Some(idx), MenuRole::Timeout)),
            None if !special => Some(self.push_builtin(MenuRole::BuiltinTimeout, idx)),
            None => None,
        };
        if let Some(n) = self.nodes.get_mut(idx.0) {
            n.choices = Some(choices);
            n.default = default;
            n.on_timeout = on_timeout;
        }
        idx
    }

    fn push_builtin(&mut self, role: MenuRole, parent: MenuIndex) -> MenuIndex {
        let idx = MenuIndex(self.nodes.len());
        self.nodes.push(MenuNode::builtin(role, parent));
        idx
    }

    /// Depth-first: the menu, its choices in order, then its default and timeout menus
    /// (ha-sip after PR #185); a later menu with the same id wins.
    fn index_ids(&mut self, root: MenuIndex) {
        let mut stack = vec![root];
        let mut order = Vec::new();
        while let Some(i) = stack.pop() {
            let Some(n) = self.node(i) else { continue };
            order.push(i);
            let mut next: Vec<MenuIndex> = n.choices.iter().flatten().map(|(_, c)| *c).collect();
            next.extend(n.default);
            next.extend(n.on_timeout);
            stack.extend(next.into_iter().rev());
        }
        for i in order {
            if let Some(id) = self.node(i).and_then(|n| n.id.clone()) {
                self.jump.insert(id, i);
            }
        }
    }

    /// A short name for a menu: `/` for the root, `/1234`, `/1234/default`,
    /// `/default (built-in)`.
    #[must_use]
    pub fn path(&self, i: MenuIndex) -> String {
        let mut parts = Vec::new();
        let mut cur = Some(i);
        let mut guard = 0;
        while let Some(c) = cur {
            let Some(n) = self.node(c) else { break };
            match &n.role {
                MenuRole::Root => {}
                MenuRole::Choice(k) => parts.push(k.clone()),
                MenuRole::Default => parts.push("default".to_owned()),
                MenuRole::Timeout => parts.push("timeout".to_owned()),
                MenuRole::BuiltinDefault => parts.push("default (built-in)".to_owned()),
                MenuRole::BuiltinTimeout => parts.push("timeout (built-in)".to_owned()),
            }
            cur = n.parent;
            guard += 1;
            if guard > self.nodes.len() {
                break;
            }
        }
        parts.reverse();
        format!("/{}", parts.join("/"))
    }

    /// The tree as indented text, for `hasip menu check` and the logs.
    #[must_use]
    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut builtins = false;
        self.render_node(self.root(), 0, &mut out, &mut builtins);
        if builtins {
            out.push_str(
                "(built-ins where no default/timeout is written: an unknown key says \"Unknown option\" \
                 and returns; the timeout hangs up)\n",
            );
        }
        out
    }

    fn render_node(&self, i: MenuIndex, depth: usize, out: &mut String, builtins: &mut bool) {
        let Some(n) = self.node(i) else { return };
        let pad = "  ".repeat(depth);
        let label = match &n.role {
            MenuRole::Root => "menu".to_owned(),
            MenuRole::Choice(k) => format!("choice {k}"),
            MenuRole::Default => "default".to_owned(),
            MenuRole::Timeout => "timeout".to_owned(),
            MenuRole::BuiltinDefault | MenuRole::BuiltinTimeout => {
                *builtins = true;
                return;
            }
        };
        let mut attrs = Vec::new();
        if let Some(id) = &n.id {
            attrs.push(format!("id {id}"));
        }
        if n.choices_are_pin {
            attrs.push("pin".to_owned());
        }
        if let Some(max) = n.max_pin_attempts {
            attrs.push(format!("locks after {max} wrong PINs"));
        }
        if n.timeout != DEFAULT_TIMEOUT {
            attrs.push(format!("timeout {}", seconds(n.timeout)));
        }
        if n.wait_for_audio_to_finish {
            attrs.push("no DTMF while playing".to_owned());
        }
        if n.cache_audio {
            attrs.push("cached".to_owned());
        }
        if n.post_action != PostAction::Noop {
            attrs.push(format!("then {}", n.post_action));
        }
        let _ = write!(out, "{pad}{label}");
        if !attrs.is_empty() {
            let _ = write!(out, "  ({})", attrs.join(", "));
        }
        out.push('\n');
        if let Some(m) = &n.message {
            let _ = write!(out, "{pad}  say {}", quote(m));
            if let Some(l) = &n.language {
                let _ = write!(out, " [{l}]");
            }
            if n.handle_as_template {
                out.push_str(" (template)");
            }
            out.push('\n');
        }
        if let Some(f) = &n.audio_file {
            let _ = writeln!(out, "{pad}  play {f}");
        }
        if let Some(a) = &n.action {
            let _ = writeln!(out, "{pad}  run {a}");
        }
        for (_, c) in n.choices.iter().flatten() {
            self.render_node(*c, depth + 1, out, builtins);
        }
        for c in [n.default, n.on_timeout].into_iter().flatten() {
            self.render_node(c, depth + 1, out, builtins);
        }
    }
}

/// Seconds for people: `10s`, `0.5s`.
pub(crate) fn seconds(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{}s", d.as_secs())
    } else {
        let s = format!("{:.3}", d.as_secs_f64());
        format!("{}s", s.trim_end_matches('0').trim_end_matches('.'))
    }
}

/// Text in double quotes, with quotes and line breaks escaped.
pub(crate) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_ins_and_parents() {
        let m = Menu::from_yaml(
            "id: main\nchoices:\n  '1':\n    id: one\n    choices:\n      '2': {id: two}\n  default:\n    id: d\n",
            None,
        )
        .unwrap();
        let t = MenuTree::new(&m);
        let root = t.node(t.root()).unwrap();
        assert_eq!(root.role, MenuRole::Root);
        let d = t.node(root.default.unwrap()).unwrap();
        assert_eq!(d.role, MenuRole::Default);
        assert!(
            d.default.is_none() && d.on_timeout.is_none(),
            "no built-ins below default"
        );
        let bt = t.node(root.on_timeout.unwrap()).unwrap();
        assert_eq!(bt.role, MenuRole::BuiltinTimeout);
        assert_eq!(bt.post_action, PostAction::Hangup);
        let two = t.jump_target("two").unwrap();
        assert_eq!(t.path(two), "/1/2");
        let bd = t.node(two).unwrap().default.unwrap();
        assert_eq!(t.path(bd), "/1/2/default (built-in)");
        assert_eq!(
            t.node(bd).unwrap().message.as_deref(),
            Some("Unknown option")
        );
        assert_eq!(t.node(bd).unwrap().parent, Some(two));
        assert!(
            t.jump_target("d").is_some(),
            "default menus are jump targets (PR #185)"
        );
        assert_eq!(t.ids().collect::<Vec<_>>(), ["d", "main", "one", "two"]);
    }

    #[test]
    fn later_ids_win() {
        let m = Menu::from_yaml(
            "choices:\n  '1': {id: x, message: first}\n  '2': {id: x, message: second}\n",
            None,
        )
        .unwrap();
        let t = MenuTree::new(&m);
        let x = t.jump_target("x").unwrap();
        assert_eq!(t.node(x).unwrap().message.as_deref(), Some("second"));
    }

    #[test]
    fn durations_print_short() {
        assert_eq!(seconds(Duration::from_secs(10)), "10s");
        assert_eq!(seconds(Duration::from_millis(500)), "0.5s");
        assert_eq!(seconds(Duration::from_millis(1250)), "1.25s");
    }
}
