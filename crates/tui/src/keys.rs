//! Key bindings: actions by name, keys as text (`q`, `?`, `ctrl-c`, `tab`, `up`), defaults here,
//! overridable in config.toml's `[keys]` (action = "key").

use std::collections::BTreeMap;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// Declares every action once: its variant, its name in config.toml, its default keys and what
/// the help says of it. The enum and every table about it come from this one list.
macro_rules! actions {
    ($($variant:ident = $name:literal, [$($key:literal),*], $describe:literal;)*) => {
        /// What a key does.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Action {
            $($variant),*
        }

        impl Action {
            pub const ALL: &'static [Action] = &[$(Action::$variant),*];

            /// The name used in config.toml's `[keys]`.
            pub fn name(self) -> &'static str {
                match self {
                    $(Action::$variant => $name),*
                }
            }

            /// What the help says it does.
            pub fn describe(self) -> &'static str {
                match self {
                    $(Action::$variant => $describe),*
                }
            }

            /// The keys bound to it unless config.toml says otherwise.
            pub fn default_keys(self) -> &'static [&'static str] {
                match self {
                    $(Action::$variant => &[$($key),*]),*
                }
            }
        }
    };
}

actions! {
    Quit = "quit", ["q"], "quit (Ctrl-C too)";
    Help = "help", ["?"], "show or hide this help";
    Palette = "palette", [":"], "find an action by name and run it";
    Theme = "theme", ["t"], "next colour theme";
    NextTab = "next_tab", ["tab"], "next tab";
    PrevTab = "prev_tab", ["backtab"], "previous tab";
    Tab1 = "tab_1", ["1"], "Gauges";
    Tab2 = "tab_2", ["2"], "Cache";
    Tab3 = "tab_3", ["3"], "Events";
    Tab4 = "tab_4", ["4"], "Estimate";
    Tab5 = "tab_5", ["5"], "Planner";
    Up = "up", ["up", "k"], "scroll the focused list up";
    Down = "down", ["down", "j"], "scroll the focused list down";
    PageUp = "page_up", ["pageup"], "scroll a page up";
    PageDown = "page_down", ["pagedown"], "scroll a page down";
    Top = "top", ["g", "home"], "go to the first row";
    Bottom = "bottom", ["G", "end"], "go to the last row";
    FocusNext = "focus_next", ["right"], "focus the next panel";
    FocusPrev = "focus_prev", ["left"], "focus the previous panel";
    Pause = "pause", ["space"], "pause or resume the live tail";
    Filter = "filter", ["/"], "filter the list as you type (Enter keeps, Esc undoes)";
    Open = "open", ["enter"], "open the selected item";
    Forward = "forward", ["f"], "forward / replay the event to [receiver] forward_to";
    Close = "close", ["esc"], "close the detail or clear the filter";
    HorizonDown = "horizon_down", ["h"], "forecast a week less";
    HorizonUp = "horizon_up", ["H"], "forecast a week more";
    LevelDown = "level_down", ["l"], "lower the service level by 5 points";
    LevelUp = "level_up", ["L"], "raise the service level by 5 points";
    UsersDown = "users_down", ["u"], "5 licences fewer";
    UsersUp = "users_up", ["U"], "5 licences more";
    Export = "export", ["e"], "export: CSV, then JSON, then a Markdown report";
    Revalidate = "revalidate", ["r"], "revalidate: the next use asks Zoho with If-Modified-Since";
    Drop = "drop", ["d"], "drop the selected entry";
    ClearAll = "clear_all", ["D"], "clear every entry (press twice to confirm)";
    Sort = "sort", ["s"], "sort by the next column";
    Replan = "replan", ["p"], "re-plan the queue with the rules shown";
    Send = "send", ["s"], "send the plan to the sandbox (asks first)";
    RulePrev = "rule_prev", ["["], "previous rule";
    RuleNext = "rule_next", ["]"], "next rule";
    ToggleRule = "toggle_rule", ["space"], "turn the rule under the cursor on or off";
}

impl Action {
    /// The tab-switching action for the tab at `index` (0-based), if there is one.
    pub fn go_to(index: usize) -> Option<Action> {
        [
            Action::Tab1,
            Action::Tab2,
            Action::Tab3,
            Action::Tab4,
            Action::Tab5,
        ]
        .get(index)
        .copied()
    }

