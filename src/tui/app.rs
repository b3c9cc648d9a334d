//! The console's state and its reactions to input. Rendering is a pure function of this state
//! (`App::draw`), so tests drive it on a `TestBackend` with scripted input.

use std::cell::RefCell;

use crossterm::event::{Event, KeyEventKind, MouseButton, MouseEventKind};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Row, Table};
use ratatui::Frame;

use super::data::{EventsQuery, EventsSnapshot, Snapshot, EVENTS_PAGE};
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
    /// A message for the status line (the result of a forward, say).
    Message(String),
    /// The outcome of a plan sent to the sandbox.
    PlanSent(Result<crate::planner::send::Report, String>),
    /// The Planner's queue, read and planned off the loop.
    QueueLoaded(Box<super::planner::LoadedQueue>),
}

/// The Estimate view's parameters and answer, recomputed at once when a key changes them.
pub struct EstimateState {
    /// Where daily history comes from (None: set `history` directly).
    pub ledger: Option<std::path::PathBuf>,
    pub history: Option<crate::estimate::input::History>,
    pub editions: crate::credits::Editions,
    pub edition: String,
    pub users: u64,
    pub horizon: usize,
    pub level: f64,
    pub result: Option<(crate::estimate::input::History, crate::estimate::Estimate)>,
    pub error: Option<String>,
    pub message: Option<String>,
    pub export_dir: std::path::PathBuf,
    export_count: usize,
}

impl EstimateState {
    pub fn new(
        editions: crate::credits::Editions,
        edition: &str,
        users: u64,
        export_dir: std::path::PathBuf,
    ) -> EstimateState {
        EstimateState {
            ledger: None,
            history: None,
            editions,
            edition: edition.to_string(),
            users,
            horizon: 30,
            level: 0.9,
            result: None,
            error: None,
            message: None,
            export_dir,
            export_count: 0,
        }
    }

    /// Reads the history (the ledger's daily totals, or the given one) and estimates.
    pub fn recompute(&mut self) {
        let history = match (&self.history, &self.ledger) {
            (Some(h), _) => h.clone(),
            (None, Some(path)) => {
                match crate::ledger::Ledger::open(path).and_then(|l| l.daily_totals()) {
                    Ok(t) => crate::estimate::input::from_daily(&t),
                    Err(e) => {
                        self.error = Some(e.to_string());
                        return;
                    }
                }
            }
            (None, None) => {
                self.error = Some("no history: the console has no ledger to read".into());
                return;
            }
        };
        let limits = match self.editions.limits(&self.edition, self.users, 0) {
            Ok(l) => l,
            Err(e) => {
                self.error = Some(e.to_string());
                return;
            }
        };
        let req = crate::estimate::Request {
            horizon: self.horizon,
            level: self.level,
            daily_limit: limits.daily_limit,
            cap: limits.cap,
        };
        let e = crate::estimate::estimate(&history, &req, &self.editions);
        self.error = None;
        self.result = Some((history, e));
    }

    /// Writes the next export format (CSV, JSON, Markdown) and says where.
    pub fn export(&mut self) {
        let Some((history, e)) = &self.result else {
            return;
        };
        let (ext, text) = match self.export_count % 3 {
            0 => ("csv", crate::estimate::to_csv(e)),
            1 => ("json", serde_json::to_string_pretty(e).unwrap_or_default()),
            _ => ("md", crate::estimate::to_markdown(e, history)),
        };
        self.export_count += 1;
        let path = self.export_dir.join(format!("estimate.{ext}"));
        self.message = Some(
            match std::fs::create_dir_all(&self.export_dir)
                .and_then(|_| std::fs::write(&path, text))
            {
                Ok(()) => format!("exported {}", path.display()),
                Err(err) => format!("export failed: {}: {err}", path.display()),
            },
        );
    }
}

/// The columns the Cache view sorts by, in the order `s` cycles them.
pub const CACHE_SORTS: [&str; 5] = ["credits saved", "hits", "age", "size", "key"];

/// The Cache view's state: the entries read from the cache, and what the view shows of them.
#[derive(Default)]
pub struct CacheState {
    pub cache: Option<std::sync::Arc<crate::cache::MetadataCache>>,
    pub entries: Vec<crate::cache::Entry>,
    pub stats: Option<crate::cache::Stats>,
    pub sort: usize,
    pub filter: String,
    pub selected: usize,
    pub detail: bool,
    pub confirm_clear: bool,
    pub message: Option<String>,
}

