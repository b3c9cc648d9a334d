//! One module per tab.

pub mod gauges;
pub mod pending;
