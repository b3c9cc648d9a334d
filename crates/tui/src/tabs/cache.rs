//! The Cache view: the metadata cache's entries, sortable and filterable, with the cached JSON
//! in a detail pane; revalidate, drop, or clear; hit ratio and credits saved today on top.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Paragraph, Row, Table, Wrap};
use ratatui::Frame;

use super::{Cx, DrawCtx};
use crate::keys::Action;
use creditops_core::fmt::thousands;

/// The actions the Cache tab handles (its help lists them).
pub const KEYS: &[Action] = &[
    Action::Up,
    Action::Down,
    Action::PageUp,
    Action::PageDown,
    Action::Top,
    Action::Bottom,
    Action::Sort,
    Action::Filter,
    Action::Open,
    Action::Close,
    Action::Revalidate,
    Action::Drop,
    Action::ClearAll,
];

/// The columns the Cache view sorts by, in the order `s` cycles them.
pub const CACHE_SORTS: [&str; 5] = ["credits saved", "hits", "age", "size", "key"];

/// The Cache view's state: the entries read from the cache, and what the view shows of them.
#[derive(Default)]
pub struct CacheTab {
    pub cache: Option<std::sync::Arc<creditops_store::cache::MetadataCache>>,
    pub entries: Vec<creditops_store::cache::Entry>,
    pub stats: Option<creditops_store::cache::Stats>,
    pub sort: usize,
    pub filter: String,
    pub selected: usize,
    pub detail: bool,
    pub confirm_clear: bool,
    pub message: Option<String>,
    pub detail_scroll: u16,
}

impl CacheTab {
    /// Re-reads entries and stats from the cache.
    pub fn refresh(&mut self, now: i64) {
        if let Some(c) = &self.cache {
            self.entries = c.list();
            self.stats = Some(c.stats(now));
        }
        self.selected = self.selected.min(self.visible().len().saturating_sub(1));
    }