impl CacheState {
    /// Re-reads entries and stats from the cache.
    pub fn refresh(&mut self, now: i64) {
        if let Some(c) = &self.cache {
            self.entries = c.list();
            self.stats = Some(c.stats(now));
        }
        self.selected = self.selected.min(self.visible().len().saturating_sub(1));
    }

    /// Entries after the filter, in the chosen order.
    pub fn visible(&self) -> Vec<crate::cache::Entry> {
        let f = self.filter.to_lowercase();
        let mut v: Vec<crate::cache::Entry> = self
            .entries
            .iter()
            .filter(|e| {
                f.is_empty()
                    || e.key.to_lowercase().contains(&f)
                    || e.kind.as_str().contains(&f)
                    || e.module
                        .as_deref()
                        .is_some_and(|m| m.to_lowercase().contains(&f))
            })
            .cloned()
            .collect();
        match self.sort {
            0 => v.sort_by(|a, b| {
                b.credits_saved
                    .cmp(&a.credits_saved)
                    .then(a.key.cmp(&b.key))
            }),
            1 => v.sort_by(|a, b| b.hits.cmp(&a.hits).then(a.key.cmp(&b.key))),
            2 => v.sort_by(|a, b| a.stored_ms.cmp(&b.stored_ms).then(a.key.cmp(&b.key))),
            3 => v.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(a.key.cmp(&b.key))),
            _ => v.sort_by(|a, b| a.key.cmp(&b.key)),
        }
        v
    }
}

