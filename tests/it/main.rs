//! The cross-crate integration tests: one binary, one module per area. They start the servers
//! they need on loopback (free ports) and the CLI as a child process.

mod budgets;
mod cache;
mod cli;
mod common;
mod config;
mod console;
mod doctor;
mod estimate_cli;
mod events;
mod layers;
mod metering;
mod oas;
mod planner;
mod planner_cli;
mod proxy;
mod sandbox;
mod sandbox_async;
mod sandbox_fuzz;
mod sdk;
mod secrets;
mod storage;
mod team;
mod terminal;
mod themes;
