//! The console's state and its reactions to input. Rendering is a pure function of this state
//! (`App::draw`), so tests drive it on a `TestBackend` with scripted input. The app owns what
//! every tab shares (theme, keys, the tab bar, help, the filter being typed); each tab owns the
//! rest (`crate::tabs`).

use std::cell::RefCell;
use std::collections::BTreeMap;

use crossterm::event::{Event, KeyEventKind, MouseButton, MouseEventKind};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Row, Table};
use ratatui::Frame;
use tokio::sync::mpsc::UnboundedSender;

use crate::keys::{Action, Bindings, Scope};
use crate::tabs::cache::CacheTab;
use crate::tabs::estimate::{EstimateOutcome, EstimateTab};
use crate::tabs::events::EventsTab;
use crate::tabs::gauges::GaugesTab;
use crate::tabs::planner::{LoadedQueue, PlannerTab};
pub use crate::tabs::Command;
use crate::tabs::{Cx, DrawCtx, Tab};
use crate::theme::{Theme, ThemeSet};

/// What the console watches, said plainly in the status bar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub embedded: bool,
    pub label: String,
}

/// Input, from the terminal, the runtime or a test script.
#[derive(Debug, Clone)]
pub enum Input {
    Terminal(Event),
    /// The 1 Hz clock (countdowns).
    Tick(i64),
    /// A message for the status line (the result of a forward, say).
    Message(String),
    /// The outcome of a plan sent to the sandbox.
    PlanSent(Result<creditops_net::send::Report, String>),
    /// The Planner's queue, read and planned off the loop.
    QueueLoaded(Box<LoadedQueue>),
    /// An estimate computed off the loop (its request number, its outcome).
    Estimated(u64, Box<EstimateOutcome>),
}

/// The smallest screen the console draws on (columns, rows).
pub const MIN_SIZE: (u16, u16) = (60, 16);

/// The actions every tab shares.
const GLOBAL: &[Action] = &[
    Action::Quit,
    Action::Help,
    Action::Palette,
    Action::Theme,
    Action::NextTab,
    Action::PrevTab,
    Action::Tab1,
    Action::Tab2,
    Action::Tab3,
    Action::Tab4,
    Action::Tab5,
];

/// Where an action means something: everywhere for the shared ones, else on the tabs that
/// declare it.
pub fn scope(a: Action) -> Scope {
    if GLOBAL.contains(&a) {
        return Scope::Everywhere;
    }
    Scope::Tabs(
        Tab::ALL
            .iter()
            .filter(|t| t.keys().contains(&a))
            .fold(0, |bits, t| bits | 1 << t.index()),
    )
}

/// The console's key bindings: the defaults with config.toml's `[keys]` over them, scoped by
/// what each tab handles. Returns the warnings too (unknown actions, bad keys, clashes).
pub fn bindings(
    overrides: &BTreeMap<String, creditops_config::KeyList>,
) -> (Bindings, Vec<String>) {
    let overrides = overrides
        .iter()
        .map(|(action, keys)| (action.clone(), keys.keys()))
        .collect();
    Bindings::new(&overrides, scope)
}

pub struct App {
    pub tab: Tab,
    pub help: bool,
    pub themes: ThemeSet,
    pub theme: Theme,
    pub keys: Bindings,
    pub source: Source,
    pub quit: bool,
    pub now_ms: i64,
    /// The `/` filter being typed, for the tab that asked for it.
    pub filter_input: Option<String>,
    /// The filter the list had when `/` was pressed, put back by Esc.
    filter_before: String,
    /// The `:` palette, when open: what was typed and which match is selected.
    pub palette: Option<(String, usize)>,
    pub message: Option<String>,
    /// Where side effects go.
    pub commands: Option<UnboundedSender<Command>>,
    pub gauges: GaugesTab,
    pub cache: CacheTab,
    pub events: EventsTab,
    pub estimate: EstimateTab,
    pub planner: PlannerTab,
    /// Where the last draw put the tab titles and the panels, for mouse hit-testing.
    tab_hits: RefCell<Vec<(Rect, Tab)>>,
    panel_hits: RefCell<Vec<(Rect, usize)>>,
}