/// Side effects the app asks the runtime for.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Re-POST this stored event to the receiver's forward_to.
    Forward(i64),
    /// Send this plan (and the queue it covers) to the sandbox.
    SendPlan(Box<(crate::planner::Plan, Vec<crate::planner::QueuedCall>)>),
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
    pub events: EventsSnapshot,
    pub has_event_store: bool,
    pub events_query: EventsQuery,
    pub events_paused: bool,
    pub events_selected: usize,
    pub events_detail: bool,
    pub detail_scroll: u16,
    /// The `/` filter being typed.
    pub filter_input: Option<String>,
    pub message: Option<String>,
    /// Where new queries go (the events poller).
    pub events_query_tx: Option<tokio::sync::watch::Sender<EventsQuery>>,
    /// Where side effects go.
    pub commands: Option<tokio::sync::mpsc::UnboundedSender<Command>>,
    pub estimate: EstimateState,
    pub cache: CacheState,
    pub planner: super::planner::PlannerState,
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
            events: EventsSnapshot::default(),
            has_event_store: false,
            events_query: EventsQuery::default(),
            events_paused: false,
            events_selected: 0,
            events_detail: false,
            detail_scroll: 0,
            filter_input: None,
            message: None,
            events_query_tx: None,
            commands: None,
            cache: CacheState::default(),
            planner: super::planner::PlannerState::new(crate::credits::CostTable::builtin()),
            estimate: EstimateState::new(
                crate::credits::Editions::builtin(),
                "enterprise",
                10,
                std::env::temp_dir(),
            ),
            hit: RefCell::new(Hits::default()),
        }
    }

    /// Applies an input; returns whether the screen must be redrawn.
    pub fn on_input(&mut self, input: Input) -> bool {
        match input {
            Input::Tick(now) => {
                self.now_ms = now;
                if self.tab == 1 {
                    // Ages and hit counts move: re-read the cache once a second while shown.
                    self.cache.refresh(now);
                    return self.cache.stats.is_some();
                }
                // The Gauges view and the channels' expiry count down; other tabs stay still.
                (self.tab == 0 && self.snapshot.usage.is_some())
                    || (self.tab == 2 && !self.events.channels.is_empty())
            }
            Input::Message(m) => {
                self.message = Some(m);
                true
            }
            Input::PlanSent(outcome) => {
                self.planner.finish(outcome);
                self.tab == 4
            }
            Input::QueueLoaded(loaded) => {
                self.planner.accept(*loaded);
                self.tab == 4
            }
            Input::Terminal(Event::Resize(_, _)) => true,
            Input::Terminal(Event::Key(k)) => {
                if k.kind == KeyEventKind::Release {
                    return false;
                }
                if let Some(buf) = self.filter_input.as_mut() {
                    // Typing a filter: keys are text until Enter or Esc.
                    match k.code {
                        crossterm::event::KeyCode::Enter => {
                            let f = self.filter_input.take().unwrap_or_default();
                            if self.tab == 1 {
                                self.cache.filter = f.trim().to_string();
                                self.cache.selected = 0;
                            } else {
                                self.set_query(|q| {
                                    q.filter = f.trim().to_string();
                                    q.offset = 0;
                                });
                                self.events_selected = 0;
                            }
                        }
                        crossterm::event::KeyCode::Esc => self.filter_input = None,
                        crossterm::event::KeyCode::Backspace => {
                            buf.pop();
                        }
                        crossterm::event::KeyCode::Char(c) => buf.push(c),
                        _ => {}
                    }
                    return true;
                }
                match self.keys.action(&k, self.tab) {
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
                            self.act(Action::Tab(*t));
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

    fn set_query(&mut self, change: impl FnOnce(&mut EventsQuery)) {
        change(&mut self.events_query);
        if let Some(tx) = &self.events_query_tx {
            let _ = tx.send(self.events_query.clone());
        }
    }

    /// Keys the Events view takes; returns whether it took the action.
    fn act_events(&mut self, a: Action) -> bool {
        let rows = self.events.rows.len();
        match a {
            Action::Up if self.events_detail => {
                self.detail_scroll = self.detail_scroll.saturating_sub(1)
            }
            Action::Down if self.events_detail => {
                self.detail_scroll = self.detail_scroll.saturating_add(1)
            }
            Action::Up => {
                if self.events_selected == 0 && self.events_query.offset > 0 {
                    self.set_query(|q| q.offset -= 1);
                } else {
                    self.events_selected = self.events_selected.saturating_sub(1);
                }
            }
            Action::Down => {
                if self.events_selected + 1 < rows {
                    self.events_selected += 1;
                } else if rows == EVENTS_PAGE {
                    self.set_query(|q| q.offset += 1);
                }
            }
            Action::PageDown if rows == EVENTS_PAGE => {
                self.set_query(|q| q.offset += EVENTS_PAGE / 2)
            }
            Action::PageDown => self.events_selected = rows.saturating_sub(1),
            Action::PageUp => {
                self.set_query(|q| q.offset = q.offset.saturating_sub(EVENTS_PAGE / 2));
                self.events_selected = 0;
            }
            Action::Pause => {
                self.events_paused = !self.events_paused;
                let max = self.events.max_id;
                let paused = self.events_paused;
                self.set_query(|q| q.before_id = paused.then_some(max));
            }
            Action::Filter => self.filter_input = Some(self.events_query.filter.clone()),
            Action::Open => {
                self.events_detail = rows > 0;
                self.detail_scroll = 0;
            }
            Action::Close if self.events_detail => self.events_detail = false,
            Action::Close => self.set_query(|q| q.filter.clear()),
            Action::Forward => match (self.events.rows.get(self.events_selected), &self.commands) {
                (Some(e), Some(tx)) => {
                    let _ = tx.send(Command::Forward(e.id));
                    self.message = Some(format!("forwarding event #{}…", e.id));
                }
                _ => self.message = Some("nothing to forward".into()),
            },
            _ => return false,
        }
        true
    }

    /// Keys the Estimate view takes; the answer is recomputed at once.
    fn act_estimate(&mut self, a: Action) -> bool {
        let e = &mut self.estimate;
        match a {
            Action::HorizonDown => e.horizon = e.horizon.saturating_sub(7).max(7),
            Action::HorizonUp => e.horizon = (e.horizon + 7).min(365),
            Action::LevelDown => e.level = ((e.level - 0.05) * 100.0).round().max(50.0) / 100.0,
            Action::LevelUp => e.level = ((e.level + 0.05) * 100.0).round().min(99.0) / 100.0,
            Action::UsersDown => e.users = e.users.saturating_sub(5).max(1),
            Action::UsersUp => e.users += 5,
            Action::Export => {
                e.export();
                return true;
            }
            _ => return false,
        }
        e.message = None;
        e.recompute();
        true
    }

    /// Keys the Cache view takes.
    fn act_cache(&mut self, a: Action) -> bool {
        let rows = self.cache.visible();
        let now = self.now_ms;
        let c = &mut self.cache;
        if a != Action::ClearAll {
            c.confirm_clear = false;
        }
        match a {
            Action::Up if c.detail && self.detail_scroll > 0 => self.detail_scroll -= 1,
            Action::Up => c.selected = c.selected.saturating_sub(1),
            Action::Down => c.selected = (c.selected + 1).min(rows.len().saturating_sub(1)),
            Action::PageUp => c.selected = c.selected.saturating_sub(10),
            Action::PageDown => c.selected = (c.selected + 10).min(rows.len().saturating_sub(1)),
            Action::Sort => c.sort = (c.sort + 1) % CACHE_SORTS.len(),
            Action::Filter => self.filter_input = Some(c.filter.clone()),
            Action::Open => {
                c.detail = !c.detail;
                self.detail_scroll = 0;
            }
            Action::Close if c.detail => c.detail = false,
            Action::Close => c.filter.clear(),
            Action::Revalidate | Action::Drop => {
                let (Some(cache), Some(e)) = (&c.cache, rows.get(c.selected)) else {
                    return true;
                };
                let n = if a == Action::Drop {
                    cache.clear(Some(&e.key))
                } else {
                    cache.expire(&e.key)
                };
                c.message = Some(match (a, n) {
                    (_, 0) => "already gone".into(),
                    (Action::Drop, _) => "dropped".into(),
                    _ => "marked stale: its next use revalidates with If-Modified-Since".into(),
                });
                c.refresh(now);
            }
            Action::ClearAll => {
                if c.confirm_clear {
                    let n = c.cache.as_ref().map_or(0, |cache| cache.clear(None));
                    c.message = Some(format!("cleared {n} entries"));
                    c.confirm_clear = false;
                    c.refresh(now);
                } else {
                    c.confirm_clear = true;
                    c.message = Some("press D again to clear every entry".into());
                }
            }
            _ => return false,
        }
        true
    }

    fn act(&mut self, a: Action) {
        if self.tab == 1 && self.act_cache(a) {
            return;
        }
        if self.tab == 2 && self.act_events(a) {
            return;
        }
        if self.tab == 3 && self.act_estimate(a) {
            return;
        }
        if self.tab == 4 {
            match self.planner.act(a) {
                Some(true) => {
                    let sent = match (&self.planner.plan, &self.commands) {
                        (Some(plan), Some(tx)) => tx
                            .send(Command::SendPlan(Box::new((
                                plan.clone(),
                                self.planner.queue.clone(),
                            ))))
                            .is_ok(),
                        _ => false,
                    };
                    if !sent {
                        self.planner
                            .finish(Err("nothing runs sends in this console".into()));
                    }
                    return;
                }
                Some(false) => return,
                None => {}
            }
        }
        let before = self.tab;
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
            // View keys with no meaning outside their view.
            Action::Pause
            | Action::Filter
            | Action::Open
            | Action::Forward
            | Action::Close
            | Action::HorizonDown
            | Action::HorizonUp
            | Action::LevelDown
            | Action::LevelUp
            | Action::UsersDown
            | Action::UsersUp
            | Action::Export
            | Action::Revalidate
            | Action::Drop
            | Action::ClearAll
            | Action::Sort
            | Action::Replan
            | Action::Send
            | Action::RulePrev
            | Action::RuleNext
            | Action::ToggleRule => {}
        }
        if self.tab == 1 && before != 1 {
            self.cache.refresh(self.now_ms);
        }
        if self.tab == 3 && before != 3 {
            // Entering the Estimate view reads the latest history.
            self.estimate.recompute();
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
            1 => views::cache::draw(f, body, self),
            2 => views::events::draw(f, body, self),
            3 => views::estimate::draw(f, body, self),
            _ => views::planner::draw(f, body, self),
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
            1 => &[
                Action::Up,
                Action::Down,
                Action::Sort,
                Action::Filter,
                Action::Open,
                Action::Close,
                Action::Revalidate,
                Action::Drop,
                Action::ClearAll,
            ],
            2 => &[
                Action::Up,
                Action::Down,
                Action::PageUp,
                Action::PageDown,
                Action::Pause,
                Action::Filter,
                Action::Open,
                Action::Forward,
                Action::Close,
            ],
            3 => &[
                Action::HorizonDown,
                Action::HorizonUp,
                Action::LevelDown,
                Action::LevelUp,
                Action::UsersDown,
                Action::UsersUp,
                Action::Export,
            ],
            _ => &[
                Action::Replan,
                Action::RulePrev,
                Action::RuleNext,
                Action::ToggleRule,
                Action::Send,
                Action::Open,
                Action::Close,
                Action::FocusNext,
                Action::Up,
                Action::Down,
                Action::PageUp,
                Action::PageDown,
            ],
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
}
