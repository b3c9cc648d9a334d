//! The Gauges view: the rolling-24 h gauge with alert marks and the add-on share; burn, time to
//! exhaustion, what frees up; concurrency; metered against Zoho-reported remaining; the
//! per-minute chart of the last 24 h; breakdowns by module, API, integration and (when several
//! proxies share the ledger) proxy; an alert banner.

use std::collections::BTreeMap;

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Paragraph, Row, Table, Widget};
use ratatui::Frame;

use super::DrawCtx;
use crate::data::Snapshot;
use crate::keys::Action;
use crate::theme::Palette;
use crate::timeline;
use creditops_store::ledger::Tally;
use creditops_store::usage::{LimitSource, Usage};

use creditops_core::fmt::thousands;

/// The actions the Gauges tab handles (its help lists them).
pub const KEYS: &[Action] = &[
    Action::FocusNext,
    Action::FocusPrev,
    Action::Up,
    Action::Down,
    Action::PageUp,
    Action::PageDown,
    Action::Top,
    Action::Bottom,
];

/// The Gauges tab: the latest snapshot of the ledger, and which breakdown panel (module, API,
/// integration) has focus and how far each is scrolled.
#[derive(Default)]
pub struct GaugesTab {
    pub snapshot: Snapshot,
    pub focus: usize,
    pub scroll: [usize; 4],
}

impl GaugesTab {
    pub fn handle(&mut self, a: Action) -> bool {
        let panels = self.panels();
        self.focus %= panels;
        let last = self.rows_in(self.focus).saturating_sub(1);
        let scroll = &mut self.scroll[self.focus];
        match a {
            Action::FocusNext => self.focus = (self.focus + 1) % panels,
            Action::FocusPrev => self.focus = (self.focus + panels - 1) % panels,
            Action::Up => *scroll = scroll.saturating_sub(1),
            Action::Down => *scroll = (*scroll + 1).min(last),
            Action::PageUp => *scroll = scroll.saturating_sub(10),
            Action::PageDown => *scroll = (*scroll + 10).min(last),
            Action::Top => *scroll = 0,
            Action::Bottom => *scroll = last,
            _ => return false,
        }
        true
    }

    /// Whether the 1 Hz clock changes what the tab shows (the time to exhaustion counts down).
    pub fn ticks(&self) -> bool {
        self.snapshot.usage.is_some()
    }

    /// Breakdown panels shown: module, API, integration, and proxy when several proxies
    /// wrote the window's calls.
    fn panels(&self) -> usize {
        match &self.snapshot.usage {
            Some(u) if u.by_proxy.len() > 1 => 4,
            _ => 3,
        }
    }

    fn rows_in(&self, panel: usize) -> usize {
        self.snapshot.usage.as_ref().map_or(0, |u| match panel {
            0 => u.by_module.len(),
            1 => u.by_api.len(),
            2 if !u.budgets.is_empty() => u.budgets.len(),
            2 => u.by_integration.len(),
            _ => u.by_proxy.len(),
        })
    }
}

/// "5,810" below 10,000, else "12.3k" / "1.2M": for narrow columns.
pub fn compact(n: u64) -> String {
    match n {
        n if n < 10_000 => thousands(n),
        n if n < 1_000_000 => format!("{:.1}k", n as f64 / 1e3),
        n => format!("{:.1}M", n as f64 / 1e6),
    }
}

use creditops_core::fmt::duration;

/// The colour of a level: ok below the first mark, warn below 100 %, critical at or past it.
fn severity(p: &Palette, percent: f64, thresholds: &[u32]) -> Color {
    let first = thresholds.first().copied().unwrap_or(80) as f64;
    if percent >= 100.0 {
        p.critical
    } else if percent >= first {
        p.warn
    } else {
        p.ok
    }
}

/// A bar with the alert marks on it and the add-on share shaded.
struct CreditBar<'a> {
    usage: &'a Usage,
    palette: Palette,
}

