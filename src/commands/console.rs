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
