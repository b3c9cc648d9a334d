//! The planner: load a queue of pending calls, rewrite it into the cheapest equivalent plan,
//! and send either to a target while metering what it is charged.

mod bound;
mod classify;
mod group;
mod json_view;
pub mod plan;
pub mod queue;
pub mod request;
mod scan;
pub mod unique;

pub use plan::{as_queued, plan, Method, Options, Plan, Rule, RuleSet, Step, StepKind};
pub use queue::{load, load_named, parse, BadLine, Loaded, QueuedCall};
pub use unique::UniqueFields;

#[cfg(test)]
mod exhaustive;
#[cfg(test)]
mod tests;
