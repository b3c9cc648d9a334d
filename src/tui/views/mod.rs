//! One module per tab.

pub mod cache;
pub mod estimate;
pub mod events;
pub mod gauges;
pub mod planner;
