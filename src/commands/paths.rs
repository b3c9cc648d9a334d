use creditops_config::Paths;

use super::print_json;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// One JSON object on stdout.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let p = Paths::discover()?;
    if args.json {
        return print_json(&p);
    }
    outln!(
        "config   {}  (CREDITOPS_CONFIG_DIR)",
        p.config_dir.display()
    );
    outln!("  file   {}", p.config_file.display());
    outln!("  costs  {}", p.user_costs().display());
    outln!("data     {}  (CREDITOPS_DATA_DIR)", p.data_dir.display());
    outln!("cache    {}  (CREDITOPS_CACHE_DIR)", p.cache_dir.display());
    outln!("themes   {}", p.themes_dir.display());
    Ok(())
}
