use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use creditops_core::secret::Secret;
use creditops_sandbox::{spawn, SandboxConfig};

use super::{input_error, Context};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Log to stderr as well as to <data>/creditops-sandbox.log (level: CREDITOPS_LOG).
    #[arg(long)]
    log_stderr: bool,
    /// Address to listen on; 127.0.0.1:0 takes a free port.
    #[arg(long, default_value = "127.0.0.1:7878")]
    listen: String,
    /// Edition whose limits the sandbox enforces.
    #[arg(long, default_value = "enterprise")]
    edition: String,
    /// User licences.
    #[arg(long, default_value_t = 10)]
    users: u64,
    /// Add-on credits per 24 h.
    #[arg(long, default_value_t = 0)]
    addon: u64,
    /// Keep records, jobs, channels and the usage window in SQLite here (survives restarts).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Seed for the reproducible sample records.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Only this OAuth client id gets tokens (default: any).
    #[arg(long)]
    client_id: Option<String>,
    /// Only this client secret gets tokens (default: any).
    #[arg(long)]
    client_secret: Option<String>,
    /// Only this refresh token gets tokens (default: any).
    #[arg(long)]
    refresh_token: Option<String>,
    /// Milliseconds added to each metered call (to make concurrency limits visible).
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Do not charge credits for 304 Not Modified answers.
    #[arg(long)]
    free_not_modified: bool,
    /// Listen on a non-loopback address.
    #[arg(long)]
    allow_remote: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let ctx = Context::load()?;
    let _log = super::logging::init(&ctx.paths.log(Some("sandbox")), args.log_stderr);
    let listen: SocketAddr = args
        .listen
        .parse()
        .map_err(|e| input_error(format!("--listen `{}`: {e}", args.listen)))?;
    if !listen.ip().is_loopback() && !args.allow_remote {
        return Err(input_error(format!(
            "--listen {listen} is not a loopback address; pass --allow-remote to expose the sandbox"
        )));
    }
    ctx.model
        .editions
        .limits(&args.edition, args.users, args.addon)
        .map_err(|e| input_error(e.to_string()))?;
    let config = SandboxConfig {
        edition: args.edition,
        users: args.users,
        addon: args.addon,
        seed: args.seed,
        data_dir: args.data_dir,
        client_id: args.client_id,
        client_secret: args.client_secret.map(Secret::new),
        refresh_token: args.refresh_token.map(Secret::new),
        latency: Duration::from_millis(args.latency_ms),
        charge_not_modified: !args.free_not_modified,
        model: ctx.model,
    };
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async move {
        let handle = spawn(config, listen).await?;
        tracing::info!("sandbox listening on {}", handle.base_url());
        outln!("listening on {}", handle.base_url());
        std::io::stdout().flush()?;
        tokio::signal::ctrl_c().await?;
        handle.shutdown().await;
        anyhow::Ok(())
    })
}
