//! The Events view: the live tail of received webhooks and notifications, paged from the event
//! store; pause, filter, open an event, forward or replay it; channels with expiry countdowns;
//! events per minute; the rejected count.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Clear, Paragraph, Row, Sparkline, Table, Wrap};
use ratatui::Frame;

use crate::tui::app::App;
use crate::tui::views::gauges::thousands;

fn hms(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%H:%M:%S").to_string())
        .unwrap_or_default()
}

fn countdown(ms: i64) -> String {
    if ms <= 0 {
        return "expired".into();
    }
    let s = ms / 1000;
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    } else {
        format!("{}m{:02}s", s / 60, s % 60)
    }
}

pub fn draw(f: &mut Frame, area: Rect, app: &App) {
    let p = app.theme.palette;
    let ev = &app.events;
    if !app.has_event_store {
        f.render_widget(
            Paragraph::new("No event store: run `creditops listen` for this profile, or open the console without --profile for the embedded receiver.")
                .style(Style::default().fg(p.muted))
                .wrap(Wrap { trim: true })
                .block(Block::bordered().title(" Events ")),
            area,
        );
        return;
    }
    let filter_h = u16::from(app.filter_input.is_some());
    let [head, top, table, filter] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(7),
        Constraint::Min(4),
        Constraint::Length(filter_h),
    ])
    .areas(area);

    let state = if app.events_paused {
        Span::styled(
            " PAUSED ",
            Style::default()
                .fg(p.background)
                .bg(p.warn)
                .add_modifier(Modifier::BOLD),
        )
    } else {
        Span::styled(
            " LIVE ",
            Style::default()
                .fg(p.background)
                .bg(p.ok)
                .add_modifier(Modifier::BOLD),
        )
    };
    let mut spans = vec![
        state,
        Span::styled(
            format!("  {} stored", thousands(ev.total)),
            Style::default().fg(p.text),
        ),
        Span::styled(
            format!("  {} rejected", thousands(ev.rejected)),
            Style::default().fg(if ev.rejected > 0 { p.warn } else { p.muted }),
        ),
    ];
    if let Some(r) = &ev.last_rejection {
        spans.push(Span::styled(
            format!(" (last: {r})"),
            Style::default().fg(p.muted),
        ));
    }
    if !app.events_query.filter.is_empty() {
        spans.push(Span::styled(
            format!("  filter: {}", app.events_query.filter),
            Style::default().fg(p.accent),
        ));
    }
    if let Some(m) = &app.message {
        spans.push(Span::styled(
            format!("  {m}"),
            Style::default().fg(p.header),
        ));
    }
    if let Some(e) = &ev.error {
        spans.push(Span::styled(
            format!("  {e}"),
            Style::default().fg(p.critical),
        ));
    }
    f.render_widget(Paragraph::new(Line::from(spans)), head);

    let [spark, chans] = Layout::horizontal([Constraint::Fill(1), Constraint::Fill(1)]).areas(top);
    let last_hour: u64 = ev.per_minute.iter().sum();
    f.render_widget(
        Sparkline::default()
            .block(
                Block::bordered()
                    .title(format!(
                        " Events per minute, last hour · {} ",
                        thousands(last_hour)
                    ))
                    .border_style(Style::default().fg(p.border)),
            )
            .data(&ev.per_minute)
            .style(Style::default().fg(p.chart_primary)),
        spark,
    );
    let rows: Vec<Row> = ev
        .channels
        .iter()
        .map(|c| {
            let left = c.expiry_ms - app.now_ms;
            let style = if left <= 0 {
                p.critical
            } else if left < 6 * 3_600_000 {
                p.warn
            } else {
                p.ok
            };
            Row::new(vec![
                Cell::from(c.channel_id.clone()),
                Cell::from(c.events.join(",")),
                Cell::from(Span::styled(countdown(left), Style::default().fg(style))),
            ])
        })
        .collect();
    let chan_table = Table::new(
        rows,
        [
            Constraint::Length(14),
            Constraint::Min(10),
            Constraint::Length(9),
        ],
    )
    .header(Row::new(vec!["channel", "events", "expires"]).style(Style::default().fg(p.muted)))
    .block(
        Block::bordered()
            .title(" Channels ")
            .border_style(Style::default().fg(p.border)),
    );
    f.render_widget(chan_table, chans);

    let body: Vec<Row> = ev
        .rows
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let s = &e.new.summary;
            let verified = if e.new.verified {
                Span::styled("yes", Style::default().fg(p.ok))
            } else {
                Span::styled("no", Style::default().fg(p.warn))
            };
            let fwd = e.forward_status.clone().unwrap_or_else(|| "-".into());
            let row = Row::new(vec![
                Cell::from(hms(e.new.received_at_ms)),
                Cell::from(e.new.kind.as_str()),
                Cell::from(
                    s.module
                        .clone()
                        .or_else(|| e.new.name.clone())
                        .unwrap_or_else(|| "-".into()),
                ),
                Cell::from(s.operation.clone().unwrap_or_else(|| "-".into())),
                Cell::from(if s.ids.len() > 1 {
                    format!("{} (+{})", s.ids[0], s.ids.len() - 1)
                } else {
                    s.ids.first().cloned().unwrap_or_default()
                }),
                Cell::from(s.channel_id.clone().unwrap_or_else(|| "-".into())),
                Cell::from(verified),
                Cell::from(fwd),
            ]);
            if i == app.events_selected {
                row.style(Style::default().fg(p.selection_fg).bg(p.selection_bg))
            } else {
                row
            }
        })
        .collect();
    let visible = table.height.saturating_sub(3) as usize;
    let skip = app
        .events_selected
        .saturating_sub(visible.saturating_sub(1));
    let body: Vec<Row> = body.into_iter().skip(skip).collect();
    let title = format!(
        " Tail · events {}–{} ",
        app.events_query.offset + 1,
        app.events_query.offset + ev.rows.len()
    );
    let t = Table::new(
        body,
        [
            Constraint::Length(8),
            Constraint::Length(12),
            Constraint::Length(12),
            Constraint::Length(16),
            Constraint::Min(14),
            Constraint::Length(14),
            Constraint::Length(8),
            Constraint::Length(8),
        ],
    )
    .header(
        Row::new(vec![
            "time",
            "kind",
            "module",
            "operation",
            "ids",
            "channel",
            "verified",
            "forward",
        ])
        .style(Style::default().fg(p.muted)),
    )
    .block(
        Block::bordered()
            .title(title)
            .border_style(Style::default().fg(p.border_focused)),
    );
    f.render_widget(t, table);

    if let Some(input) = &app.filter_input {
        f.render_widget(Paragraph::new(format!("/ {input}▏  (Enter applies, Esc cancels; module=… operation=… kind=… verified=… or words)")).style(Style::default().fg(p.accent)), filter);
    }
    if app.events_detail {
        if let Some(e) = ev.rows.get(app.events_selected) {
            draw_detail(f, area, app, e);
        }
    }
}

