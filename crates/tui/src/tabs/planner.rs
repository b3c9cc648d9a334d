//! The Planner view: the queue with credits per call beside the plan with its batches and
//! credits; savings by rule and both lower bounds above; the rules as toggles; after a send to the
//! sandbox, predicted against charged credits on every step.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Row, Table, TableState, Wrap};
use ratatui::Frame;

use super::{Command, Cx, DrawCtx};
use crate::keys::Action;
use creditops_core::credits::CostTable;
use creditops_core::fmt::thousands;
use creditops_core::planner::{self, Plan, QueuedCall, Rule, RuleSet, StepKind};
use creditops_net::send::Report;

/// The actions the Planner tab handles (its help lists them).
pub const KEYS: &[Action] = &[
    Action::Replan,
    Action::RulePrev,
    Action::RuleNext,
    Action::ToggleRule,
    Action::Send,
    Action::Open,
    Action::Close,
    Action::FocusNext,
    Action::FocusPrev,
    Action::Up,
    Action::Down,
    Action::PageUp,
    Action::PageDown,
    Action::Top,
    Action::Bottom,
];

/// A queue read and planned off the console's loop.
#[derive(Debug, Clone)]
pub struct LoadedQueue {
    pub source: String,
    pub queue: Vec<QueuedCall>,
    pub bad: Vec<String>,
    /// The rules it was planned with.
    pub rules: RuleSet,
    pub plan: Option<Plan>,
}

/// Which list has the cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Focus {
    Queue,
    #[default]
    Plan,
}

pub struct PlannerTab {
    pub table: CostTable,
    /// Where the queue came from (a file, or the demo queue), said in the view's title.
    pub source: String,
    pub queue: Vec<QueuedCall>,
    /// Lines of the queue file that could not be read (`FILE:LINE: reason`), shown, not lost.
    pub bad_lines: Vec<String>,
    pub rules: RuleSet,
    /// The rule `space` toggles.
    pub rule_cursor: usize,
    pub plan: Option<Plan>,
    /// The rules the shown plan was made with (differs from `rules` until `p`).
    pub planned_rules: RuleSet,
    pub focus: Focus,
    pub selected: [usize; 2],
    /// A send waiting for Enter, with what the confirmation says.
    pub confirm: Option<String>,
    pub sending: bool,
    /// The last send's report, when it was of the plan shown.
    pub report: Option<Report>,
    pub message: Option<String>,
    /// Whether there is a sandbox to send to (the embedded one).
    pub target: Option<String>,
    /// The queue being read and planned (its source), until it arrives.
    pub loading: Option<String>,
}

impl PlannerTab {
    pub fn new(table: CostTable) -> PlannerTab {
        PlannerTab {
            table,
            source: String::new(),
            queue: Vec::new(),
            bad_lines: Vec::new(),
            rules: RuleSet::all(),
            rule_cursor: 0,
            plan: None,
            planned_rules: RuleSet::all(),
            focus: Focus::default(),
            selected: [0, 0],
            confirm: None,
            sending: false,
            report: None,
            message: None,
            target: None,
            loading: None,
        }
    }

    /// Takes a queue planned elsewhere (with the rules in force when it was planned).
    pub fn accept(&mut self, loaded: LoadedQueue) {
        self.loading = None;
        self.source = loaded.source;
        self.queue = loaded.queue;
        self.bad_lines = loaded.bad;
        self.plan = loaded.plan;
        self.planned_rules = loaded.rules;
        self.report = None;
    }

    /// Takes a queue and plans it.
    pub fn load(&mut self, source: String, queue: Vec<QueuedCall>, bad_lines: Vec<String>) {
        self.source = source;
        self.queue = queue;
        self.bad_lines = bad_lines;
        self.replan();
    }