impl Widget for CreditBar<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let u = self.usage;
        let p = self.palette;
        let Some(limit) = u.limit.filter(|l| *l > 0) else {
            return;
        };
        let w = area.width as u64;
        let cell = |credits: u64| ((credits.min(limit) * w) / limit) as u16;
        let filled = cell(u.used);
        let base = u.base_limit.map_or(w as u16, cell);
        let pct = u.used as f64 * 100.0 / limit as f64;
        let thresholds: Vec<u32> = u.alerts.iter().map(|a| a.threshold).collect();
        let fill = severity(&p, pct, &thresholds);
        for x in 0..area.width {
            let (sym, style) = if x < filled {
                ("█", Style::default().fg(fill))
            } else if x >= base {
                // The add-on share of the limit.
                ("▒", Style::default().fg(p.chart_secondary))
            } else {
                ("░", Style::default().fg(p.chart_band))
            };
            for y in area.y..area.y + area.height {
                buf[(area.x + x, y)].set_symbol(sym).set_style(style);
            }
        }
        for a in &u.alerts {
            let x = ((u64::from(a.threshold).min(100) * w) / 100).min(w.saturating_sub(1)) as u16;
            let style = if a.crossed {
                Style::default()
                    .fg(p.critical)
                    .bg(p.background)
                    .add_modifier(Modifier::BOLD)
            } else {
                Style::default().fg(p.text).bg(p.background)
            };
            for y in area.y..area.y + area.height {
                buf[(area.x + x, y)].set_symbol("│").set_style(style);
            }
        }
    }
}

pub fn draw(f: &mut Frame, area: Rect, st: &GaugesTab, cx: &DrawCtx) {
    let p = cx.theme.palette;
    let snap = &st.snapshot;
    let Some(u) = &snap.usage else {
        let msg = snap
            .error
            .clone()
            .unwrap_or_else(|| "Reading the ledger…".into());
        f.render_widget(
            Paragraph::new(msg)
                .style(Style::default().fg(p.muted))
                .block(Block::bordered().title(" Gauges ")),
            area,
        );
        return;
    };
    let crossed: Vec<u32> = u
        .alerts
        .iter()
        .filter(|a| a.crossed)
        .map(|a| a.threshold)
        .collect();
    let banner_h = u16::from(!crossed.is_empty() || snap.error.is_some());
    let tall = area.height >= 40;
    let chart_h = if tall {
        Constraint::Percentage(40)
    } else {
        Constraint::Min(5)
    };
    let [banner, gauge, stats, chart, tables] = Layout::vertical([
        Constraint::Length(banner_h),
        Constraint::Length(4),
        Constraint::Length(4),
        chart_h,
        Constraint::Min(6),
    ])
    .areas(area);

    if let Some(e) = &snap.error {
        f.render_widget(
            Paragraph::new(format!(" ledger: {e}"))
                .style(Style::default().fg(p.background).bg(p.critical)),
            banner,
        );
    } else if let Some(top) = crossed.last() {
        let style = if *top >= 100 { p.critical } else { p.warn };
        let text = if *top >= 100 {
            format!(" ALERT: the daily limit is used up ({top}% crossed): integrations get HTTP 429 until credits free up ")
        } else {
            format!(" ALERT: {top}% of the daily limit crossed ")
        };
        f.render_widget(
            Paragraph::new(text).style(
                Style::default()
                    .fg(p.background)
                    .bg(style)
                    .add_modifier(Modifier::BOLD),
            ),
            banner,
        );
    }

    draw_gauge(f, gauge, u, &p);
    draw_stats(f, stats, u, &p);
    draw_chart(f, chart, &snap.per_minute, &p);
    let mut panels: Vec<(&str, &BTreeMap<String, Tally>)> = vec![
        (" By module ", &u.by_module),
        (" By API ", &u.by_api),
        (" By integration ", &u.by_integration),
    ];
    if u.by_proxy.len() > 1 {
        panels.push((" By proxy ", &u.by_proxy));
    }
    let n = panels.len() as u32;
    let cols = Layout::horizontal(vec![Constraint::Ratio(1, n); n as usize]).split(tables);
    let mut hits = Vec::new();
    for (i, (title, map)) in panels.into_iter().enumerate() {
        // With budgets, the third panel is each integration against its own budget.
        if i == 2 && !u.budgets.is_empty() {
            draw_budgets(f, cols[i], &u.budgets, st.scroll[i], st.focus == i, &p);
            hits.push((cols[i], i));
            continue;
        }
        draw_breakdown(
            f,
            cols[i],
            title,
            map,
            st.scroll[i],
            st.focus == i,
            &p,
            u.used,
        );
        hits.push((cols[i], i));
    }
    *cx.panels.borrow_mut() = hits;
}