fn draw_detail(f: &mut Frame, area: Rect, app: &App, e: &crate::events::Event) {
    let p = app.theme.palette;
    let w = area.width.saturating_sub(6).max(20);
    let h = area.height.saturating_sub(2).max(8);
    let popup = Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    );
    f.render_widget(Clear, popup);
    let json = serde_json::to_string_pretty(&e.to_json()).unwrap_or_default();
    let mut lines: Vec<Line> = vec![Line::styled(
        "Headers",
        Style::default().fg(p.header).add_modifier(Modifier::BOLD),
    )];
    for (k, v) in &e.new.headers {
        lines.push(Line::from(vec![
            Span::styled(format!("{k}: "), Style::default().fg(p.muted)),
            Span::raw(v.clone()),
        ]));
    }
    lines.push(Line::raw(""));
    lines.push(Line::styled(
        "Event",
        Style::default().fg(p.header).add_modifier(Modifier::BOLD),
    ));
    lines.extend(json.lines().map(|l| Line::raw(l.to_string())));
    let keys = format!(
        " {} close · {} forward ",
        app.keys.key_of(crate::tui::keys::Action::Close),
        app.keys.key_of(crate::tui::keys::Action::Forward)
    );
    f.render_widget(
        Paragraph::new(lines)
            .scroll((app.detail_scroll, 0))
            .block(
                Block::bordered()
                    .title(format!(" Event #{} ", e.id))
                    .title_bottom(Line::from(keys).right_aligned())
                    .border_style(Style::default().fg(p.border_focused)),
            )
            .style(Style::default().bg(p.surface).fg(p.text)),
        popup,
    );
}
