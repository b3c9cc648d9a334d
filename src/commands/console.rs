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
    // What the command line names must exist: a wrong name is bad input (exit 2), said before
    // the screen is taken.
    if let Some(t) = &theme {
        let themes = creditops_tui::theme::ThemeSet::load(&ctx.paths.themes_dir);
        if themes.get(t).is_none() {
            return Err(super::input_error(format!(
                "--theme {t}: no such theme; known: {}",
                themes.names().join(", ")
            )));
        }
    }
    if let Some(p) = &profile {
        ctx.config
            .config
            .profile(Some(p))
            .map_err(|e| super::input_error(e.to_string()))?;
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