fn draw_gauge(f: &mut Frame, area: Rect, u: &Usage, p: &Palette) {
    let title = match u.limit_source {
        LimitSource::Configured => " Rolling 24 h ",
        LimitSource::Learned => " Rolling 24 h (limit learned from X-API-CREDITS-REMAINING) ",
        LimitSource::Unknown => " Rolling 24 h ",
    };
    let block = Block::bordered()
        .title(title)
        .border_style(Style::default().fg(p.border));
    let inner = block.inner(area);
    f.render_widget(block, area);
    let [bar, label] =
        Layout::vertical([Constraint::Length(1), Constraint::Length(1)]).areas(inner);
    match (u.limit, u.percent) {
        (Some(limit), Some(pct)) => {
            f.render_widget(
                CreditBar {
                    usage: u,
                    palette: *p,
                },
                bar,
            );
            let thresholds: Vec<u32> = u.alerts.iter().map(|a| a.threshold).collect();
            let marks: Vec<String> = thresholds.iter().map(|t| format!("{t}%")).collect();
            let mut spans = vec![
                Span::styled(
                    format!("{} / {} credits ", thousands(u.used), thousands(limit)),
                    Style::default().fg(p.text).add_modifier(Modifier::BOLD),
                ),
                Span::styled(
                    format!("({pct:.1}%)"),
                    Style::default().fg(severity(p, pct, &thresholds)),
                ),
                Span::styled(
                    format!("  remaining {}", thousands(u.remaining.unwrap_or(0))),
                    Style::default().fg(p.text),
                ),
            ];
            if let Some(addon) = u.addon.filter(|a| *a > 0) {
                spans.push(Span::styled(
                    format!("  add-on {} ▒", thousands(addon)),
                    Style::default().fg(p.chart_secondary),
                ));
            }
            spans.push(Span::styled(
                format!("  marks {}", marks.join(" ")),
                Style::default().fg(p.muted),
            ));
            f.render_widget(Paragraph::new(Line::from(spans)), label);
        }
        _ => {
            f.render_widget(
                Paragraph::new(format!(
                    "{} credits used in the last 24 h",
                    thousands(u.used)
                ))
                .style(Style::default().fg(p.text).add_modifier(Modifier::BOLD)),
                bar,
            );
            f.render_widget(
                Paragraph::new("limit unknown: Zoho sends X-API-CREDITS-REMAINING only past 50% use; set the edition in the profile")
                    .style(Style::default().fg(p.muted)),
                label,
            );
        }
    }
}