    /// The tab (0-based) a tab-switching action goes to.
    pub fn tab_index(self) -> Option<usize> {
        match self {
            Action::Tab1 => Some(0),
            Action::Tab2 => Some(1),
            Action::Tab3 => Some(2),
            Action::Tab4 => Some(3),
            Action::Tab5 => Some(4),
            _ => None,
        }
    }
}

/// Where an action means something: everywhere, or only on some tabs (a bit per tab index).
/// A key may serve several actions whose scopes do not overlap: `s` sorts the Cache view and
/// sends from the Planner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Everywhere,
    Tabs(u8),
}

impl Scope {
    fn overlaps(self, other: Scope) -> bool {
        match (self, other) {
            (Scope::Tabs(a), Scope::Tabs(b)) => a & b != 0,
            _ => true,
        }
    }

    fn has(self, tab: usize) -> bool {
        match self {
            Scope::Everywhere => false,
            Scope::Tabs(bits) => bits & (1 << tab) != 0,
        }
    }
}

/// A key as written in config: a character, or a name, optionally with `ctrl-`/`alt-`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    code: KeyCodeRepr,
    ctrl: bool,
    alt: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum KeyCodeRepr {
    Char(char),
    Named(u8),
}

const NAMED: &[(&str, KeyCode)] = &[
    ("tab", KeyCode::Tab),
    ("backtab", KeyCode::BackTab),
    ("up", KeyCode::Up),
    ("down", KeyCode::Down),
    ("left", KeyCode::Left),
    ("right", KeyCode::Right),
    ("pageup", KeyCode::PageUp),
    ("pagedown", KeyCode::PageDown),
    ("home", KeyCode::Home),
    ("end", KeyCode::End),
    ("enter", KeyCode::Enter),
    ("esc", KeyCode::Esc),
    ("backspace", KeyCode::Backspace),
];

impl Key {
    pub fn parse(s: &str) -> Result<Key, String> {
        let mut rest = s.trim();
        let (mut ctrl, mut alt) = (false, false);
        loop {
            if let Some(r) = rest.strip_prefix("ctrl-") {
                ctrl = true;
                rest = r;
            } else if let Some(r) = rest.strip_prefix("alt-") {
                alt = true;
                rest = r;
            } else {
                break;
            }
        }
        let lower = rest.to_ascii_lowercase();
        // Space arrives as a character, so it is one here too.
        if lower == "space" {
            return Ok(Key {
                code: KeyCodeRepr::Char(' '),
                ctrl,
                alt,
            });
        }
        if let Some(i) = NAMED.iter().position(|(n, _)| *n == lower) {
            return Ok(Key {
                code: KeyCodeRepr::Named(i as u8),
                ctrl,
                alt,
            });
        }
        let mut chars = rest.chars();
        match (chars.next(), chars.next()) {
            (Some(c), None) => Ok(Key { code: KeyCodeRepr::Char(c), ctrl, alt }),
            _ => Err(format!("`{s}` is not a key (a character, or one of tab, up, down, left, right, pageup, pagedown, enter, esc, space; ctrl- and alt- may prefix)")),
        }
    }

    pub fn from_event(e: &KeyEvent) -> Option<Key> {
        let ctrl = e.modifiers.contains(KeyModifiers::CONTROL);
        let alt = e.modifiers.contains(KeyModifiers::ALT);
        let code = match e.code {
            KeyCode::Char(c) => KeyCodeRepr::Char(c),
            other => KeyCodeRepr::Named(NAMED.iter().position(|(_, k)| *k == other)? as u8),
        };
        Some(Key { code, ctrl, alt })
    }

    pub fn label(&self) -> String {
        let base = match self.code {
            KeyCodeRepr::Char(' ') => "Space".into(),
            KeyCodeRepr::Char(c) => c.to_string(),
            KeyCodeRepr::Named(i) => match NAMED[i as usize].0 {
                "up" => "↑".into(),
                "down" => "↓".into(),
                "left" => "←".into(),
                "right" => "→".into(),
                "backtab" => "S-Tab".into(),
                "tab" => "Tab".into(),
                "pageup" => "PgUp".into(),
                "pagedown" => "PgDn".into(),
                other => other.into(),
            },
        };
        match (self.ctrl, self.alt) {
            (true, _) => format!("C-{base}"),
            (_, true) => format!("M-{base}"),
            _ => base,
        }
    }
}

