use std::io::Write;
use std::path::PathBuf;

use {creditops_net::receiver::forward, creditops_store::events::EventReader};

use super::{input_error, Context};

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Re-POST a stored event (original body and content type) to a URL
    Replay {
        id: i64,
        #[arg(long)]
        to: String,
        #[command(flatten)]
        from: StoreArgs,
    },
    /// The requests the receiver refused, newest first (its log keeps the last ones)
    Rejected {
        /// How many to show.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        from: StoreArgs,
    },
    /// Print stored events, oldest first: CSV, or JSON lines with --json
    Export {
        /// RFC 3339 time, or a span back from now: 30m, 6h, 2d.
        #[arg(long)]
        since: Option<String>,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        from: StoreArgs,
    },
}

/// Which event store a command reads: a path, the console's demo, or the config's.
#[derive(Debug, clap::Args)]
pub struct StoreArgs {
    #[arg(long)]
    store: Option<PathBuf>,
    /// The console's embedded demo's events (`creditops` running in another terminal).
    #[arg(long, conflicts_with = "store")]
    embedded: bool,
}

impl StoreArgs {
    fn open(self, ctx: &Context) -> anyhow::Result<EventReader> {
        let at = match self.store {
            Some(path) => path.into(),
            None => {
                let profile = self.embedded.then_some(creditops_config::DEMO_PROFILE);
                ctx.config.config.events_at(&ctx.paths, profile)
            }
        };
        EventReader::open(at).map_err(anyhow::Error::msg)
    }
}

/// The requests the receiver refused (unknown channel, wrong token or secret, bad body), newest
/// first, from its capped log.
fn rejected(reader: &EventReader, limit: usize, json: bool) -> anyhow::Result<()> {
    let rows = reader.rejected(limit)?;
    let when = |ms: i64| {
        chrono::DateTime::from_timestamp_millis(ms)
            .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
            .unwrap_or_default()
    };
    if json {
        for (at, path, reason) in rows {
            outln!(
                "{}",
                serde_json::json!({"at": when(at), "path": path, "reason": reason})
            );
        }
        return Ok(());
    }
    if rows.is_empty() {
        outln!("no rejected requests");
        return Ok(());
    }
    let table: Vec<Vec<String>> = rows
        .into_iter()
        .map(|(at, path, reason)| vec![when(at), path, reason])
        .collect();
    out!("{}", super::table(&["at", "path", "reason"], table, &[]));
    Ok(())
}

/// `2026-11-27T10:00:00Z`, or `90s`/`30m`/`6h`/`2d` before now, as epoch ms.
pub fn parse_since(s: &str, now: i64) -> Result<i64, String> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.timestamp_millis());
    }
    let (n, unit) = s.split_at(s.trim_end_matches(|c: char| c.is_ascii_alphabetic()).len());
    let n: i64 = n
        .parse()
        .map_err(|_| format!("--since `{s}`: an RFC 3339 time or a span such as 30m, 6h, 2d"))?;
    let ms = match unit {
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(format!("--since `{s}`: the unit is s, m, h or d")),
    };
    Ok(now - n * ms)
}

pub fn run(cmd: Command) -> anyhow::Result<()> {
    let ctx = Context::load()?;
    match cmd {
        Command::Replay { id, to, from } => {
            if !(to.starts_with("http://") || to.starts_with("https://")) {
                return Err(input_error(format!("--to `{to}` is not an http(s) URL")));
            }
            let reader = from.open(&ctx)?;
            let Some(e) = reader.get(id)? else {
                return Err(input_error(format!("no event {id} in the store")));
            };
            let rt = tokio::runtime::Runtime::new()?;
            let status = rt.block_on(async { forward(&reqwest::Client::new(), &to, &e).await });
            outln!("event {id} → {to}: {status}");
            if !status.starts_with('2') {
                anyhow::bail!("the target answered {status}");
            }
            Ok(())
        }
        Command::Rejected { limit, json, from } => rejected(&from.open(&ctx)?, limit, json),
        Command::Export { since, json, from } => {
            let now = chrono::Utc::now().timestamp_millis();
            let since_ms = match since {
                Some(s) => parse_since(&s, now).map_err(input_error)?,
                None => 0,
            };
            let reader = from.open(&ctx)?;
            let mut out = std::io::BufWriter::new(std::io::stdout());
            let mut csv = (!json).then(|| csv::Writer::from_writer(std::io::stdout()));
            if let Some(w) = csv.as_mut() {
                w.write_record([
                    "id",
                    "received_at",
                    "kind",
                    "name",
                    "module",
                    "operation",
                    "ids",
                    "channel_id",
                    "verified",
                    "forward_status",
                ])?;
            }
            let mut after = 0;
            loop {
                let page = reader.since(since_ms, after, 5_000)?;
                let Some(last) = page.last() else { break };
                after = last.id;
                for e in &page {
                    let v = e.to_json();
                    match csv.as_mut() {
                        None => writeln!(out, "{v}")?,
                        Some(w) => w.write_record([
                            e.id.to_string(),
                            v["received_at"].as_str().unwrap_or("").to_string(),
                            e.new.kind.as_str().to_string(),
                            e.new.name.clone().unwrap_or_default(),
                            e.new.summary.module.clone().unwrap_or_default(),
                            e.new.summary.operation.clone().unwrap_or_default(),
                            e.new.summary.ids.join(" "),
                            e.new.summary.channel_id.clone().unwrap_or_default(),
                            e.new.verified.to_string(),
                            e.forward_status.clone().unwrap_or_default(),
                        ])?,
                    }
                }
            }
            if let Some(mut w) = csv {
                w.flush()?;
            }
            out.flush()?;
            Ok(())
        }
    }
}
