//! One module per tab.

pub mod events;
pub mod gauges;
pub mod pending;
