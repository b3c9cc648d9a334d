//! Key bindings: actions by name, keys as text (`q`, `?`, `ctrl-c`, `tab`, `up`), defaults here,
//! overridable in config.toml's `[keys]` (action = "key").

use std::collections::BTreeMap;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// What a key does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    Quit,
    Help,
    Theme,
    NextTab,
    PrevTab,
    Tab(usize),
    Up,
    Down,
    PageUp,
    PageDown,
    FocusNext,
    FocusPrev,
    Pause,
    Filter,
    Open,
    Forward,
    Close,
    HorizonDown,
    HorizonUp,
    LevelDown,
    LevelUp,
    UsersDown,
    UsersUp,
    Export,
    Revalidate,
    Drop,
    ClearAll,
    Sort,
    Replan,
    Send,
    RulePrev,
    RuleNext,
    ToggleRule,
}

impl Action {
    pub const ALL: [Action; 37] = [
        Action::Quit,
        Action::Help,
        Action::Theme,
        Action::NextTab,
        Action::PrevTab,
        Action::Tab(0),
        Action::Tab(1),
        Action::Tab(2),
        Action::Tab(3),
        Action::Tab(4),
        Action::Up,
        Action::Down,
        Action::PageUp,
        Action::PageDown,
        Action::FocusNext,
        Action::FocusPrev,
        Action::Pause,
        Action::Filter,
        Action::Open,
        Action::Forward,
        Action::Close,
        Action::HorizonDown,
        Action::HorizonUp,
        Action::LevelDown,
        Action::LevelUp,
        Action::UsersDown,
        Action::UsersUp,
        Action::Export,
        Action::Revalidate,
        Action::Drop,
        Action::ClearAll,
        Action::Sort,
        Action::Replan,
        Action::Send,
        Action::RulePrev,
        Action::RuleNext,
        Action::ToggleRule,
    ];

    /// The tab an action belongs to (None: every tab). A key may serve one action per tab:
    /// `s` sorts the Cache view and sends from the Planner.
    pub fn view(self) -> Option<usize> {
        match self {
            Action::Revalidate | Action::Drop | Action::ClearAll | Action::Sort => Some(1),
            Action::Pause | Action::Forward => Some(2),
            Action::HorizonDown
            | Action::HorizonUp
            | Action::LevelDown
            | Action::LevelUp
            | Action::UsersDown
            | Action::UsersUp
            | Action::Export => Some(3),
            Action::Replan
            | Action::Send
            | Action::RulePrev
            | Action::RuleNext
            | Action::ToggleRule => Some(4),
            _ => None,
        }
    }

    /// The name used in config.toml.
    pub fn name(self) -> String {
        match self {
            Action::Quit => "quit".into(),
            Action::Help => "help".into(),
            Action::Theme => "theme".into(),
            Action::NextTab => "next_tab".into(),
            Action::PrevTab => "prev_tab".into(),
            Action::Tab(i) => format!("tab_{}", i + 1),
            Action::Up => "up".into(),
            Action::Down => "down".into(),
            Action::PageUp => "page_up".into(),
            Action::PageDown => "page_down".into(),
            Action::FocusNext => "focus_next".into(),
            Action::FocusPrev => "focus_prev".into(),
            Action::Pause => "pause".into(),
            Action::Filter => "filter".into(),
            Action::Open => "open".into(),
            Action::Forward => "forward".into(),
            Action::Close => "close".into(),
            Action::HorizonDown => "horizon_down".into(),
            Action::HorizonUp => "horizon_up".into(),
            Action::LevelDown => "level_down".into(),
            Action::LevelUp => "level_up".into(),
            Action::UsersDown => "users_down".into(),
            Action::UsersUp => "users_up".into(),
            Action::Export => "export".into(),
            Action::Revalidate => "revalidate".into(),
            Action::Drop => "drop".into(),
            Action::ClearAll => "clear_all".into(),
            Action::Sort => "sort".into(),
            Action::Replan => "replan".into(),
            Action::Send => "send".into(),
            Action::RulePrev => "rule_prev".into(),
            Action::RuleNext => "rule_next".into(),
            Action::ToggleRule => "toggle_rule".into(),
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Action::Quit => "quit (Ctrl-C too)",
            Action::Help => "show or hide this help",
            Action::Theme => "next colour theme",
            Action::NextTab => "next tab",
            Action::PrevTab => "previous tab",
            Action::Tab(0) => "Gauges",
            Action::Tab(1) => "Cache",
            Action::Tab(2) => "Events",
            Action::Tab(3) => "Estimate",
            Action::Tab(_) => "Planner",
            Action::Up => "scroll the focused list up",
            Action::Down => "scroll the focused list down",
            Action::PageUp => "scroll a page up",
            Action::PageDown => "scroll a page down",
            Action::FocusNext => "focus the next panel",
            Action::FocusPrev => "focus the previous panel",
            Action::Pause => "pause or resume the live tail",
            Action::Filter => "filter: module=… operation=… kind=… or words",
            Action::Open => "open the selected event (JSON and headers)",
            Action::Forward => "forward / replay the event to [receiver] forward_to",
            Action::Close => "close the detail or cancel the filter",
            Action::HorizonDown => "forecast a week less",
            Action::HorizonUp => "forecast a week more",
            Action::LevelDown => "lower the service level by 5 points",
            Action::LevelUp => "raise the service level by 5 points",
            Action::UsersDown => "5 licences fewer",
            Action::UsersUp => "5 licences more",
            Action::Export => "export: CSV, then JSON, then a Markdown report",
            Action::Revalidate => "revalidate: the next use asks Zoho with If-Modified-Since",
            Action::Drop => "drop the selected entry",
            Action::ClearAll => "clear every entry (press twice to confirm)",
            Action::Sort => "sort by the next column",
            Action::Replan => "re-plan the queue with the rules shown",
            Action::Send => "send the plan to the sandbox (asks first)",
            Action::RulePrev => "previous rule",
            Action::RuleNext => "next rule",
            Action::ToggleRule => "turn the rule under the cursor on or off",
        }
    }

