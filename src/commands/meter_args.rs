//! Flags shared by `proxy` and `usage`: the org's limits and the ledger.

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
    #[arg(long, env = "CREDITOPS_PROFILE")]
    pub profile: Option<String>,
    /// The console's embedded demo: its ledger and limits (set by the commands that read it).
    #[arg(skip)]
    pub embedded: bool,
    /// The ledger: a SQLite file or postgres://USER@HOST:PORT/DB (the password from PGPASSWORD
    /// or the config, never from here). Default: the profile's `ledger`, else `[store] url`,
    /// else <data>/ledger-<profile>.sqlite.
    #[arg(long)]
    pub ledger: Option<String>,
}

/// What the flags and config resolve to.
pub struct Resolved {
    pub profile_name: String,
    pub profile: Profile,
    pub limits: Option<Limits>,
    pub ledger: creditops_store::db::Location,
    pub thresholds: Vec<u32>,
}

pub fn resolve(ctx: &Context, a: &LimitArgs) -> anyhow::Result<Resolved> {
    // The demo's name and default profile, as the console uses them: its stores, not a real one.
    let explicit_profile =
        a.embedded || a.profile.is_some() || ctx.config.config.default_profile.is_some();
    let (name, profile) = if a.embedded {
        (
            creditops_config::DEMO_PROFILE.to_string(),
            creditops_config::Profile::default(),
        )
    } else {
        ctx.config
            .config
            .profile(a.profile.as_deref())
            .map_err(|e| input_error(e.to_string()))?
    };
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
    if let Some(l) = &a.ledger {
        creditops_config::store::check_argument(l).map_err(input_error)?;
    }
    let ledger = ctx
        .config
        .config
        .ledger_at(&ctx.paths, &name, &profile, a.ledger.as_deref());
    Ok(Resolved {
        profile_name: name,
        thresholds: profile.thresholds(),
        profile,
        limits,
        ledger,
    })
}