    pub fn replan(&mut self) {
        let plan = planner::plan(
            &self.queue,
            &planner::Options {
                rules: self.rules,
                table: &self.table,
                unique: None,
            },
        );
        self.planned_rules = self.rules;
        self.selected = [
            self.selected[0].min(self.queue.len().saturating_sub(1)),
            self.selected[1].min(plan.steps.len().saturating_sub(1)),
        ];
        self.plan = Some(plan);
        self.report = None;
        self.message = None;
    }

    fn rows(&self, focus: Focus) -> usize {
        match focus {
            Focus::Queue => self.queue.len(),
            Focus::Plan => self.plan.as_ref().map_or(0, |p| p.steps.len()),
        }
    }

    /// What a send would be told: the target and the predicted credits.
    fn confirmation(&self) -> Option<String> {
        let plan = self.plan.as_ref()?;
        let target = self.target.as_deref()?;
        Some(format!(
            "Send {} calls ({} steps) to {target}? Predicted {} credits (the queue as it is: {}). Enter sends, Esc cancels.",
            plan.calls_after,
            plan.steps.len(),
            plan.credits_after,
            plan.credits_before
        ))
    }

    /// Applies a key. While a send waits for its confirmation, Enter sends, Esc or `s`
    /// cancels and every other key but quit leaves the question open.
    pub fn handle(&mut self, a: Action, cx: &mut Cx) -> bool {
        if self.confirm.is_some() {
            match a {
                Action::Open => {
                    self.confirm = None;
                    self.sending = true;
                    self.message = Some("sending…".into());
                    self.start_send(cx);
                }
                Action::Close | Action::Send => {
                    self.confirm = None;
                    self.message = Some("send cancelled".into());
                }
                Action::Quit => {
                    self.confirm = None;
                    return false;
                }
                _ => {}
            }
            return true;
        }
        let idx = match self.focus {
            Focus::Queue => 0,
            Focus::Plan => 1,
        };
        let rows = self.rows(self.focus);
        match a {
            Action::Up => self.selected[idx] = self.selected[idx].saturating_sub(1),
            Action::Down => {
                self.selected[idx] = (self.selected[idx] + 1).min(rows.saturating_sub(1))
            }
            Action::PageUp => self.selected[idx] = self.selected[idx].saturating_sub(10),
            Action::PageDown => {
                self.selected[idx] = (self.selected[idx] + 10).min(rows.saturating_sub(1))
            }
            Action::Top => self.selected[idx] = 0,
            Action::Bottom => self.selected[idx] = rows.saturating_sub(1),
            Action::FocusNext | Action::FocusPrev => {
                self.focus = match self.focus {
                    Focus::Queue => Focus::Plan,
                    Focus::Plan => Focus::Queue,
                }
            }
            Action::RuleNext => self.rule_cursor = (self.rule_cursor + 1) % Rule::ALL.len(),
            Action::RulePrev => {
                self.rule_cursor = (self.rule_cursor + Rule::ALL.len() - 1) % Rule::ALL.len()
            }
            Action::ToggleRule => {
                let r = Rule::ALL[self.rule_cursor];
                self.rules.toggle(r);
                self.message = Some(format!(
                    "{} {}: p re-plans",
                    r.name(),
                    if self.rules.has(r) { "on" } else { "off" }
                ));
            }
            Action::Replan => self.replan(),
            Action::Send => {
                if self.plan.is_none() {
                    self.message = Some("no plan yet".into());
                } else if self.sending {
                    self.message = Some("a send is running".into());
                } else if self.rules != self.planned_rules {
                    self.message = Some("the rules changed: p re-plans before sending".into());
                } else {
                    match self.confirmation() {
                        Some(c) => self.confirm = Some(c),
                        None => {
                            self.message = Some(
                                "no sandbox to send to here: the console sends to its embedded sandbox; use `creditops send --target` otherwise"
                                    .into(),
                            )
                        }
                    }
                }
            }
            _ => return false,
        }
        true
    }

