//! The Cache view: the metadata cache's entries, sortable and filterable, with the cached JSON
//! in a detail pane; revalidate, drop, or clear; hit ratio and credits saved today on top.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Paragraph, Row, Table, Wrap};
use ratatui::Frame;

use crate::tui::app::{App, CACHE_SORTS};
use crate::tui::views::gauges::thousands;

fn age(s: i64) -> String {
    match s {
        s if s < 0 => "stale".into(),
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s => format!("{}h", s / 3600),
    }
}

pub fn draw(f: &mut Frame, area: Rect, app: &App) {
    let p = app.theme.palette;
    let c = &app.cache;
    let Some(stats) = &c.stats else {
        f.render_widget(Paragraph::new("No metadata cache: it is off in config ([cache] enabled = false) or no proxy has used it yet.").wrap(Wrap { trim: true }).style(Style::default().fg(p.muted)).block(Block::bordered().title(" Cache ")), area);
        return;
    };
    let filter_h = u16::from(app.filter_input.is_some());
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
    let now = app.now_ms;
    let visible = table_area.height.saturating_sub(3) as usize;
    let skip = c.selected.saturating_sub(visible.saturating_sub(1));
    let body_rows: Vec<Row> = rows
        .iter()
        .enumerate()
        .skip(skip)
        .map(|(i, e)| {
            let right = |s: String| Cell::from(Line::from(s).right_aligned());
            let ttl = e.ttl_left_s(now);
            let row = Row::new(vec![
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
            ]);
            if i == c.selected {
                row.style(Style::default().fg(p.selection_fg).bg(p.selection_bg))
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
    let table = Table::new(
        body_rows,
        [
            Constraint::Min(20),
            Constraint::Length(13),
            Constraint::Length(9),
            Constraint::Length(6),
            Constraint::Length(8),
            Constraint::Length(6),
            Constraint::Length(7),
            Constraint::Length(8),
        ],
    )
    .header(
        Row::new(vec![
            "key", "kind", "module", "age", "ttl left", "hits", "saved", "size",
        ])
        .style(Style::default().fg(p.muted)),
    )
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
                .scroll((app.detail_scroll, 0))
                .block(
                    Block::bordered()
                        .title(" Cached JSON ")
                        .border_style(Style::default().fg(p.border)),
                )
                .style(Style::default().fg(p.text)),
            d,
        );
    }
    if let Some(input) = &app.filter_input {
        f.render_widget(
            Paragraph::new(format!(
                "/ {input}▏  (matches key, kind or module; Enter applies, Esc cancels)"
            ))
            .style(Style::default().fg(p.accent)),
            filter,
        );
    }
}
