//! One module per subcommand. Each has clap `Args` and a `run` that prints text or `--json`.

pub mod auth;
pub mod cache;
pub mod channels;
pub mod config;
pub mod console;
pub mod cost;
pub mod credits;
pub mod doctor;
pub mod estimate;
pub mod events;
pub mod limits;
pub mod listen;
pub mod logging;
pub mod meter_args;
pub mod paths;
pub mod plan;
pub mod prompt;
pub mod proxy;
pub mod sandbox;
pub mod send;
pub mod themes;
pub mod usage;

use std::process::ExitCode;

use creditops_config::{Config, Loaded, Paths};
use creditops_core::credits::CreditModel;

/// An error the user caused (bad input): exit code 2 rather than 1.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InputError(pub String);

pub fn input_error(msg: impl Into<String>) -> anyhow::Error {
    InputError(msg.into()).into()
}

/// Prints an error chain as `creditops: …` and picks the exit code.
pub fn report(e: &anyhow::Error) -> ExitCode {
    // The reader of stdout went away (`… | head -1`): nobody to tell, nothing failed.
    let closed_pipe = e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    });
    if closed_pipe {
        return ExitCode::SUCCESS;
    }
    eprintln!("creditops: {e:#}");
    // Bad input, however it was found (a flag, a file, a name the config does not hold): 2.
    let bad_input = e.downcast_ref::<InputError>().is_some()
        || e.chain().any(|c| {
            matches!(
                c.downcast_ref::<creditops_config::ConfigError>(),
                Some(
                    creditops_config::ConfigError::NoProfile(_)
                        | creditops_config::ConfigError::Invalid { .. }
                )
            )
        });
    if bad_input {
        ExitCode::from(2)
    } else {
        ExitCode::from(1)
    }
}

/// A Zoho client for a profile: its endpoint (production refused unless the profile allows it)
/// and its OAuth credentials, all three required.
pub fn profile_client(
    name: &str,
    p: &creditops_config::Profile,
) -> anyhow::Result<creditops_net::client::ZohoClient> {
    use creditops_net::client::{Credentials, Endpoint, ZohoClient};
    let endpoint = Endpoint::for_profile(p, None).map_err(|e| input_error(e.to_string()))?;
    let creds = match (&p.client_id, &p.client_secret, &p.refresh_token) {
        (Some(id), Some(secret), Some(rt)) => Credentials {
            client_id: id.clone(),
            client_secret: secret.clone(),
            refresh_token: rt.clone(),
        },
        _ => {
            return Err(input_error(format!(
                "profile `{name}` needs client_id, client_secret and refresh_token"
            )))
        }
    };
    Ok(ZohoClient::new(endpoint, Some(creds))?)
}

/// Paths, config (warnings printed to stderr) and the credit model, as most commands need.
pub struct Context {
    pub paths: Paths,
    pub config: Loaded,
    pub model: CreditModel,
}

impl Context {
    pub fn load() -> anyhow::Result<Context> {
        let paths = Paths::discover()?;
        let config = Config::load(&paths.config_file).map_err(|e| input_error(e.to_string()))?;
        for w in &config.warnings {
            eprintln!("creditops: warning: {w}");
        }
        let model = CreditModel::load(&paths.user_costs(), &paths.user_editions())
            .map_err(|e| input_error(format!("{e:#}")))?;
        // Profiles are checked against the editions in force, the user's included.
        Config::check_editions(&config, &model.editions).map_err(|e| input_error(e.to_string()))?;
        Ok(Context {
            paths,
            config,
            model,
        })
    }
}

/// Writes command output to stdout. When the reader has gone away (a closed pipe) there is no
/// one left to tell: the command ends quietly, successfully. Any other failure to write is
/// reported and ends it with 1.
pub fn write_out(args: std::fmt::Arguments) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout.write_fmt(args).and_then(|()| stdout.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("creditops: writing to stdout: {e}");
        std::process::exit(1);
    }
}

/// An aligned text table for people: a header, rows, and the columns (by index) that hold
/// numbers, right-aligned. No borders: it pastes into a chat or a ticket as it reads.
pub fn table(header: &[&str], rows: Vec<Vec<String>>, numeric: &[usize]) -> String {
    use comfy_table::{CellAlignment, ContentArrangement, Table};
    let mut t = Table::new();
    t.load_preset(comfy_table::presets::NOTHING)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(header.iter().map(|h| h.to_uppercase()));
    for r in rows {
        t.add_row(r);
    }
    for &i in numeric {
        if let Some(c) = t.column_mut(i) {
            c.set_cell_alignment(CellAlignment::Right);
        }
    }
    // comfy-table pads each line with a leading space under the NOTHING preset: trimmed.
    t.lines()
        .map(|l| {
            l.trim_end()
                .strip_prefix(' ')
                .unwrap_or(l.trim_end())
                .to_string()
                + "\n"
        })
        .collect()
}

/// Writes bytes to stdout (a closed pipe is not an error: the reader had enough).
pub fn write_bytes(bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

/// Prints a value as pretty JSON on stdout, streamed: never built whole as text (a million-step
/// plan is 100 MB of it). A reader that went away ends it quietly.
pub fn print_json<T: serde::Serialize>(v: &T) -> anyhow::Result<()> {
    use std::io::Write;
    let stdout = std::io::stdout().lock();
    let mut w = std::io::BufWriter::with_capacity(1 << 20, stdout);
    let written = serde_json::to_writer_pretty(&mut w, v)
        .map_err(std::io::Error::from)
        .and_then(|()| w.write_all(b"\n"))
        .and_then(|()| w.flush());
    match written {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

pub use creditops_core::fmt::thousands;
