//! The Planner view's state: a queue, the rules, the plan made from them, and what the last send
//! to the sandbox was charged, step by step.

use crate::credits::CostTable;
use crate::planner::send::Report;
use crate::planner::{self, Plan, QueuedCall, Rule, RuleSet};
use crate::tui::keys::Action;

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

pub struct PlannerState {
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

impl PlannerState {
    pub fn new(table: CostTable) -> PlannerState {
        PlannerState {
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

    /// Applies a key: None when it is not the Planner's, Some(true) when a confirmed send
    /// should start, Some(false) otherwise.
    pub fn act(&mut self, a: Action) -> Option<bool> {
        if self.confirm.is_some() {
            match a {
                Action::Open => {
                    self.confirm = None;
                    self.sending = true;
                    self.message = Some("sending…".into());
                    return Some(true);
                }
                Action::Close | Action::Send => {
                    self.confirm = None;
                    self.message = Some("send cancelled".into());
                    return Some(false);
                }
                Action::Quit => {
                    self.confirm = None;
                    return None;
                }
                // Anything else leaves the question open.
                _ => return Some(false),
            }
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
            _ => return None,
        }
        Some(false)
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