    fn default_key(self) -> &'static str {
        match self {
            Action::Quit => "q",
            Action::Help => "?",
            Action::Theme => "t",
            Action::NextTab => "tab",
            Action::PrevTab => "backtab",
            Action::Tab(0) => "1",
            Action::Tab(1) => "2",
            Action::Tab(2) => "3",
            Action::Tab(3) => "4",
            Action::Tab(_) => "5",
            Action::Up => "up",
            Action::Down => "down",
            Action::PageUp => "pageup",
            Action::PageDown => "pagedown",
            Action::FocusNext => "right",
            Action::FocusPrev => "left",
            Action::Pause => "space",
            Action::Filter => "/",
            Action::Open => "enter",
            Action::Forward => "f",
            Action::Close => "esc",
            Action::HorizonDown => "h",
            Action::HorizonUp => "H",
            Action::LevelDown => "l",
            Action::LevelUp => "L",
            Action::UsersDown => "u",
            Action::UsersUp => "U",
            Action::Export => "e",
            Action::Revalidate => "r",
            Action::Drop => "d",
            Action::ClearAll => "D",
            Action::Sort => "s",
            Action::Replan => "p",
            Action::Send => "s",
            Action::RulePrev => "[",
            Action::RuleNext => "]",
            Action::ToggleRule => "space",
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

/// Action ↔ key, both ways. A key may be bound to several actions of different tabs.
#[derive(Debug, Clone)]
pub struct Bindings {
    by_key: BTreeMap<Key, Vec<Action>>,
    by_action: BTreeMap<Action, Key>,
}

impl Bindings {
    /// The defaults with config overrides; unknown actions and bad keys are reported, not fatal.
    pub fn new(overrides: &BTreeMap<String, String>) -> (Bindings, Vec<String>) {
        let mut warnings = Vec::new();
        let mut by_action = BTreeMap::new();
        for a in Action::ALL {
            if let Ok(k) = Key::parse(a.default_key()) {
                by_action.insert(a, k);
            }
        }
        for (name, key) in overrides {
            let Some(action) = Action::ALL.iter().find(|a| a.name() == *name) else {
                warnings.push(format!(
                    "[keys] {name}: no such action; known: {}",
                    Action::ALL.map(Action::name).join(", ")
                ));
                continue;
            };
            match Key::parse(key) {
                Ok(k) => {
                    by_action.insert(*action, k);
                }
                Err(e) => warnings.push(format!("[keys] {name}: {e}")),
            }
        }
        let mut by_key: BTreeMap<Key, Vec<Action>> = BTreeMap::new();
        for (a, k) in &by_action {
            by_key.entry(*k).or_default().push(*a);
        }
        for (k, actions) in &by_key {
            // Two actions on one key work only if they belong to different tabs.
            for (i, a) in actions.iter().enumerate() {
                for b in &actions[i + 1..] {
                    let clash = match (a.view(), b.view()) {
                        (Some(x), Some(y)) => x == y,
                        _ => true,
                    };
                    if clash {
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
        (Bindings { by_key, by_action }, warnings)
    }

    /// The action a key means on `tab`: that tab's own first, else one for every tab.
    pub fn action(&self, e: &KeyEvent, tab: usize) -> Option<Action> {
        if e.code == KeyCode::Char('c') && e.modifiers.contains(KeyModifiers::CONTROL) {
            return Some(Action::Quit);
        }
        let actions = self.by_key.get(&Key::from_event(e)?)?;
        actions
            .iter()
            .find(|a| a.view() == Some(tab))
            .or_else(|| actions.iter().find(|a| a.view().is_none()))
            .or_else(|| actions.first())
            .copied()
    }

    pub fn key_of(&self, a: Action) -> String {
        self.by_action
            .get(&a)
            .map(Key::label)
            .unwrap_or_else(|| "-".into())
    }
}
