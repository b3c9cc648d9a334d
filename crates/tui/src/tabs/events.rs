//! The Events view: the live tail of received webhooks and notifications, paged from the event
//! store; pause, filter, open an event, forward or replay it; channels with expiry countdowns;
//! events per minute; the rejected count.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Clear, Paragraph, Row, Table, Wrap};
use ratatui::Frame;

use super::{Command, Cx, DrawCtx};
use crate::data::{EventsQuery, EventsSnapshot, EVENTS_PAGE};
use crate::keys::Action;
use creditops_core::fmt::thousands;

/// The actions the Events tab handles (its help lists them).
pub const KEYS: &[Action] = &[
    Action::Up,
    Action::Down,
    Action::PageUp,
    Action::PageDown,
    Action::Top,
    Action::Bottom,
    Action::Pause,
    Action::Filter,
    Action::Open,
    Action::Forward,
    Action::Close,
];

/// The Events tab: the page of the tail its poller last read, the query it asked for (offset,
/// filter, pause), the selection and the detail pane.
#[derive(Default)]
pub struct EventsTab {
    pub snapshot: EventsSnapshot,
    /// Whether there is an event store to read (the embedded receiver's, or `listen`'s).
    pub has_store: bool,
    pub query: EventsQuery,
    pub paused: bool,
    pub selected: usize,
    pub detail: bool,
    pub detail_scroll: u16,
    /// Where new queries go (the events poller).
    pub query_tx: Option<tokio::sync::watch::Sender<EventsQuery>>,
}

impl EventsTab {
    /// Takes a page the poller read.
    pub fn accept(&mut self, snapshot: EventsSnapshot) {
        self.snapshot = snapshot;
        self.selected = self
            .selected
            .min(self.snapshot.rows.len().saturating_sub(1));
    }

    /// Whether the 1 Hz clock changes what the tab shows (channel expiry countdowns).
    pub fn ticks(&self) -> bool {
        !self.snapshot.channels.is_empty()
    }

    fn set_query(&mut self, change: impl FnOnce(&mut EventsQuery)) {
        change(&mut self.query);
        if let Some(tx) = &self.query_tx {
            let _ = tx.send(self.query.clone());
        }
    }

    pub fn set_filter(&mut self, filter: &str) {
        let f = filter.trim().to_string();
        self.set_query(|q| {
            q.filter = f;
            q.offset = 0;
        });
        self.selected = 0;
    }

    pub fn handle(&mut self, a: Action, cx: &mut Cx) -> bool {
        let rows = self.snapshot.rows.len();
        match a {
            Action::Up if self.detail => self.detail_scroll = self.detail_scroll.saturating_sub(1),
            Action::Down if self.detail => {
                self.detail_scroll = self.detail_scroll.saturating_add(1)
            }
            Action::Up => {
                if self.selected == 0 && self.query.offset > 0 {
                    self.set_query(|q| q.offset -= 1);
                } else {
                    self.selected = self.selected.saturating_sub(1);
                }
            }
            Action::Down => {
                if self.selected + 1 < rows {
                    self.selected += 1;
                } else if rows == EVENTS_PAGE {
                    self.set_query(|q| q.offset += 1);
                }
            }
            Action::PageDown if rows == EVENTS_PAGE => {
                self.set_query(|q| q.offset += EVENTS_PAGE / 2)
            }
            Action::PageDown => self.selected = rows.saturating_sub(1),
            Action::PageUp => {
                self.set_query(|q| q.offset = q.offset.saturating_sub(EVENTS_PAGE / 2));
                self.selected = 0;
            }
            // The newest event, and the oldest one stored (the last page of the history).
            Action::Top => {
                self.set_query(|q| q.offset = 0);
                self.selected = 0;
            }
            Action::Bottom => {
                let last_page = (self.snapshot.total as usize).saturating_sub(EVENTS_PAGE);
                self.set_query(|q| q.offset = last_page);
                self.selected = EVENTS_PAGE
                    .min(self.snapshot.total as usize)
                    .saturating_sub(1);
            }
            Action::Pause => {
                self.paused = !self.paused;
                let max = self.snapshot.max_id;
                let paused = self.paused;
                self.set_query(|q| q.before_id = paused.then_some(max));
            }
            Action::Filter => *cx.filter_input = Some(self.query.filter.clone()),
            Action::Open => {
                self.detail = rows > 0;
                self.detail_scroll = 0;
            }
            Action::Close if self.detail => self.detail = false,
            Action::Close => self.set_query(|q| q.filter.clear()),
            Action::Forward => match (self.snapshot.rows.get(self.selected), cx.commands) {
                (Some(e), Some(tx)) => {
                    let _ = tx.send(Command::Forward(e.id));
                    *cx.message = Some(format!("forwarding event #{}…", e.id));
                }
                _ => *cx.message = Some("nothing to forward".into()),
            },
            _ => return false,
        }
        true
    }
}

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

