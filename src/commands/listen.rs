use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

use {
    creditops_core::webhook::Filter, creditops_net::receiver::spawn,
    creditops_net::receiver::ReceiverConfig,
};

use super::{input_error, Context};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Log to stderr as well as to <data>/creditops-listen.log (level: CREDITOPS_LOG).
    #[arg(long)]
    log_stderr: bool,
    /// Address to listen on (default from config: 127.0.0.1:7879); 127.0.0.1:0 takes a free port.
    #[arg(long)]
    listen: Option<String>,
    /// One JSON object per event per line on stdout.
    #[arg(long)]
    json: bool,
    /// Re-POST each accepted event (original body and content type) here.
    #[arg(long)]
    forward_to: Option<String>,
    /// Show only matching events: module=Leads operation=insert kind=notification verified=true, plus words.
    #[arg(long)]
    filter: Option<String>,
    /// A notification channel to accept for this run; repeatable. ID=TOKEN, or, so the token
    /// need not appear in `ps`, ID=file:PATH (the token is the file's first line) or
    /// ID=env:VAR (an environment variable).
    #[arg(long = "channel", value_name = "ID=TOKEN|ID=file:PATH|ID=env:VAR")]
    channels: Vec<String>,
    /// The event store (default <data>/events.sqlite).
    #[arg(long)]
    store: Option<PathBuf>,
    /// Listen on a non-loopback address (Zoho must reach it from outside).
    #[arg(long)]
    allow_remote: bool,
}

/// Largest token file read (a token is 32 hex digits; a file is not a place for more).
const MAX_TOKEN_FILE: u64 = 4096;

/// `--channel ID=TOKEN`, `ID=file:PATH` or `ID=env:VAR` → (id, token). Errors never echo a
/// token.
fn channel_arg(arg: &str) -> anyhow::Result<(String, String)> {
    let Some((id, spec)) = arg
        .split_once('=')
        .filter(|(id, s)| !id.is_empty() && !s.is_empty())
    else {
        return Err(input_error(
            "--channel: expected ID=TOKEN, ID=file:PATH or ID=env:VAR",
        ));
    };
    let token = if let Some(path) = spec.strip_prefix("file:") {
        use std::io::Read;
        let mut text = String::new();
        std::fs::File::open(path)
            .and_then(|f| f.take(MAX_TOKEN_FILE).read_to_string(&mut text))
            .map_err(|e| input_error(format!("--channel {id}: {path}: {e}")))?;
        text.lines().next().unwrap_or("").trim().to_string()
    } else if let Some(var) = spec.strip_prefix("env:") {
        std::env::var(var)
            .map_err(|_| {
                input_error(format!(
                    "--channel {id}: environment variable {var} is not set"
                ))
            })?
            .trim()
            .to_string()
    } else {
        spec.to_string()
    };
    if token.is_empty() {
        return Err(input_error(format!("--channel {id}: the token is empty")));
    }
    Ok((id.to_string(), token))
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let ctx = Context::load()?;
    let _log = super::logging::init(&ctx.paths.log(Some("listen")), args.log_stderr);
    let rc = &ctx.config.config.receiver;
    let listen_s = args.listen.clone().unwrap_or_else(|| rc.listen.clone());
    let listen: SocketAddr = listen_s
        .parse()
        .map_err(|e| input_error(format!("--listen `{listen_s}`: {e}")))?;
    if !listen.ip().is_loopback() && !args.allow_remote {
        return Err(input_error(format!(
            "--listen {listen} is not a loopback address; pass --allow-remote"
        )));
    }
    let filter = Filter::parse(args.filter.as_deref().unwrap_or("")).map_err(input_error)?;
    let mut channels: HashMap<String, String> = rc
        .channels
        .iter()
        .map(|c| (c.id.clone(), c.token.expose().to_string()))
        .collect();
    for c in &args.channels {
        let (id, token) = channel_arg(c)?;
        channels.insert(id, token);
    }
    let forward_to = args.forward_to.clone().or(rc.forward_to.clone());
    if let Some(u) = &forward_to {
        if !(u.starts_with("http://") || u.starts_with("https://")) {
            return Err(input_error(format!(
                "--forward-to `{u}` is not an http(s) URL"
            )));
        }
    }
    let config = ReceiverConfig {
        store: match &args.store {
            Some(file) => file.into(),
            None => ctx.config.config.events_at(&ctx.paths, None),
        },
        body_limit: rc.body_limit,
        channels,
        workflow: rc.workflow.clone().into_iter().collect(),
        bulk_secret: rc.bulk_secret.clone(),
        forward_to,
        // What the tail shows is what is forwarded: `--filter module=Leads` forwards no
        // Contacts event (every event is still stored).
        forward_filter: args.filter.as_ref().map(|_| filter.clone()),
        keep_days: rc.keep_days,
    };
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async move {
        let handle = spawn(config, listen).await?;
        // Subscribe before announcing the address: an event posted the moment a script reads
        // the line must reach the tail.
        let mut tail = handle.state.tail.subscribe();
        eprintln!("listening on {}", handle.base_url());
        tracing::info!("receiver listening on {}", handle.base_url());
        let mut out = std::io::stdout();
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => break,
                ev = tail.recv() => match ev {
                    Ok(e) => {
                        if !filter.matches(e.new.kind, e.new.name.as_deref(), &e.new.summary, e.new.verified, &e.body_text()) {
                            continue;
                        }
                        if args.json {
                            writeln!(out, "{}", e.to_json())?;
                        } else {
                            let t = chrono::DateTime::from_timestamp_millis(e.new.received_at_ms).map(|t| t.format("%H:%M:%S").to_string()).unwrap_or_default();
                            writeln!(
                                out,
                                "{t} #{:<6} {:<12} {:<10} {:<14} ids {:<24} channel {:<16} {}{}",
                                e.id,
                                e.new.kind.as_str(),
                                e.new.summary.module.as_deref().unwrap_or("-"),
                                e.new.summary.operation.as_deref().unwrap_or("-"),
                                e.new.summary.ids.join(","),
                                e.new.summary.channel_id.as_deref().unwrap_or("-"),
                                if e.new.verified { "verified" } else { "unverified" },
                                e.forward_status.as_deref().map(|s| format!(" forwarded {s}")).unwrap_or_default(),
                            )?;
                        }
                        out.flush()?;
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => eprintln!("creditops: the tail fell {n} events behind (all are stored)"),
                    Err(_) => break,
                },
            }
        }
        handle.shutdown().await;
        anyhow::Ok(())
    })
}
