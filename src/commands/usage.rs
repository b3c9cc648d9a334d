use creditops_store::ledger::Ledger;
use creditops_store::usage::{snapshot, LimitSource};

use super::meter_args::{resolve, LimitArgs};
use super::{input_error, print_json, thousands, Context};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    limits: LimitArgs,
    /// One JSON object on stdout.
    #[arg(long)]
    json: bool,
    /// Read the console's embedded demo (`creditops` running in another terminal); wins over
    /// a profile (CREDITOPS_PROFILE included).
    #[arg(long)]
    embedded: bool,
}

pub fn run(mut args: Args) -> anyhow::Result<()> {
    let ctx = Context::load()?;
    args.limits.embedded = args.embedded;
    let r = resolve(&ctx, &args.limits)?;
    if r.ledger.path().is_some_and(|p| !p.exists()) {
        let how = if args.limits.embedded {
            "start the console (`creditops`) and keep it open: the demo writes it"
        } else {
            "run `creditops proxy` and send calls through it, or read the running demo with --embedded"
        };
        return Err(input_error(format!(
            "{}: no ledger yet; {how}",
            r.ledger.display()
        )));
    }
    let ledger = Ledger::open(&r.ledger)?;
    let now = chrono::Utc::now().timestamp_millis();
    let budgets = r.profile.budgets(&ctx.config.config);
    let u = snapshot(&ledger, now, r.limits.as_ref(), &r.thresholds, budgets)?;
    if args.json {
        let mut v = serde_json::to_value(&u)?;
        v["alerts"] = serde_json::json!(u
            .alerts
            .iter()
            .filter(|a| a.crossed)
            .map(|a| a.threshold)
            .collect::<Vec<_>>());
        v["thresholds"] = serde_json::to_value(&u.alerts)?;
        v["ledger"] = serde_json::json!(r.ledger.display().to_string());
        return print_json(&v);
    }
    let limit = match (u.limit, u.limit_source) {
        (Some(l), LimitSource::Configured) => thousands(l),
        (Some(l), _) => format!("{} (learned from X-API-CREDITS-REMAINING)", thousands(l)),
        (None, _) => {
            "unknown (Zoho sends X-API-CREDITS-REMAINING only past 50% use; pass --edition/--users)"
                .into()
        }
    };
    outln!("used            {} of {}", thousands(u.used), limit);
    if let (Some(rem), Some(p)) = (u.remaining, u.percent) {
        outln!("remaining       {} ({:.1}% used)", thousands(rem), p);
    }
    outln!(
        "burn            {:.0} credits/hour (last 15 min)",
        u.burn_per_hour
    );
    match u.exhaustion_eta_seconds {
        Some(0) => outln!("exhaustion      now: calls get HTTP 429"),
        Some(s) => outln!(
            "exhaustion      in {} at this burn",
            creditops_core::fmt::duration(s)
        ),
        None => outln!("exhaustion      not on course within 24 h"),
    }
    outln!(
        "frees up        {} in the next hour",
        thousands(u.freeing_next_hour)
    );
    if let Some(rep) = u.reported_remaining {
        let gap = u
            .metered_minus_reported
            .map(|g| format!(", metered minus reported {g:+}"))
            .unwrap_or_default();
        outln!("Zoho reports    {} remaining{gap}", thousands(rep));
    }
    outln!(
        "in flight       {}{}",
        u.in_flight,
        u.concurrency_limit
            .map(|c| format!(" of {c}"))
            .unwrap_or_default()
    );
    for a in &u.alerts {
        let mark = if a.crossed { "CROSSED" } else { "" };
        outln!(
            "alert {:>3}%      {:>12} {mark}",
            a.threshold,
            thousands(a.credits)
        );
    }
    let several_proxies = u.by_proxy.len() > 1;
    for (title, map) in [
        ("module", &u.by_module),
        ("api", &u.by_api),
        ("integration", &u.by_integration),
        ("proxy", &u.by_proxy),
    ] {
        if title == "proxy" && !several_proxies {
            continue;
        }
        let mut rows: Vec<_> = map.iter().collect();
        rows.sort_by_key(|r| std::cmp::Reverse(r.1.credits));
        let shown: Vec<Vec<String>> = rows
            .iter()
            .take(10)
            .map(|(k, t)| vec![k.to_string(), thousands(t.credits), thousands(t.calls)])
            .collect();
        outln!();
        out!(
            "{}",
            super::table(&[title, "credits", "calls"], shown, &[1, 2])
        );
    }
    if !u.budgets.is_empty() {
        let rows: Vec<Vec<String>> = u
            .budgets
            .iter()
            .map(|b| {
                vec![
                    b.integration.clone(),
                    thousands(b.used),
                    thousands(b.budget),
                    format!("{:.1}%", b.percent),
                    b.priority.as_str().to_string(),
                    thousands(b.refused),
                    thousands(b.would_refuse),
                ]
            })
            .collect();
        outln!("\nbudgets (rolling 24 h):");
        out!(
            "{}",
            super::table(
                &[
                    "integration",
                    "used",
                    "budget",
                    "used %",
                    "priority",
                    "refused",
                    "would refuse"
                ],
                rows,
                &[1, 2, 3, 5, 6],
            )
        );
    }
    Ok(())
}
