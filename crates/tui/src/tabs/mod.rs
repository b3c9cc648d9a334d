//! The console's tabs. Each owns its state, the actions it handles (`KEYS`: what its help lists
//! and where its keys apply), its input handling (`handle`) and its drawing
//! (`draw(frame, area, &state, &ctx)`); none reads another's state or the whole app.

pub mod cache;
pub mod estimate;
pub mod events;
pub mod gauges;
pub mod planner;

use std::cell::RefCell;

use ratatui::layout::Rect;
use tokio::sync::mpsc::UnboundedSender;

use crate::keys::{Action, Bindings};
use crate::theme::Theme;

/// The tabs, in the order the tab bar shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tab {
    Gauges,
    Cache,
    Events,
    Estimate,
    Planner,
}

impl Tab {
    pub const ALL: [Tab; 5] = [
        Tab::Gauges,
        Tab::Cache,
        Tab::Events,
        Tab::Estimate,
        Tab::Planner,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Tab::Gauges => "Gauges",
            Tab::Cache => "Cache",
            Tab::Events => "Events",
            Tab::Estimate => "Estimate",
            Tab::Planner => "Planner",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }

    /// The tab at `index`, the last one past the end.
    pub fn at(index: usize) -> Tab {
        Tab::ALL[index.min(Tab::ALL.len() - 1)]
    }

    pub fn next(self) -> Tab {
        Tab::ALL[(self.index() + 1) % Tab::ALL.len()]
    }

    pub fn prev(self) -> Tab {
        Tab::ALL[(self.index() + Tab::ALL.len() - 1) % Tab::ALL.len()]
    }

    /// The actions the tab handles.
    pub fn keys(self) -> &'static [Action] {
        match self {
            Tab::Gauges => gauges::KEYS,
            Tab::Cache => cache::KEYS,
            Tab::Events => events::KEYS,
            Tab::Estimate => estimate::KEYS,
            Tab::Planner => planner::KEYS,
        }
    }
}

/// Side effects the tabs ask the runtime for; their outcomes come back as input.
pub enum Command {
    /// Re-POST this stored event to the receiver's forward_to.
    Forward(i64),
    /// Send this plan (and the queue it covers) to the sandbox.
    SendPlan(
        Box<(
            creditops_core::planner::Plan,
            Vec<creditops_core::planner::QueuedCall>,
        )>,
    ),
    /// Recompute the estimate off the loop.
    Estimate(Box<estimate::EstimateJob>),
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Command::Forward(id) => write!(f, "Forward({id})"),
            Command::SendPlan(job) => write!(f, "SendPlan({} steps)", job.0.steps.len()),
            Command::Estimate(job) => write!(f, "Estimate(#{})", job.seq),
        }
    }
}

/// What every tab draws with, besides its own state.
pub struct DrawCtx<'a> {
    pub theme: &'a Theme,
    pub keys: &'a Bindings,
    pub now_ms: i64,
    /// The `/` filter being typed, when it is.
    pub filter_input: Option<&'a str>,
    /// The last status message (a forward's outcome, say).
    pub message: Option<&'a str>,
    /// Where the tab put its panels (index for the mouse), for hit-testing.
    pub panels: &'a RefCell<Vec<(Rect, usize)>>,
}

/// What a tab may touch beyond its own state while it handles an action.
pub struct Cx<'a> {
    pub now_ms: i64,
    /// Set to start typing a filter (with the text to edit).
    pub filter_input: &'a mut Option<String>,
    pub message: &'a mut Option<String>,
    /// Where side effects go (None: nothing runs them, as in tests of the app alone).
    pub commands: Option<&'a UnboundedSender<Command>>,
}

/// The kept columns of a row (indices from [`fit_columns`]).
pub fn pick<T: Clone>(all: &[T], kept: &[usize]) -> Vec<T> {
    kept.iter().map(|&i| all[i].clone()).collect()
}

/// The columns of a table that fit `width` (borders excluded): each column is `(width,
/// priority)`, 0 the most important; the least important go first, so the table never asks
/// for more than it has (a layout asked for too much splits the shortfall unpredictably) and a
/// number is never cut. Returns the kept columns' indices, in their order.
pub fn fit_columns(width: u16, columns: &[(u16, u8)]) -> Vec<usize> {
    let mut kept: Vec<usize> = (0..columns.len()).collect();
    let need = |kept: &[usize]| -> u32 {
        kept.iter().map(|&i| u32::from(columns[i].0)).sum::<u32>()
            + kept.len().saturating_sub(1) as u32
    };
    while need(&kept) > u32::from(width) && kept.len() > 1 {
        let Some(pos) = kept
            .iter()
            .enumerate()
            .max_by_key(|(k, &i)| (columns[i].1, *k))
            .map(|(k, _)| k)
        else {
            break;
        };
        kept.remove(pos);
    }
    kept
}

#[cfg(test)]
mod fit_tests {
    use super::fit_columns;

    #[test]
    fn the_least_important_columns_go_first() {
        let cols = [
            (20, 0),
            (13, 4),
            (9, 5),
            (6, 6),
            (8, 2),
            (6, 3),
            (7, 1),
            (8, 7),
        ];
        assert_eq!(fit_columns(200, &cols), vec![0, 1, 2, 3, 4, 5, 6, 7]);
        assert_eq!(fit_columns(78, &cols), vec![0, 1, 2, 3, 4, 5, 6]);
        assert_eq!(fit_columns(40, &cols), vec![0, 4, 6]);
        assert_eq!(
            fit_columns(5, &cols),
            vec![0],
            "the first column always stays"
        );
    }
}