pub fn draw(f: &mut Frame, area: Rect, st: &EventsTab, cx: &DrawCtx) {
    let p = cx.theme.palette;
    let ev = &st.snapshot;
    if !st.has_store {
        f.render_widget(
            Paragraph::new("No event store: run `creditops listen` for this profile, or open the console without --profile for the embedded receiver.")
                .style(Style::default().fg(p.muted))
                .wrap(Wrap { trim: true })
                .block(Block::bordered().title(" Events ")),
            area,
        );
        return;
    }
    let filter_h = u16::from(cx.filter_input.is_some());
    let [head, top, table, filter] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(7),
        Constraint::Min(4),
        Constraint::Length(filter_h),
    ])
    .areas(area);

    let state = if st.paused {
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
    if !st.query.filter.is_empty() {
        spans.push(Span::styled(
            format!("  filter: {}", st.query.filter),
            Style::default().fg(p.accent),
        ));
    }
    if let Some(m) = cx.message {
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
    crate::timeline::draw(
        f,
        spark,
        &crate::timeline::Timeline {
            what: "Events",
            per_minute: &ev.per_minute,
            extra: format!(" · {} in all", thousands(last_hour)),
            color: p.chart_primary,
        },
        &p,
    );
    let rows: Vec<Row> = ev
        .channels
        .iter()
        .map(|c| {
            let left = c.expiry_ms - cx.now_ms;
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

    // time, kind, module, operation, ids, channel, verified, forward: what goes first when
    // narrow (forward, verified and channel; time and ids stay).
    const TAIL_COLUMNS: [(u16, u8); 8] = [
        (8, 0),
        (12, 2),
        (12, 3),
        (16, 4),
        (14, 1),
        (14, 5),
        (8, 6),
        (8, 7),
    ];
    let kept = super::fit_columns(table.width.saturating_sub(2), &TAIL_COLUMNS);
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
            let cells = vec![
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
            ];
            let row = Row::new(super::pick(&cells, &kept));
            if i == st.selected {
                row.style(p.selected())
            } else {
                row
            }
        })
        .collect();
    let visible = table.height.saturating_sub(3) as usize;
    let skip = st.selected.saturating_sub(visible.saturating_sub(1));
    let body: Vec<Row> = body.into_iter().skip(skip).collect();
    let title = format!(
        " Tail · events {}–{} ",
        st.query.offset + 1,
        st.query.offset + ev.rows.len()
    );
    let widths: Vec<Constraint> = kept
        .iter()
        .map(|&i| match i {
            4 => Constraint::Min(TAIL_COLUMNS[i].0),
            _ => Constraint::Length(TAIL_COLUMNS[i].0),
        })
        .collect();
    let header = [
        "time",
        "kind",
        "module",
        "operation",
        "ids",
        "channel",
        "verified",
        "forward",
    ];
    let t = Table::new(body, widths)
        .header(Row::new(super::pick(&header, &kept)).style(Style::default().fg(p.muted)))
        .block(
            Block::bordered()
                .title(title)
                .border_style(Style::default().fg(p.border_focused)),
        );
    f.render_widget(t, table);

    if let Some(input) = cx.filter_input {
        f.render_widget(Paragraph::new(format!("/ {input}▏  (Enter keeps, Esc undoes; module=… operation=… kind=… verified=… or words)")).style(Style::default().fg(p.accent)), filter);
    }
    if st.detail {
        if let Some(e) = ev.rows.get(st.selected) {
            draw_detail(f, area, st, cx, e);
        }
    }
}

fn draw_detail(
    f: &mut Frame,
    area: Rect,
    st: &EventsTab,
    cx: &DrawCtx,
    e: &creditops_store::events::Event,
) {
    let p = cx.theme.palette;
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
        cx.keys.key_of(Action::Close),
        cx.keys.key_of(Action::Forward)
    );
    f.render_widget(
        Paragraph::new(lines)
            .scroll((st.detail_scroll, 0))
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
