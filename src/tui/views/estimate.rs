//! The Estimate view: daily history and the forecast on one chart, with the prediction band
//! and the limit line; the recommendation and its cost; keys change horizon, level and
//! licences and the answer updates at once; export as CSV, JSON or a Markdown report.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Block, Chart, Dataset, GraphType, Paragraph, Wrap};
use ratatui::Frame;

use crate::tui::app::App;
use crate::tui::views::gauges::thousands;

pub fn draw(f: &mut Frame, area: Rect, app: &App) {
    let p = app.theme.palette;
    let st = &app.estimate;
    let Some((history, e)) = &st.result else {
        let msg = st.error.clone().unwrap_or_else(|| {
            "No history yet: the estimate reads the ledger's daily totals.".into()
        });
        f.render_widget(
            Paragraph::new(msg)
                .wrap(Wrap { trim: true })
                .style(Style::default().fg(p.muted))
                .block(Block::bordered().title(" Estimate ")),
            area,
        );
        return;
    };
    let [summary, chart] =
        Layout::vertical([Constraint::Length(6), Constraint::Min(6)]).areas(area);
    let label = Style::default().fg(p.muted);
    let value = Style::default().fg(p.text).add_modifier(Modifier::BOLD);
    let bt = match &e.backtest {
        Some(b) => format!(
            "backtest MASE {} · {:.0}% band covered {:.0}%",
            b.mase.map_or("n/a".into(), |m| format!("{m:.2}")),
            e.level * 100.0,
            b.coverage * 100.0
        ),
        None => "not backtested".into(),
    };
    let lines = vec![
        Line::from(vec![
            Span::styled("model ", label),
            Span::styled(e.model, value),
            Span::styled(format!("  ({bt})  history {} days", e.history_days), label),
        ]),
        Line::from(vec![
            Span::styled("limit ", label),
            Span::styled(thousands(e.daily_limit), value),
            Span::styled(format!(" ({} {} users)", st.edition, st.users), label),
            Span::styled("  add-on ", label),
            Span::styled(
                format!("{} recommended", thousands(e.recommended_addon)),
                Style::default().fg(p.accent).add_modifier(Modifier::BOLD),
            ),
            Span::styled(
                format!("  ~${:.2}/month", e.expected_monthly_cost_usd),
                value,
            ),
            Span::styled(
                format!("  {} days at risk", e.days_at_risk.len()),
                Style::default().fg(if e.days_at_risk.is_empty() {
                    p.ok
                } else {
                    p.warn
                }),
            ),
        ]),
        Line::from(vec![
            Span::styled(
                format!("horizon {} days · level {:.0}%", e.horizon, e.level * 100.0),
                label,
            ),
            Span::styled(
                format!(
                    "   {}",
                    st.message
                        .clone()
                        .or_else(|| e.message.clone())
                        .unwrap_or_default()
                ),
                Style::default().fg(p.header),
            ),
        ]),
    ];
    f.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: true }).block(
            Block::bordered()
                .title(" Add-on estimate ")
                .border_style(Style::default().fg(p.border)),
        ),
        summary,
    );

    let hist: Vec<(f64, f64)> = history
        .days
        .iter()
        .enumerate()
        .map(|(i, d)| (i as f64 - history.days.len() as f64 + 1.0, d.credits))
        .collect();
    let mean: Vec<(f64, f64)> = e
        .forecast
        .iter()
        .enumerate()
        .map(|(i, pt)| (i as f64 + 1.0, pt.mean))
        .collect();
    let lo: Vec<(f64, f64)> = e
        .forecast
        .iter()
        .enumerate()
        .map(|(i, pt)| (i as f64 + 1.0, pt.lo))
        .collect();
    let hi: Vec<(f64, f64)> = e
        .forecast
        .iter()
        .enumerate()
        .map(|(i, pt)| (i as f64 + 1.0, pt.hi))
        .collect();
    let x0 = hist.first().map_or(0.0, |v| v.0);
    let x1 = e.forecast.len() as f64;
    let limit = e.daily_limit as f64;
    let with_addon = (e.daily_limit + e.recommended_addon) as f64;
    let limit_line = vec![(x0, limit), (x1, limit)];
    let addon_line = vec![(x0, with_addon), (x1, with_addon)];
    let ymax = hist
        .iter()
        .chain(&hi)
        .map(|v| v.1)
        .fold(with_addon, f64::max)
        * 1.08;
    let mut datasets = vec![
        Dataset::default()
            .name("history")
            .marker(Marker::Braille)
            .graph_type(GraphType::Line)
            .style(Style::default().fg(p.chart_primary))
            .data(&hist),
        Dataset::default()
            .name(format!("{:.0}% band", e.level * 100.0))
            .marker(Marker::Dot)
            .graph_type(GraphType::Scatter)
            .style(Style::default().fg(p.chart_band))
            .data(&hi),
        Dataset::default()
            .name("")
            .marker(Marker::Dot)
            .graph_type(GraphType::Scatter)
            .style(Style::default().fg(p.chart_band))
            .data(&lo),
        Dataset::default()
            .name("forecast")
            .marker(Marker::Braille)
            .graph_type(GraphType::Line)
            .style(Style::default().fg(p.chart_secondary))
            .data(&mean),
        Dataset::default()
            .name("limit")
            .marker(Marker::Braille)
            .graph_type(GraphType::Line)
            .style(Style::default().fg(p.critical))
            .data(&limit_line),
    ];
    if e.recommended_addon > 0 {
        datasets.push(
            Dataset::default()
                .name("limit + add-on")
                .marker(Marker::Braille)
                .graph_type(GraphType::Line)
                .style(Style::default().fg(p.warn))
                .data(&addon_line),
        );
    }
    let first = history
        .days
        .first()
        .map(|d| d.date.to_string())
        .unwrap_or_default();
    let today = history
        .days
        .last()
        .map(|d| d.date.to_string())
        .unwrap_or_default();
    let end = e
        .forecast
        .last()
        .map(|pt| pt.date.clone())
        .unwrap_or_default();
    let chart_w = Chart::new(datasets)
        .hidden_legend_constraints((Constraint::Ratio(1, 2), Constraint::Ratio(1, 2)))
        .block(
            Block::bordered()
                .title(" Daily credits: history and forecast ")
                .border_style(Style::default().fg(p.border)),
        )
        .x_axis(
            Axis::default()
                .bounds([x0, x1])
                .labels(vec![Line::from(first), Line::from(today), Line::from(end)])
                .style(Style::default().fg(p.muted)),
        )
        .y_axis(
            Axis::default()
                .bounds([0.0, ymax.max(1.0)])
                .labels(vec![
                    Line::from("0"),
                    Line::from(thousands((ymax / 2.0) as u64)),
                    Line::from(thousands(ymax as u64)),
                ])
                .style(Style::default().fg(p.muted)),
        );
    f.render_widget(chart_w, chart);
}
