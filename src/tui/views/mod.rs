//! One module per tab.

pub mod estimate;
pub mod events;
pub mod gauges;
pub mod pending;
