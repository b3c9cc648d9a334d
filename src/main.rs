//! The `creditops` command line: one function per subcommand, in `commands/`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// `outln!`/`out!`: `println!`/`print!` for command output. A reader that went away
/// (`creditops usage --json | head -1`) ends the command quietly, as Unix tools do, where
/// `println!` would panic.
macro_rules! outln {
    () => {
        $crate::commands::write_out(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::commands::write_out(format_args!("{}\n", format_args!($($arg)*)))
    };
}
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::commands::write_out(format_args!($($arg)*))
    };
}

mod commands;

// The servers (sandbox, proxy, receiver) allocate JSON per call; glibc's malloc degrades as their
// heaps grow (malloc_consolidate dominated profiles). mimalloc keeps per-call cost flat.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// creditops keeps a company's Zoho CRM integrations within their API credits: live credit
/// gauges, a metadata cache, webhook tail, add-on estimates and a batch planner.
#[derive(Debug, Parser)]
#[command(name = "creditops", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Console: watch this profile's proxy ledger instead of the embedded sandbox.
    #[arg(long, env = "CREDITOPS_PROFILE")]
    profile: Option<String>,
    /// Console: colour theme (dark, light, high-contrast, or one of yours).
    #[arg(long, env = "CREDITOPS_THEME")]
    theme: Option<String>,
    /// Console: the queue the Planner tab plans (JSONL, HAR, or a `proxy --hold` file).
    #[arg(long, value_name = "FILE")]
    queue: Option<std::path::PathBuf>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Daily credit limit, cap, concurrency and alert thresholds of an edition
    Limits(commands::limits::Args),
    /// Credits one HTTP call costs, and the rule that priced it
    Cost(commands::cost::Args),
    /// The config, data, cache and theme folders creditops uses
    Paths(commands::paths::Args),
    /// The cost table: show it, or refresh it from a saved GET /crm/v8/__apis answer
    #[command(subcommand)]
    Credits(commands::credits::Command),
    /// Check or show config.toml (secrets masked)
    #[command(subcommand)]
    Config(commands::config::Command),
    /// Run the Zoho CRM-compatible sandbox that meters credits exactly
    Sandbox(commands::sandbox::Args),
    /// Run the metering proxy: integrations use it as their Zoho base URL
    Proxy(commands::proxy::Args),
    /// The credit gauges, headless: used, limit, burn, time to exhaustion, breakdowns
    Usage(commands::usage::Args),
    /// Receive webhooks and notification callbacks, and tail them
    Listen(commands::listen::Args),
    /// Stored events: replay one, or export them
    #[command(subcommand)]
    Events(commands::events::Command),
    /// Notification channels: enable, list, renew, disable
    #[command(subcommand)]
    Channels(commands::channels::Command),
    /// Forecast daily usage and recommend an add-on credit limit, with its cost
    Estimate(commands::estimate::Args),
    /// The metadata cache the proxy shares: list, stats, clear
    #[command(subcommand)]
    Cache(commands::cache::Command),
    /// Re-plan a queue of pending calls into the cheapest equivalent plan
    Plan(commands::plan::Args),
    /// Send a queue or a plan to a sandbox (or a profile), metered: predicted vs charged
    Send(commands::send::Args),
    /// Exchange a Zoho self client's grant code for a refresh token, stored in the profile
    Auth(commands::auth::Args),
    /// Check the config, file modes, each endpoint's reachability, clock skew and token scopes
    Doctor(commands::doctor::Args),
    /// List the colour themes (built-in and the user's), with any problems found
    Themes(commands::themes::Args),
    /// Shell completions: `creditops completions bash > /etc/bash_completion.d/creditops`
    Completions {
        /// bash, zsh, fish, elvish or powershell
        shell: clap_complete::Shell,
    },
    /// The manual page (roff): `creditops man > creditops.1; man ./creditops.1`
    Man,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        None => commands::console::run(cli.profile, cli.theme, cli.queue),
        Some(Command::Limits(a)) => commands::limits::run(a),
        Some(Command::Cost(a)) => commands::cost::run(a),
        Some(Command::Paths(a)) => commands::paths::run(a),
        Some(Command::Credits(c)) => commands::credits::run(c),
        Some(Command::Config(c)) => commands::config::run(c),
        Some(Command::Themes(a)) => commands::themes::run(a),
        Some(Command::Auth(a)) => commands::auth::run(a),
        Some(Command::Doctor(a)) => commands::doctor::run(a),
        Some(Command::Sandbox(a)) => commands::sandbox::run(a),
        Some(Command::Proxy(a)) => commands::proxy::run(a),
        Some(Command::Usage(a)) => commands::usage::run(a),
        Some(Command::Listen(a)) => commands::listen::run(a),
        Some(Command::Estimate(a)) => commands::estimate::run(a),
        Some(Command::Plan(a)) => commands::plan::run(a),
        Some(Command::Send(a)) => commands::send::run(a),
        Some(Command::Cache(c)) => commands::cache::run(c),
        Some(Command::Events(c)) => commands::events::run(c),
        Some(Command::Channels(c)) => commands::channels::run(c),
        Some(Command::Completions { shell }) => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            let mut buf = Vec::new();
            clap_complete::generate(shell, &mut cmd, "creditops", &mut buf);
            commands::write_bytes(&buf)
        }
        Some(Command::Man) => {
            let cmd = <Cli as clap::CommandFactory>::command();
            let mut buf = Vec::new();
            clap_mangen::Man::new(cmd)
                .render(&mut buf)
                .map_err(anyhow::Error::from)
                .and_then(|()| commands::write_bytes(&buf))
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => commands::report(&e),
    }
}
