//! creditops: a terminal console for keeping Zoho CRM integrations within their API credits.
//!
//! The library holds every part (credit model, config, themes, servers, stores, views); the
//! `creditops` binary is a thin CLI over it. See docs/architecture.md for the module map.

// Zoho's error envelope (code, message, details) travels whole through `Result`s on error
// paths that are cold by nature (a refused call); boxing it would buy nothing measurable.
#![allow(clippy::result_large_err)]

pub mod cache;
pub mod config;
pub mod credits;
pub mod db;
pub mod estimate;
pub mod events;
pub mod fmt;
pub mod ledger;
pub mod planner;
pub mod proxy;
pub mod sandbox;
pub mod secret;
pub mod server;
pub mod theme;
pub mod tui;
pub mod usage;
pub mod zoho;
