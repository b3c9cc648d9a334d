use std::io::Write;
use std::net::SocketAddr;

use creditops_net::proxy::{spawn, ProxyConfig};
use creditops_sandbox::SandboxConfig;

use super::meter_args::{resolve, LimitArgs};
use super::{input_error, Context};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Log to stderr as well as to <data>/creditops-proxy.log (level: CREDITOPS_LOG).
    #[arg(long)]
    log_stderr: bool,
    /// Address to listen on; 127.0.0.1:0 takes a free port.
    #[arg(long, default_value = "127.0.0.1:7880")]
    listen: String,
    /// The API base to forward to (e.g. http://127.0.0.1:7878 or https://sandbox.zohoapis.eu).
    /// Default: the profile's; for the embedded profile, a sandbox started in-process.
    #[arg(long)]
    upstream: Option<String>,
    /// Where /oauth/… calls go (the accounts host). Default: the upstream.
    #[arg(long)]
    accounts_upstream: Option<String>,
    #[command(flatten)]
    limits: LimitArgs,
    /// The request header that names the integration (default from config: X-Integration).
    #[arg(long)]
    integration_header: Option<String>,
    /// Listen on a non-loopback address.
    #[arg(long)]
    allow_remote: bool,
    /// Allow forwarding to a Zoho production host (the profile must allow it too).
    #[arg(long)]
    allow_production: bool,
    /// Hold mode: append every API call to this queue file (JSONL) and answer 202 instead of
    /// forwarding; plan it with `creditops plan FILE`.
    #[arg(long, value_name = "QUEUE")]
    hold: Option<std::path::PathBuf>,
    /// The base URL integrations reach this proxy at (behind a load balancer, say), written
    /// into token answers' `api_domain` so SDKs stay behind the proxy. Default: the scheme and
    /// Host of each call.
    #[arg(long, value_name = "URL")]
    public_url: Option<String>,
    /// This proxy's name in a shared ledger (the Gauges' breakdown by proxy).
    /// Default: HOST:PORT.
    #[arg(long)]
    name: Option<String>,
    /// Seconds a call waits for a concurrency slot when the org is at its limit, before the
    /// proxy answers 429 itself.
    #[arg(long, default_value_t = 10)]
    admission_wait: u64,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let ctx = Context::load()?;
    let _log = super::logging::init(&ctx.paths.log(Some("proxy")), args.log_stderr);
    let r = resolve(&ctx, &args.limits)?;
    let listen: SocketAddr = args
        .listen
        .parse()
        .map_err(|e| input_error(format!("--listen `{}`: {e}", args.listen)))?;
    if !listen.ip().is_loopback() && !args.allow_remote {
        return Err(input_error(format!(
            "--listen {listen} is not a loopback address; pass --allow-remote to accept calls from other machines"
        )));
    }
    if let Some(u) = &args.public_url {
        creditops_core::zoho::destination(u)
            .map_err(|e| input_error(format!("--public-url: {e}")))?;
    }
    // The profile's endpoints (accounts_base honoured), unless flags say otherwise.
    let ends = r.profile.endpoints();
    let upstream = args.upstream.clone().or(ends.api_base);
    let accounts = args.accounts_upstream.clone().or(ends.accounts_base);
    for u in upstream.iter().chain(&accounts) {
        creditops_core::zoho::destination(u).map_err(input_error)?;
    }
    if let Some(u) = &upstream {
        r.profile
            .may_send_to(u, args.allow_production)
            .map_err(input_error)?;
    }
    let cfg = &ctx.config.config;
    // Budgets: the profile's, else the config's; checked against the limit now that it is known.
    let budgets = r.profile.budgets(cfg).cloned();
    if let Some(b) = &budgets {
        let limit = r.limits.as_ref().map(|l| l.daily_limit);
        if let Some((key, message)) = b.problem(limit) {
            return Err(input_error(format!(
                "{}: [budgets] key `{key}`: {message}",
                ctx.paths.config_file.display()
            )));
        }
        if b.integrations
            .values()
            .chain(&b.default)
            .any(|s| s.share.is_some())
            && limit.is_none()
        {
            eprintln!("creditops: warning: budgets given as shares need the org's limit (edition and licences); those budgets are not enforced");
        }
    }
    // The same store `creditops cache` reads and clears.
    let metadata_cache = if cfg.cache.enabled {
        let at = cfg.metadata_at(&ctx.paths, &r.profile_name);
        let c = creditops_store::cache::MetadataCache::open(at, cfg.cache.clone())
            .map_err(anyhow::Error::msg)?;
        for w in &c.warnings {
            eprintln!("creditops: warning: {w}");
        }
        Some(std::sync::Arc::new(c))
    } else {
        None
    };
    let rt = tokio::runtime::Runtime::new()?;
    let model = ctx.model.clone();
    let limits = r.limits.clone();
    rt.block_on(async move {
        // The embedded profile with no upstream: a sandbox in this process.
        let embedded = match &upstream {
            None => {
                let edition = limits
                    .as_ref()
                    .map_or("enterprise".to_string(), |l| l.edition.clone());
                let users = limits.as_ref().map_or(10, |l| l.users);
                let sb = creditops_sandbox::spawn(
                    SandboxConfig {
                        edition,
                        users,
                        model: model.clone(),
                        ..Default::default()
                    },
                    "127.0.0.1:0".parse()?,
                )
                .await?;
                eprintln!("embedded sandbox on {}", sb.base_url());
                Some(sb)
            }
            Some(_) => None,
        };
        let upstream =
            upstream.unwrap_or_else(|| embedded.as_ref().map(|s| s.base_url()).unwrap_or_default());
        let config = ProxyConfig {
            upstream,
            accounts_upstream: accounts,
            integration_header: args
                .integration_header
                .unwrap_or_else(|| cfg.proxy.integration_header.clone()),
            limits,
            thresholds: r.thresholds.clone(),
            alert_post_url: cfg.alerts.post_url.clone(),
            desktop_alerts: cfg.alerts.desktop,
            model,
            ledger: r.ledger.clone(),
            retention_days: cfg.ledger.retention_days,
            charge_not_modified: true,
            cache: metadata_cache,
            hold: args.hold.clone(),
            public_url: args.public_url.clone(),
            budgets,
            clock: Default::default(),
            name: args.name.clone().unwrap_or_else(|| match listen.port() {
                0 => format!("{}:pid{}", host_name(), std::process::id()),
                port => format!("{}:{port}", host_name()),
            }),
            admission_wait: std::time::Duration::from_secs(args.admission_wait),
            spool: (cfg.store.on_unavailable == creditops_config::store::OnUnavailable::Spool)
                .then(|| ctx.paths.spool(&r.profile_name)),
        };
        let upstream_shown = creditops_core::secret::url_for_display(&config.upstream);
        let ledger_shown = config.ledger.display().to_string();
        let handle = spawn(config, listen).await?;
        tracing::info!(
            "proxy listening on {} → {upstream_shown} (ledger {ledger_shown})",
            handle.base_url()
        );
        outln!("listening on {}", handle.base_url());
        if let Some(q) = &args.hold {
            eprintln!(
                "hold mode: calls are queued in {}, not forwarded",
                q.display()
            );
        }
        std::io::stdout().flush()?;
        eprintln!("ledger {} (profile {})", r.ledger.display(), r.profile_name);
        tokio::signal::ctrl_c().await?;
        handle.shutdown().await;
        if let Some(sb) = embedded {
            sb.shutdown().await;
        }
        anyhow::Ok(())
    })
}

/// This machine's name, for naming the proxy in a shared ledger.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}