impl App {
    pub fn new(themes: ThemeSet, theme: Theme, keys: Bindings, source: Source, now_ms: i64) -> App {
        App {
            tab: Tab::Gauges,
            help: false,
            palette: None,
            themes,
            theme,
            keys,
            source,
            quit: false,
            now_ms,
            filter_input: None,
            filter_before: String::new(),
            message: None,
            commands: None,
            gauges: GaugesTab::default(),
            cache: CacheTab::default(),
            events: EventsTab::default(),
            estimate: EstimateTab::new(
                creditops_core::credits::Editions::builtin(),
                "enterprise",
                10,
                std::env::temp_dir(),
            ),
            planner: PlannerTab::new(creditops_core::credits::CostTable::builtin()),
            tab_hits: RefCell::new(Vec::new()),
            panel_hits: RefCell::new(Vec::new()),
        }
    }

    /// Applies an input; returns whether the screen must be redrawn.
    pub fn on_input(&mut self, input: Input) -> bool {
        match input {
            Input::Tick(now) => {
                self.now_ms = now;
                match self.tab {
                    // Ages and hit counts move: re-read the cache once a second while shown.
                    Tab::Cache => {
                        self.cache.refresh(now);
                        self.cache.stats.is_some()
                    }
                    // The Gauges view and the channels' expiry count down; other tabs stay still.
                    Tab::Gauges => self.gauges.ticks(),
                    Tab::Events => self.events.ticks(),
                    Tab::Estimate | Tab::Planner => false,
                }
            }
            Input::Message(m) => {
                self.message = Some(m);
                true
            }
            Input::PlanSent(outcome) => {
                self.planner.finish(outcome);
                self.tab == Tab::Planner
            }
            Input::QueueLoaded(loaded) => {
                self.planner.accept(*loaded);
                self.tab == Tab::Planner
            }
            Input::Estimated(seq, outcome) => {
                self.estimate.finish(seq, *outcome);
                self.tab == Tab::Estimate
            }
            Input::Terminal(Event::Resize(_, _)) => true,
            Input::Terminal(Event::Key(k)) => {
                if k.kind == KeyEventKind::Release {
                    return false;
                }
                if let Some(buf) = self.filter_input.as_mut() {
                    // Typing a filter: keys are text, and the list follows what is typed; Enter
                    // keeps it, Esc puts back the filter there was before `/`.
                    match k.code {
                        crossterm::event::KeyCode::Enter => self.filter_input = None,
                        crossterm::event::KeyCode::Esc => {
                            self.filter_input = None;
                            let before = std::mem::take(&mut self.filter_before);
                            self.apply_filter(&before);
                        }
                        crossterm::event::KeyCode::Backspace => {
                            buf.pop();
                            let typed = buf.clone();
                            self.apply_filter(&typed);
                        }
                        crossterm::event::KeyCode::Char(c) => {
                            buf.push(c);
                            let typed = buf.clone();
                            self.apply_filter(&typed);
                        }
                        _ => {}
                    }
                    return true;
                }
                if self.palette.is_some() {
                    return self.palette_key(k.code);
                }
                let action = self.keys.action(&k, self.tab.index());
                if self.help {
                    // The help is a modal: `?` or Esc closes it, quit quits, and nothing under
                    // it moves.
                    return match action {
                        Some(Action::Help | Action::Close) => {
                            self.help = false;
                            true
                        }
                        Some(Action::Quit) => {
                            self.quit = true;
                            true
                        }
                        _ => false,
                    };
                }
                match action {
                    Some(a) => {
                        self.act(a);
                        true
                    }
                    None => false,
                }
            }
            Input::Terminal(Event::Mouse(m)) => {
                let inside = |r: &Rect| {
                    m.column >= r.x
                        && m.column < r.x + r.width
                        && m.row >= r.y
                        && m.row < r.y + r.height
                };
                let panel = self
                    .panel_hits
                    .borrow()
                    .iter()
                    .find(|(r, _)| inside(r))
                    .map(|(_, p)| *p);
                match m.kind {
                    MouseEventKind::Down(MouseButton::Left) => {
                        let tab = self
                            .tab_hits
                            .borrow()
                            .iter()
                            .find(|(r, _)| inside(r))
                            .map(|(_, t)| *t);
                        if let Some(t) = tab {
                            self.switch_to(t);
                            return true;
                        }
                        if let Some(p) = panel {
                            self.gauges.focus = p;
                            return true;
                        }
                        false
                    }
                    MouseEventKind::ScrollDown | MouseEventKind::ScrollUp => {
                        if let Some(p) = panel {
                            self.gauges.focus = p;
                        }
                        self.act(if matches!(m.kind, MouseEventKind::ScrollDown) {
                            Action::Down
                        } else {
                            Action::Up
                        });
                        true
                    }
                    _ => false,
                }
            }
            Input::Terminal(_) => false,
        }
    }

