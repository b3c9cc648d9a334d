//! `creditops send QUEUE|PLAN`: run a queue or a plan against a target, metered in the ledger,
//! and report predicted against charged credits.

use std::io::IsTerminal;
use std::path::PathBuf;

use creditops_core::planner::{self, Plan, QueuedCall};
use creditops_core::secret::Secret;
use creditops_net::send::{send, Report, SendOptions};
use serde_json::Value;

use super::meter_args::{resolve, LimitArgs};
use super::plan::{queue_from_text, rules_of, PlanFile, PLAN_FORMAT};
use super::{input_error, thousands, Context};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A queue (JSONL, HAR, hold file: sent as queued unless --replan) or a plan from `plan --out`.
    input: PathBuf,
    /// A creditops sandbox to send to (its token comes from its operator endpoint).
    #[arg(long, conflicts_with = "profile")]
    target: Option<String>,
    /// A profile from config.toml to send to (its OAuth credentials and limits).
    #[arg(long)]
    profile: Option<String>,
    /// Plan before sending: a queue is planned; a plan is planned again from its queue.
    #[arg(long)]
    replan: bool,
    /// Rules for --replan (default all).
    #[arg(long)]
    rules: Option<String>,
    /// Refuse when the plan's predicted credits are above N.
    #[arg(long)]
    max_credits: Option<u64>,
    /// Allow a Zoho production target (the profile must allow it too).
    #[arg(long)]
    allow_production: bool,
    /// The ledger the sent calls are metered in. Default: the profile's.
    #[arg(long)]
    ledger: Option<String>,
    /// Concurrent calls (default: the edition's concurrency limit).
    #[arg(long)]
    concurrency: Option<u32>,
    /// A base URL the target can reach for Bulk Write callbacks (default: a loopback listener).
    #[arg(long)]
    callback_url: Option<String>,
    /// Send the good lines of a queue with bad ones (each still reported).
    #[arg(long)]
    skip_bad: bool,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// The integration the calls are metered (and budgeted) as.
    #[arg(long, default_value = "creditops-send")]
    integration: String,
    /// Print what would be sent and what it is predicted to cost; send nothing.
    #[arg(long)]
    dry_run: bool,
}