    /// Hands the plan and its queue to whatever runs sends; says so when nothing does.
    fn start_send(&mut self, cx: &mut Cx) {
        let sent = match (&self.plan, cx.commands) {
            (Some(plan), Some(tx)) => tx
                .send(Command::SendPlan(Box::new((
                    plan.clone(),
                    self.queue.clone(),
                ))))
                .is_ok(),
            _ => false,
        };
        if !sent {
            self.finish(Err("nothing runs sends in this console".into()));
        }
    }

    /// Takes a send's outcome.
    pub fn finish(&mut self, outcome: Result<Report, String>) {
        self.sending = false;
        match outcome {
            Ok(r) => {
                self.message = Some(if r.failed_steps > 0 {
                    format!("sent; {} step(s) failed: see their status", r.failed_steps)
                } else {
                    "sent: predicted against charged, step by step, below".into()
                });
                self.report = Some(r);
            }
            Err(e) => self.message = Some(format!("send failed: {e}")),
        }
    }
}

pub fn draw(f: &mut Frame, area: Rect, st: &PlannerTab, cx: &DrawCtx) {
    let p = cx.theme.palette;
    let Some(plan) = &st.plan else {
        let text = if let Some(source) = &st.loading {
            format!("Reading and planning {source}…")
        } else if st.bad_lines.is_empty() {
            "No queue. Start the console with --queue FILE (JSONL, HAR, or a `proxy --hold` file)."
                .to_string()
        } else {
            format!("The queue could not be read:\n{}", st.bad_lines.join("\n"))
        };
        f.render_widget(
            Paragraph::new(text)
                .wrap(Wrap { trim: false })
                .style(Style::default().fg(p.muted))
                .block(Block::bordered().title(" Planner ")),
            area,
        );
        return;
    };
    let label = Style::default().fg(p.muted);
    let value = Style::default().fg(p.text).add_modifier(Modifier::BOLD);
    let saved = plan.credits_before.saturating_sub(plan.credits_after);
    let pct = if plan.credits_before == 0 {
        0.0
    } else {
        100.0 * saved as f64 / plan.credits_before as f64
    };
    // Each bound with the plan's ratio to it: above the ordered one is the planner's own
    // distance, the rest the price of equivalence.
    let ratio = |bound: u64| -> Span<'static> {
        let (text, colour) = if bound == plan.credits_after {
            ("reached".to_string(), p.ok)
        } else if bound == 0 {
            ("-".to_string(), p.muted)
        } else {
            (
                format!("plan {:.2}×", plan.credits_after as f64 / bound as f64),
                p.warn,
            )
        };
        Span::styled(format!(" ({text})"), Style::default().fg(colour))
    };
    let bounds = Line::from(vec![
        Span::styled("bounds ", label),
        Span::styled("ordered ", label),
        Span::styled(thousands(plan.ordered_lower_bound), value),
        ratio(plan.ordered_lower_bound),
        Span::styled("   relaxed ", label),
        Span::styled(thousands(plan.lower_bound), value),
        ratio(plan.lower_bound),
        Span::styled("   levels ", label),
        Span::styled(thousands(u64::from(plan.levels)), value),
    ]);
    let mut by_rule: Vec<Span> = vec![Span::styled("saved by rule ", label)];
    if plan.savings_by_rule.is_empty() {
        by_rule.push(Span::styled("nothing", label));
    }
    for (rule, credits) in &plan.savings_by_rule {
        by_rule.push(Span::styled(format!("{rule} "), label));
        by_rule.push(Span::styled(
            format!("{}  ", thousands(*credits as u64)),
            value,
        ));
    }
    // The rules wrap onto as many lines as the width needs: every rule's state stays in view
    // (at 80 columns they take two lines).
    let mut items: Vec<Span> = Vec::new();
    for (i, r) in Rule::ALL.iter().enumerate() {
        let on = st.rules.has(*r);
        let mut style = Style::default().fg(if on { p.ok } else { p.muted });
        if i == st.rule_cursor {
            style = style.patch(p.selected());
        }
        items.push(Span::styled(
            format!("[{}] {}", if on { "x" } else { " " }, r.name()),
            style,
        ));
    }
    if st.rules != st.planned_rules {
        items.push(Span::styled(
            "changed: p re-plans",
            Style::default().fg(p.warn),
        ));
    }
    let inner = usize::from(area.width.saturating_sub(2));
    const LEAD: &str = "rules ";
    let mut toggle_lines: Vec<Line> = Vec::new();
    let mut line: Vec<Span> = vec![Span::styled(LEAD, label)];
    let mut used = LEAD.len();
    for item in items {
        let w = item.content.chars().count();
        if used > LEAD.len() && used + w > inner {
            toggle_lines.push(Line::from(std::mem::take(&mut line)));
            line.push(Span::raw(" ".repeat(LEAD.len())));
            used = LEAD.len();
        }
        used += w + 1;
        line.push(item);
        line.push(Span::raw(" "));
    }
    toggle_lines.push(Line::from(line));
    let k = |a| cx.keys.key_of(a);
    let mut lines = vec![
        Line::from(vec![
            Span::styled("queue ", label),
            Span::styled(
                format!(
                    "{} calls · {} credits",
                    thousands(plan.calls_before),
                    thousands(plan.credits_before)
                ),
                value,
            ),
            Span::styled("   plan ", label),
            Span::styled(
                format!(
                    "{} calls · {} credits",
                    thousands(plan.calls_after),
                    thousands(plan.credits_after)
                ),
                Style::default().fg(p.accent).add_modifier(Modifier::BOLD),
            ),
            Span::styled(format!("  saves {} ({pct:.1} %)", thousands(saved)), value),
        ]),
        bounds,
        Line::from(by_rule),
    ];
    lines.extend(toggle_lines);
    if let Some(r) = &st.report {
        let same = r.charged_credits == r.predicted_credits;
        lines.push(Line::from(vec![
            Span::styled("sent ", label),
            Span::styled(
                format!(
                    "predicted {} · charged {}",
                    r.predicted_credits, r.charged_credits
                ),
                value,
            ),
            Span::styled(
                if same {
                    "  ✓ as predicted"
                } else {
                    "  ≠ prediction"
                },
                Style::default().fg(if same { p.ok } else { p.warn }),
            ),
            Span::styled(
                format!(
                    "  sandbox counted {} · {} calls · {} failed records · {} ms",
                    r.sandbox_charged_credits
                        .map_or("-".into(), |c| c.to_string()),
                    r.calls,
                    r.failed_records,
                    r.elapsed_ms
                ),
                label,
            ),
        ]));
    }
    let hint = format!(
        "{} re-plan · {}/{} rule · {} toggle · {} send · {}{} switch list",
        k(Action::Replan),
        k(Action::RulePrev),
        k(Action::RuleNext),
        k(Action::ToggleRule),
        k(Action::Send),
        k(Action::FocusPrev),
        k(Action::FocusNext),
    );
    lines.push(Line::styled(
        st.message.clone().unwrap_or(hint),
        Style::default().fg(if st.message.is_some() {
            p.accent
        } else {
            p.muted
        }),
    ));
    if !st.bad_lines.is_empty() {
        lines.push(Line::styled(
            format!(
                "{} line(s) of the queue could not be read and are left out, e.g. {}",
                st.bad_lines.len(),
                st.bad_lines[0]
            ),
            Style::default().fg(p.warn),
        ));
    }
    // The summary takes its lines and borders; the lists the rest.
    let [summary, lists] = Layout::vertical([
        Constraint::Length(lines.len() as u16 + 2),
        Constraint::Min(4),
    ])
    .areas(area);
    f.render_widget(
        Paragraph::new(lines).block(
            Block::bordered()
                .title(format!(" Planner · {} ", st.source))
                .border_style(Style::default().fg(p.border)),
        ),
        summary,
    );

    let [left, right] =
        Layout::horizontal([Constraint::Percentage(35), Constraint::Percentage(65)]).areas(lists);
    let border =
        |focused: bool| Style::default().fg(if focused { p.border_focused } else { p.border });
    let selected_style = p.selected().add_modifier(Modifier::BOLD);

    // The queue, with what each call costs as queued. Only the rows on screen are built: a
    // queue may hold a million calls.
    let (q_first, q_count) = window(st.queue.len(), st.selected[0], left.height);
    // id, method, path, credits: narrow, the path and the credits stay (a number is never cut).
    const QUEUE_COLUMNS: [(u16, u8); 4] = [(8, 2), (6, 3), (10, 0), (7, 1)];
    let q_kept = super::fit_columns(left.width.saturating_sub(2), &QUEUE_COLUMNS);
    let pick = |all: Vec<String>, kept: &[usize]| super::pick(&all, kept);
    let queue_rows: Vec<Row> = st
        .queue
        .iter()
        .zip(plan.call_credits.iter())
        .skip(q_first)
        .take(q_count)
        .map(|(c, credits)| {
            Row::new(pick(
                vec![
                    c.id.to_string(),
                    c.method.to_string(),
                    c.path.to_string(),
                    credits.to_string(),
                ],
                &q_kept,
            ))
        })
        .collect();
    let q_widths: Vec<Constraint> = q_kept
        .iter()
        .map(|&i| match i {
            2 => Constraint::Min(QUEUE_COLUMNS[i].0),
            _ => Constraint::Length(QUEUE_COLUMNS[i].0),
        })
        .collect();
    let q_header: Vec<String> = pick(
        ["id", "method", "path", "credits"]
            .map(String::from)
            .to_vec(),
        &q_kept,
    );
    let queue_table = Table::new(queue_rows, q_widths)
        .header(Row::new(q_header).style(Style::default().fg(p.header)))
        .row_highlight_style(selected_style)
        .block(
            Block::bordered()
                .title(format!(" Queue: {} calls ", thousands(plan.calls_before)))
                .border_style(border(st.focus == Focus::Queue)),
        );
    let mut qs = TableState::default().with_selected(Some(st.selected[0] - q_first));
    f.render_stateful_widget(queue_table, left, &mut qs);

    // The plan: one row a step, with the send's outcome beside the prediction.
    let results = st.report.as_ref().map(|r| &r.steps);
    let (p_first, p_count) = window(plan.steps.len(), st.selected[1], right.height);
    // level, rule, request, records, credits, [charged, status,] covers: what goes first when
    // narrow (the rule is whole or absent, never an ambiguous `c`).
    let plan_columns: Vec<(u16, u8)> = if results.is_some() {
        vec![
            (5, 5),
            (9, 1),
            (10, 0),
            (7, 4),
            (7, 2),
            (7, 3),
            (12, 6),
            (10, 7),
        ]
    } else {
        vec![(5, 4), (9, 1), (10, 0), (7, 3), (7, 2), (10, 5)]
    };
    let p_kept = super::fit_columns(right.width.saturating_sub(2), &plan_columns);
    let plan_rows: Vec<Row> = plan
        .steps
        .iter()
        .enumerate()
        .skip(p_first)
        .take(p_count)
        .map(|(i, s)| {
            // A report holds one result a step, in step order.
            let r = results.and_then(|rs| rs.get(i)).filter(|x| x.step == i);
            let covers = if s.ids.len() <= 3 {
                s.ids.iter().map(|x| &**x).collect::<Vec<_>>().join(",")
            } else {
                format!("{} calls", s.ids.len())
            };
            let (charged, status) = match r {
                Some(r) if s.kind != StepKind::Removed => (
                    r.charged_credits.to_string(),
                    match &r.error {
                        Some(e) => e.clone(),
                        None if r.failed_records > 0 => {
                            format!("{} · {} failed", r.status, r.failed_records)
                        }
                        None => r.status.to_string(),
                    },
                ),
                _ => (String::new(), String::new()),
            };
            let mut cells = vec![
                if s.kind == StepKind::Removed {
                    "-".to_string()
                } else {
                    s.level.to_string()
                },
                s.rule.map_or("as is", Rule::name).to_string(),
                format!("{} {}", s.method, s.path),
                s.records.to_string(),
                s.credits.to_string(),
            ];
            // The send's columns appear once there is a send to show.
            if results.is_some() {
                cells.push(charged);
                cells.push(status);
            }
            cells.push(covers);
            let row = Row::new(pick(cells, &p_kept));
            match r {
                Some(r) if r.charged_credits != u64::from(s.credits) || r.error.is_some() => {
                    row.style(Style::default().fg(p.warn))
                }
                _ if s.kind == StepKind::Removed => row.style(Style::default().fg(p.muted)),
                _ => row,
            }
        })
        .collect();
    let names: Vec<String> = if results.is_some() {
        vec![
            "level", "rule", "request", "records", "credits", "charged", "status", "covers",
        ]
    } else {
        vec!["level", "rule", "request", "records", "credits", "covers"]
    }
    .into_iter()
    .map(String::from)
    .collect();
    let header = pick(names, &p_kept);
    let widths: Vec<Constraint> = p_kept
        .iter()
        .map(|&i| match i {
            2 => Constraint::Fill(1),
            _ => Constraint::Length(plan_columns[i].0),
        })
        .collect();
    let plan_table = Table::new(plan_rows, widths)
        .header(Row::new(header).style(Style::default().fg(p.header)))
        .row_highlight_style(selected_style)
        .block(
            Block::bordered()
                .title(format!(
                    " Plan: {} steps in {} level{} ",
                    thousands(plan.steps.len() as u64),
                    plan.levels,
                    if plan.levels == 1 { "" } else { "s" }
                ))
                .border_style(border(st.focus == Focus::Plan)),
        );
    let mut ps = TableState::default().with_selected(Some(st.selected[1] - p_first));
    f.render_stateful_widget(plan_table, right, &mut ps);

    if let Some(question) = &st.confirm {
        let w = 64.min(area.width);
        let h = 5.min(area.height);
        let popup = Rect::new(
            area.x + (area.width - w) / 2,
            area.y + (area.height - h) / 2,
            w,
            h,
        );
        f.render_widget(Clear, popup);
        f.render_widget(
            Paragraph::new(question.clone())
                .wrap(Wrap { trim: true })
                .block(
                    Block::bordered()
                        .title(" Send to the sandbox? ")
                        .border_style(Style::default().fg(p.warn))
                        .style(Style::default().bg(p.surface).fg(p.text)),
                ),
            popup,
        );
    }
}

/// Which rows of a list of `len` a table `height` rows tall (borders and header included) shows
/// with `selected` in view: (first, count).
fn window(len: usize, selected: usize, height: u16) -> (usize, usize) {
    let rows = usize::from(height.saturating_sub(3)).max(1);
    let first = selected
        .saturating_sub(rows / 2)
        .min(len.saturating_sub(rows));
    (first, rows.min(len - first))
}

#[cfg(test)]
mod tests {
    use super::window;

    #[test]
    fn the_window_keeps_the_selection_in_view() {
        assert_eq!(window(0, 0, 20), (0, 0));
        assert_eq!(window(5, 4, 20), (0, 5));
        assert_eq!(window(1_000_000, 0, 23), (0, 20));
        assert_eq!(window(1_000_000, 500_000, 23), (499_990, 20));
        assert_eq!(window(1_000_000, 999_999, 23), (999_980, 20));
    }
}
