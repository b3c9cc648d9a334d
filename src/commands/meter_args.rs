//! Flags shared by `proxy` and `usage`: the org's limits and the ledger.

use std::path::PathBuf;

use creditops_config::Profile;
use creditops_core::credits::Limits;

use super::{input_error, Context};

#[derive(Debug, Clone, clap::Args)]
pub struct LimitArgs {
    /// Edition (with --users): the limit the gauges measure against.
    #[arg(long, requires = "users")]
    pub edition: Option<String>,
    /// User licences (with --edition).
    #[arg(long, requires = "edition")]
    pub users: Option<u64>,
    /// Add-on credits per 24 h.
    #[arg(long, requires = "edition")]
    pub addon: Option<u64>,
    /// Profile from config.toml (limits, thresholds, ledger, upstream).
    #[arg(long)]
    pub profile: Option<String>,
    /// The ledger (SQLite). Default: the profile's, else <data>/ledger-<profile>.sqlite.
    #[arg(long)]
    pub ledger: Option<PathBuf>,
}

/// What the flags and config resolve to.
pub struct Resolved {
    pub profile_name: String,
    pub profile: Profile,
    pub limits: Option<Limits>,
    pub ledger: PathBuf,
    pub thresholds: Vec<u32>,
}

pub fn resolve(ctx: &Context, a: &LimitArgs) -> anyhow::Result<Resolved> {
    let explicit_profile = a.profile.is_some() || ctx.config.config.default_profile.is_some();
    let (name, profile) = ctx
        .config
        .config
        .profile(a.profile.as_deref())
        .map_err(|e| input_error(e.to_string()))?;
    let limits = match (&a.edition, a.users) {
        (Some(e), Some(u)) => Some(
            ctx.model
                .editions
                .limits(e, u, a.addon.unwrap_or(0))
                .map_err(|e| input_error(e.to_string()))?,
        ),
        // A profile from the config says what the org has; with none, learn it from Zoho.
        _ if explicit_profile => Some(
            ctx.model
                .editions
                .limits(&profile.edition, profile.licences, profile.addon)
                .map_err(|e| input_error(e.to_string()))?,
        ),
        _ => None,
    };
    let ledger = a
        .ledger
        .clone()
        .or_else(|| profile.ledger.clone())
        .unwrap_or_else(|| ctx.paths.ledger(&name));
    Ok(Resolved {
        profile_name: name,
        thresholds: profile.thresholds(),
        profile,
        limits,
        ledger,
    })
}
