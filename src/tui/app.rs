//! The console's state and its reactions to input. Rendering is a pure function of this state
//! (`App::draw`), so tests drive it on a `TestBackend` with scripted input.

use std::cell::RefCell;

use crossterm::event::{Event, KeyEventKind, MouseButton, MouseEventKind};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Row, Table, Wrap};
use ratatui::Frame;

use super::data::Snapshot;
use super::keys::{Action, Bindings};
use super::views;
use crate::theme::{Theme, ThemeSet};

pub const TABS: [&str; 5] = ["Gauges", "Cache", "Events", "Estimate", "Planner"];

/// What the console watches, said plainly in the status bar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub embedded: bool,
    pub label: String,
}

/// Input, from the terminal or a test script.
#[derive(Debug, Clone)]
pub enum Input {
    Terminal(Event),
    /// The 1 Hz clock (countdowns).
    Tick(i64),
}

pub struct App {
    pub tab: usize,
    pub help: bool,
    pub themes: ThemeSet,
    pub theme: Theme,
    pub keys: Bindings,
    pub snapshot: Snapshot,
    pub source: Source,
    /// Which breakdown panel has focus (module, API, integration).
    pub focus: usize,
    pub scroll: [usize; 3],
    pub quit: bool,
    pub now_ms: i64,
    pub warnings: Vec<String>,
    /// Where the last draw put the tab titles and the panels, for mouse hit-testing.
    hit: RefCell<Hits>,
}

#[derive(Debug, Default, Clone)]
struct Hits {
    tabs: Vec<(Rect, usize)>,
    panels: Vec<(Rect, usize)>,
}

impl App {
    pub fn new(themes: ThemeSet, theme: Theme, keys: Bindings, source: Source, now_ms: i64) -> App {
        App {
            tab: 0,
            help: false,
            themes,
            theme,
            keys,
            snapshot: Snapshot::default(),
            source,
            focus: 0,
            scroll: [0; 3],
            quit: false,
            now_ms,
            warnings: Vec::new(),
            hit: RefCell::new(Hits::default()),
        }
    }

