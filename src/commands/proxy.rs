use std::io::Write;
use std::net::SocketAddr;

use creditops_config::Target;
use creditops_core::zoho::DataCentre;
use creditops_net::proxy::{spawn, ProxyConfig};
use creditops_sandbox::SandboxConfig;

use super::meter_args::{resolve, LimitArgs};
use super::{input_error, Context};

#[derive(Debug, clap::Args)]
pub struct Args {
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
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let ctx = Context::load()?;
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
    let dc = r.profile.data_centre;
    let (upstream, accounts) = match (&args.upstream, r.profile.target) {
        (Some(u), _) => (Some(u.clone()), args.accounts_upstream.clone()),
        (None, Target::Embedded) => (r.profile.api_base.clone(), args.accounts_upstream.clone()),
        (None, Target::ZohoSandbox) => (
            Some(
                r.profile
                    .api_base
                    .clone()
                    .unwrap_or_else(|| format!("https://{}", dc.sandbox_host())),
            ),
            Some(
                args.accounts_upstream
                    .clone()
                    .unwrap_or_else(|| format!("https://{}", dc.accounts_host())),
            ),
        ),
        (None, Target::ZohoProduction) => (
            Some(
                r.profile
                    .api_base
                    .clone()
                    .unwrap_or_else(|| format!("https://{}", dc.api_host())),
            ),
            Some(
                args.accounts_upstream
                    .clone()
                    .unwrap_or_else(|| format!("https://{}", dc.accounts_host())),
            ),
        ),
    };
    if let Some(u) = &upstream {
        if !(u.starts_with("http://") || u.starts_with("https://")) {
            return Err(input_error(format!(
                "--upstream `{u}` is not an http(s) URL"
            )));
        }
        let host = u
            .split("://")
            .nth(1)
            .unwrap_or("")
            .split(['/', ':'])
            .next()
            .unwrap_or("");
        let production = DataCentre::is_production_host(host);
        if production
            && !(args.allow_production
                && r.profile.allow_production
                && r.profile.target == Target::ZohoProduction)
        {
            return Err(input_error(format!(
                "{u} is Zoho production: pass --allow-production and use a profile with target = \"zoho-production\" and allow_production = true"
            )));
        }
    }
    let cfg = &ctx.config.config;
    // The same store `creditops cache` reads and clears.
    let metadata_cache = if cfg.cache.enabled {
        let path = ctx.paths.metadata_cache(&r.profile_name);
        let c = creditops_store::cache::MetadataCache::open(&path, cfg.cache.clone())
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
        };
        let handle = spawn(config, listen).await?;
        println!("listening on {}", handle.base_url());
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
