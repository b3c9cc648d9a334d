use creditops_tui::Options;

use super::Context;

/// `creditops` with no subcommand: the console.
pub fn run(
    profile: Option<String>,
    theme: Option<String>,
    queue: Option<std::path::PathBuf>,
) -> anyhow::Result<()> {
    let ctx = Context::load()?;
    if let Some(q) = &queue {
        if !q.is_file() {
            return Err(super::input_error(format!(
                "--queue {}: no such file",
                q.display()
            )));
        }
    }
    // The console logs to its file only: the screen is the app's.
    let _log = super::logging::init(&ctx.paths.log(None), false);
    creditops_tui::run(
        ctx.paths,
        ctx.config,
        ctx.model,
        Options {
            profile,
            theme,
            queue,
        },
    )
}
