//! The Estimate view: daily history and the forecast on one chart, with the prediction band
//! and the limit line; the recommendation and its cost; keys change horizon, level and
//! licences and the answer updates at once; export as CSV, JSON or a Markdown report.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Block, Chart, Dataset, GraphType, Paragraph, Wrap};
use ratatui::Frame;

use std::path::PathBuf;

use tokio::sync::mpsc::UnboundedSender;

use super::{Command, DrawCtx};
use crate::keys::Action;
use creditops_core::credits::Editions;
use creditops_core::estimate::input::History;
use creditops_core::estimate::Estimate;
use creditops_core::fmt::thousands;

/// The actions the Estimate tab handles (its help lists them).
pub const KEYS: &[Action] = &[
    Action::HorizonDown,
    Action::HorizonUp,
    Action::LevelDown,
    Action::LevelUp,
    Action::UsersDown,
    Action::UsersUp,
    Action::Export,
];

/// What an estimate gives back: the history it read and the estimate, or why there is none.
pub type EstimateOutcome = Result<(History, Estimate), String>;

/// The Estimate tab: its question (horizon, level, licences), the answer, and the recompute it
/// is waiting for. A recompute reads the ledger and fits four models (tens of milliseconds
/// for a long history), so it runs off the loop as a [`Command::Estimate`] and comes back as
/// an `Input::Estimated`; only where nothing runs commands (a test) does it run in place.
pub struct EstimateTab {
    /// Where daily history comes from (None: set `history` directly).
    pub ledger: Option<creditops_store::db::Location>,
    pub history: Option<History>,
    pub editions: Editions,
    pub edition: String,
    pub users: u64,
    pub horizon: usize,
    pub level: f64,
    pub result: Option<(History, Estimate)>,
    pub error: Option<String>,
    pub message: Option<String>,
    pub export_dir: PathBuf,
    export_count: usize,
    /// The number of the latest recompute asked for; answers to older ones are dropped.
    asked: u64,
    /// Whether the latest recompute is still running.
    pub computing: bool,
}

/// One recompute, owning all it needs so it can run on another thread.
pub struct EstimateJob {
    pub seq: u64,
    ledger: Option<creditops_store::db::Location>,
    history: Option<History>,
    editions: Editions,
    edition: String,
    users: u64,
    horizon: usize,
    level: f64,
}

impl EstimateJob {
    /// Reads the history (the ledger's daily totals, or the given one) and estimates.
    pub fn run(self) -> (u64, EstimateOutcome) {
        (self.seq, self.estimate())
    }

    fn estimate(self) -> EstimateOutcome {
        let history = match (self.history, &self.ledger) {
            (Some(h), _) => h,
            (None, Some(path)) => creditops_store::ledger::Ledger::open(path)
                .and_then(|l| l.daily_totals())
                .map(|t| {
                    creditops_core::estimate::input::from_daily(&t, chrono::Utc::now().date_naive())
                })
                .map_err(|e| e.to_string())?,
            (None, None) => return Err("no history: the console has no ledger to read".into()),
        };
        let limits = self
            .editions
            .limits(&self.edition, self.users, 0)
            .map_err(|e| e.to_string())?;
        let req = creditops_core::estimate::Request {
            horizon: self.horizon,
            level: self.level,
            daily_limit: limits.daily_limit,
            cap: limits.cap,
        };
        let e = creditops_core::estimate::estimate(&history, &req, &self.editions);
        Ok((history, e))
    }
}

impl EstimateTab {
    pub fn new(editions: Editions, edition: &str, users: u64, export_dir: PathBuf) -> EstimateTab {
        EstimateTab {
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
            asked: 0,
            computing: false,
        }
    }

    /// Asks for the answer to the current question: off the loop when something runs
    /// commands, else here.
    pub fn recompute(&mut self, commands: Option<&UnboundedSender<Command>>) {
        self.asked += 1;
        let job = EstimateJob {
            seq: self.asked,
            ledger: self.ledger.clone(),
            history: self.history.clone(),
            editions: self.editions.clone(),
            edition: self.edition.clone(),
            users: self.users,
            horizon: self.horizon,
            level: self.level,
        };
        self.computing = true;
        let job = match commands {
            Some(tx) => match tx.send(Command::Estimate(Box::new(job))) {
                Ok(()) => return,
                Err(e) => match e.0 {
                    Command::Estimate(job) => *job,
                    _ => return,
                },
            },
            None => job,
        };
        let (seq, outcome) = job.run();
        self.finish(seq, outcome);
    }

    /// Takes an answer, unless a newer question was asked since.
    pub fn finish(&mut self, seq: u64, outcome: EstimateOutcome) {
        if seq != self.asked {
            return;
        }
        self.computing = false;
        match outcome {
            Ok(r) => {
                self.error = None;
                self.result = Some(r);
            }
            Err(e) => self.error = Some(e),
        }
    }

    /// Writes the next export format (CSV, JSON, Markdown) and says where.
    pub fn export(&mut self) {
        let Some((history, e)) = &self.result else {
            return;
        };
        let (ext, text) = match self.export_count % 3 {
            0 => ("csv", creditops_core::estimate::to_csv(e)),
            1 => ("json", serde_json::to_string_pretty(e).unwrap_or_default()),
            _ => ("md", creditops_core::estimate::to_markdown(e, history)),
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

    /// Keys change the question; the answer follows.
    pub fn handle(&mut self, a: Action, commands: Option<&UnboundedSender<Command>>) -> bool {
        match a {
            Action::HorizonDown => self.horizon = self.horizon.saturating_sub(7).max(7),
            Action::HorizonUp => self.horizon = (self.horizon + 7).min(365),
            Action::LevelDown => {
                self.level = ((self.level - 0.05) * 100.0).round().max(50.0) / 100.0
            }
            Action::LevelUp => self.level = ((self.level + 0.05) * 100.0).round().min(99.0) / 100.0,
            Action::UsersDown => self.users = self.users.saturating_sub(5).max(1),
            Action::UsersUp => self.users += 5,
            Action::Export => {
                self.export();
                return true;
            }
            _ => return false,
        }
        self.message = None;
        self.recompute(commands);
        true
    }
}

pub fn draw(f: &mut Frame, area: Rect, st: &EstimateTab, cx: &DrawCtx) {
    let p = cx.theme.palette;
    let Some((history, e)) = &st.result else {
        let msg = st.error.clone().unwrap_or_else(|| {
            if st.computing {
                "Estimating from the ledger's daily totals…".into()
            } else {
                "No history yet: the estimate reads the ledger's daily totals.".into()
            }
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