/// Action ↔ keys, both ways. A key may be bound to several actions of different tabs, and an
/// action to several keys (`down = ["j", "down"]`).
#[derive(Debug, Clone)]
pub struct Bindings {
    by_key: BTreeMap<Key, Vec<Action>>,
    by_action: BTreeMap<Action, Vec<Key>>,
    scopes: BTreeMap<Action, Scope>,
}

impl Bindings {
    /// The defaults with config overrides (an override replaces all of an action's keys);
    /// unknown actions, bad keys and clashes are reported, not fatal. `scope` says where each
    /// action means something (the console's tabs declare what they handle).
    pub fn new(
        overrides: &BTreeMap<String, Vec<String>>,
        scope: impl Fn(Action) -> Scope,
    ) -> (Bindings, Vec<String>) {
        let mut warnings = Vec::new();
        let mut by_action: BTreeMap<Action, Vec<Key>> = BTreeMap::new();
        for &a in Action::ALL {
            let keys = a.default_keys().iter().filter_map(|k| Key::parse(k).ok());
            by_action.insert(a, keys.collect());
        }
        for (name, keys) in overrides {
            let Some(&action) = Action::ALL.iter().find(|a| a.name() == name) else {
                let known: Vec<&str> = Action::ALL.iter().map(|a| a.name()).collect();
                warnings.push(format!(
                    "[keys] {name}: no such action; known: {}",
                    known.join(", ")
                ));
                continue;
            };
            let mut parsed = Vec::new();
            for key in keys {
                match Key::parse(key) {
                    Ok(k) => parsed.push(k),
                    Err(e) => warnings.push(format!("[keys] {name}: {e}")),
                }
            }
            if !parsed.is_empty() {
                by_action.insert(action, parsed);
            }
        }
        let scopes: BTreeMap<Action, Scope> = Action::ALL.iter().map(|&a| (a, scope(a))).collect();
        let mut by_key: BTreeMap<Key, Vec<Action>> = BTreeMap::new();
        for (a, keys) in &by_action {
            for k in keys {
                by_key.entry(*k).or_default().push(*a);
            }
        }
        for (k, actions) in &by_key {
            // Two actions on one key work only if no tab means both.
            for (i, a) in actions.iter().enumerate() {
                for b in &actions[i + 1..] {
                    if scopes[a].overlaps(scopes[b]) {
                        warnings.push(format!(
                            "[keys] `{}` is bound to both {} and {}; {} wins",
                            k.label(),
                            a.name(),
                            b.name(),
                            a.name()
                        ));
                    }
                }
            }
        }
        (
            Bindings {
                by_key,
                by_action,
                scopes,
            },
            warnings,
        )
    }

    /// The action a key means on `tab`: that tab's own first, else one for every tab.
    pub fn action(&self, e: &KeyEvent, tab: usize) -> Option<Action> {
        if e.code == KeyCode::Char('c') && e.modifiers.contains(KeyModifiers::CONTROL) {
            return Some(Action::Quit);
        }
        let actions = self.by_key.get(&Key::from_event(e)?)?;
        let scope = |a: &Action| self.scopes.get(a).copied().unwrap_or(Scope::Everywhere);
        actions
            .iter()
            .find(|a| scope(a).has(tab))
            .or_else(|| actions.iter().find(|a| scope(a) == Scope::Everywhere))
            .or_else(|| actions.first())
            .copied()
    }

    /// An action's first key, for hints (`↓`).
    pub fn key_of(&self, a: Action) -> String {
        self.by_action
            .get(&a)
            .and_then(|keys| keys.first())
            .map(Key::label)
            .unwrap_or_else(|| "-".into())
    }

    /// All of an action's keys, as the help shows them (`↓/j`).
    pub fn keys_of(&self, a: Action) -> String {
        match self.by_action.get(&a) {
            Some(keys) if !keys.is_empty() => {
                keys.iter().map(Key::label).collect::<Vec<_>>().join("/")
            }
            _ => "-".into(),
        }
    }
}