/// What the input was: the plan to send and the queue it covers.
fn plan_of(args: &Args, ctx: &Context) -> anyhow::Result<(Plan, Vec<QueuedCall>)> {
    let text =
        creditops_core::input::read_data(&args.input).map_err(|e| input_error(e.to_string()))?;
    let rules = rules_of(args.rules.as_deref())?;
    let opts = planner::Options {
        rules,
        table: &ctx.model.table,
        unique: None,
    };
    let is_plan = text.trim_start().starts_with('{')
        && serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v.get("format").and_then(Value::as_str).map(String::from))
            .is_some_and(|f| f == PLAN_FORMAT);
    if is_plan {
        let file: PlanFile = serde_json::from_str(&text).map_err(|e| {
            input_error(format!(
                "{}:{}: not a readable plan: {e}",
                args.input.display(),
                e.line()
            ))
        })?;
        let plan = if args.replan {
            planner::plan(&file.queue, &opts)
        } else {
            file.plan
        };
        return Ok((plan, file.queue));
    }
    // The text read above: the file is not read twice.
    let queue = queue_from_text(&text, &args.input, args.skip_bad)?;
    let plan = if args.replan {
        planner::plan(&queue, &opts)
    } else {
        planner::as_queued(&queue, &ctx.model.table)
    };
    Ok((plan, queue))
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let ctx = Context::load()?;
    if args.target.is_none() && args.profile.is_none() && !args.dry_run {
        return Err(input_error(
            "say where to send: --target URL (a sandbox) or --profile NAME",
        ));
    }
    let (plan, queue) = plan_of(&args, &ctx)?;
    if args.dry_run {
        if args.json {
            outln!("{}", serde_json::to_string_pretty(&dry_run_json(&plan))?);
        } else {
            out!("{}", dry_run_text(&plan));
        }
        return Ok(());
    }
    let limit_args = LimitArgs {
        edition: None,
        users: None,
        addon: None,
        profile: args.profile.clone(),
        ledger: args.ledger.clone(),
        embedded: false,
    };
    let r = resolve(&ctx, &limit_args)?;
    if let Some(max) = args.max_credits {
        if plan.credits_after > max {
            return Err(input_error(format!(
                "refusing to send: the plan is predicted to cost {} credits, above --max-credits {max}",
                plan.credits_after
            )));
        }
    }
    let rt = tokio::runtime::Runtime::new()?;
    let report: Report = rt.block_on(async {
        let http = reqwest::Client::new();
        let (upstream, token, sandbox, used, limit, concurrency, sub) = match &args.target {
            Some(url) => {
                creditops_core::zoho::destination(url)
                    .map_err(|e| input_error(format!("--target: {e}")))?;
                if creditops_core::zoho::is_production_url(url) {
                    return Err(input_error(format!(
                        "--target {url} is Zoho production: use --profile with target = \"zoho-production\", allow_production = true, and --allow-production"
                    )));
                }
                let base = url.trim_end_matches('/').to_string();
                let usage: Value = http
                    .get(format!("{base}/__sandbox/usage"))
                    .send()
                    .await
                    .map_err(|e| anyhow::anyhow!("--target {base}: {e}"))?
                    .json()
                    .await
                    .map_err(|_| {
                        input_error(format!(
                            "--target {base} is not a creditops sandbox (no /__sandbox/usage); use --profile for Zoho targets"
                        ))
                    })?;
                let tok: Value = http
                    .post(format!("{base}/__sandbox/token"))
                    .send()
                    .await?
                    .json()
                    .await?;
                let token = tok
                    .get("access_token")
                    .and_then(Value::as_str)
                    .ok_or_else(|| anyhow::anyhow!("{base}/__sandbox/token gave no token"))?;
                let n = |k: &str| usage.get(k).and_then(Value::as_u64).unwrap_or(0);
                (
                    base,
                    Secret::new(token),
                    true,
                    n("used"),
                    n("limit"),
                    n("concurrency_limit") as u32,
                    n("sub_concurrency_limit") as u32,
                )
            }
            None => {
                let p = &r.profile;
                // The profile's endpoint went through the production guard; production also
                // needs this command's own consent.
                let client = super::profile_client(&r.profile_name, p)?;
                if client.endpoint.production && !args.allow_production {
                    return Err(input_error(format!(
                        "profile `{}` is Zoho production: pass --allow-production to send there",
                        r.profile_name
                    )));
                }
                let token = client.access_token().await?;
                let limits = r
                    .limits
                    .clone()
                    .ok_or_else(|| input_error("the profile's limits are unknown"))?;
                let now = chrono::Utc::now().timestamp_millis();
                let used = creditops_store::ledger::Ledger::open(&r.ledger)?.used_at(now)?;
                (
                    client.endpoint.api_base.clone(),
                    token,
                    false,
                    used,
                    limits.daily_limit,
                    limits.concurrency,
                    limits.sub_concurrency,
                )
            }
        };
        if limit > 0 && used + plan.credits_after > limit {
            return Err(input_error(format!(
                "refusing to send: {} predicted credits on top of {used} used would pass the limit of {limit} (100 %)",
                plan.credits_after
            )));
        }
        // The sending integration's own budget, as the proxy would hold it to it.
        if let Some(budget) = r
            .profile
            .budgets(&ctx.config.config)
            .and_then(|b| b.for_integration(&args.integration, (limit > 0).then_some(limit)))
        {
            let now = chrono::Utc::now().timestamp_millis();
            let (spent, _) = creditops_store::ledger::Ledger::open(&r.ledger)?
                .charged_to(&args.integration, now - creditops_core::credits::WINDOW_MS)?;
            if spent + plan.credits_after > budget.daily {
                return Err(input_error(format!(
                    "refusing to send: the plan is predicted to cost {} credits; integration `{}` has {} of its {} budgeted credits left in the rolling 24 h",
                    plan.credits_after,
                    args.integration,
                    budget.daily.saturating_sub(spent),
                    budget.daily
                )));
            }
        }
        let mut opts = SendOptions::new(&upstream, token, &r.ledger);
        opts.integration = args.integration.clone();
        opts.sandbox = sandbox;
        opts.model = ctx.model.clone();
        opts.concurrency = args.concurrency.unwrap_or(concurrency.max(1));
        opts.sub_concurrency = sub.max(1);
        opts.callback_base = args.callback_url.clone();
        // Progress for people: on a terminal, not under --json.
        if !args.json && std::io::stderr().is_terminal() && plan.steps.len() > 1 {
            opts.progress = Some(std::sync::Arc::new(|done, all| {
                eprint!("\rcreditops: {done}/{all} steps sent");
                if done == all {
                    eprintln!();
                }
            }));
        }
        if !sandbox && opts.callback_base.is_none()
            && plan.steps.iter().any(|s| s.kind == planner::StepKind::BulkWrite)
        {
            return Err(input_error(
                "the plan has Bulk Write jobs: pass --callback-url with a base Zoho can reach, or plan with --rules without bulk",
            ));
        }
        send(&plan, &queue, opts).await
    })?;
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        out!("{}", text_report(&report));
    }
    if report.failed_steps > 0 || report.failed_records > 0 {
        // Exit 1: a send that lost records must not look like one that did not.
        anyhow::bail!(
            "{} step(s) failed, {} record(s) refused; see the report",
            report.failed_steps,
            report.failed_records
        );
    }
    Ok(())
}