    /// The focused tab takes the action first; what it does not take, the app does.
    /// Applies a filter to the focused tab's list (the lists that take one: Cache, Events).
    fn apply_filter(&mut self, filter: &str) {
        match self.tab {
            Tab::Cache => self.cache.set_filter(filter),
            Tab::Events => self.events.set_filter(filter),
            _ => {}
        }
    }

    fn act(&mut self, a: Action) {
        let opening_filter = self.filter_input.is_none();
        let mut cx = Cx {
            now_ms: self.now_ms,
            filter_input: &mut self.filter_input,
            message: &mut self.message,
            commands: self.commands.as_ref(),
        };
        let taken = match self.tab {
            Tab::Gauges => self.gauges.handle(a),
            Tab::Cache => self.cache.handle(a, &mut cx),
            Tab::Events => self.events.handle(a, &mut cx),
            Tab::Estimate => self.estimate.handle(a, self.commands.as_ref()),
            Tab::Planner => self.planner.handle(a, &mut cx),
        };
        if taken {
            if opening_filter {
                if let Some(f) = &self.filter_input {
                    self.filter_before = f.clone();
                }
            }
            return;
        }
        match a {
            Action::Quit => self.quit = true,
            Action::Help => self.help = !self.help,
            Action::Palette => self.palette = Some((String::new(), 0)),
            Action::Theme if self.theme.palette.mono => {
                self.message = Some("NO_COLOR is set: the console stays without colours".into())
            }
            Action::Theme => self.theme = self.themes.next_after(&self.theme.name).clone(),
            Action::NextTab => self.switch_to(self.tab.next()),
            Action::PrevTab => self.switch_to(self.tab.prev()),
            _ => {
                if let Some(i) = a.tab_index() {
                    self.switch_to(Tab::at(i));
                }
            }
        }
    }

    /// Shows `tab` (reading what it needs on entering it).
    pub fn switch_to(&mut self, tab: Tab) {
        let before = self.tab;
        self.tab = tab;
        if tab == before {
            return;
        }
        match tab {
            Tab::Cache => self.cache.refresh(self.now_ms),
            // Entering the Estimate view reads the latest history.
            Tab::Estimate => self.estimate.recompute(self.commands.as_ref()),
            _ => {}
        }
    }

