use creditops_store::cache::MetadataCache;

use super::{input_error, print_json, thousands, Context};

#[derive(Debug, clap::Args)]
pub struct Common {
    /// Profile whose proxy's cache to act on (default: the default profile, else embedded).
    #[arg(long)]
    profile: Option<String>,
    /// One JSON document on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Cached entries: key, kind, module, age, TTL left, hits, credits saved, size
    List {
        #[command(flatten)]
        common: Common,
    },
    /// Totals: entries, hits, misses, hit ratio, credits saved (today, rolling 24 h, ever), bytes
    Stats {
        #[command(flatten)]
        common: Common,
    },
    /// Drop one entry (--key) or all; a running proxy sees it at once
    Clear {
        #[arg(long)]
        key: Option<String>,
        #[command(flatten)]
        common: Common,
    },
}

pub fn run(cmd: Command) -> anyhow::Result<()> {
    let ctx = Context::load()?;
    let common = match &cmd {
        Command::List { common } | Command::Stats { common } | Command::Clear { common, .. } => {
            common
        }
    };
    let (name, _) = ctx
        .config
        .config
        .profile(common.profile.as_deref())
        .map_err(|e| input_error(e.to_string()))?;
    let at = ctx.config.config.metadata_at(&ctx.paths, &name);
    let cache =
        MetadataCache::open(at, ctx.config.config.cache.clone()).map_err(anyhow::Error::msg)?;
    for w in &cache.warnings {
        eprintln!("creditops: warning: {w}");
    }
    let now = chrono::Utc::now().timestamp_millis();
    match cmd {
        Command::List { common } => {
            let entries = cache.list();
            if common.json {
                let rows: Vec<_> = entries
                    .iter()
                    .map(|e| {
                        let mut v = serde_json::to_value(e).unwrap_or_default();
                        v["age_s"] = serde_json::json!((now - e.stored_ms) / 1000);
                        v["ttl_left_s"] = serde_json::json!(e.ttl_left_s(now));
                        v
                    })
                    .collect();
                return print_json(&rows);
            }
            let rows = entries
                .iter()
                .map(|e| {
                    vec![
                        e.key.clone(),
                        e.kind.as_str().to_string(),
                        e.module.clone().unwrap_or_else(|| "-".into()),
                        creditops_core::fmt::age((now - e.stored_ms) / 1000),
                        creditops_core::fmt::age(e.ttl_left_s(now)),
                        thousands(e.hits),
                        thousands(e.credits_saved),
                        thousands(e.bytes as u64),
                    ]
                })
                .collect();
            out!(
                "{}",
                super::table(
                    &["key", "kind", "module", "age", "ttl left", "hits", "saved", "bytes"],
                    rows,
                    &[3, 4, 5, 6, 7],
                )
            );
            Ok(())
        }
        Command::Stats { common } => {
            let s = cache.stats(now);
            if common.json {
                return print_json(&s);
            }
            outln!("entries         {}", s.entries);
            outln!(
                "hits / misses   {} / {} (hit ratio {:.1}%)",
                s.hits,
                s.misses,
                s.hit_ratio * 100.0
            );
            outln!("revalidations   {}", s.revalidations);
            outln!(
                "credits saved   {} today, {} in the rolling 24 h, {} in all",
                thousands(s.credits_saved_today),
                thousands(s.credits_saved_window),
                thousands(s.credits_saved)
            );
            outln!(
                "size            {} bytes ({})",
                thousands(s.bytes),
                cache.at.display()
            );
            Ok(())
        }
        Command::Clear { key, common } => {
            let n = cache.clear(key.as_deref());
            if common.json {
                return print_json(&serde_json::json!({"cleared": n}));
            }
            outln!("{n} entr{} cleared", if n == 1 { "y" } else { "ies" });
            Ok(())
        }
    }
}
