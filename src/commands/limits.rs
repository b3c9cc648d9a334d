use serde::Serialize;

use super::{input_error, print_json, thousands, Context};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Edition: free, standard, professional, enterprise, ultimate (or an alias: starter,
    /// zoho-one, crm-plus). Default: the profile's.
    #[arg(long, short)]
    edition: Option<String>,
    /// User licences. Default: the profile's.
    #[arg(long, short, alias = "licences")]
    users: Option<u64>,
    /// Add-on credits allowed per 24 h. Default: the profile's.
    #[arg(long)]
    addon: Option<u64>,
    /// Profile whose edition, licences, add-on and thresholds fill in what is not given.
    #[arg(long)]
    profile: Option<String>,
    /// One JSON object on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Serialize)]
struct Threshold {
    percent: u32,
    credits: u64,
}

#[derive(Debug, Serialize)]
struct Answer {
    edition: String,
    users: u64,
    daily_limit: u64,
    base_limit: u64,
    cap: Option<u64>,
    addon: u64,
    addon_effective: u64,
    concurrency: u32,
    sub_concurrency: u32,
    alert_thresholds: Vec<Threshold>,
    /// X-API-CREDITS-REMAINING appears once this many credits are used (50% of the base limit).
    header_from_used: u64,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let ctx = Context::load()?;
    let (_, profile) = ctx
        .config
        .config
        .profile(args.profile.as_deref())
        .map_err(|e| input_error(e.to_string()))?;
    let edition = args.edition.unwrap_or(profile.edition.clone());
    let users = args.users.unwrap_or(profile.licences);
    let addon = args.addon.unwrap_or(profile.addon);
    let limits = ctx
        .model
        .editions
        .limits(&edition, users, addon)
        .map_err(|e| input_error(e.to_string()))?;
    let alert_thresholds = profile
        .thresholds()
        .into_iter()
        .map(|percent| Threshold {
            percent,
            credits: limits.daily_limit * u64::from(percent) / 100,
        })
        .collect();
    let answer = Answer {
        edition: limits.edition.clone(),
        users,
        daily_limit: limits.daily_limit,
        base_limit: limits.base_limit,
        cap: limits.cap,
        addon,
        addon_effective: limits.addon_effective,
        concurrency: limits.concurrency,
        sub_concurrency: limits.sub_concurrency,
        alert_thresholds,
        header_from_used: limits.base_limit / 2,
    };
    if args.json {
        return print_json(&answer);
    }
    let e = ctx
        .model
        .editions
        .get(&edition)
        .map_err(|e| input_error(e.to_string()))?;
    outln!("edition          {}", answer.edition);
    outln!("users            {}", answer.users);
    outln!(
        "daily limit      {} credits per rolling 24 h",
        thousands(answer.daily_limit)
    );
    outln!(
        "  base           {} + {} x {} users = {}",
        thousands(e.base),
        thousands(e.per_licence),
        users,
        thousands(answer.base_limit)
    );
    if addon > 0 {
        outln!(
            "  add-on         {} allowed, {} within the cap",
            thousands(addon),
            thousands(answer.addon_effective)
        );
    }
    outln!(
        "cap              {}",
        answer.cap.map_or("unlimited".into(), thousands)
    );
    outln!("concurrency      {}", answer.concurrency);
    outln!("sub-concurrency  {}", answer.sub_concurrency);
    let marks: Vec<String> = answer
        .alert_thresholds
        .iter()
        .map(|t| format!("{}% ({})", t.percent, thousands(t.credits)))
        .collect();
    outln!("alerts at        {}", marks.join("  "));
    outln!(
        "header from      {} used (X-API-CREDITS-REMAINING appears at 50% of the base limit)",
        thousands(answer.header_from_used)
    );
    Ok(())
}
