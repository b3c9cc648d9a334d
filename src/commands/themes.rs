use creditops_config::Paths;
use creditops_tui::theme::ThemeSet;

#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<()> {
    let paths = Paths::discover()?;
    let set = ThemeSet::load(&paths.themes_dir);
    for name in set.names() {
        outln!("{name}");
    }
    for w in &set.warnings {
        eprintln!("creditops: warning: {w}");
    }
    Ok(())
}
