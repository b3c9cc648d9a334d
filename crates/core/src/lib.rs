//! creditops' pure core: the credit model, the planner, the estimator, formatting, secrets,
//! TOML diagnostics and Zoho's wire types. No I/O beyond reading a file it is given: no tokio,
//! HTTP, database or terminal here, so everything above can depend on it and it on nothing
//! of theirs.

// Zoho's error envelope (code, message, details) travels whole through `Result`s on error
// paths that are cold by nature (a refused call); boxing it would buy nothing measurable.
#![allow(clippy::result_large_err)]

pub mod budgets;
pub mod credits;
pub mod estimate;
pub mod fmt;
pub mod input;
pub mod metadata;
pub mod planner;
pub mod prefetch;
pub mod secret;
pub mod toml_diag;
pub mod webhook;
pub mod zoho;
