use creditops::tui::{self, Options};

use super::Context;

/// `creditops` with no subcommand: the console.
pub fn run(profile: Option<String>, theme: Option<String>) -> anyhow::Result<()> {
    let ctx = Context::load()?;
    tui::run(ctx.paths, ctx.config, ctx.model, Options { profile, theme })
}