/// What `--dry-run` prints: each step to be sent, its records and predicted credits.
fn dry_run_text(plan: &Plan) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let sent: Vec<&planner::Step> = plan
        .steps
        .iter()
        .filter(|st| st.kind != planner::StepKind::Removed)
        .collect();
    let _ = writeln!(
        s,
        "dry run: nothing sent. {} step(s) in {} level(s) would be sent, predicted {} credits ({} as queued)\n",
        sent.len(),
        plan.levels,
        plan.credits_after,
        plan.credits_before
    );
    let _ = writeln!(
        s,
        "{:>5} {:>5} {:<10} {:<6} {:<40} {:>7} {:>9}",
        "step", "level", "rule", "method", "path", "records", "predicted"
    );
    for (i, st) in plan.steps.iter().enumerate() {
        if st.kind == planner::StepKind::Removed {
            continue;
        }
        let _ = writeln!(
            s,
            "{:>5} {:>5} {:<10} {:<6} {:<40} {:>7} {:>9}",
            i + 1,
            st.level,
            st.rule.map_or("-", |r| r.name()),
            st.method,
            st.path.chars().take(40).collect::<String>(),
            st.records,
            st.credits
        );
    }
    s
}

fn dry_run_json(plan: &Plan) -> Value {
    serde_json::json!({
        "dry_run": true,
        "predicted_credits": plan.credits_after,
        "credits_as_queued": plan.credits_before,
        "levels": plan.levels,
        "steps": plan.steps.iter().enumerate()
            .filter(|(_, st)| st.kind != planner::StepKind::Removed)
            .map(|(i, st)| serde_json::json!({
                "step": i, "level": st.level, "rule": st.rule.map(|r| r.name()),
                "method": st.method.to_string(), "path": st.path.to_string(),
                "records": st.records, "predicted_credits": st.credits, "calls": st.ids,
            }))
            .collect::<Vec<_>>(),
    })
}

fn text_report(r: &Report) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(s, "target            {}", r.target);
    let _ = writeln!(s, "predicted credits {}", thousands(r.predicted_credits));
    let _ = writeln!(
        s,
        "charged credits   {} (ledger)",
        thousands(r.charged_credits)
    );
    if let Some(sb) = r.sandbox_charged_credits {
        let _ = writeln!(s, "sandbox charged   {sb} (the sandbox's own count)");
    }
    let _ = writeln!(s, "calls             {}", r.calls);
    let _ = writeln!(s, "failed records    {}", r.failed_records);
    let _ = writeln!(s, "elapsed           {} ms", r.elapsed_ms);
    let rows: Vec<Vec<String>> = r
        .steps
        .iter()
        .map(|st| {
            vec![
                (st.step + 1).to_string(),
                st.rule.clone().unwrap_or_else(|| "-".into()),
                st.method.clone(),
                st.path.clone(),
                st.status.to_string(),
                thousands(u64::from(st.predicted_credits)),
                thousands(st.charged_credits),
                thousands(u64::from(st.failed_records)),
                st.error.clone().unwrap_or_default(),
            ]
        })
        .collect();
    let _ = writeln!(s);
    s.push_str(&super::table(
        &[
            "step",
            "rule",
            "method",
            "path",
            "status",
            "predicted",
            "charged",
            "failed",
            "error",
        ],
        rows,
        &[0, 4, 5, 6, 7],
    ));
    let failures: Vec<(usize, &creditops_net::send::Failure)> = r
        .steps
        .iter()
        .flat_map(|st| st.failures.iter().map(move |f| (st.step + 1, f)))
        .collect();
    if !failures.is_empty() {
        let _ = writeln!(s, "\nrefused records ({}):", failures.len());
        for (step, f) in failures {
            let call = if f.call.is_empty() { "-" } else { &f.call };
            let _ = writeln!(s, "  step {step} call {call}: {f}");
        }
    }
    s
}