    /// Applies an input; returns whether the screen must be redrawn.
    pub fn on_input(&mut self, input: Input) -> bool {
        match input {
            Input::Tick(now) => {
                self.now_ms = now;
                // Only the Gauges view counts down; other tabs stay still when idle.
                self.tab == 0 && self.snapshot.usage.is_some()
            }
            Input::Terminal(Event::Resize(_, _)) => true,
            Input::Terminal(Event::Key(k)) => {
                if k.kind == KeyEventKind::Release {
                    return false;
                }
                match self.keys.action(&k) {
                    Some(a) => {
                        self.act(a);
                        true
                    }
                    None if self.help => {
                        // Any other key closes the help.
                        self.help = false;
                        true
                    }
                    None => false,
                }
            }
            Input::Terminal(Event::Mouse(m)) => {
                let hits = self.hit.borrow().clone();
                let inside = |r: &Rect| {
                    m.column >= r.x
                        && m.column < r.x + r.width
                        && m.row >= r.y
                        && m.row < r.y + r.height
                };
                match m.kind {
                    MouseEventKind::Down(MouseButton::Left) => {
                        if let Some((_, t)) = hits.tabs.iter().find(|(r, _)| inside(r)) {
                            self.tab = *t;
                            return true;
                        }
                        if let Some((_, p)) = hits.panels.iter().find(|(r, _)| inside(r)) {
                            self.focus = *p;
                            return true;
                        }
                        false
                    }
                    MouseEventKind::ScrollDown | MouseEventKind::ScrollUp => {
                        if let Some((_, p)) = hits.panels.iter().find(|(r, _)| inside(r)) {
                            self.focus = *p;
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

    fn act(&mut self, a: Action) {
        match a {
            Action::Quit => self.quit = true,
            Action::Help => self.help = !self.help,
            Action::Theme => self.theme = self.themes.next_after(&self.theme.name).clone(),
            Action::NextTab => self.tab = (self.tab + 1) % TABS.len(),
            Action::PrevTab => self.tab = (self.tab + TABS.len() - 1) % TABS.len(),
            Action::Tab(i) => self.tab = i.min(TABS.len() - 1),
            Action::FocusNext => self.focus = (self.focus + 1) % 3,
            Action::FocusPrev => self.focus = (self.focus + 2) % 3,
            Action::Up => self.scroll[self.focus] = self.scroll[self.focus].saturating_sub(1),
            Action::Down => {
                self.scroll[self.focus] =
                    (self.scroll[self.focus] + 1).min(self.rows_in(self.focus).saturating_sub(1))
            }
            Action::PageUp => self.scroll[self.focus] = self.scroll[self.focus].saturating_sub(10),
            Action::PageDown => {
                self.scroll[self.focus] =
                    (self.scroll[self.focus] + 10).min(self.rows_in(self.focus).saturating_sub(1))
            }
        }
    }

    fn rows_in(&self, panel: usize) -> usize {
        self.snapshot.usage.as_ref().map_or(0, |u| match panel {
            0 => u.by_module.len(),
            1 => u.by_api.len(),
            _ => u.by_integration.len(),
        })
    }

    pub(crate) fn set_panel_hits(&self, panels: Vec<(Rect, usize)>) {
        self.hit.borrow_mut().panels = panels;
    }

    /// Draws the whole screen.
    pub fn draw(&self, f: &mut Frame) {
        let p = self.theme.palette;
        let area = f.area();
        f.render_widget(
            Block::default().style(Style::default().bg(p.background).fg(p.text)),
            area,
        );
        let [top, body, bottom] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Min(0),
            Constraint::Length(1),
        ])
        .areas(area);
        self.draw_tabs(f, top);
        self.hit.borrow_mut().panels.clear();
        match self.tab {
            0 => views::gauges::draw(f, body, self),
            i => views::pending::draw(f, body, self, i),
        }
        self.draw_bottom(f, bottom);
        if self.help {
            self.draw_help(f, area);
        }
    }

    fn draw_tabs(&self, f: &mut Frame, area: Rect) {
        let p = self.theme.palette;
        let mut spans = vec![Span::styled(
            " creditops ",
            Style::default().fg(p.header).add_modifier(Modifier::BOLD),
        )];
        let mut x = area.x + " creditops ".len() as u16;
        let mut hits = Vec::new();
        for (i, name) in TABS.iter().enumerate() {
            let label = format!(" {} {} ", i + 1, name);
            let w = label.chars().count() as u16;
            hits.push((Rect::new(x, area.y, w, 1), i));
            x += w + 1;
            let style = if i == self.tab {
                Style::default()
                    .fg(p.selection_fg)
                    .bg(p.selection_bg)
                    .add_modifier(Modifier::BOLD)
            } else {
                Style::default().fg(p.muted)
            };
            spans.push(Span::styled(label, style));
            spans.push(Span::raw(" "));
        }
        self.hit.borrow_mut().tabs = hits;
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
            k(Action::Tab(0)),
            k(Action::Tab(4)),
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
        let view_actions: &[Action] = match self.tab {
            0 => &[
                Action::FocusNext,
                Action::FocusPrev,
                Action::Up,
                Action::Down,
                Action::PageUp,
                Action::PageDown,
            ],
            _ => &[],
        };
        let global = [
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
        ];
        let row = |a: &Action| Row::new(vec![self.keys.key_of(*a), a.describe().to_string()]);
        let mut rows: Vec<Row> = vec![Row::new(vec![
            format!("{} view", TABS[self.tab]),
            String::new(),
        ])
        .style(Style::default().fg(p.header).add_modifier(Modifier::BOLD))];
        rows.extend(view_actions.iter().map(row));
        if view_actions.is_empty() {
            rows.push(
                Row::new(vec!["".to_string(), "(no keys of its own yet)".to_string()])
                    .style(Style::default().fg(p.muted)),
            );
        }
        rows.push(Row::new(vec![String::new(), String::new()]));
        rows.push(
            Row::new(vec!["Everywhere".to_string(), String::new()])
                .style(Style::default().fg(p.header).add_modifier(Modifier::BOLD)),
        );
        rows.extend(global.iter().map(row));
        rows.push(Row::new(vec![
            "mouse".to_string(),
            "click a tab or panel; wheel scrolls".to_string(),
        ]));
        let h = (rows.len() as u16 + 2).min(area.height);
        let w = 60.min(area.width);
        let popup = Rect::new(
            area.x + (area.width - w) / 2,
            area.y + (area.height - h) / 2,
            w,
            h,
        );
        f.render_widget(Clear, popup);
        let table = Table::new(rows, [Constraint::Length(12), Constraint::Min(10)]).block(
            Block::bordered()
                .title(" Help: keys ")
                .border_style(Style::default().fg(p.border_focused))
                .style(Style::default().bg(p.surface).fg(p.text)),
        );
        f.render_widget(table, popup);
    }

    /// One line of text with the palette's warning style, for problems worth showing.
    pub fn warning_line(&self) -> Option<Paragraph<'_>> {
        let w = self.warnings.first()?;
        Some(
            Paragraph::new(w.as_str())
                .style(Style::default().fg(self.theme.palette.warn))
                .wrap(Wrap { trim: true }),
        )
    }
}