    /// Draws the whole screen.
    pub fn draw(&self, f: &mut Frame) {
        let p = self.theme.palette;
        let area = f.area();
        f.render_widget(
            Block::default().style(Style::default().bg(p.background).fg(p.text)),
            area,
        );
        if area.width < MIN_SIZE.0 || area.height < MIN_SIZE.1 {
            // Below a workable size, say so rather than draw numbers cut in half.
            let text = format!(
                "terminal too small: need {}×{}, have {}×{}",
                MIN_SIZE.0, MIN_SIZE.1, area.width, area.height
            );
            let y = area.y + area.height / 2;
            f.render_widget(
                Paragraph::new(text)
                    .alignment(ratatui::layout::Alignment::Center)
                    .wrap(ratatui::widgets::Wrap { trim: true })
                    .style(Style::default().fg(p.warn)),
                Rect::new(area.x, y.saturating_sub(1), area.width, area.height.min(3)),
            );
            return;
        }
        let [top, body, bottom] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Min(0),
            Constraint::Length(1),
        ])
        .areas(area);
        self.draw_tabs(f, top);
        self.panel_hits.borrow_mut().clear();
        let cx = DrawCtx {
            theme: &self.theme,
            keys: &self.keys,
            now_ms: self.now_ms,
            filter_input: self.filter_input.as_deref(),
            message: self.message.as_deref(),
            panels: &self.panel_hits,
        };
        use crate::tabs::{cache, estimate, events, gauges, planner};
        match self.tab {
            Tab::Gauges => gauges::draw(f, body, &self.gauges, &cx),
            Tab::Cache => cache::draw(f, body, &self.cache, &cx),
            Tab::Events => events::draw(f, body, &self.events, &cx),
            Tab::Estimate => estimate::draw(f, body, &self.estimate, &cx),
            Tab::Planner => planner::draw(f, body, &self.planner, &cx),
        }
        self.draw_bottom(f, bottom);
        if self.help {
            self.draw_help(f, area);
        }
        if self.palette.is_some() {
            self.draw_palette(f, area);
        }
    }

    /// The actions the palette offers for `query` on this tab: every word of the query in the
    /// action's name or description (case-insensitive), the palette itself left out.
    pub fn palette_matches(&self, query: &str) -> Vec<Action> {
        let words: Vec<String> = query.split_whitespace().map(str::to_lowercase).collect();
        Action::ALL
            .iter()
            .copied()
            .filter(|a| *a != Action::Palette)
            .filter(|a| match scope(*a) {
                Scope::Everywhere => true,
                Scope::Tabs(bits) => bits & (1 << self.tab.index()) != 0,
            })
            .filter(|a| {
                let text = format!("{} {}", a.name(), a.describe()).to_lowercase();
                words.iter().all(|w| text.contains(w.as_str()))
            })
            .collect()
    }

    /// A key while the palette is open: text, ↑↓ to choose, Enter runs, Esc closes.
    fn palette_key(&mut self, code: crossterm::event::KeyCode) -> bool {
        use crossterm::event::KeyCode;
        let Some((query, selected)) = self.palette.as_mut() else {
            return false;
        };
        match code {
            KeyCode::Esc => self.palette = None,
            KeyCode::Enter => {
                let (query, at) = (query.clone(), *selected);
                let chosen = self.palette_matches(&query).get(at).copied();
                self.palette = None;
                if let Some(a) = chosen {
                    self.act(a);
                }
            }
            KeyCode::Up => *selected = selected.saturating_sub(1),
            KeyCode::Down => *selected += 1,
            KeyCode::Backspace => {
                query.pop();
                *selected = 0;
            }
            KeyCode::Char(c) => {
                query.push(c);
                *selected = 0;
            }
            _ => return false,
        }
        if let Some((q, sel)) = self.palette.clone() {
            let n = self.palette_matches(&q).len();
            if let Some(p) = self.palette.as_mut() {
                p.1 = sel.min(n.saturating_sub(1));
            }
        }
        true
    }

    /// The palette: what was typed, and the actions it matches with their keys.
    fn draw_palette(&self, f: &mut Frame, area: Rect) {
        let Some((query, selected)) = &self.palette else {
            return;
        };
        let p = self.theme.palette;
        let matches = self.palette_matches(query);
        let w = 72.min(area.width);
        let h = (matches.len() as u16 + 4).clamp(5, 16).min(area.height);
        let popup = Rect::new(
            area.x + (area.width - w) / 2,
            area.y + 2.min(area.height - h),
            w,
            h,
        );
        f.render_widget(Clear, popup);
        let block = Block::bordered()
            .title(" : run an action (Enter runs, Esc closes) ")
            .border_style(Style::default().fg(p.border_focused))
            .style(Style::default().bg(p.surface).fg(p.text));
        let inner = block.inner(popup);
        f.render_widget(block, popup);
        let [input, list] =
            Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(inner);
        f.render_widget(
            Paragraph::new(Line::from(vec![
                Span::styled(": ", Style::default().fg(p.accent)),
                Span::raw(query.clone()),
                Span::styled("▏", Style::default().fg(p.accent)),
            ])),
            input,
        );
        if matches.is_empty() {
            f.render_widget(
                Paragraph::new(Span::styled(
                    "no action matches",
                    Style::default().fg(p.muted),
                )),
                list,
            );
            return;
        }
        let skip = selected.saturating_sub(list.height.saturating_sub(1) as usize);
        let rows: Vec<Row> = matches
            .iter()
            .enumerate()
            .skip(skip)
            .map(|(i, a)| {
                let r = Row::new(vec![
                    a.name().to_string(),
                    self.keys.keys_of(*a),
                    a.describe().to_string(),
                ]);
                if i == *selected {
                    r.style(p.selected())
                } else {
                    r
                }
            })
            .collect();
        f.render_widget(
            Table::new(
                rows,
                [
                    Constraint::Length(14),
                    Constraint::Length(9),
                    Constraint::Min(10),
                ],
            ),
            list,
        );
    }

    fn draw_tabs(&self, f: &mut Frame, area: Rect) {
        let p = self.theme.palette;
        let mut spans = vec![Span::styled(
            " creditops ",
            Style::default().fg(p.header).add_modifier(Modifier::BOLD),
        )];
        let mut x = area.x + " creditops ".len() as u16;
        let mut hits = Vec::new();
        for tab in Tab::ALL {
            let label = format!(" {} {} ", tab.index() + 1, tab.title());
            let w = label.chars().count() as u16;
            hits.push((Rect::new(x, area.y, w, 1), tab));
            x += w + 1;
            let style = if tab == self.tab {
                p.selected().add_modifier(Modifier::BOLD)
            } else {
                Style::default().fg(p.muted)
            };
            spans.push(Span::styled(label, style));
            spans.push(Span::raw(" "));
        }
        *self.tab_hits.borrow_mut() = hits;
        f.render_widget(Paragraph::new(Line::from(spans)), area);
    }

    fn draw_bottom(&self, f: &mut Frame, area: Rect) {
        let p = self.theme.palette;
        let k = |a| self.keys.key_of(a);
        let hints = format!(
            " {} quit {} help {} theme {}-{}/{} tabs {}{} focus {}{} scroll ",
            k(Action::Quit),
            k(Action::Help),
            k(Action::Theme),
            k(Action::Tab1),
            k(Action::Tab5),
            k(Action::NextTab),
            k(Action::FocusPrev),
            k(Action::FocusNext),
            k(Action::Up),
            k(Action::Down),
        );
        // Narrow screens keep the key hints and say only what matters about the source.
        let narrow = area.width < 110;
        let label = match (self.source.embedded, narrow) {
            (true, true) => "EMBEDDED SANDBOX".to_string(),
            _ => self.source.label.clone(),
        };
        let status = if self.source.embedded {
            Span::styled(
                format!(" {label} "),
                Style::default()
                    .fg(p.background)
                    .bg(p.warn)
                    .add_modifier(Modifier::BOLD),
            )
        } else {
            Span::styled(
                format!(" {label} "),
                Style::default().fg(p.background).bg(p.accent),
            )
        };
        let theme = Span::styled(
            if narrow {
                String::new()
            } else {
                format!(" {} ", self.theme.name)
            },
            Style::default().fg(p.muted),
        );
        let right_width = (status.width() + theme.width()) as u16;
        let [left, right] = Layout::horizontal([
            Constraint::Min(0),
            Constraint::Length(right_width.min(area.width)),
        ])
        .areas(area);
        f.render_widget(
            Paragraph::new(Span::styled(hints, Style::default().fg(p.muted))),
            left,
        );
        f.render_widget(Paragraph::new(Line::from(vec![theme, status])), right);
    }

    /// The keys of the focused view, in a centred box.
    fn draw_help(&self, f: &mut Frame, area: Rect) {
        let p = self.theme.palette;
        let view_actions = self.tab.keys();
        let row = |a: &Action| Row::new(vec![self.keys.keys_of(*a), a.describe().to_string()]);
        let mut rows: Vec<Row> = vec![Row::new(vec![
            format!("{} view", self.tab.title()),
            String::new(),
        ])
        .style(Style::default().fg(p.header).add_modifier(Modifier::BOLD))];
        // Pairs on one line each (up/down, page up/down, first/last, panels, rules): the
        // help of every view fits 80×24.
        const PAIRS: &[(Action, Action, &str)] = &[
            (Action::Up, Action::Down, "scroll up, down"),
            (Action::PageUp, Action::PageDown, "a page up, down"),
            (Action::Top, Action::Bottom, "first row, last row"),
            (
                Action::FocusNext,
                Action::FocusPrev,
                "next panel, previous panel",
            ),
            (
                Action::RulePrev,
                Action::RuleNext,
                "previous rule, next rule",
            ),
        ];
        for a in view_actions {
            let pair = PAIRS.iter().find(|(x, y, _)| {
                (x == a || y == a) && view_actions.contains(x) && view_actions.contains(y)
            });
            match pair {
                Some((x, y, what)) if x == a => rows.push(Row::new(vec![
                    format!("{} {}", self.keys.keys_of(*x), self.keys.keys_of(*y)),
                    (*what).to_string(),
                ])),
                Some(_) => {}
                None => rows.push(row(a)),
            }
        }
        rows.push(
            Row::new(vec!["Everywhere".to_string(), String::new()])
                .style(Style::default().fg(p.header).add_modifier(Modifier::BOLD)),
        );
        // The five tab keys on one line: the help fits 80×24 with the longest view's keys.
        let tabs = [
            Action::Tab1,
            Action::Tab2,
            Action::Tab3,
            Action::Tab4,
            Action::Tab5,
        ];
        let paired = [Action::NextTab, Action::PrevTab];
        rows.extend(
            GLOBAL
                .iter()
                .filter(|a| !tabs.contains(a) && !paired.contains(a))
                .map(row),
        );
        rows.push(Row::new(vec![
            format!(
                "{} {}",
                self.keys.keys_of(Action::NextTab),
                self.keys.keys_of(Action::PrevTab)
            ),
            "next tab, previous tab".to_string(),
        ]));
        rows.push(Row::new(vec![
            tabs.iter()
                .map(|a| self.keys.keys_of(*a))
                .collect::<Vec<_>>()
                .join(" "),
            tabs.iter()
                .map(|a| a.describe())
                .collect::<Vec<_>>()
                .join(" · "),
        ]));
        rows.push(Row::new(vec![
            "mouse".to_string(),
            "click a tab or panel; wheel scrolls".to_string(),
        ]));
        let h = (rows.len() as u16 + 2).min(area.height);
        let w = 72.min(area.width);
        let popup = Rect::new(
            area.x + (area.width - w) / 2,
            area.y + (area.height - h) / 2,
            w,
            h,
        );
        f.render_widget(Clear, popup);
        let table = Table::new(rows, [Constraint::Length(14), Constraint::Min(10)]).block(
            Block::bordered()
                .title(" Help: keys ")
                .border_style(Style::default().fg(p.border_focused))
                .style(Style::default().bg(p.surface).fg(p.text)),
        );
        f.render_widget(table, popup);
    }
}
