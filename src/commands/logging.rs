//! Where the long-running commands log: `<data>/creditops-<command>.log` for the servers
//! (`proxy`, `sandbox`, `listen`), `<data>/creditops.log` for the console, and stderr as well
//! with `--log-stderr` (never for the console: the screen is the app's). `CREDITOPS_LOG` sets
//! the level (`debug`) for creditops' own crates, or is a full filter (`creditops_net=trace`);
//! other crates log warnings only unless named, so their traces (which may show requests)
//! stay out unless asked for. Nothing secret is logged by creditops itself.

use std::path::Path;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

const OUR_CRATES: &[&str] = &[
    "creditops",
    "creditops_core",
    "creditops_config",
    "creditops_store",
    "creditops_net",
    "creditops_sandbox",
    "creditops_tui",
];

/// The filter `CREDITOPS_LOG` asks for.
fn filter() -> tracing_subscriber::EnvFilter {
    let asked = std::env::var("CREDITOPS_LOG").unwrap_or_default();
    let asked = asked.trim();
    let directives = if asked.contains('=') {
        asked.to_string()
    } else {
        let level = if asked.is_empty() { "info" } else { asked };
        std::iter::once("warn".to_string())
            .chain(OUR_CRATES.iter().map(|c| format!("{c}={level}")))
            .collect::<Vec<_>>()
            .join(",")
    };
    tracing_subscriber::EnvFilter::try_new(&directives)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,creditops_net=info"))
}

/// Starts logging to `file` (and stderr when asked). Keep the guard alive while the command
/// runs: it flushes the file on drop. None when the file cannot be opened (said on stderr).
pub fn init(file: &Path, to_stderr: bool) -> Option<tracing_appender::non_blocking::WorkerGuard> {
    let dir = file.parent()?;
    let name = file.file_name()?;
    if let Err(e) = std::fs::create_dir_all(dir) {
        eprintln!("creditops: warning: logging to {}: {e}", file.display());
        return None;
    }
    let (writer, guard) =
        tracing_appender::non_blocking(tracing_appender::rolling::never(dir, name));
    let to_file = tracing_subscriber::fmt::layer()
        .with_writer(writer)
        .with_ansi(false)
        .with_filter(filter());
    let to_stderr = to_stderr.then(|| {
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_filter(filter())
    });
    let _ = tracing_subscriber::registry()
        .with(to_file)
        .with(to_stderr)
        .try_init();
    Some(guard)
}
