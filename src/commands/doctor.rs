//! `creditops doctor`: is this machine ready to watch a real org? It checks the config (every
//! problem `config check` finds), the modes of the files that hold secrets and data, that each
//! configured endpoint answers, the clock against the servers' (several proxies share one
//! rolling 24-hour budget: a skewed clock misplaces calls in it), and each Zoho profile's token
//! and scopes; and says what to fix. It spends no API credit: the API host is asked without a
//! token (Zoho answers 401, free), the token comes from the accounts server, the webhook and
//! alert URLs get a TCP connection and nothing else, and a production host is not contacted
//! without --allow-production.

use std::time::{Duration, Instant};

use creditops_config::{Profile, Target};
use creditops_core::secret::{redact, url_for_display, Secret};
use serde::Serialize;

use super::{print_json, Context};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Check only this profile (default: every profile in the config).
    #[arg(long, env = "CREDITOPS_PROFILE")]
    profile: Option<String>,
    /// Also reach Zoho production hosts (for profiles that allow production).
    #[arg(long)]
    allow_production: bool,
    /// One JSON object on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum Status {
    Ok,
    Warn,
    Fail,
    Skipped,
}

impl Status {
    fn word(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
            Status::Skipped => "skipped",
        }
    }
}

#[derive(Debug, Serialize)]
struct Check {
    check: String,
    status: Status,
    detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    fix: Option<String>,
}

fn check(name: impl Into<String>, status: Status, detail: impl Into<String>) -> Check {
    Check {
        check: name.into(),
        status,
        detail: detail.into(),
        fix: None,
    }
}

impl Check {
    fn fix(mut self, fix: impl Into<String>) -> Check {
        self.fix = Some(fix.into());
        self
    }
}

/// Clock differences from a server's `Date` (1-second resolution): up to 2 s is the header's
/// rounding and the trip; past 30 s, calls land in the wrong minutes of the shared window.
const SKEW_WARN: Duration = Duration::from_secs(2);
const SKEW_FAIL: Duration = Duration::from_secs(30);