    /// Entries after the filter, in the chosen order.
    pub fn visible(&self) -> Vec<creditops_store::cache::Entry> {
        let f = self.filter.to_lowercase();
        let mut v: Vec<creditops_store::cache::Entry> = self
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

    pub fn set_filter(&mut self, filter: &str) {
        self.filter = filter.trim().to_string();
        self.selected = 0;
    }

    pub fn handle(&mut self, a: Action, cx: &mut Cx) -> bool {
        let rows = self.visible();
        let now = cx.now_ms;
        if a != Action::ClearAll {
            self.confirm_clear = false;
        }
        match a {
            Action::Up if self.detail && self.detail_scroll > 0 => self.detail_scroll -= 1,
            Action::Up => self.selected = self.selected.saturating_sub(1),
            Action::Down => self.selected = (self.selected + 1).min(rows.len().saturating_sub(1)),
            Action::PageUp => self.selected = self.selected.saturating_sub(10),
            Action::PageDown => {
                self.selected = (self.selected + 10).min(rows.len().saturating_sub(1))
            }
            Action::Top => self.selected = 0,
            Action::Bottom => self.selected = rows.len().saturating_sub(1),
            Action::Sort => self.sort = (self.sort + 1) % CACHE_SORTS.len(),
            Action::Filter => *cx.filter_input = Some(self.filter.clone()),
            Action::Open => {
                self.detail = !self.detail;
                self.detail_scroll = 0;
            }
            Action::Close if self.detail => self.detail = false,
            Action::Close => self.filter.clear(),
            Action::Revalidate | Action::Drop => {
                let (Some(cache), Some(e)) = (&self.cache, rows.get(self.selected)) else {
                    return true;
                };
                let n = if a == Action::Drop {
                    cache.clear(Some(&e.key))
                } else {
                    cache.expire(&e.key)
                };
                self.message = Some(match (a, n) {
                    (_, 0) => "already gone".into(),
                    (Action::Drop, _) => "dropped".into(),
                    _ => "marked stale: its next use revalidates with If-Modified-Since".into(),
                });
                self.refresh(now);
            }
            Action::ClearAll => {
                if self.confirm_clear {
                    let n = self.cache.as_ref().map_or(0, |cache| cache.clear(None));
                    self.message = Some(format!("cleared {n} entries"));
                    self.confirm_clear = false;
                    self.refresh(now);
                } else {
                    self.confirm_clear = true;
                    self.message = Some("press D again to clear every entry".into());
                }
            }
            _ => return false,
        }
        true
    }
}

use creditops_core::fmt::age;

pub fn draw(f: &mut Frame, area: Rect, c: &CacheTab, cx: &DrawCtx) {
    let p = cx.theme.palette;
    let Some(stats) = &c.stats else {
        f.render_widget(Paragraph::new("No metadata cache: it is off in config ([cache] enabled = false) or no proxy has used it yet.").wrap(Wrap { trim: true }).style(Style::default().fg(p.muted)).block(Block::bordered().title(" Cache ")), area);
        return;
    };
    let filter_h = u16::from(cx.filter_input.is_some());
    let [head, body, filter] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(4),
        Constraint::Length(filter_h),
    ])
    .areas(area);
    let mut spans = vec![
        Span::styled(
            format!(" hit ratio {:.1}% ", stats.hit_ratio * 100.0),
            Style::default()
                .fg(p.background)
                .bg(if stats.hit_ratio >= 0.5 { p.ok } else { p.warn })
                .add_modifier(Modifier::BOLD),
        ),
        Span::styled(
            format!(
                "  saved {} credits today, {} in 24 h",
                thousands(stats.credits_saved_today),
                thousands(stats.credits_saved_window)
            ),
            Style::default().fg(p.text),
        ),
        Span::styled(
            format!(
                "  {} entries · {} bytes · {} hits · {} misses · {} revalidations",
                stats.entries,
                thousands(stats.bytes),
                stats.hits,
                stats.misses,
                stats.revalidations
            ),
            Style::default().fg(p.muted),
        ),
        Span::styled(
            format!("  sorted by {}", CACHE_SORTS[c.sort]),
            Style::default().fg(p.accent),
        ),
    ];
    if !c.filter.is_empty() {
        spans.push(Span::styled(
            format!("  filter: {}", c.filter),
            Style::default().fg(p.accent),
        ));
    }
    if let Some(m) = &c.message {
        spans.push(Span::styled(
            format!("  {m}"),
            Style::default().fg(p.header),
        ));
    }
    f.render_widget(Paragraph::new(Line::from(spans)), head);

    let (table_area, detail_area) = if c.detail && body.width >= 60 {
        let [t, d] = Layout::horizontal([Constraint::Fill(3), Constraint::Fill(2)]).areas(body);
        (t, Some(d))
    } else {
        (body, None)
    };
    let rows = c.visible();
    let now = cx.now_ms;
    // key, kind, module, age, ttl left, hits, saved, size: what goes first when narrow.
    const COLUMNS: [(u16, u8); 8] = [
        (20, 0),
        (13, 4),
        (9, 5),
        (6, 6),
        (8, 2),
        (6, 3),
        (7, 1),
        (8, 7),
    ];
    let kept = super::fit_columns(table_area.width.saturating_sub(2), &COLUMNS);

    let visible = table_area.height.saturating_sub(3) as usize;
    let skip = c.selected.saturating_sub(visible.saturating_sub(1));
    let body_rows: Vec<Row> = rows
        .iter()
        .enumerate()
        .skip(skip)
        .map(|(i, e)| {
            let right = |s: String| Cell::from(Line::from(s).right_aligned());
            let ttl = e.ttl_left_s(now);
            let cells = vec![
                Cell::from(
                    e.key
                        .split_once("/crm/")
                        .map_or(e.key.clone(), |(_, k)| format!("/crm/{k}")),
                ),
                Cell::from(e.kind.as_str()),
                Cell::from(e.module.clone().unwrap_or_else(|| "-".into())),
                right(age((now - e.stored_ms) / 1000)),
                Cell::from(
                    Line::from(Span::styled(
                        age(ttl),
                        Style::default().fg(if ttl < 0 { p.warn } else { p.ok }),
                    ))
                    .right_aligned(),
                ),
                right(e.hits.to_string()),
                right(thousands(e.credits_saved)),
                right(thousands(e.bytes as u64)),
            ];
            let row = Row::new(super::pick(&cells, &kept));
            if i == c.selected {
                row.style(p.selected())
            } else {
                row
            }
        })
        .collect();
    let keys = format!(
        " r revalidate · d drop · {} ",
        if c.confirm_clear {
            "D again to clear ALL"
        } else {
            "D clear all"
        }
    );
    let widths: Vec<Constraint> = kept
        .iter()
        .map(|&i| {
            if i == 0 {
                Constraint::Min(COLUMNS[0].0)
            } else {
                Constraint::Length(COLUMNS[i].0)
            }
        })
        .collect();
    let header = [
        "key", "kind", "module", "age", "ttl left", "hits", "saved", "size",
    ];
    let table = Table::new(body_rows, widths)
        .header(Row::new(super::pick(&header, &kept)).style(Style::default().fg(p.muted)))
        .block(
            Block::bordered()
                .title(format!(" Entries ({}) ", rows.len()))
                .title_bottom(Line::from(keys).right_aligned())
                .border_style(Style::default().fg(p.border_focused)),
        );
    f.render_widget(table, table_area);

    if let Some(d) = detail_area {
        let text = rows
            .get(c.selected)
            .map(|e| {
                serde_json::from_slice::<serde_json::Value>(&e.body)
                    .and_then(|v| serde_json::to_string_pretty(&v))
                    .unwrap_or_else(|_| String::from_utf8_lossy(&e.body).into_owned())
            })
            .unwrap_or_default();
        f.render_widget(
            Paragraph::new(text)
                .scroll((c.detail_scroll, 0))
                .block(
                    Block::bordered()
                        .title(" Cached JSON ")
                        .border_style(Style::default().fg(p.border)),
                )
                .style(Style::default().fg(p.text)),
            d,
        );
    }
    if let Some(input) = cx.filter_input {
        f.render_widget(
            Paragraph::new(format!(
                "/ {input}▏  (matches key, kind or module; Enter keeps, Esc undoes)"
            ))
            .style(Style::default().fg(p.accent)),
            filter,
        );
    }
}
