//! creditops: a terminal console for keeping Zoho CRM integrations within their API credits.
//!
//! The library holds every part (credit model, config, themes, servers, stores, views); the
//! `creditops` binary is a thin CLI over it. See docs/architecture.md for the module map.

pub mod config;
pub mod credits;
pub mod sandbox;
pub mod secret;
pub mod theme;
pub mod zoho;