fn draw_stats(f: &mut Frame, area: Rect, u: &Usage, p: &Palette) {
    let block = Block::bordered()
        .title(" Burn and limits ")
        .border_style(Style::default().fg(p.border));
    let inner = block.inner(area);
    f.render_widget(block, area);
    let label = Style::default().fg(p.muted);
    let value = Style::default().fg(p.text).add_modifier(Modifier::BOLD);
    let eta = match u.exhaustion_eta_seconds {
        Some(0) => Span::styled(
            "now: calls get 429".to_string(),
            Style::default().fg(p.critical).add_modifier(Modifier::BOLD),
        ),
        Some(s) => Span::styled(
            format!("in {}", duration(s)),
            Style::default()
                .fg(if s < 3600 { p.critical } else { p.warn })
                .add_modifier(Modifier::BOLD),
        ),
        None => Span::styled("not on course".to_string(), Style::default().fg(p.ok)),
    };
    let line1 = Line::from(vec![
        Span::styled("burn ", label),
        Span::styled(
            format!("{}/h", thousands(u.burn_per_hour.round() as u64)),
            value,
        ),
        Span::styled("  exhaustion ", label),
        eta,
        Span::styled("  frees next hour ", label),
        Span::styled(thousands(u.freeing_next_hour), value),
    ]);
    let concurrency = match u.concurrency_limit {
        Some(c) => {
            let style = if u.in_flight >= c {
                p.critical
            } else if u.in_flight * 5 >= c * 4 {
                p.warn
            } else {
                p.ok
            };
            Span::styled(
                format!("{}/{}", u.in_flight, c),
                Style::default().fg(style).add_modifier(Modifier::BOLD),
            )
        }
        None => Span::styled(u.in_flight.to_string(), value),
    };
    let reported = match (u.reported_remaining, u.metered_minus_reported) {
        (Some(r), Some(gap)) => {
            let gap_style = if gap == 0 { p.ok } else { p.warn };
            vec![
                Span::styled("  Zoho reports ", label),
                Span::styled(thousands(r), value),
                Span::styled(" left, metered−reported ", label),
                Span::styled(
                    format!("{gap:+}"),
                    Style::default().fg(gap_style).add_modifier(Modifier::BOLD),
                ),
            ]
        }
        (Some(r), None) => vec![
            Span::styled("  Zoho reports ", label),
            Span::styled(thousands(r), value),
            Span::styled(" left", label),
        ],
        _ => vec![Span::styled(
            "  Zoho reports nothing yet (header past 50% only)",
            label,
        )],
    };
    let mut spans = vec![Span::styled("in flight ", label), concurrency];
    spans.extend(reported);
    let [l1, l2] = Layout::vertical([Constraint::Length(1), Constraint::Length(1)]).areas(inner);
    f.render_widget(Paragraph::new(line1), l1);
    f.render_widget(Paragraph::new(Line::from(spans)), l2);
}

fn draw_chart(f: &mut Frame, area: Rect, per_minute: &[u64], p: &Palette) {
    // The whole day on the left; the last hour on the right, where there is room for both.
    let (day, hour) = if area.width >= 90 {
        let [d, h] = Layout::horizontal([
            Constraint::Fill(2),
            Constraint::Length(62.min(area.width / 3)),
        ])
        .areas(area);
        (d, Some(h))
    } else {
        (area, None)
    };
    let last_hour: u64 = per_minute.iter().rev().take(60).sum();
    timeline::draw(
        f,
        day,
        &timeline::Timeline {
            what: "Credits",
            per_minute,
            extra: format!(" · last hour {}", thousands(last_hour)),
            color: p.chart_primary,
        },
        p,
    );
    if let Some(h) = hour {
        timeline::draw(
            f,
            h,
            &timeline::Timeline {
                what: "Credits",
                per_minute: &per_minute[per_minute.len().saturating_sub(60)..],
                extra: String::new(),
                color: p.chart_secondary,
            },
            p,
        );
    }
}

#[allow(clippy::too_many_arguments)]
fn draw_breakdown(
    f: &mut Frame,
    area: Rect,
    title: &str,
    map: &BTreeMap<String, Tally>,
    scroll: usize,
    focused: bool,
    p: &Palette,
    total: u64,
) {
    let mut rows: Vec<(&String, &Tally)> = map.iter().collect();
    rows.sort_by(|a, b| b.1.credits.cmp(&a.1.credits).then(a.0.cmp(b.0)));
    let visible = area.height.saturating_sub(3) as usize;
    // Narrow panels (80 columns split three ways) drop the share column and shorten numbers.
    let narrow = area.width < 36;
    let num = |n: u64| if narrow { compact(n) } else { thousands(n) };
    let start = scroll.min(rows.len().saturating_sub(1));
    let body: Vec<Row> = rows
        .iter()
        .skip(start)
        .take(visible.max(1))
        .map(|(k, t)| {
            let share = if total > 0 {
                t.credits as f64 * 100.0 / total as f64
            } else {
                0.0
            };
            let name = if k.as_str() == "-" {
                "(no module)".to_string()
            } else {
                k.to_string()
            };
            let right = |s: String| Cell::from(Line::from(s).right_aligned());
            let mut cells = vec![Cell::from(name), right(num(t.credits))];
            if !narrow {
                cells.push(right(format!("{share:.0}%")));
            }
            cells.push(right(num(t.calls)));
            Row::new(cells)
        })
        .collect();
    let border = if focused { p.border_focused } else { p.border };
    let more = if rows.len() > visible {
        format!(
            "{}-{} of {} ",
            start + 1,
            (start + visible).min(rows.len()),
            rows.len()
        )
    } else {
        String::new()
    };
    let (widths, header): (Vec<Constraint>, Vec<&str>) = if narrow {
        (
            vec![
                Constraint::Min(6),
                Constraint::Length(7),
                Constraint::Length(6),
            ],
            vec!["", "credits", "calls"],
        )
    } else {
        (
            vec![
                Constraint::Min(8),
                Constraint::Length(8),
                Constraint::Length(4),
                Constraint::Length(7),
            ],
            vec!["", "credits", "%", "calls"],
        )
    };
    let header = Row::new(
        header
            .into_iter()
            .map(|h| Cell::from(Line::from(h).right_aligned()))
            .collect::<Vec<_>>(),
    );
    let table = Table::new(body, widths)
        .header(header.style(Style::default().fg(p.muted)))
        .block(
            Block::bordered()
                .title(title)
                .title_bottom(Line::from(more).right_aligned())
                .border_style(Style::default().fg(border)),
        )
        .style(Style::default().fg(p.text));
    f.render_widget(table, area);
}