pub fn run(args: Args) -> anyhow::Result<()> {
    let ctx = Context::load()?;
    let mut checks = Vec::new();
    config_checks(&ctx, &mut checks);
    let c = &ctx.config.config;
    let profiles: Vec<(String, Profile)> = match &args.profile {
        Some(_) => vec![c.profile(args.profile.as_deref())?],
        None => c
            .profiles
            .iter()
            .map(|(n, p)| (n.clone(), p.clone()))
            .collect(),
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .connect_timeout(Duration::from_secs(5))
        .build()?;
    for (name, p) in &profiles {
        rt.block_on(profile_checks(
            &http,
            name,
            p,
            args.allow_production,
            &mut checks,
        ));
        if let Some(url) = p
            .ledger
            .as_ref()
            .filter(|l| creditops_config::store::is_postgres_url(l.expose()))
        {
            checks.push(postgres_check(&format!("{name}: ledger"), url));
        }
    }
    if let Some(url) = &c.store.url {
        checks.push(postgres_check("store", url));
    }
    for (what, url) in [
        ("alerts post_url", c.alerts.post_url.as_deref()),
        ("receiver forward_to", c.receiver.forward_to.as_deref()),
    ] {
        if let Some(url) = url {
            checks.push(rt.block_on(tcp_check(what, url)));
        }
    }
    let failed = checks.iter().filter(|c| c.status == Status::Fail).count();
    let warned = checks.iter().filter(|c| c.status == Status::Warn).count();
    if args.json {
        print_json(&serde_json::json!({"checks": checks, "failed": failed, "warnings": warned}))?;
    } else {
        let rows = checks
            .iter()
            .map(|c| vec![c.check.clone(), c.status.word().into(), c.detail.clone()])
            .collect();
        out!(
            "{}",
            super::table(&["check", "result", "detail"], rows, &[])
        );
        let fixes: Vec<&Check> = checks.iter().filter(|c| c.fix.is_some()).collect();
        if !fixes.is_empty() {
            outln!("\nto fix:");
            for c in fixes {
                outln!("  {}: {}", c.check, c.fix.as_deref().unwrap_or_default());
            }
        }
        if failed == 0 {
            outln!("\n{} check(s), {} warning(s): ready", checks.len(), warned);
        }
    }
    if failed > 0 {
        return Err(anyhow::anyhow!(
            "{failed} of {} check(s) failed",
            checks.len()
        ));
    }
    Ok(())
}

/// The config's problems and the modes of what holds secrets and data.
fn config_checks(ctx: &Context, out: &mut Vec<Check>) {
    let loaded = &ctx.config;
    let file = loaded.file.display().to_string();
    let problems = super::config::problems(ctx);
    if !loaded.existed {
        out.push(
            check(
                "config",
                Status::Ok,
                format!("{file}: no file; the embedded sandbox only"),
            )
            .fix("`creditops config init` writes a template with a real org's profile"),
        );
    } else if problems.is_empty() {
        out.push(check(
            "config",
            Status::Ok,
            format!("{file}: {} profile(s)", loaded.config.profiles.len()),
        ));
    }
    for p in problems {
        out.push(check("config", Status::Fail, p).fix(format!("edit {file}")));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &std::path::Path| {
            std::fs::metadata(p)
                .ok()
                .map(|m| m.permissions().mode() & 0o777)
        };
        let c = &loaded.config;
        let secrets = c.profiles.values().any(Profile::holds_secrets) || c.store.url.is_some();
        if let Some(m) = mode(&loaded.file) {
            if m & 0o077 != 0 {
                let status = if secrets { Status::Fail } else { Status::Warn };
                let what = if secrets {
                    "holds secrets and others can read it"
                } else {
                    "others can read it (no secrets in it yet)"
                };
                out.push(
                    check("config mode", status, format!("{file} is {m:04o}: {what}"))
                        .fix(format!("chmod 600 {file}")),
                );
            } else {
                out.push(check("config mode", Status::Ok, format!("{m:04o}")));
            }
        }
        for (what, dir) in [
            ("config folder", &ctx.paths.config_dir),
            ("data folder", &ctx.paths.data_dir),
        ] {
            if let Some(m) = mode(dir) {
                // The data folder holds the ledger and webhook payloads (records' data).
                if m & 0o022 != 0 || (what == "data folder" && m & 0o007 != 0) {
                    out.push(
                        check(
                            what,
                            Status::Warn,
                            format!("{} is {m:04o}: others can read or change it", dir.display()),
                        )
                        .fix(format!("chmod 700 {}", dir.display())),
                    );
                }
            }
        }
    }
}

/// One profile: its API host reached without a token, the clock, its token and scopes.
async fn profile_checks(
    http: &reqwest::Client,
    name: &str,
    p: &Profile,
    allow_production: bool,
    out: &mut Vec<Check>,
) {
    let ends = p.endpoints();
    let Some(api) = ends.api_base.clone() else {
        out.push(check(
            format!("{name}: api"),
            Status::Ok,
            "the embedded sandbox: runs in-process, nothing to reach",
        ));
        return;
    };
    let mut skew: Option<(String, chrono::TimeDelta)> = None;
    let production = creditops_core::zoho::is_production_url(&api);
    if production && p.may_send_to(&api, allow_production).is_err() {
        out.push(
            check(
                format!("{name}: api"),
                Status::Skipped,
                format!("{api} is Zoho production: not contacted"),
            )
            .fix(if p.allow_production && p.target == Target::ZohoProduction {
                "pass --allow-production to check it".to_string()
            } else {
                "a production profile needs target = \"zoho-production\", allow_production = true and --allow-production".to_string()
            }),
        );
    } else {
        // Without a token Zoho answers 401 and charges nothing; any answer proves the way.
        let url = format!("{}/crm/v8/org", api.trim_end_matches('/'));
        let started = Instant::now();
        match http.get(&url).send().await {
            Ok(resp) => {
                let ms = started.elapsed().as_millis();
                if let Some(d) = creditops_net::oauth::date_header(resp.headers()) {
                    skew = Some((api.clone(), chrono::Utc::now() - d));
                }
                out.push(check(
                    format!("{name}: api"),
                    Status::Ok,
                    format!(
                        "{api} answered in {ms} ms (HTTP {} without a token: nothing charged)",
                        resp.status().as_u16()
                    ),
                ));
            }
            Err(e) => out.push(
                check(
                    format!("{name}: api"),
                    Status::Fail,
                    format!(
                        "{api} cannot be reached: {}",
                        creditops_net::client::error_chain(&e)
                    ),
                )
                .fix("check api_base / data_centre, the network and any HTTPS proxy"),
            ),
        }
    }
    let creds = match (&p.client_id, &p.client_secret, &p.refresh_token) {
        (Some(id), Some(secret), Some(rt)) if !secret.is_empty() && !rt.is_empty() => {
            Some((id.clone(), secret.clone(), rt.clone()))
        }
        _ => None,
    };
    match creds {
        None if p.target == Target::Embedded => {}
        None => out.push(
            check(format!("{name}: token"), Status::Fail, "no refresh token")
                .fix(format!("creditops auth --profile {name}")),
        ),
        Some((id, secret, refresh)) => {
            // As the client asks: the accounts base, else (the embedded sandbox) the API base.
            let accounts = ends.accounts_base.clone().unwrap_or_else(|| api.clone());
            let token_url = ends
                .token_url()
                .unwrap_or_else(|| format!("{}/oauth/v2/token", api.trim_end_matches('/')));
            let answer = creditops_net::oauth::request_token(
                http,
                &token_url,
                &[
                    ("grant_type", "refresh_token"),
                    ("client_id", id.as_str()),
                    ("client_secret", secret.expose()),
                    ("refresh_token", refresh.expose()),
                ],
                &[&secret, &refresh],
            )
            .await;
            match answer {
                Ok(a) => {
                    if let (None, Some(d)) = (&skew, a.server_date) {
                        skew = Some((accounts.clone(), chrono::Utc::now() - d));
                    }
                    let missing = a
                        .scope
                        .as_deref()
                        .map(creditops_core::zoho::oauth::missing_scopes);
                    out.push(match missing {
                        Some(m) if m.is_empty() => check(
                            format!("{name}: token"),
                            Status::Ok,
                            "refreshed; its scopes cover what creditops uses",
                        ),
                        Some(m) => check(
                            format!("{name}: token"),
                            Status::Fail,
                            format!("refreshed, but the grant lacks {}", m.join(", ")),
                        )
                        .fix(format!(
                            "make a grant code with `creditops auth --scopes` and run `creditops auth --profile {name}`"
                        )),
                        None => check(
                            format!("{name}: token"),
                            Status::Warn,
                            "refreshed; the accounts server did not say its scopes",
                        ),
                    });
                }
                Err(e) => out.push(
                    check(
                        format!("{name}: token"),
                        Status::Fail,
                        format!(
                            "{accounts}: {}",
                            redact(&e.to_string(), &[&secret, &refresh])
                        ),
                    )
                    .fix(format!("creditops auth --profile {name}")),
                ),
            }
        }
    }
    if let Some((from, d)) = skew {
        let off = d.abs().to_std().unwrap_or_default();
        let said = format!(
            "{:.0} s {} {from}",
            off.as_secs_f64(),
            if d > chrono::TimeDelta::zero() {
                "ahead of"
            } else {
                "behind"
            }
        );
        out.push(if off > SKEW_FAIL {
            check(format!("{name}: clock"), Status::Fail, said)
                .fix("synchronise this machine's clock (chrony or systemd-timesyncd)")
        } else if off > SKEW_WARN {
            check(format!("{name}: clock"), Status::Warn, said)
                .fix("synchronise this machine's clock (chrony or systemd-timesyncd)")
        } else {
            check(
                format!("{name}: clock"),
                Status::Ok,
                format!("within {} s of {from}", SKEW_WARN.as_secs()),
            )
        });
    }
}

/// A PostgreSQL store: connects (5 s at most), shown without its password.
fn postgres_check(what: &str, url: &Secret) -> Check {
    let shown = url_for_display(url.expose());
    match creditops_store::db::Pg::connect(url) {
        Ok(_) => check(what, Status::Ok, format!("{shown}: connected")),
        Err(e) => check(
            what,
            Status::Fail,
            format!("{shown}: {}", redact(&e.to_string(), &[url])),
        )
        .fix("check the server is up, the URL, and PGPASSWORD"),
    }
}

/// A URL creditops posts to: a TCP connection to its host and port, nothing sent.
async fn tcp_check(what: &str, url: &str) -> Check {
    let Some((host, port)) = url::Url::parse(url)
        .ok()
        .and_then(|u| Some((u.host_str()?.to_string(), u.port_or_known_default()?)))
    else {
        return check(what, Status::Fail, format!("`{url}` is not a URL"));
    };
    let shown = url_for_display(url);
    let connect = tokio::net::TcpStream::connect((host.as_str(), port));
    match tokio::time::timeout(Duration::from_secs(5), connect).await {
        Ok(Ok(_)) => check(
            what,
            Status::Ok,
            format!("{shown}: {host}:{port} accepts connections"),
        ),
        Ok(Err(e)) => check(what, Status::Fail, format!("{shown}: {e}"))
            .fix("start what listens there, or correct the URL"),
        Err(_) => check(what, Status::Fail, format!("{shown}: no answer in 5 s"))
            .fix("start what listens there, or correct the URL"),
    }
}
