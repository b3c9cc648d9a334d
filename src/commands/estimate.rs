use std::path::PathBuf;

use creditops_core::estimate::input::{from_csv, from_daily, worst_rolling_24h, History};
use creditops_core::estimate::{estimate, to_csv, to_markdown, Request};
use creditops_store::ledger::Ledger;

use super::{input_error, print_json, thousands, Context};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Daily history: a CSV whose header names a `date` and a `credits` column.
    #[arg(long, conflicts_with = "ledger")]
    history: Option<PathBuf>,
    /// Daily (and hourly) history from a proxy ledger. Default: the profile's ledger.
    #[arg(long)]
    ledger: Option<String>,
    /// Days to forecast.
    #[arg(long, default_value_t = 30)]
    horizon: usize,
    /// Service level: the chance a day stays within limit + add-on.
    #[arg(long, default_value_t = 0.9)]
    level: f64,
    /// Edition (with --users); default: the profile's.
    #[arg(long, requires = "users")]
    edition: Option<String>,
    /// User licences (with --edition).
    #[arg(long, requires = "edition")]
    users: Option<u64>,
    #[arg(long)]
    profile: Option<String>,
    /// Read the console's embedded demo (`creditops` running in another terminal).
    #[arg(long, conflicts_with_all = ["profile", "history"])]
    embedded: bool,
    /// One JSON object on stdout.
    #[arg(long)]
    json: bool,
    /// Also write the estimate as csv, json or md to --out.
    #[arg(long, requires = "out", value_parser = ["csv", "json", "md"])]
    export: Option<String>,
    #[arg(long)]
    out: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let ctx = Context::load()?;
    if !(1..=365).contains(&args.horizon) {
        return Err(input_error("--horizon: 1 to 365 days"));
    }
    if !(0.5..1.0).contains(&args.level) {
        return Err(input_error(
            "--level: a probability from 0.5 to below 1, e.g. 0.9",
        ));
    }
    let (name, profile) = if args.embedded {
        (
            creditops_config::DEMO_PROFILE.to_string(),
            creditops_config::Profile::default(),
        )
    } else {
        ctx.config
            .config
            .profile(args.profile.as_deref())
            .map_err(|e| input_error(e.to_string()))?
    };
    let (edition, users) = match (&args.edition, args.users) {
        (Some(e), Some(u)) => (e.clone(), u),
        _ => (profile.edition.clone(), profile.licences),
    };
    // The add-on is what we estimate: the limit is the edition's without it.
    let limits = ctx
        .model
        .editions
        .limits(&edition, users, 0)
        .map_err(|e| input_error(e.to_string()))?;
    let mut worst = None;
    let mut advice = Vec::new();
    let history: History = match (&args.history, &args.ledger) {
        (Some(file), _) => {
            let text =
                creditops_core::input::read_data(file).map_err(|e| input_error(e.to_string()))?;
            from_csv(&text, &file.display().to_string())
                .map_err(|errs| input_error(errs.join("\n")))?
        }
        (None, ledger) => {
            if let Some(l) = ledger {
                creditops_config::store::check_argument(l).map_err(input_error)?;
            }
            let at = ctx
                .config
                .config
                .ledger_at(&ctx.paths, &name, &profile, ledger.as_deref());
            if at.path().is_some_and(|p| !p.exists()) {
                return Err(input_error(format!(
                    "{}: no ledger; pass --history FILE.csv or --ledger PATH",
                    at.display()
                )));
            }
            let l = Ledger::open(&at)?;
            worst = worst_rolling_24h(&l.hourly_totals()?);
            // Per-integration budgets need per-integration history: the ledger has it.
            advice = creditops_core::budgets::advise(&l.daily_totals_by_integration()?, 0.2);
            from_daily(&l.daily_totals()?, chrono::Utc::now().date_naive())
        }
    };
    for w in &history.warnings {
        eprintln!("creditops: warning: {w}");
    }
    let req = Request {
        horizon: args.horizon,
        level: args.level,
        daily_limit: limits.daily_limit,
        cap: limits.cap,
    };
    let e = estimate(&history, &req, &ctx.model.editions);
    if let (Some(format), Some(out)) = (&args.export, &args.out) {
        let text = match format.as_str() {
            "csv" => to_csv(&e),
            "md" => to_markdown(&e, &history),
            _ => serde_json::to_string_pretty(&e)?,
        };
        std::fs::write(out, text)
            .map_err(|err| input_error(format!("{}: {err}", out.display())))?;
        eprintln!("creditops: wrote {}", out.display());
    }
    if args.json {
        let mut v = serde_json::to_value(&e)?;
        v["edition"] = serde_json::json!(limits.edition);
        v["users"] = serde_json::json!(users);
        v["warnings"] = serde_json::json!(history.warnings);
        v["budgets"] = serde_json::to_value(&advice)?;
        v["worst_rolling_24h"] = match &worst {
            Some((sum, from)) => {
                serde_json::json!({"credits": sum, "from": from, "over_limit": *sum > limits.daily_limit})
            }
            None => serde_json::Value::Null,
        };
        return print_json(&v);
    }
    outln!("history         {} days", e.history_days);
    match &e.backtest {
        Some(b) => outln!(
            "model           {} (backtest {} origins × {} days: MASE {}, {:.0}% interval covered {:.0}%)",
            e.model,
            b.origins,
            b.horizon,
            b.mase.map_or("n/a".into(), |m| format!("{m:.2}")),
            e.level * 100.0,
            b.coverage * 100.0
        ),
        None => outln!("model           {} (not backtested)", e.model),
    }
    if let Some(m) = &e.message {
        outln!("note            {m}");
    }
    outln!(
        "daily limit     {} ({} {} users, without add-on)",
        thousands(e.daily_limit),
        limits.edition,
        users
    );
    outln!(
        "add-on          {} credits per 24 h recommended (each day within it {:.0}% of the time)",
        thousands(e.recommended_addon),
        e.level * 100.0
    );
    outln!(
        "expected use    {:.0} add-on credits a day, ${:.2} a month at Zoho's slab prices",
        e.expected_addon_credits_per_day,
        e.expected_monthly_cost_usd
    );
    outln!("days at risk    {}", e.days_at_risk.len());
    for d in e.days_at_risk.iter().take(10) {
        outln!(
            "  {}  {:.0}% chance over the limit (expected {})",
            d.date,
            d.p_over_limit * 100.0,
            thousands(d.mean.round() as u64)
        );
    }
    if let Some((sum, from)) = &worst {
        outln!("worst 24 h      {} credits from {from} (rolling; a day under the limit can still hit 429)", thousands(*sum));
    }
    if !advice.is_empty() {
        outln!("budgets         each integration's 95th-percentile day + 20 %, for config.toml:");
        for a in &advice {
            outln!(
                "  [budgets.integrations.\"{}\"]\n  credits = {}   # p95 day {}, worst day {}",
                a.integration,
                a.recommended,
                thousands(a.p95_day),
                thousands(a.max_day)
            );
        }
    }
    Ok(())
}