/// Each integration against its budget: use as a bar and a share, refusals, and when it runs
/// out at its own burn. Over 80 % it turns to the warning colour, at 100 % to critical.
fn draw_budgets(
    f: &mut Frame,
    area: Rect,
    budgets: &[creditops_store::usage::BudgetUse],
    scroll: usize,
    focused: bool,
    p: &Palette,
) {
    let mut rows: Vec<&creditops_store::usage::BudgetUse> = budgets.iter().collect();
    rows.sort_by(|a, b| {
        b.percent
            .partial_cmp(&a.percent)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then(a.integration.cmp(&b.integration))
    });
    let visible = area.height.saturating_sub(3) as usize;
    let narrow = area.width < 40;
    let start = scroll.min(rows.len().saturating_sub(1));
    let body: Vec<Row> = rows
        .iter()
        .skip(start)
        .take(visible.max(1))
        .map(|b| {
            let colour = if b.percent >= 100.0 {
                p.critical
            } else if b.percent >= 80.0 {
                p.warn
            } else {
                p.ok
            };
            let bar_w = 6usize;
            let filled = ((b.percent / 100.0) * bar_w as f64)
                .round()
                .clamp(0.0, bar_w as f64) as usize;
            let bar = format!("{}{}", "█".repeat(filled), "░".repeat(bar_w - filled));
            let right = |s: String| Cell::from(Line::from(s).right_aligned());
            let refused = match (b.refused, b.would_refuse) {
                (0, 0) => String::new(),
                (r, 0) => format!("⛔{r}"),
                (_, w) => format!("({w})"),
            };
            let mut cells = vec![
                Cell::from(b.integration.clone()),
                Cell::from(Span::styled(bar, Style::default().fg(colour))),
                right(format!("{:.0}%", b.percent)),
                right(refused),
            ];
            if !narrow {
                cells.push(right(
                    b.exhaustion_eta_seconds
                        .map(duration)
                        .unwrap_or_else(|| "-".into()),
                ));
            }
            Row::new(cells)
        })
        .collect();
    let mut widths = vec![
        Constraint::Min(6),
        Constraint::Length(6),
        Constraint::Length(5),
        Constraint::Length(6),
    ];
    let mut header = vec!["", "budget", "", "refused"];
    if !narrow {
        widths.push(Constraint::Length(7));
        header.push("runs out");
    }
    let border = if focused { p.border_focused } else { p.border };
    let table = Table::new(body, widths)
        .header(
            Row::new(
                header
                    .into_iter()
                    .map(|h| Cell::from(Line::from(h).right_aligned()))
                    .collect::<Vec<_>>(),
            )
            .style(Style::default().fg(p.muted)),
        )
        .block(
            Block::bordered()
                .title(" Budgets by integration ")
                .border_style(Style::default().fg(border)),
        )
        .style(Style::default().fg(p.text));
    f.render_widget(table, area);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_and_durations() {
        assert_eq!(duration(59), "0m59s");
        assert_eq!(duration(3 * 3600 + 12 * 60), "3h12m");
    }
}
